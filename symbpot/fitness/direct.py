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
from .kernels import STYLE_CODES, apply_cutoff, structure_sums


def pair_values(program: Program, cutoff: Cutoff, r: np.ndarray, order: int = 0):
    """U(r) (and U'(r) for ``order >= 1``) with the cutoff treatment; zero at r >= rc."""
    r = np.ascontiguousarray(r, dtype=float)
    with np.errstate(all="ignore"):
        v, d1 = program.evaluate(r, 1)
        v_rc = float(program.evaluate(np.array([cutoff.radius]))[0]) if cutoff.needs_value_at_cutoff else 0.0
    u, u1 = apply_cutoff(r, v, d1, STYLE_CODES[cutoff.style], float(cutoff.radius), float(cutoff.width), v_rc)
    return u if order == 0 else (u, u1)


def predict_pairs(program: Program, cutoff: Cutoff, dataset: Dataset, want_forces: bool = True):
    """Pair energies (S,), forces (N_total, 3) and stresses (S, 6, eV/Å^3, ASE sign) in one pass.

    Stresses are zero for structures without a volume; forces are empty without
    ``want_forces``.
    """
    u, du = pair_values(program, cutoff, dataset.pair_distance, order=1)
    energies, forces, virial = structure_sums(u, du, dataset.pair_offsets, dataset.atom_offsets, dataset.pair_i,
                                              dataset.pair_vector, dataset.pair_distance, want_forces)
    volume = dataset.volume
    with np.errstate(all="ignore"):
        stress = np.where(volume[:, None] > 0, virial / np.where(volume > 0, volume, 1.0)[:, None], 0.0)
    return energies, forces, stress


def structure_pair_energies(program: Program, cutoff: Cutoff, dataset: Dataset) -> np.ndarray:
    """Pair energy of every structure (eV), without reference energies."""
    return predict_pairs(program, cutoff, dataset, want_forces=False)[0]


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
    _, forces, stress = predict_pairs(program, cutoff, dataset)
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
