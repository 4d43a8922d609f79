"""The loss computed exactly (direct sums over all pairs), for final coefficients and metrics.

Same definition as :mod:`symbpot.fitness.energy` (the grid version used by the search):
weighted mean squared per-atom energy error, force component error (eV/Å) and stress
component error (GPa), with weights w_E, w_F, w_S and per-structure weights.

Stress offset: DFT stresses can carry an error that is the same isotropic stress in every
cell (VASP's Pulay stress with an incomplete plane-wave basis: the stress is then off
while the energies are not), which no potential can reproduce through its energy. With
``stress_offset=True`` such an offset p0 is one more free linear parameter, fitted with
the reference energies: the loss compares the model's stress + p0 (on the diagonal) with
the DFT stress. The fitted p0 is reported as ``metrics["stress_offset_GPa"]`` of a
potential and is a property of the data, not of the potential: its calculator and its
exported files give the model's own stress.
"""
from __future__ import annotations

import numpy as np

from ..data import Dataset
from ..expr import Program
from ..forms.cutoff import Cutoff
from .direct import EV_PER_A3_IN_GPA, predict_pairs
from .energy import structure_weights


class ExactLoss:
    """Row scaling of the loss on one data set, and the exact loss of predictions."""

    def __init__(self, dataset: Dataset, cutoff: Cutoff, weights=None, energy_weight: float = 1.0,
                 force_weight: float = 0.0, stress_weight: float = 0.0, stress_offset: bool = False):
        self.dataset = dataset
        self.cutoff = cutoff
        w = structure_weights(dataset, weights)
        self.energy_scale = np.sqrt(energy_weight * w) / dataset.n_atoms
        # a term is used when its weight and the weight of the structures having it are positive
        self.use_forces = force_weight > 0 and np.sum(w[dataset.has_forces]) > 0
        self.use_stress = stress_weight > 0 and np.sum(w[dataset.has_stress]) > 0
        if self.use_forces:
            atoms_w = np.repeat(np.where(dataset.has_forces, w, 0.0), dataset.n_atoms)
            norm = np.sum(w[dataset.has_forces] * 3 * dataset.n_atoms[dataset.has_forces])
            self.force_scale = np.repeat(np.sqrt(force_weight * atoms_w / norm), 3)
        if self.use_stress:
            norm = np.sum(w[dataset.has_stress] * 6)
            sw = np.where(dataset.has_stress, w, 0.0)
            self.stress_scale = np.repeat(np.sqrt(stress_weight * sw / norm), 6) * EV_PER_A3_IN_GPA
        #: fit an isotropic stress offset of the data (only where stresses enter the loss)
        self.fit_offset = bool(stress_offset) and self.use_stress

    def offset_columns(self) -> list:
        """Loss columns of the free parameters besides the reference energies: the isotropic
        stress offset (in eV/Å^3) when it is fitted, else none."""
        if not self.fit_offset:
            return []
        d = self.dataset
        return [self._rows(np.zeros(len(d)), np.zeros_like(d.forces), isotropic(d))]

    def _rows(self, energies, forces=None, stress=None) -> np.ndarray:
        parts = [self.energy_scale * energies]
        if self.use_forces:
            parts.append(self.force_scale * forces.reshape(-1))
        if self.use_stress:
            parts.append(self.stress_scale * stress.reshape(-1))
        return np.concatenate(parts)

    def _predict_pair(self, program: Program):
        return predict_pairs(program, self.cutoff, self.dataset, want_forces=self.use_forces)

    def target(self) -> np.ndarray:
        d = self.dataset
        return self._rows(d.energies, d.forces, d.stress)

    def fit_linear(self, terms, species):
        """Outer coefficients of ``terms`` and reference energies minimising the exact loss.

        Returns ``(coefficients, reference_energies, loss)``; ``None`` for the first two if
        a term is not finite on the data. With a fitted stress offset (eV/Å^3) it is the last
        element of the second.
        """
        from ..gp.engine import combine_terms

        columns = [self._rows(*self._predict_pair(combine_terms([t], [1.0]))) for t in terms]
        counts = self.dataset.species_counts_for(species).astype(float)
        zeros_f = np.zeros_like(self.dataset.forces)
        zeros_s = np.zeros_like(self.dataset.stress)
        columns += [self._rows(counts[:, k], zeros_f, zeros_s) for k in range(counts.shape[1])]
        columns += self.offset_columns()
        design = np.column_stack(columns)
        if not np.all(np.isfinite(design)):
            return None, None, np.inf
        norms = np.linalg.norm(design, axis=0)
        norms[norms == 0] = 1.0
        target = self.target()
        solution, *_ = np.linalg.lstsq(design / norms, target, rcond=None)
        solution /= norms
        residual = design @ solution - target
        return solution[: len(terms)], solution[len(terms):], float(residual @ residual)

    def loss(self, potential, predictions=None) -> float:
        """Exact loss of a potential (its own reference energies) on this data set.

        ``predictions`` (energies, forces, stress) from ``potential.predict`` can be passed
        to avoid computing them again.
        """
        energies, forces, stress = predictions if predictions is not None else potential.predict(self.dataset)
        stress = with_stress_offset(stress, self.dataset, potential)
        residual = self._rows(energies, forces, stress) - self.target()
        value = float(residual @ residual)
        return value if np.isfinite(value) else np.inf


def isotropic(dataset: Dataset) -> np.ndarray:
    """(S, 6): ones on the diagonal stress components of the structures with a stress."""
    iso = np.zeros_like(dataset.stress)
    iso[dataset.has_stress, :3] = 1.0
    return iso


def stress_offset_of(potential) -> float:
    """The isotropic stress offset (GPa) fitted to a potential's training data (0 if none)."""
    return float((getattr(potential, "metrics", None) or {}).get("stress_offset_GPa", 0.0) or 0.0)


def with_stress_offset(stress, dataset: Dataset, potential):
    """Predicted stresses plus the data's fitted isotropic offset, to compare with the DFT stress."""
    p0 = stress_offset_of(potential)
    if not p0 or stress is None:
        return stress
    return stress + (p0 / EV_PER_A3_IN_GPA) * isotropic(dataset)
