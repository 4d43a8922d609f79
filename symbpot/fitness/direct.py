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


def pair_sums(u, du, pair_i, pair_vector, pair_distance, n_atoms: int):
    """Per-atom energies, forces and the virial tensor from per-pair U and U'.

    Full neighbour list: E_i = 1/2 sum_j U(r_ij), F_i = sum_j U'(r_ij) D_ij / r_ij with
    D_ij = r_j - r_i, and W_ab = 1/2 sum_pairs U'(r) D_a D_b / r, so that ASE's stress
    (1/V) dE/d(strain) is W / V.
    """
    energies = 0.5 * np.bincount(pair_i, weights=u, minlength=n_atoms)
    scaled = (du / pair_distance)[:, None] * pair_vector
    forces = np.column_stack([np.bincount(pair_i, weights=scaled[:, a], minlength=n_atoms) for a in range(3)])
    virial = 0.5 * scaled.T @ pair_vector
    return energies, forces, virial


VOIGT = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))


def to_voigt(tensor: np.ndarray) -> np.ndarray:
    """(..., 3, 3) -> (..., 6) in ASE's order xx, yy, zz, yz, xz, xy."""
    return np.stack([tensor[..., a, b] for a, b in VOIGT], axis=-1)


def forces_and_stress(program: Program, cutoff: Cutoff, dataset: Dataset):
    """Forces (N_total, 3) in eV/Å and stresses (S, 6) in eV/Å^3 (ASE sign; 0 without volume)."""
    u, du = pair_values(program, cutoff, dataset.pair_distance, order=1)
    scaled = (du / dataset.pair_distance)[:, None] * dataset.pair_vector
    n_atoms = int(dataset.atom_offsets[-1])
    forces = np.column_stack([np.bincount(dataset.pair_i, weights=scaled[:, a], minlength=n_atoms)
                              for a in range(3)])
    stress = np.zeros((len(dataset), 6))
    for k, (a, b) in enumerate(VOIGT):
        w = 0.5 * scaled[:, a] * dataset.pair_vector[:, b]
        stress[:, k] = np.bincount(dataset.pair_structure, weights=w, minlength=len(dataset))
    volume = dataset.volume
    with np.errstate(all="ignore"):
        stress = np.where(volume[:, None] > 0, stress / np.where(volume > 0, volume, 1.0)[:, None], 0.0)
    return forces, stress


def fit_reference_energies(pair_energies: np.ndarray, dataset: Dataset, species, weights=None) -> np.ndarray:
    """Per-species reference energies (eV/atom) minimising the weighted per-atom error."""
    w = structure_weights(dataset, weights)
    scale = np.sqrt(w) / dataset.n_atoms
    counts = dataset.species_counts_for(species).astype(float)
    target = scale * (dataset.energies - pair_energies)
    M = scale[:, None] * counts
    solution, *_ = np.linalg.lstsq(M, target, rcond=None)
    return solution


EV_PER_A3_IN_GPA = 160.21766208


def energy_errors(predicted: np.ndarray, dataset: Dataset) -> dict:
    """Energy RMSE and MAE in meV/atom."""
    per_atom = (predicted - dataset.energies) / dataset.n_atoms
    return {
        "energy_rmse_meV_per_atom": float(1000 * np.sqrt(np.mean(per_atom**2))),
        "energy_mae_meV_per_atom": float(1000 * np.mean(np.abs(per_atom))),
        "n_structures": int(len(dataset)),
    }


def force_stress_errors(forces: np.ndarray, stress: np.ndarray, dataset: Dataset) -> dict:
    """Force MAE/RMSE (eV/Å, over components) and stress MAE/RMSE (GPa) where data has them."""
    out = {}
    atom_mask = np.repeat(dataset.has_forces, dataset.n_atoms)
    if atom_mask.any():
        diff = (forces - dataset.forces)[atom_mask]
        out["force_mae_eV_per_A"] = float(np.mean(np.abs(diff)))
        out["force_rmse_eV_per_A"] = float(np.sqrt(np.mean(diff**2)))
        out["n_force_components"] = int(diff.size)
    if dataset.has_stress.any():
        diff = (stress - dataset.stress)[dataset.has_stress] * EV_PER_A3_IN_GPA
        out["stress_mae_GPa"] = float(np.mean(np.abs(diff)))
        out["stress_rmse_GPa"] = float(np.sqrt(np.mean(diff**2)))
        out["n_stress_components"] = int(diff.size)
    return out


__all__ = [
    "pair_values",
    "structure_pair_energies",
    "atom_pair_energies",
    "fit_reference_energies",
    "energy_errors",
    "force_stress_errors",
    "forces_and_stress",
    "pair_sums",
    "to_voigt",
]
