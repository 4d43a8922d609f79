"""Errors of a potential on a data set, overall and per group."""
from __future__ import annotations

import numpy as np

from .data import Dataset
from .fitness.direct import energy_errors, force_stress_errors
from .fitness.exact import with_stress_offset


def validate(potential, dataset: Dataset, stress_offset: bool = True) -> dict:
    """Energy (meV/atom), force (eV/Å) and stress (GPa) errors, overall and per group.

    Returns a dict with the overall metrics at the top level (``energy_mae_meV_per_atom``,
    ``energy_rmse_meV_per_atom``, ``force_mae_eV_per_A``, ``force_rmse_eV_per_A``,
    ``stress_mae_GPa``, ``stress_rmse_GPa`` where the data has them, ``n_structures``)
    and ``groups``: the same metrics for every group. Stresses are compared after adding
    the isotropic offset fitted to the potential's training data, if any
    (``metrics["stress_offset_GPa"]``), unless ``stress_offset`` is False (data from
    another DFT set-up, without that offset).
    """
    energies, forces, stress = potential.predict(dataset)
    if stress_offset:
        stress = with_stress_offset(stress, dataset, potential)
    out = {**energy_errors(energies, dataset), **force_stress_errors(forces, stress, dataset)}
    groups = {}
    for group in sorted(set(dataset.groups)):
        idx = np.flatnonzero(np.array(dataset.groups) == group)
        sub = dataset.subset(idx)
        atom_idx = np.concatenate([np.arange(dataset.atom_offsets[s], dataset.atom_offsets[s + 1]) for s in idx])
        groups[group] = {**energy_errors(energies[idx], sub),
                         **force_stress_errors(forces[atom_idx], stress[idx], sub)}
    out["groups"] = groups
    return out


def format_table(metrics: dict) -> str:
    """A plain-text table of :func:`validate`'s result."""
    cols = [("n", "n_structures", "{:d}"), ("E MAE meV/at", "energy_mae_meV_per_atom", "{:.3f}"),
            ("E RMSE meV/at", "energy_rmse_meV_per_atom", "{:.3f}"), ("F MAE eV/Å", "force_mae_eV_per_A", "{:.4f}"),
            ("F RMSE eV/Å", "force_rmse_eV_per_A", "{:.4f}"), ("S MAE GPa", "stress_mae_GPa", "{:.3f}")]
    rows = [("all", metrics)] + list(metrics.get("groups", {}).items())
    width = max(len(name) for name, _ in rows) + 2
    lines = ["group".ljust(width) + "".join(f"{title:>15}" for title, _, _ in cols)]
    for name, m in rows:
        cells = [fmt.format(m[key]) if key in m else "-" for _, key, fmt in cols]
        lines.append(name.ljust(width) + "".join(f"{c:>15}" for c in cells))
    return "\n".join(lines)
