"""Exact (direct) evaluation of a pair potential over every pair of a data set.

Used for final metrics and for checking the grid contraction. V(r) is evaluated by the
compiled interpreter over all pair distances (in parallel chunks); per-structure and
per-atom sums are vectorised with ``bincount``.
"""
from __future__ import annotations

import numpy as np

from ..data import Dataset
from ..expr import Program
from ..forms.cutoff import Cutoff
from .energy import structure_weights


def pair_values(program: Program, cutoff: Cutoff, r: np.ndarray, order: int = 0):
    """U(r) (and U'(r) for ``order >= 1``) with the cutoff treatment; zero at r >= rc."""
    r = np.asarray(r, dtype=float)
    with np.errstate(all="ignore"):
        v, d1 = program.evaluate(r, 1)
        v_rc = program.evaluate(np.array([cutoff.radius]))[0] if cutoff.needs_value_at_cutoff else None
        u, u1 = cutoff.apply(r, v, d1, v_at_cutoff=v_rc)
    outside = r >= cutoff.radius
    u = np.where(outside, 0.0, u)
    u1 = np.where(outside, 0.0, u1)
    return u if order == 0 else (u, u1)


def structure_pair_energies(program: Program, cutoff: Cutoff, dataset: Dataset) -> np.ndarray:
    """Pair energy of every structure (eV), without reference energies."""
    u = pair_values(program, cutoff, dataset.pair_distance)
    return 0.5 * np.bincount(dataset.pair_structure, weights=u, minlength=len(dataset))


def atom_pair_energies(program: Program, cutoff: Cutoff, dataset: Dataset) -> np.ndarray:
    """Pair energy of every atom (half of each of its pairs), in eV."""
    u = pair_values(program, cutoff, dataset.pair_distance)
    return 0.5 * np.bincount(dataset.pair_i, weights=u, minlength=int(dataset.atom_offsets[-1]))


def fit_reference_energies(pair_energies: np.ndarray, dataset: Dataset, species, weights=None) -> np.ndarray:
    """Per-species reference energies (eV/atom) minimising the weighted per-atom error."""
    w = structure_weights(dataset, weights)
    scale = np.sqrt(w) / dataset.n_atoms
    counts = dataset.species_counts_for(species).astype(float)
    target = scale * (dataset.energies - pair_energies)
    M = scale[:, None] * counts
    solution, *_ = np.linalg.lstsq(M, target, rcond=None)
    return solution


def energy_errors(predicted: np.ndarray, dataset: Dataset) -> dict:
    """Energy RMSE and MAE in meV/atom."""
    per_atom = (predicted - dataset.energies) / dataset.n_atoms
    return {
        "energy_rmse_meV_per_atom": float(1000 * np.sqrt(np.mean(per_atom**2))),
        "energy_mae_meV_per_atom": float(1000 * np.mean(np.abs(per_atom))),
        "n_structures": int(len(dataset)),
    }


__all__ = [
    "pair_values",
    "structure_pair_energies",
    "atom_pair_energies",
    "fit_reference_energies",
    "energy_errors",
]
