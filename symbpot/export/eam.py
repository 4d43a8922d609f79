"""Export a :class:`~symbpot.manybody.ManyBodyPotential` to LAMMPS as an EAM setfl file.

Writes ``DIR/<Elements>.eam.alloy`` (``pair_style eam/alloy``) or ``DIR/<Elements>.eam.fs``
(``pair_style eam/fs``), tabulated by :func:`symbpot.export.setfl.write_setfl`, and
``DIR/in.pair`` with the ``pair_style``/``pair_coeff`` lines (the file name in it is
relative to DIR: run LAMMPS in DIR, set ``LAMMPS_POTENTIALS=DIR``, or edit the path).
Units are LAMMPS ``units metal`` (eV, Å).

What the file holds, for species a, b (symbpot's conventions, see :mod:`symbpot.manybody`):

* phi_ab(r) and g_ab(r) **with the cutoff treatment applied** (evaluated by
  :func:`symbpot.fitness.manybody.per_pair_values`, i.e. exactly as symbpot's calculator
  does), zero from rc on; F_a(rho) as written.
* Choice of style. symbpot's density is one symmetric function per species pair
  (rho_i = sum_j g_{s_i s_j}). ``eam/fs`` stores g for every ordered pair and represents
  that exactly. ``eam/alloy`` stores one density per *neighbour* species, g_ab = h(b);
  with g_ab = g_ba that means every g_ab is the same function. ``style="setfl"`` (the
  default) writes ``eam/alloy`` when that holds on the r grid (always for one species,
  and for the pair form) and ``eam/fs`` otherwise; ``style="alloy"`` refuses a potential
  alloy cannot represent; ``style="fs"`` always writes eam/fs. ``in.pair`` says which
  style was chosen and why.
* The pair form (``form="pair"``, no embedding) is written as a setfl file with F = 0 and
  g = 0, which is exactly the pair potential.
* The rho grid runs from 0 to rho_max. LAMMPS continues F linearly beyond rho_max, so
  rho_max should lie above every density met. In order of precedence: the caller's
  ``rho_max``; else ``DENSITY_MARGIN * max_density`` (the caller's largest expected
  density, e.g. over the training data; :func:`~symbpot.export.setfl.write_setfl`'s rule);
  else :func:`default_max_density`: the density at an atom of a **compressed fcc
  crystal**, nearest-neighbour distance ``COMPRESSION * r_wall`` (0.8 r_wall), all shells
  inside rc, each neighbour contributing the largest g_ab there. r_wall is the shortest
  distance where every dimer is still physical: scanning inwards from rc, the first
  distance where the energy of some a-b dimer (phi_ab + F_a(g_ab) - F_a(0) + F_b(g_ab) -
  F_b(0)) exceeds ``energy_cap`` (100 eV) in magnitude or stops being finite, but not
  below ``WALL_FLOOR * rc``. A close-packed crystal squeezed 20 % inside a 100 eV dimer
  wall is beyond anything an MD run reaches, so this bounds the densities met in practice.
* Below ``r_min`` (default r_wall, where some dimer energy exceeds ``energy_cap``) the tables continue
  phi and g linearly (see :mod:`symbpot.export.setfl`).
* Cutoff treatments: with ``smooth`` phi and g reach zero smoothly at rc. With ``hard``
  (or ``shift`` for the slope) they jump at rc, and LAMMPS' cubic interpolation smears
  the step over the last few grid intervals (within about 3 dr of rc, dr = rc/(Nr-1));
  ``in.pair`` says so.
* Per-species reference energies e_Z cannot be held by a setfl file: LAMMPS reports the
  EAM energy only, and symbpot's total energy = LAMMPS energy + sum over atoms of e_Z.
  The setfl header (3 lines) and ``in.pair`` say so and list the values.

Headers: the setfl file's three comment lines and ``in.pair``'s comments carry the
symbpot version, ``units metal``, the elements, the cutoff and :func:`potential_hash`.
``lammps.potential_hash`` hashes the fields of a pair :class:`~symbpot.Potential`
(``program``) and would ignore the functions of a many-body potential, so this module
has its own hash over the fields that define a many-body potential.

Output folder: created if missing; a folder that exists and is not empty (or a file in
its place) is refused with :class:`~symbpot.errors.OutputError` before anything is
written. If writing fails half-way, what this call wrote is removed again.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os

import numpy as np

from ..errors import OutputError
from .lammps import IN_PAIR, ExportError, _comment, _masses, _write_new
from .setfl import DEFAULT_ENERGY_CAP, DEFAULT_NR, DENSITY_MARGIN, pair_coeff_lines, write_setfl

STYLES = ("setfl", "alloy", "fs")
#: rho_max by default: density in fcc with nearest-neighbour distance COMPRESSION * r_wall.
COMPRESSION = 0.8
#: r_wall is never taken below WALL_FLOOR * rc.
WALL_FLOOR = 0.1
#: rho grid of a pair form (F = 0 and g = 0: the grid is arbitrary).
PAIR_FORM_RHO_MAX = 1.0
#: The fields of ManyBodyPotential.to_dict() that define the potential (hashed).
HASH_FIELDS = ("form", "species", "pairs", "densities", "embeddings", "cutoff", "cutoff_style", "cutoff_width",
               "reference_energies")


# --- identification --------------------------------------------------------------------------
def _program_dict(program) -> dict:
    return {"ops": program.ops.tolist(), "args": program.args.tolist()}


def potential_data(potential) -> dict:
    """The defining fields of a many-body potential, as in ``to_dict()`` (no sympy printing needed)."""
    data = {
        "form": potential.form,
        "species": list(potential.species),
        "pairs": [_program_dict(p) for p in potential.pair],
        **potential.cutoff.to_dict(),
        "reference_energies": {str(k): float(v) for k, v in potential.reference_energies.items()},
    }
    if potential.form == "eam":
        data["densities"] = [_program_dict(p) for p in potential.density]
        data["embeddings"] = [_program_dict(p) for p in potential.embedding]
    return data


def potential_hash(potential) -> str:
    """sha256 (hex) of the canonical JSON of :data:`HASH_FIELDS` of a many-body potential.

    The same fields as :meth:`ManyBodyPotential.to_dict` holds (``pairs``, ``densities``
    and ``embeddings`` as ``{"ops", "args"}``), sorted keys, no spaces; versions, metrics,
    complexity and printed closed forms are left out. Also accepts a ``to_dict()`` result.
    """
    data = potential_data(potential) if hasattr(potential, "species") else dict(potential)
    keep = {k: data.get(k) for k in HASH_FIELDS}
    text = json.dumps(keep, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()


# --- the functions as numpy callables -----------------------------------------------------------
def _radial(program, cutoff):
    from ..fitness.manybody import per_pair_values

    def f(r):
        r = np.asarray(r, dtype=float)
        with np.errstate(all="ignore"):
            return per_pair_values([program], cutoff, r, np.zeros(r.shape, dtype=np.int64))[0]

    return f


def _radial_with_slope(program, cutoff, r):
    from ..fitness.manybody import per_pair_values

    with np.errstate(all="ignore"):
        return per_pair_values([program], cutoff, np.asarray(r, dtype=float), np.zeros(np.size(r), dtype=np.int64))


def _embedding(program):
    def f(rho):
        rho = np.asarray(rho, dtype=float)
        with np.errstate(all="ignore"):
            return np.asarray(program.evaluate(rho), dtype=float)

    return f


def _zero(x):
    return np.zeros(np.shape(x))


def _functions(potential):
    """(embedding, density, pair) dicts keyed as write_setfl wants them."""
    from ..fitness.manybody import type_matrix

    species = list(potential.species)
    types = type_matrix(len(species))
    cut = potential.cutoff
    pair = {}
    for (a, b), prog in zip(potential.pair_types, potential.pair):
        pair[(a, b)] = _radial(prog, cut)
    if potential.form != "eam":
        return {a: _zero for a in species}, {(a, b): _zero for a in species for b in species}, pair
    embedding = {a: _embedding(prog) for a, prog in zip(species, potential.embedding)}
    density = {(a, b): _radial(potential.density[types[i, j]], cut)
               for i, a in enumerate(species) for j, b in enumerate(species)}
    return embedding, density, pair


# --- style and density range -----------------------------------------------------------------
def _same_programs(programs) -> bool:
    first = programs[0]
    return all(np.array_equal(p.ops, first.ops) and np.array_equal(p.args, first.args) for p in programs[1:])


def alloy_can_represent(potential, nr: int = DEFAULT_NR) -> bool:
    """True if eam/alloy holds the densities exactly: one species, the pair form, or all g_ab equal on the r grid.

    The grid is write_setfl's default (``nr`` points from 0 to rc); points where a g is not
    finite must be non-finite for all alike. Tolerance as write_setfl's own check
    (relative 1e-10, absolute 1e-12 of the largest |g|).
    """
    if potential.form != "eam" or len(potential.species) == 1 or _same_programs(potential.density):
        return True
    rc = float(potential.cutoff.radius)
    r = np.arange(1, nr) * (rc / (nr - 1))
    r = r[r < rc]
    tables = [_radial(g, potential.cutoff)(r) for g in potential.density]
    ref = tables[0]
    scale = max(1.0, float(np.nanmax(np.abs(np.where(np.isfinite(ref), ref, np.nan)), initial=0.0)))
    return all(np.allclose(t, ref, rtol=1e-10, atol=1e-12 * scale, equal_nan=True)
               and np.array_equal(np.isfinite(t), np.isfinite(ref)) for t in tables[1:])


def _dimer_energies(potential, r):
    """Energy of every a-b dimer at distances r (above the isolated atoms), rows in pair_types order."""
    from ..fitness.manybody import per_pair_values

    index = {s: k for k, s in enumerate(potential.species)}
    out = []
    zeros = np.zeros(len(r), dtype=np.int64)
    with np.errstate(all="ignore"):
        for t, (a, b) in enumerate(potential.pair_types):
            u = per_pair_values([potential.pair[t]], potential.cutoff, r, zeros)[0]
            if potential.form == "eam":
                g = per_pair_values([potential.density[t]], potential.cutoff, r, zeros)[0]
                for s in (a, b):
                    f = potential.embedding[index[s]]
                    u = u + np.asarray(f.evaluate(g), dtype=float) - float(f.evaluate(np.zeros(1))[0])
            out.append(u)
    return np.array(out)


def wall_radius(potential, energy_cap: float = DEFAULT_ENERGY_CAP) -> float:
    """Scanning inwards from rc: where some dimer energy first exceeds ``energy_cap`` eV (or is not finite).

    Never below ``WALL_FLOOR * rc``; 8000 points between that floor and rc.
    """
    rc = float(potential.cutoff.radius)
    floor = WALL_FLOOR * rc
    r = np.linspace(floor, rc, 8001)[:-1]
    u = _dimer_energies(potential, r)
    bad = np.any(~np.isfinite(u) | (np.abs(u) > energy_cap), axis=0)
    if not bad.any():
        return floor
    last_bad = int(np.flatnonzero(bad)[-1])
    if last_bad == len(r) - 1:
        raise ExportError(f"a dimer energy exceeds {energy_cap} eV (or is not finite) just inside the cutoff; "
                          "give rho_max or max_density explicitly")
    return float(r[last_bad + 1])


def _fcc_distances(nearest: float, cutoff: float) -> np.ndarray:
    """Distances from an atom to its fcc neighbours (nearest-neighbour distance ``nearest``) inside ``cutoff``."""
    half = nearest / math.sqrt(2.0)  # half the cubic lattice constant
    n = int(math.ceil(cutoff / half))
    k = np.arange(-n, n + 1)
    i, j, m = np.meshgrid(k, k, k, indexing="ij")
    keep = ((i + j + m) % 2 == 0) & ((i != 0) | (j != 0) | (m != 0))
    d = half * np.sqrt(i[keep] ** 2 + j[keep] ** 2 + m[keep] ** 2)
    return d[d < cutoff]


def default_max_density(potential, energy_cap: float = DEFAULT_ENERGY_CAP) -> float:
    """rho at an atom of fcc with nearest-neighbour distance ``COMPRESSION * wall_radius``.

    Every neighbour contributes the largest of the g_ab at its distance (an upper bound for
    any composition). Where a g is not finite it is continued linearly inwards from
    ``wall_radius``. 0 for the pair form.
    """
    if potential.form != "eam":
        return 0.0
    rc = float(potential.cutoff.radius)
    wall = wall_radius(potential, energy_cap)
    d = _fcc_distances(COMPRESSION * wall, rc)
    shells, counts = np.unique(np.round(d, 9), return_counts=True)
    best = np.full(len(shells), -np.inf)
    for g in potential.density:
        v, dv = _radial_with_slope(g, potential.cutoff, shells)
        v0, dv0 = _radial_with_slope(g, potential.cutoff, np.array([wall]))
        v = np.where(np.isfinite(v), v, v0[0] + dv0[0] * (shells - wall))
        best = np.maximum(best, np.where(np.isfinite(v), v, -np.inf))
    rho = float(np.sum(counts * np.maximum(best, 0.0)))
    if not math.isfinite(rho):
        raise ExportError("the density of a compressed fcc crystal is not finite; give rho_max or max_density")
    return rho


# --- headers --------------------------------------------------------------------------------
def _treatment(cut) -> str:
    return f"smooth, window width {cut.width!r} Angstrom" if cut.style == "smooth" else cut.style


def _references(potential) -> str:
    return ", ".join(f"e_{s} = {float(e)!r}" for s, e in potential.reference_energies.items())


def _setfl_header(potential, lammps_style, digest) -> list:
    from ..potential import package_version

    cut = potential.cutoff
    kind = "pair potential written as EAM with F = 0, g = 0" if potential.form != "eam" else "EAM"
    lines = [
        f"symbpot {package_version()} export of a many-body potential ({kind}) for LAMMPS pair_style {lammps_style}",
        f"units metal (eV, Angstrom); elements {' '.join(potential.species)}; cutoff rc = {cut.radius!r} "
        f"Angstrom ({_treatment(cut)}); potential sha256: {digest}",
        "per-species reference energies are NOT in this file: LAMMPS gives the EAM energy only; "
        f"symbpot energy = LAMMPS energy + sum over atoms of e_Z (eV/atom): {_references(potential)}",
    ]
    if len(lines[2]) > 900:
        lines[2] = "per-species reference energies are NOT in this file: LAMMPS gives the EAM energy only (see in.pair)"
    return lines


def _in_pair_text(potential, lammps_style, why, file_name, digest, grid_notes) -> str:
    from ..potential import package_version
    from .sympy_form import round_floats

    cut = potential.cutoff
    species = list(potential.species)
    lines = [
        f"symbpot {package_version()} export of a many-body potential for LAMMPS (pair_style {lammps_style})",
        "units metal: energies in eV, distances in Angstrom, forces in eV/Angstrom",
        "elements: " + " ".join(species),
        f"potential sha256: {digest}",
        f"cutoff: rc = {cut.radius!r} Angstrom, treatment {_treatment(cut)} (applied to phi and g in the tables)",
        f"style: {lammps_style} -- {why}",
    ]
    if potential.form != "eam":
        lines.append("form 'pair': written as EAM with F = 0 and g = 0, which is exactly the pair potential")
    if cut.style != "smooth":
        lines.append(f"NOTE: with the {cut.style} cutoff phi and g (or their slopes) jump at rc; LAMMPS' cubic "
                     "interpolation smears the step over the last few grid intervals below rc")
    lines.append("functions (constants rounded here; the tables hold the exact values), before the cutoff "
                 "treatment:")
    for name, expr in potential.functions().items():
        lines.append(f"  {name} = {round_floats(expr, 8)}")
    lines += grid_notes
    lines += [
        "NOTE: per-species reference energies are NOT in these files: a setfl file cannot hold",
        "a per-atom constant. LAMMPS reports the EAM energy only; symbpot's total energy",
        "(on the scale of the data it was fitted to) = LAMMPS energy + sum over atoms of e_Z:",
    ]
    lines += [f"  e_{s} = {float(e)!r} eV/atom" for s, e in potential.reference_energies.items()]
    masses = _masses(species)
    lines += [
        f"{file_name} is relative to this folder: run LAMMPS here, set LAMMPS_POTENTIALS to this folder,",
        "or edit the path.",
        "",
        "paste (or 'include') after the simulation box exists; the input script needs 'units metal'.",
        "atom types: " + " ".join(f"{i + 1}={s}" for i, s in enumerate(species)),
    ]
    lines += [f"mass {i + 1} {masses[s]!r}  (standard atomic mass of {s}; the setfl file sets it too)"
              for i, s in enumerate(species) if s in masses]
    return _comment(lines) + "\n".join(pair_coeff_lines(file_name, species, lammps_style.split("/")[1])) + "\n"


# --- output folder ----------------------------------------------------------------------------
def _check_folder(out_dir: str) -> None:
    if os.path.lexists(out_dir) and not os.path.isdir(out_dir):
        raise OutputError(f"{out_dir}: exists and is not a folder")
    if os.path.isdir(out_dir) and os.listdir(out_dir):
        raise OutputError(f"{out_dir}: output folder exists and is not empty; symbpot never overwrites an "
                          "export (choose a new --out)")


# --- export -----------------------------------------------------------------------------------
def export_eam(potential, out_dir, style: str = "setfl", nr: int | None = None, nrho: int | None = None, *,
               dr: float | None = None, drho: float | None = None, rho_max: float | None = None,
               max_density: float | None = None, r_min: float | None = None,
               energy_cap: float = DEFAULT_ENERGY_CAP) -> dict:
    """Write ``out_dir/<Elements>.eam.alloy`` (or ``.eam.fs``) and ``out_dir/in.pair``.

    Parameters
    ----------
    potential : ManyBodyPotential
        Form ``"eam"`` or ``"pair"``.
    out_dir : path
        Created if missing; must be empty if it exists (:class:`~symbpot.errors.OutputError`).
    style : {"setfl", "alloy", "fs"}
        ``setfl``: eam/alloy when it represents the densities exactly, else eam/fs (module
        notes); ``alloy``: eam/alloy or :class:`ExportError`; ``fs``: eam/fs.
    nr, nrho, dr, drho : optional
        Grids of r (phi and g) and rho (F), as in :func:`~symbpot.export.setfl.write_setfl`
        (default 2000 points each).
    rho_max : float, optional
        Top of the rho grid. Default ``DENSITY_MARGIN * max_density`` if ``max_density`` is
        given, else :func:`default_max_density` (``PAIR_FORM_RHO_MAX`` for the pair form).
    max_density : float, optional
        The largest host density expected (e.g. over the training data).
    r_min, energy_cap : optional
        Short-range continuation of phi and g (write_setfl); ``energy_cap`` also sets the
        wall for the default rho_max.

    Returns
    -------
    dict
        ``{"setfl": path, "in.pair": path}``.
    """
    if style not in STYLES:
        raise ExportError(f"unknown EAM export style {style!r} (choose from {', '.join(STYLES)})")
    if getattr(potential, "form", None) not in ("eam", "pair") or not hasattr(potential, "species"):
        raise ExportError("export_eam needs a many-body potential (form 'eam' or 'pair'); "
                          "a pair Potential is exported with symbpot.export.lammps.export_lammps")
    out_dir = os.fspath(out_dir)
    _check_folder(out_dir)

    species = list(potential.species)
    if dr is not None and nr is None:
        n_check = int(math.ceil(float(potential.cutoff.radius) / float(dr))) + 1
    else:
        n_check = DEFAULT_NR if nr is None else int(nr)
    alloy_ok = alloy_can_represent(potential, max(5, n_check))
    if style == "fs":
        setfl_style, why = "fs", "requested (densities for every ordered species pair)"
    elif alloy_ok:
        setfl_style = "alloy"
        why = ("requested" if style == "alloy" else "chosen by style 'setfl'") + (
            ": one species" if len(species) == 1 else ": no densities (pair form)" if potential.form != "eam"
            else ": every g_ab is the same function, so one density per species holds it")
    elif style == "alloy":
        raise ExportError("eam/alloy has one density function per neighbour species, but this potential's g_ab "
                          "(symmetric in a, b) differ between species pairs: use style 'fs' (or 'setfl')")
    else:
        setfl_style = "fs"
        why = ("chosen by style 'setfl': the densities g_ab differ between species pairs, which eam/alloy "
               "(one density per neighbour species) cannot hold; eam/fs stores every ordered pair")
    lammps_style = f"eam/{setfl_style}"

    if rho_max is None and max_density is None and not (nrho is not None and drho is not None):
        if potential.form == "eam":
            rho_max = default_max_density(potential, energy_cap)
            rho_note = (f"rho_max = {rho_max!r}: density at an atom of fcc compressed to nearest-neighbour distance "
                        f"{COMPRESSION} x r_wall = {COMPRESSION * wall_radius(potential, energy_cap):.6g} Angstrom "
                        f"(r_wall: where a dimer energy first exceeds {energy_cap} eV)")
            if not rho_max > 0:
                raise ExportError("the densities are not positive in a compressed fcc crystal; give rho_max")
        else:
            rho_max = PAIR_FORM_RHO_MAX
            rho_note = f"rho_max = {rho_max!r} (F = 0: any grid is exact)"
    elif rho_max is not None:
        rho_note = f"rho_max = {float(rho_max)!r} (given)"
    elif max_density is not None:
        rho_note = f"rho_max = {DENSITY_MARGIN} x max_density = {DENSITY_MARGIN * float(max_density)!r} (given)"
    else:
        rho_note = "rho grid given as nrho, drho"

    digest = potential_hash(potential)
    file_name = f"{''.join(species)}.eam.{setfl_style}"
    setfl_path = os.path.join(out_dir, file_name)
    in_pair_path = os.path.join(out_dir, IN_PAIR)
    embedding, density, pair = _functions(potential)
    if r_min is None:
        # the many-body wall (dimer energy, phi + 2 (F(g) - F(0))), not |phi| alone: an EAM's phi can be
        # hundreds of eV at the nearest-neighbour distance, compensated by F (found on runs/cu-eam)
        r_min = wall_radius(potential, energy_cap)

    created = not os.path.isdir(out_dir)
    try:
        try:
            os.makedirs(out_dir, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"{out_dir}: cannot create the folder ({exc.strerror or exc})") from None
        write_setfl(setfl_path, species, None, embedding, density, pair, potential.cutoff.radius, style=setfl_style,
                    nrho=nrho, drho=drho, nr=nr, dr=dr, rho_max=rho_max, max_density=max_density,
                    header=_setfl_header(potential, lammps_style, digest), r_min=r_min, energy_cap=energy_cap)
        grid_notes = _grid_notes(setfl_path, rho_note)
        text = _in_pair_text(potential, lammps_style, why, file_name, digest, grid_notes)
        _write_new(in_pair_path, text)  # last: an in.pair means a complete export
    except BaseException:
        for path in (setfl_path, in_pair_path):  # the folder was empty: whatever is there, this call wrote
            with contextlib.suppress(OSError):
                os.remove(path)
        if created:
            with contextlib.suppress(OSError):
                os.rmdir(out_dir)  # only if empty
        raise
    return {"setfl": setfl_path, "in.pair": in_pair_path}


def _grid_notes(setfl_path, rho_note) -> list:
    """The grids as written (read back from line 5 of the setfl file)."""
    with open(setfl_path) as fh:
        for _ in range(4):
            fh.readline()
        words = fh.readline().split()
    nrho, drho, nr, dr = int(words[0]), float(words[1]), int(words[2]), float(words[3])
    return [
        f"tables: Nr = {nr} points of dr = {dr!r} Angstrom (phi as r*phi, g) and Nrho = {nrho} points of "
        f"drho = {drho!r} (F), up to rho_max = {(nrho - 1) * drho!r}; LAMMPS interpolates them with cubic splines",
        rho_note,
        "LAMMPS continues F linearly beyond rho_max; below r_min (where a dimer energy first exceeds the energy cap)",
        "phi and g are continued linearly (symbpot.export.setfl).",
    ]


__all__ = ["export_eam", "potential_hash", "potential_data", "alloy_can_represent", "default_max_density",
           "wall_radius", "STYLES", "COMPRESSION", "WALL_FLOOR"]
