"""The DFT side of :mod:`symbpot.properties`: what DFT frames tell about the same properties.

:func:`dft_properties` derives the lattice constant and elastic constants (linear
stress-strain fit over the ``Elastic`` group), the vacancy formation energy (relaxed
``Vacancy`` frames only) and surface energies (relaxed ``Surface`` slabs, facets found from
the frame's info or its geometry), with a note for everything it cannot derive honestly.
Units and conventions are those of :mod:`symbpot.properties`.
"""
from __future__ import annotations

import math
import re

import numpy as np

from .properties import VOLUME_FACTOR, _check_structure, _family, _units


def dft_properties(frames, element: str, structure: str = "fcc", *, max_strain: float = 0.021,
                   force_tolerance: float = 0.25, group_key: str | None = None) -> dict:
    """What the DFT frames of ``element`` tell about the same properties.

    Parameters
    ----------
    frames : list of ase.Atoms
        With total energies (``info["energy"]`` or an attached calculator), forces and
        stresses where available, and a group in ``info`` (``group``, ``config_type`` or
        ``mlearn_group``). Frames with other elements are ignored.
    element, structure : str
    max_strain : float
        Largest strain component of the ``Elastic`` frames used for the elastic constants.
    force_tolerance : float
        eV/Å; a ``Vacancy`` or ``Surface`` frame whose largest force component is above this
        is a snapshot, not a relaxed structure, and is not used.

    Returns
    -------
    dict
        Whatever could be derived, with the keys of :func:`compute_properties`:

        * ``Elastic`` group (same-size cells strained from one reference cell): the reference
          cell gives ``lattice_constant_A`` and the bulk energy per atom; a linear fit of
          stress to strain (cubic symmetry, strains up to ``max_strain``) gives ``c11_GPa``,
          ``c12_GPa``, ``c44_GPa`` and ``bulk_modulus_GPa`` = (C11 + 2 C12) / 3. An E-V
          equation of state is *not* fitted: these cells are uniaxially strained or sheared,
          not scaled, so their E(V) has the curvature of C11, not of B.
        * ``Vacancy``: ``vacancy_formation_eV`` = E_vac - N_vac e_bulk from relaxed frames.
        * ``Surface``: (E_slab - N e_bulk) / 2A per relaxed slab (``surfaces``), the facet
          from the frame's description or, for cubic crystals, from the orientation of the
          nearest-neighbour vectors; ``surface_energy_<hkl>_J_m2`` is the lowest per facet.

        ``ev_curve`` is the harmonic E(V) = e_bulk + B v0 (V/v0 - 1)^2 / 2 implied by these
        (labelled as such in ``ev_curve_label``), ``notes`` says what was and was not derived.
    """
    from .data.dataset import read_group

    structure = _check_structure(structure)
    to_gpa, to_j_m2 = _units()
    notes = []
    groups = {}
    skipped = 0
    for index, atoms in enumerate(frames):
        if set(atoms.get_chemical_symbols()) != {element}:
            skipped += 1
            continue
        energy = _frame_energy(atoms)
        if energy is None:
            skipped += 1
            continue
        groups.setdefault(read_group(atoms, group_key).lower(), []).append((index, atoms, energy))
    if skipped:
        notes.append(f"{skipped} frames without energy or not pure {element} ignored")
    out = {"element": element, "structure": structure,
           "n_frames": {name: len(items) for name, items in sorted(groups.items())}}
    notes.append("cohesive energy: not derivable (no isolated-atom DFT energy in the data)")

    e_bulk = _dft_elastic(groups.get("elastic", []), structure, max_strain, to_gpa, out, notes)
    _dft_vacancy(groups.get("vacancy", []), e_bulk, force_tolerance, out, notes)
    _dft_surfaces(groups.get("surface", []), e_bulk, structure, force_tolerance, to_j_m2, out, notes)
    out["notes"] = notes
    return out


def _frame_energy(atoms):
    for key in ("energy", "Energy", "free_energy"):
        value = atoms.info.get(key)
        if value is not None:
            try:
                value = float(value)
            except (TypeError, ValueError):
                continue
            if math.isfinite(value):
                return value
    if atoms.calc is not None:
        try:
            value = float(atoms.get_potential_energy())
        except Exception:
            return None
        return value if math.isfinite(value) else None
    return None


def _frame_array(atoms, name):
    """Forces or stress stored with the frame (attached calculator or info/arrays), else None."""
    value = atoms.arrays.get(name) if name == "forces" else atoms.info.get(name)
    if value is None and atoms.calc is not None:
        try:
            value = atoms.calc.get_property(name, atoms, allow_calculation=False)
        except Exception:
            value = None
    if value is None:
        return None
    value = np.asarray(value, dtype=float)
    if name == "stress" and value.shape == (3, 3):
        value = value[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
    return value if np.all(np.isfinite(value)) else None


def _max_force(atoms):
    forces = _frame_array(atoms, "forces")
    return None if forces is None or forces.size == 0 else float(np.abs(forces).max())


def _dft_elastic(items, structure, max_strain, to_gpa, out, notes):
    """Lattice constant, C11, C12, C44 from the Elastic group; returns the bulk energy per atom."""
    if not items:
        notes.append("no Elastic frames: lattice constant, elastic constants and bulk energy not derived")
        return None
    sizes = {}
    for item in items:
        sizes.setdefault(len(item[1]), []).append(item)
    items = max(sizes.values(), key=len)
    if len(sizes) > 1:
        notes.append(f"Elastic frames of {len(items[0][1])} atoms used ({len(items)} of "
                     f"{sum(map(len, sizes.values()))}; other cell sizes ignored)")
    cells = np.array([atoms.cell.array for _, atoms, _ in items])
    reference = np.median(cells, axis=0)
    strains = []
    for cell in cells:
        deformation = np.linalg.solve(reference, cell).T  # cell = reference @ F^T
        strains.append(0.5 * (deformation + deformation.T) - np.eye(3))
    strains = np.array(strains)
    size = np.abs(strains).max(axis=(1, 2))
    ref_index = int(np.argmin(size))
    _, ref_atoms, ref_energy = items[ref_index]
    n = len(ref_atoms)
    e_bulk = ref_energy / n
    v_ref = abs(np.linalg.det(reference)) / n
    out["energy_per_atom_eV"] = e_bulk
    out["volume_per_atom_A3"] = v_ref
    out["lattice_constant_A"] = (v_ref / VOLUME_FACTOR[structure]) ** (1.0 / 3.0)
    if size[ref_index] > 1e-3:
        notes.append(f"no unstrained Elastic frame: bulk energy from a frame strained by {size[ref_index]:.3g}")
    notes.append(f"lattice constant: the reference (unstrained) cell of the Elastic group, "
                 f"{len(items)} frames of {n} atoms")
    if structure == "hcp":
        notes.append("hcp: lattice constant from the volume per atom at ideal c/a; elastic constants not fitted")
        return e_bulk
    rows, values = [], []
    for strain, (_, atoms, _) in zip(strains, items):
        stress = _frame_array(atoms, "stress")
        if stress is None or np.abs(strain).max() > max_strain:
            continue
        normal = np.diag(strain)
        shear = 2.0 * np.array([strain[1, 2], strain[0, 2], strain[0, 1]])
        for i in range(3):  # unknowns: stress offset, C11, C12, C44
            rows.append([1.0, normal[i], normal.sum() - normal[i], 0.0])
            values.append(stress[i])
            rows.append([0.0, 0.0, 0.0, shear[i]])
            values.append(stress[3 + i])
    rows, values = np.array(rows), np.array(values)
    if len(rows) < 8 or np.linalg.matrix_rank(rows) < 4:
        notes.append(f"elastic constants not derived: too few Elastic frames with stresses and strains "
                     f"up to {max_strain:g}")
        return e_bulk
    (offset, c11, c12, c44), *_ = np.linalg.lstsq(rows, values, rcond=None)
    c11, c12, c44 = c11 * to_gpa, c12 * to_gpa, c44 * to_gpa
    bulk_modulus = (c11 + 2 * c12) / 3.0
    out.update(c11_GPa=float(c11), c12_GPa=float(c12), c44_GPa=float(c44), bulk_modulus_GPa=float(bulk_modulus),
               bulk_modulus_elastic_GPa=float(bulk_modulus))
    n_used = len(rows) // 6
    a_zero = out["lattice_constant_A"] * (1.0 - offset * to_gpa / (3.0 * bulk_modulus))
    notes.append(f"C11, C12, C44: linear stress-strain fit over {n_used} Elastic frames with strains up to "
                 f"{max_strain:g}; B = (C11 + 2 C12)/3 (the frames are not hydrostatically scaled, so no E-V fit); "
                 f"that fit puts zero stress at a = {a_zero:.4f} Å")
    b = bulk_modulus / to_gpa
    volumes = v_ref * np.linspace(0.94, 1.06, 25)
    out["ev_curve"] = [[float(v), float(e_bulk + 0.5 * b * v_ref * (v / v_ref - 1.0) ** 2)] for v in volumes]
    out["ev_curve_label"] = "DFT, harmonic from B of the Elastic group"
    return e_bulk


def _dft_vacancy(items, e_bulk, force_tolerance, out, notes):
    if not items:
        notes.append("no Vacancy frames: vacancy formation energy not derived")
        return
    if e_bulk is None:
        notes.append("vacancy formation energy not derived: no bulk reference (Elastic group)")
        return
    relaxed, forces = [], []
    for index, atoms, energy in items:
        fmax = _max_force(atoms)
        forces.append(fmax)
        if fmax is None or fmax <= force_tolerance:
            relaxed.append((energy - len(atoms) * e_bulk, index, fmax))
    if not relaxed:
        known = [f for f in forces if f is not None]
        notes.append(f"vacancy formation energy not derived: the {len(items)} Vacancy frames are snapshots, not "
                     f"relaxed (largest force component: median {np.median(known):.2g} eV/Å, above "
                     f"{force_tolerance:g})")
        return
    value, index, fmax = min(relaxed)
    out["vacancy_formation_eV"] = float(value)
    note = f"vacancy formation energy: E_vac - N e_bulk, lowest of {len(relaxed)} relaxed Vacancy frames"
    if fmax is None:
        note += " (frames without forces taken as relaxed)"
    notes.append(note)


def _dft_surfaces(items, e_bulk, structure, force_tolerance, to_j_m2, out, notes):
    if not items:
        notes.append("no Surface frames: surface energies not derived")
        return
    if e_bulk is None:
        notes.append("surface energies not derived: no bulk reference (Elastic group)")
        return
    surfaces, snapshots = [], 0
    for index, atoms, energy in items:
        fmax = _max_force(atoms)
        if fmax is not None and fmax > force_tolerance:
            snapshots += 1
            continue
        geometry = _vacuum_axis(atoms)
        if geometry is None:
            continue
        normal, area = geometry
        facet = _facet_from_info(atoms.info) or _facet_from_geometry(atoms, normal, structure)
        gamma = (energy - len(atoms) * e_bulk) / (2.0 * area) * to_j_m2
        surfaces.append({"index": index, "n_atoms": len(atoms), "facet": facet, "area_A2": area,
                         "surface_energy_J_m2": float(gamma), "max_force_eV_A": fmax})
    if snapshots:
        notes.append(f"{snapshots} Surface frames with forces above {force_tolerance:g} eV/Å ignored (not relaxed)")
    if not surfaces:
        notes.append("surface energies not derived: no relaxed slab with a vacuum gap")
        return
    out["surfaces"] = surfaces
    for s in surfaces:
        if s["facet"]:
            key = f"surface_energy_{s['facet']}_J_m2"
            out[key] = min(out.get(key, math.inf), s["surface_energy_J_m2"])
    facets = sorted({s["facet"] for s in surfaces if s["facet"]})
    notes.append(f"surface energies: (E_slab - N e_bulk)/2A of {len(surfaces)} relaxed slabs"
                 + (f", facets {', '.join(facets)} (lowest per facet)" if facets else "")
                 + (f"; {sum(1 for s in surfaces if not s['facet'])} of unidentified facet"
                    if any(not s["facet"] for s in surfaces) else "")
                 + f"; lowest {min(s['surface_energy_J_m2'] for s in surfaces):.3f} J/m^2")


def _vacuum_axis(atoms, min_gap: float = 4.0):
    """(unit surface normal, area in Å^2) of a slab: the cell axis with the widest empty gap."""
    cell = atoms.cell.array
    volume = abs(np.linalg.det(cell))
    if volume <= 0 or len(atoms) == 0:
        return None
    scaled = atoms.get_scaled_positions(wrap=True)
    best = None
    for k in range(3):
        i, j = [m for m in range(3) if m != k]
        normal = np.cross(cell[i], cell[j])
        area = float(np.linalg.norm(normal))
        f = np.sort(scaled[:, k])
        gap = float(np.max(np.diff(np.append(f, f[0] + 1.0)))) * volume / area
        if best is None or gap > best[0]:
            best = (gap, normal / area, area)
    return None if best[0] < min_gap else (best[1], best[2])


_MILLER = re.compile(r"\(\s*(-?\d)\s*,?\s*(-?\d)\s*,?\s*(-?\d)\s*\)")


def _facet_from_info(info):
    for key in ("miller_index", "miller", "facet", "description", "mlearn_description"):
        text = info.get(key)
        if text is None:
            continue
        if not isinstance(text, str):
            text = "(" + ",".join(str(int(v)) for v in np.ravel(text)) + ")"
        match = _MILLER.search(text)
        if match:
            return _family([int(g) for g in match.groups()])
    return None


_NEIGHBOUR_DIRECTIONS = {
    "fcc": [(x, y, 0) for x in (1, -1) for y in (1, -1)] + [(x, 0, z) for x in (1, -1) for z in (1, -1)]
    + [(0, y, z) for y in (1, -1) for z in (1, -1)],
    "bcc": [(x, y, z) for x in (1, -1) for y in (1, -1) for z in (1, -1)],
    "diamond": [(x, y, z) for x in (1, -1) for y in (1, -1) for z in (1, -1)],
}
_COORDINATION = {"fcc": 12, "bcc": 8, "diamond": 4}


def _facet_from_geometry(atoms, normal, structure):
    """{hkl} of a cubic slab from the nearest-neighbour vectors of its most interior bulk-like atom."""
    from ase.neighborlist import neighbor_list

    if structure not in _NEIGHBOUR_DIRECTIONS or len(atoms) < 2:
        return None
    d_min = neighbor_list("d", atoms, 6.0)
    if len(d_min) == 0:
        return None
    cut = d_min.min() * (1.08 if structure == "bcc" else 1.2)
    i, vectors = neighbor_list("iD", atoms, cut)
    counts = np.bincount(i, minlength=len(atoms))
    full = np.flatnonzero(counts == _COORDINATION[structure])
    if len(full) == 0:
        return None
    height = atoms.positions @ normal
    centre = full[np.argmin(np.abs(height[full] - np.median(height)))]
    observed = vectors[i == centre]
    observed = observed / np.linalg.norm(observed, axis=1)[:, None]
    ideal = np.array(_NEIGHBOUR_DIRECTIONS[structure], dtype=float)
    ideal /= np.linalg.norm(ideal, axis=1)[:, None]
    v1 = observed[0]
    v2 = next((v for v in observed[1:] if abs(v @ v1) < 0.9), None)
    if v2 is None:
        return None
    best_score, best_rotation = -1.0, None
    for u1 in ideal:
        for u2 in ideal:
            if abs(u1 @ u2 - v1 @ v2) > 0.1:
                continue
            rotation = _frame(v1, v2) @ _frame(u1, u2).T  # crystal -> lab
            score = float(np.mean(np.max(observed @ (ideal @ rotation.T).T, axis=1)))
            if score > best_score:
                best_score, best_rotation = score, rotation
    if best_rotation is None or best_score < 0.98:
        return None
    return _miller_family(best_rotation.T @ normal)


def _frame(v1, v2):
    e1 = v1 / np.linalg.norm(v1)
    e2 = v2 - (v2 @ e1) * e1
    e2 /= np.linalg.norm(e2)
    return np.column_stack([e1, e2, np.cross(e1, e2)])


def _miller_family(direction, max_index: int = 6):
    n = np.sort(np.abs(direction))[::-1]
    n = n / n[0]
    for m in range(1, max_index + 1):
        candidate = np.round(n * m)
        if candidate[0] > 0 and candidate @ n / np.linalg.norm(candidate) / np.linalg.norm(n) > 0.9995:
            return _family(candidate)
    return None
