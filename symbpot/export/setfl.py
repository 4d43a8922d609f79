"""Write and read LAMMPS EAM setfl files (``pair_style eam/alloy`` and ``eam/fs``) from analytic functions.

An EAM potential in LAMMPS ``units metal`` (eV, Å)::

    E = sum_i F_{s_i}(rho_i) + 1/2 sum_{i != j} phi_{s_i s_j}(r_ij),   rho_i = sum_{j != i} g_{s_i s_j}(r_ij)

The caller gives vectorised numpy callables: ``embedding[a]`` is F_a(rho),
``density[(a, b)]`` is g_ab(r), the density at an atom of species ``a`` from a
neighbour of species ``b``, and ``pair[(a, b)]`` is phi_ab(r) (symmetric). They are
tabulated on equally spaced grids, as the DYNAMO setfl format wants:

* ``rho_k = k drho`` (k = 0 .. Nrho-1) for F, and ``r_k = k dr`` (k = 0 .. Nr-1) for g
  and for **r phi(r)** (setfl stores r times the pair function, in eV Å);
* every value at ``r >= cutoff`` is 0. The functions are assumed to reach zero smoothly
  at the cutoff (the caller applies a smooth cutoff); a function that does not is cut
  there, which LAMMPS then sees as a step.

LAMMPS interpolates each table with cubic Hermite pieces whose slopes come from
finite differences of the table (``PairEAM::interpolate``): values converge as h^4
and derivatives (forces) as h^3. The default grids, ``Nr = Nrho = 2000``
(:data:`DEFAULT_NR`, :data:`DEFAULT_NRHO`; dr = cutoff/1999, drho = rho_max/1999),
keep LAMMPS within 1e-5 eV/atom and 1e-3 eV/Å of the analytic functions with a wide
margin, left for functions steeper than the test ones; finer tables cost speed in
LAMMPS (cache misses: with 10000 points the discovered Cu EAM ran at 1.54x the cost of
Cu_u3.eam, with 2000 points at 1.24x, benchmarks/lammps_speed.py). Measured against a direct numpy
sum (tests/test_setfl_export.py: Sutton-Chen-like, eam/alloy and eam/fs Cu-Ni with
r^-n, exponential and Morse terms; 20 random cells of 2-30 atoms, min distance 1.8 Å,
rc 5.5 Å, rho_max twice the largest density met), worst over the three potentials:

=======  =================  ===============
N        energy (eV/atom)   force (eV/Å)
=======  =================  ===============
250      3e-6               6e-4
1000     1e-8               8e-6
2000     7e-10              1e-6
10000    1e-12              1.2e-8
=======  =================  ===============

Beyond ``rho_max`` LAMMPS continues F linearly with its slope at ``rho_max``, so ``rho_max`` must lie above every density the potential will meet:
by default it is :data:`DENSITY_MARGIN` times ``max_density``, the largest density
the caller expects (e.g. the maximum over the training data).

Very short distances: below ``r_min`` (default: where some |phi_ab| first exceeds
:data:`DEFAULT_ENERGY_CAP` eV, scanning inwards from the cutoff) g and phi are not
evaluated but continued linearly with their slope at ``r_min``, so a steep wall such as
r^-12 (or an exp(1/r) that would overflow) stays finite and repulsive at r -> 0.

Species conventions:

* ``style="alloy"`` stores one density function per *neighbour* species: g_ab must not
  depend on ``a``. ``density`` may be keyed by the neighbour species (``density["Ni"]``)
  or by pairs; with pairs, every ``density[(a, b)]`` for one ``b`` must give the same
  values (checked on the grid), else :class:`ExportError` suggests ``style="fs"``.
* ``style="fs"`` stores all ordered pairs. In the file, the block of element X holds,
  after F_X, the density arrays for Y = 1..N that an X atom contributes at a Y atom,
  i.e. ``density[(Y, X)]`` (that is how ``PairEAMFS::file2array`` and
  ``PairEAM::compute`` read them: rho_i uses ``type2rhor[jtype][itype]``).
* ``pair`` may hold (a, b), (b, a) or both; if both, they must agree.

Header: the first three lines of a setfl file are comments. ``UNITS: metal`` is put at
the start of line 1 (LAMMPS refuses the file under other units, or converts it for ``units real``), and a note
that per-species reference energies (symbpot's e_Z) are NOT in the file is put on
line 3 unless the caller's lines already say so: LAMMPS reports the EAM energy only.

Usage in LAMMPS: :func:`pair_coeff_lines` gives ``pair_style eam/alloy`` and
``pair_coeff * * FILE El1 El2``.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field

import numpy as np

from ..errors import OutputError
from .lammps import ExportError

STYLES = ("alloy", "fs")
#: Grid points of r (for g and r*phi) and of rho (for F).
DEFAULT_NR = 2000
DEFAULT_NRHO = 2000
#: rho_max = DENSITY_MARGIN * max_density when rho_max is not given.
DENSITY_MARGIN = 2.0
#: Default r_min: the functions are continued linearly below the radius where |phi| first exceeds this (eV).
DEFAULT_ENERGY_CAP = 100.0
#: Largest errors of LAMMPS against the analytic functions with the default grids, measured by
#: tests/test_setfl_export.py (20 random cells of 2-30 atoms, min distance 1.8 Å, rc 5.5 Å).
MEASURED_ERRORS = {"energy_per_atom_eV": 1.1e-12, "force_eV_per_A": 1.2e-8}
VALUES_PER_LINE = 5
NOTE_REFERENCE = "per-species reference energies are NOT in this file: LAMMPS gives the EAM energy only"


# --- reading ---------------------------------------------------------------------------------
@dataclass
class SetflTables:
    """The contents of a setfl file.

    ``density[(a, b)]`` is g at an ``a`` atom from a ``b`` neighbour (for eam/alloy the
    same array for every ``a``); ``r_phi[(a, b)]`` is r*phi(r) (eV Å) for both orders;
    :meth:`pair` divides by r.
    """

    style: str
    header: list
    elements: list
    atomic_numbers: list
    masses: list
    lattice_constants: list
    lattice_types: list
    nrho: int
    drho: float
    nr: int
    dr: float
    cutoff: float
    embedding: dict = field(default_factory=dict)
    density: dict = field(default_factory=dict)
    r_phi: dict = field(default_factory=dict)

    @property
    def rho(self) -> np.ndarray:
        return np.arange(self.nrho) * self.drho

    @property
    def r(self) -> np.ndarray:
        return np.arange(self.nr) * self.dr

    def pair(self, a: str, b: str) -> np.ndarray:
        """phi_ab on the r grid (NaN at r = 0)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.r > 0, self.r_phi[(a, b)] / np.where(self.r > 0, self.r, 1.0), np.nan)


class _Tokens:
    """LAMMPS-like reader: whole lines, or n numbers spread over as many lines as needed."""

    def __init__(self, lines, path):
        self.lines = lines
        self.pos = 0
        self.path = path

    def line(self) -> list:
        if self.pos >= len(self.lines):
            raise ExportError(f"{self.path}: ends early (line {self.pos + 1} missing; is it the other style?)")
        self.pos += 1
        return self.lines[self.pos - 1].split()

    def values(self, n: int) -> np.ndarray:
        out = []
        while len(out) < n:
            words = self.line()
            out.extend(words)
        if len(out) != n:
            raise ExportError(f"{self.path}: line {self.pos} has more numbers than the table needs")
        try:
            return np.array(out, dtype=float)
        except ValueError:
            raise ExportError(f"{self.path}: non-numeric value in the table ending on line {self.pos}") from None


def read_setfl(path, style: str = "alloy") -> SetflTables:
    """Read a setfl file (``style`` "alloy" or "fs": the file does not say which it is)."""
    if style not in STYLES:
        raise ExportError(f"unknown setfl style {style!r} (choose from {', '.join(STYLES)})")
    path = os.fspath(path)
    try:
        with open(path) as fh:
            lines = fh.read().splitlines()
    except OSError as exc:
        raise ExportError(f"{path}: cannot read ({exc.strerror or exc})") from None
    tok = _Tokens(lines, path)
    header = []
    for _ in range(3):
        tok.line()
        header.append(re.sub(r"^#\s?", "", lines[tok.pos - 1]))
    words = tok.line()
    try:
        n = int(words[0])
        elements = words[1:]
        if len(elements) != n:
            raise ValueError
        words = tok.line()
        nrho, drho, nr, dr, cutoff = int(words[0]), float(words[1]), int(words[2]), float(words[3]), float(words[4])
    except (ValueError, IndexError):
        raise ExportError(f"{path}: line {tok.pos} is not a setfl header line") from None
    tables = SetflTables(style, header, elements, [], [], [], [], nrho, drho, nr, dr, cutoff)
    fs_blocks = {}
    for x in elements:
        words = tok.line()
        try:
            tables.atomic_numbers.append(int(words[0]))
            tables.masses.append(float(words[1]))
            tables.lattice_constants.append(float(words[2]) if len(words) > 2 else 0.0)
        except (ValueError, IndexError):
            raise ExportError(f"{path}: line {tok.pos} is not the element line of {x} "
                              f"(atomic number, mass, ...): is it an eam/{'fs' if style == 'alloy' else 'alloy'} "
                              f"file, the other style?") from None
        tables.lattice_types.append(words[3] if len(words) > 3 else "")
        tables.embedding[x] = tok.values(nrho)
        if style == "alloy":
            g = tok.values(nr)
            for a in elements:
                tables.density[(a, x)] = g
        else:
            for y in elements:  # block X, array Y: what an X atom gives at a Y atom
                fs_blocks[(y, x)] = tok.values(nr)
    tables.density.update(fs_blocks)
    for i, a in enumerate(elements):
        for b in elements[: i + 1]:
            tables.r_phi[(a, b)] = tables.r_phi[(b, a)] = tok.values(nr)
    if any(ln.strip() for ln in lines[tok.pos:]):
        raise ExportError(f"{path}: more data after line {tok.pos} than a {style} file of "
                          f"{n} element(s) holds (is it the other style?)")
    return tables


# --- writing ---------------------------------------------------------------------------------
def _grid(n, step, top, default_n, what):
    """(points, spacing) of a grid k*step, k = 0..n-1, that reaches ``top``."""
    if step is None:
        n = int(default_n if n is None else n)
        if n < 5:
            raise ExportError(f"{what}: at least 5 grid points are needed, got {n}")
        return n, top / (n - 1)
    step = float(step)
    if not step > 0:
        raise ExportError(f"{what}: the spacing must be positive, got {step!r}")
    if n is None:
        return int(math.ceil(top / step * (1 - 1e-12))) + 1, step
    n = int(n)
    if n < 5 or (n - 1) * step < top * (1 - 1e-12):
        raise ExportError(f"{what}: {n} points of {step!r} do not reach {top!r}")
    return n, step


def _evaluate(func, x, what) -> np.ndarray:
    with np.errstate(all="ignore"):
        try:
            y = np.asarray(func(x), dtype=float)
        except Exception as exc:  # a user callable: report which one failed
            raise ExportError(f"cannot evaluate {what}: {type(exc).__name__}: {exc}") from None
    return np.broadcast_to(y, x.shape).astype(float)


def _pair_functions(pair, elements):
    out = {}
    for i, a in enumerate(elements):
        for b in elements[: i + 1]:
            ab, ba = pair.get((a, b)), (pair.get((b, a)) if a != b else None)
            if ab is None and ba is None:
                raise ExportError(f"pair[({a!r}, {b!r})] is missing")
            out[(a, b)] = [f for f in (ab, ba) if f is not None]
    return out


def _density_functions(density, elements, style):
    """{(a, b): g} for every ordered pair: at an a atom from a b neighbour."""
    out = {}
    for a in elements:
        for b in elements:
            g = density.get((a, b), density.get(b))
            if g is None:
                raise ExportError(f"density[({a!r}, {b!r})] is missing" + (
                    f" (or give density[{b!r}] for style 'alloy')" if style == "alloy" else ""))
            out[(a, b)] = g
    return out


def _short_range_start(funcs, r, cutoff, cap):
    """Index of the default r_min: the first grid point from which outwards all are finite and |phi| <= cap."""
    bad = np.zeros(r.shape, dtype=bool)
    for what, f, is_pair in funcs:
        y = _evaluate(f, np.maximum(r, r[1]), what)
        bad |= ~np.isfinite(y)
        if is_pair:
            bad |= np.abs(y) > cap
    bad &= r < cutoff
    inside = np.nonzero(bad)[0]
    return int(inside[-1]) + 1 if inside.size else 1


def _tabulate_r(func, r, cutoff, k_min, what) -> np.ndarray:
    """f on the r grid: evaluated for k >= k_min, continued linearly below, zero at r >= cutoff."""
    values = np.zeros_like(r)
    live = (np.arange(r.size) >= k_min) & (r < cutoff)
    values[live] = _evaluate(func, r[live], what)
    if not np.all(np.isfinite(values)):
        k = int(np.nonzero(~np.isfinite(values))[0][0])
        raise ExportError(f"{what} is not finite at r = {r[k]!r} Å (raise r_min)")
    if k_min > 0:
        f0, f1, f2 = values[k_min:k_min + 3]
        slope = (-3 * f0 + 4 * f1 - f2) / (2 * (r[1] - r[0]))
        values[:k_min] = f0 + slope * (r[:k_min] - r[k_min])
    return values


def _format(values) -> str:
    text = [f"{v:.16e}" for v in np.asarray(values, dtype=float).tolist()]
    return "\n".join(" ".join(text[i:i + VALUES_PER_LINE]) for i in range(0, len(text), VALUES_PER_LINE)) + "\n"


def default_header(elements, style: str, cutoff: float) -> list:
    """Three comment lines naming symbpot, the units, the elements and the cutoff."""
    from ..potential import package_version

    return [f"symbpot {package_version()} EAM setfl for pair_style eam/{style}",
            f"units metal (eV, Angstrom); elements {' '.join(elements)}; cutoff {cutoff!r} Angstrom",
            NOTE_REFERENCE]


def _header(lines, elements, style, cutoff) -> list:
    lines = default_header(elements, style, cutoff) if lines is None else [str(x) for x in lines]
    if len(lines) != 3:
        raise ExportError(f"a setfl header is exactly 3 comment lines, got {len(lines)}")
    for line in lines:
        if "\n" in line or "\r" in line or len(line) > 900:
            raise ExportError("header lines must be single lines of at most 900 characters")
    if "UNITS:" not in lines[0]:
        lines[0] = "UNITS: metal " + lines[0]
    if "reference energ" not in " ".join(lines).lower():
        lines[2] = (lines[2] + " | " if lines[2] else "") + NOTE_REFERENCE
    return lines


def write_setfl(path, elements, masses, embedding, density, pair, cutoff, style="alloy", nrho=None,
                drho=None, nr=None, dr=None, rho_max=None, header=None, lattice=None, *, max_density=None,
                r_min=None, energy_cap=DEFAULT_ENERGY_CAP, overwrite=False) -> str:
    """Tabulate an analytic EAM potential into a LAMMPS setfl file; returns the path.

    Parameters
    ----------
    path : path
        The file to write. An existing file is an :class:`~symbpot.errors.OutputError`
        unless ``overwrite``.
    elements : sequence of str
        Element names in file order (atom types map to them in ``pair_coeff``).
    masses : dict, sequence or None
        Atomic masses (u) per element; None takes ``ase.data.atomic_masses``.
    embedding : dict
        ``embedding[a]``: vectorised F_a(rho) in eV.
    density : dict
        ``density[(a, b)]``: g at an ``a`` atom from a ``b`` neighbour. For "alloy" it may be
        keyed by ``b`` alone, and ``density[(a, b)]`` must not depend on ``a``.
    pair : dict
        ``pair[(a, b)]``: phi_ab(r) in eV (either order; if both are given they must agree).
    cutoff : float
        rc in Å; every table is zero from rc on.
    style : {"alloy", "fs"}
    nrho, drho, rho_max : optional
        The rho grid, k*drho for k < nrho. Default: ``nrho = DEFAULT_NRHO`` points up to
        ``rho_max``; ``rho_max`` defaults to ``(nrho-1)*drho`` if both are given, else
        ``DENSITY_MARGIN * max_density``.
    nr, dr : optional
        The r grid, k*dr for k < nr, reaching ``cutoff``. Default ``nr = DEFAULT_NR`` points,
        ``dr = cutoff/(nr-1)``.
    header : 3 str, optional
        The comment lines (version, units, elements, hash...). "UNITS: metal" is prefixed to
        line 1 and the reference-energy note appended to line 3 when missing.
    lattice : dict, optional
        ``lattice[a] = (lattice_constant, lattice_type)`` for the element lines (LAMMPS
        ignores them); default ``(0.0, "unknown")``.
    max_density : float, optional
        The largest host density expected (e.g. over the training data); sets ``rho_max``.
    r_min : float, optional
        Below it g and phi are continued linearly (see the module notes). Default: where
        some |phi| first exceeds ``energy_cap`` eV (default 100), scanning in from the cutoff,
        or where some function stops being finite; at least the first grid point after 0.
    energy_cap : float
        See ``r_min``.
    overwrite : bool
        Replace an existing file.
    """
    from ase.data import atomic_masses, atomic_numbers

    if style not in STYLES:
        raise ExportError(f"unknown setfl style {style!r} (choose from {', '.join(STYLES)})")
    elements = [str(e) for e in elements]
    if not elements or len(set(elements)) != len(elements) or any(not e or e.split() != [e] for e in elements):
        raise ExportError(f"elements must be distinct names without spaces, got {elements!r}")
    cutoff = float(cutoff)
    if not (cutoff > 0 and math.isfinite(cutoff)):
        raise ExportError(f"cutoff must be positive, got {cutoff!r}")
    if rho_max is None:
        if nrho is not None and drho is not None:
            rho_max = (int(nrho) - 1) * float(drho)
        elif max_density is not None:
            rho_max = DENSITY_MARGIN * float(max_density)
        else:
            raise ExportError("give max_density (the largest density expected) or rho_max for the rho grid")
    rho_max = float(rho_max)
    if not (rho_max > 0 and math.isfinite(rho_max)):
        raise ExportError(f"rho_max must be positive, got {rho_max!r}")
    nrho, drho = _grid(nrho, drho, rho_max, DEFAULT_NRHO, "rho grid")
    nr, dr = _grid(nr, dr, cutoff, DEFAULT_NR, "r grid")
    r = np.arange(nr) * dr
    rho = np.arange(nrho) * drho

    if masses is None:
        masses = {}
    elif not isinstance(masses, dict):
        masses = dict(zip(elements, masses))
    lattice = lattice or {}
    missing = [a for a in elements if a not in embedding]
    if missing:
        raise ExportError(f"embedding[{missing[0]!r}] is missing")
    pairs = _pair_functions(pair, elements)
    densities = _density_functions(density, elements, style)

    if r_min is None:
        funcs = [(f"pair[{k}]", f, True) for k, fl in pairs.items() for f in fl]
        funcs += [(f"density[{k}]", g, False) for k, g in densities.items()]
        k_min = _short_range_start(funcs, r, cutoff, float(energy_cap))
    else:
        k_min = int(math.ceil(float(r_min) / dr - 1e-9))
    if not 0 <= k_min < nr - 3 or r[min(k_min + 2, nr - 1)] >= cutoff:
        raise ExportError(f"r_min = {k_min * dr!r} Å leaves no room below the cutoff {cutoff!r} Å")

    dens_tables = {k: _tabulate_r(g, r, cutoff, k_min, f"density[{k}]") for k, g in densities.items()}
    if style == "alloy":
        for (a, b), g in dens_tables.items():
            ref = dens_tables[(b, b)]
            if not np.allclose(g, ref, rtol=1e-10, atol=1e-12 * max(1.0, float(np.abs(ref).max()))):
                raise ExportError(f"eam/alloy has one density function per neighbour species, but density[({a!r}, "
                                  f"{b!r})] differs from density[({b!r}, {b!r})]: use style='fs'")
    r_phi = {}
    for (a, b), fl in pairs.items():
        tabs = [_tabulate_r(f, r, cutoff, k_min, f"pair[({a!r}, {b!r})]") for f in fl]
        if len(tabs) == 2 and not np.allclose(tabs[0], tabs[1], rtol=1e-10,
                                              atol=1e-12 * max(1.0, float(np.abs(tabs[0]).max()))):
            raise ExportError(f"pair[({a!r}, {b!r})] and pair[({b!r}, {a!r})] differ: phi must be symmetric")
        r_phi[(a, b)] = r * tabs[0]
    emb = {}
    for a in elements:
        f = _evaluate(embedding[a], rho, f"embedding[{a!r}]")
        if not np.isfinite(f[0]):  # e.g. rho*log(rho) at 0: take the limit from just above
            f[0] = _evaluate(embedding[a], np.array([drho * 1e-12]), f"embedding[{a!r}]")[0]
        if not np.all(np.isfinite(f)):
            k = int(np.nonzero(~np.isfinite(f))[0][0])
            raise ExportError(f"embedding[{a!r}] is not finite at rho = {rho[k]!r}")
        emb[a] = f

    body = [f"{len(elements)} {' '.join(elements)}\n", f"{nrho} {drho!r} {nr} {dr!r} {cutoff!r}\n"]
    for x in elements:
        z = atomic_numbers.get(x, 0)
        mass = float(masses[x]) if x in masses else (float(atomic_masses[z]) if z else None)
        if mass is None or not mass > 0:
            raise ExportError(f"no mass for element {x!r}: give masses")
        a0, kind = lattice.get(x, (0.0, "unknown"))
        body.append(f"{z} {mass!r} {float(a0)!r} {kind}\n")
        body.append(_format(emb[x]))
        if style == "alloy":
            body.append(_format(dens_tables[(x, x)]))
        else:
            body.extend(_format(dens_tables[(y, x)]) for y in elements)
    for i, a in enumerate(elements):
        for b in elements[: i + 1]:
            body.append(_format(r_phi[(a, b)]))
    lines = _header(header, elements, style, cutoff)
    text = "".join(f"# {ln}\n" for ln in lines) + "".join(body)
    path = os.fspath(path)
    try:
        with open(path, "w" if overwrite else "x") as fh:
            fh.write(text)
    except FileExistsError:
        raise OutputError(f"{path}: exists; symbpot never overwrites an export (choose a new name)") from None
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from None
    return path


def pair_coeff_lines(file_name, elements, style: str = "alloy") -> list:
    """``pair_style eam/<style>`` and ``pair_coeff * * FILE El1 El2 ...`` (atom type i -> elements[i-1]).

    ``elements`` may repeat names or hold ``NULL`` (types not handled by this pair style).
    """
    if style not in STYLES:
        raise ExportError(f"unknown setfl style {style!r} (choose from {', '.join(STYLES)})")
    name = os.fspath(file_name)
    if any(c.isspace() for c in name):
        name = f'"{name}"'
    return [f"pair_style eam/{style}", f"pair_coeff * * {name} {' '.join(str(e) for e in elements)}"]


__all__ = ["write_setfl", "read_setfl", "pair_coeff_lines", "default_header", "SetflTables",
           "STYLES", "DEFAULT_NR", "DEFAULT_NRHO", "DENSITY_MARGIN", "DEFAULT_ENERGY_CAP", "MEASURED_ERRORS"]
