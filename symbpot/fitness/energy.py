"""Loss by grid contraction, with reference energies and outer coefficients solved in closed form.

The loss of a pair potential U on a data set (structure weights w_s, sum 1) is

    L = w_E sum_s w_s ((E_pair,s + n_s . e - E_s) / N_s)^2                  (eV/atom)^2
      + w_F sum_{s with forces} w_s |F_s - F_s^DFT|^2 / sum w_s 3 N_s      (eV/Å)^2
      + w_S sum_{s with stress} w_s |S_s - S_s^DFT|^2 / sum w_s 6          (GPa)^2

minimised over the per-species reference energies e (which enter energies only).
Energies, forces and virial stresses are all linear in the node vector
u = [U(x_k); U'(x_k)] (see :mod:`symbpot.fitness.grid`). For the energy block we scale
rows, project out the span of the species-count columns (which solves for e exactly)
and keep the triangular factor of its QR decomposition; the force block (3 rows per
atom) is accumulated chunk by chunk as a Gram matrix and replaced by its square-root
factor; the stress block is small. Stacking the three and taking one more QR gives R
with L(u) = ||R_A u - R_b||^2 exactly and at most 2G + 1 rows, whatever the data size.

A candidate is a sum of terms with free outer coefficients, U = sum_k a_k T_k. Its
loss is a small linear least-squares problem in a, solved per candidate; a whole
generation is scored with one matrix product (terms x 2G) @ (2G x rows).
"""
from __future__ import annotations

from typing import Sequence

import numba
import numpy as np

from ..data import Dataset
from ..expr import Program, concatenate
from ..expr.interpreter import evaluate_batch, evaluate_batch_serial
from ..forms.cutoff import Cutoff
from .grid import RadialGrid

DEFAULT_GRID_SIZE = 200
#: relative disagreement allowed between a candidate and its Hermite interpolant at midpoints
MIDPOINT_TOLERANCE = 1e-3
#: ... or relative to the candidate's root-mean-square value over the nodes
MIDPOINT_ABSOLUTE = 1e-5


def structure_weights(dataset: Dataset, weights=None) -> np.ndarray:
    """Normalised per-structure weights (uniform by default)."""
    w = np.ones(len(dataset)) if weights is None else np.asarray(weights, dtype=float)
    if w.shape != (len(dataset),) or np.any(w < 0) or not np.all(np.isfinite(w)) or w.sum() <= 0:
        raise ValueError("structure weights must be non-negative, finite, one per structure")
    return w / w.sum()


def species_projector(rows_scale: np.ndarray, species_counts: np.ndarray) -> np.ndarray:
    """Orthonormal basis Q of the scaled species-count columns (for projecting them out)."""
    M = rows_scale[:, None] * species_counts
    U, s, _ = np.linalg.svd(M, full_matrices=False)
    keep = s > (s[0] if len(s) else 0) * 1e-12
    return U[:, keep]


EV_PER_A3_IN_GPA = 160.21766208


def psd_factor(gram: np.ndarray) -> np.ndarray:
    """F with F.T @ F == gram for a symmetric positive semi-definite matrix."""
    lam, vec = np.linalg.eigh(0.5 * (gram + gram.T))
    keep = lam > lam.max() * 1e-15 if lam.max() > 0 else lam > 0
    return np.sqrt(lam[keep])[:, None] * vec[:, keep].T


def grid_node_vectors(grid: RadialGrid, cutoff: Cutoff, programs: Sequence[Program], with_check: bool = False):
    """[U(x_k); U'(x_k)] per program after the cutoff treatment, shape (T, 2G).

    With ``with_check`` also a mask of the programs that the grid represents faithfully:
    finite everywhere, and at every interval midpoint the Hermite interpolant agrees with
    the true value to ``MIDPOINT_TOLERANCE`` (relative). This rejects candidates with
    poles or wiggles between nodes, which the contraction would otherwise score as better
    than they are.
    """
    x = grid.x
    G = len(x)
    ops, args, offsets = concatenate(programs)
    points = np.concatenate([x, 0.5 * (x[1:] + x[:-1])]) if with_check else x
    evaluate = evaluate_batch if len(programs) > 8 else evaluate_batch_serial
    with np.errstate(all="ignore"):
        v, d1, _ = evaluate(ops, args, offsets, points, 1)
        u, u1 = cutoff.apply(points, v, d1, v_at_cutoff=v[:, G - 1])
        nodes = np.hstack([u[:, :G], u1[:, :G]])
        if not with_check:
            return nodes
        h = np.diff(x)
        interp = 0.5 * (u[:, : G - 1] + u[:, 1:G]) + h / 8 * (u1[:, : G - 1] - u1[:, 1:G])
        mid = u[:, G:]
        mismatch = np.abs(mid - interp)
        local = np.abs(u[:, : G - 1]) + np.abs(u[:, 1:G]) + np.abs(mid)
        overall = np.sqrt(np.mean(u[:, :G] ** 2, axis=1, keepdims=True))
        # faithful where the error is small next to the local values OR next to the
        # candidate's overall size (near a smooth cutoff U -> 0 and only the latter holds);
        # a pole between nodes fails both
        good = (mismatch <= MIDPOINT_TOLERANCE * local) | (mismatch <= MIDPOINT_ABSOLUTE * overall)
        ok = np.all(good, axis=1) & np.all(np.isfinite(nodes), axis=1) & np.all(np.isfinite(mid), axis=1)
    return nodes, ok


class PairLoss:
    """Fast loss of pair candidates on one data set (energies, forces, stresses).

    Parameters
    ----------
    dataset : Dataset
    cutoff : Cutoff
    grid_size : int
        Number of radial nodes G.
    weights : array, optional
        Per-structure weights (e.g. from per-group weights).
    energy_weight, force_weight, stress_weight : float
        Weights w_E, w_F, w_S of the three terms (see the module docstring).
    chunk_atoms : int
        Atoms per chunk when the force Gram matrix is accumulated (bounds memory).
    """

    def __init__(self, dataset: Dataset, cutoff: Cutoff, grid_size: int = DEFAULT_GRID_SIZE, weights=None,
                 energy_weight: float = 1.0, force_weight: float = 0.0, stress_weight: float = 0.0,
                 chunk_atoms: int = 4000, stress_offset: bool = False):
        self.cutoff = cutoff
        dataset = dataset.restrict_cutoff(cutoff.radius)
        self.grid = RadialGrid.for_distances(dataset.pair_distance, cutoff.radius, grid_size)
        #: shortest pair distance of the data (the repulsive-core check looks below it)
        self.r_min = float(dataset.pair_distance.min()) if dataset.n_pairs else None
        self.weights = {"energy": float(energy_weight), "force": float(force_weight),
                        "stress": float(stress_weight)}
        w = structure_weights(dataset, weights)
        blocks = []
        if energy_weight > 0:
            scale = np.sqrt(energy_weight * w) / dataset.n_atoms
            C = self.grid.contract(dataset.pair_distance, dataset.pair_structure, len(dataset), 0.5)
            A = scale[:, None] * C
            b = scale * dataset.energies
            Q = species_projector(scale, dataset.species_counts)
            A -= Q @ (Q.T @ A)
            b = b - Q @ (Q.T @ b)
            blocks.append(np.linalg.qr(np.column_stack([A, b]), mode="r"))
        if force_weight > 0 and np.sum(w[dataset.has_forces]) > 0:
            blocks.append(psd_factor(self._force_gram(dataset, w, force_weight, chunk_atoms)))
        if stress_weight > 0 and np.sum(w[dataset.has_stress]) > 0:
            blocks.append(self._stress_block(dataset, w, stress_weight, stress_offset))
        if not blocks:
            raise ValueError("the loss has no terms: give a positive weight to a target present in the data")
        R = np.linalg.qr(np.vstack(blocks), mode="r") if len(blocks) > 1 else blocks[0]
        self.RA = np.ascontiguousarray(R[:, :-1])
        self.Rb = np.ascontiguousarray(R[:, -1])
        #: loss of the zero potential (the variance left after reference energies)
        self.baseline = float(self.Rb @ self.Rb)
        self._midpoints = 0.5 * (self.grid.x[1:] + self.grid.x[:-1])

    # --- force and stress blocks ------------------------------------------------------
    def _pair_slope_rows(self, dataset: Dataset, lo: int, hi: int):
        """For pairs lo:hi: Hermite slope weights, interval index and D/r (pairs x 3)."""
        r = dataset.pair_distance[lo:hi]
        k, weights = self.grid.hermite_slope_weights(r)
        direction = dataset.pair_vector[lo:hi] / r[:, None]
        return k, weights, direction

    def _force_gram(self, dataset: Dataset, w: np.ndarray, force_weight: float, chunk_atoms: int) -> np.ndarray:
        """Gram matrix of the scaled force rows [A_F | f] (2G+1 square), accumulated by chunks."""
        G = self.grid.size
        ncol = 2 * G + 1
        with_forces = np.flatnonzero(dataset.has_forces)
        norm = np.sum(w[with_forces] * 3 * dataset.n_atoms[with_forces])
        gram = np.zeros((ncol, ncol))
        start = 0
        while start < len(with_forces):
            stop = start
            atoms = 0
            while stop < len(with_forces) and (atoms == 0 or atoms + dataset.n_atoms[with_forces[stop]] <= chunk_atoms):
                atoms += dataset.n_atoms[with_forces[stop]]
                stop += 1
            block = np.zeros((3 * atoms, ncol))
            row0 = 0
            for s in with_forces[start:stop]:
                a0, a1 = dataset.atom_offsets[s], dataset.atom_offsets[s + 1]
                lo, hi = dataset.pair_offsets[s], dataset.pair_offsets[s + 1]
                n = a1 - a0
                scale = np.sqrt(force_weight * w[s] / norm)
                k, (wa, wb, wc, wd), direction = self._pair_slope_rows(dataset, lo, hi)
                local_i = dataset.pair_i[lo:hi] - a0
                sub = np.zeros(3 * n * ncol)
                for axis in range(3):
                    rows = (3 * local_i + axis) * ncol
                    c = direction[:, axis] * scale
                    sub += np.bincount(rows + k, weights=c * wa, minlength=sub.size)
                    sub += np.bincount(rows + G + k, weights=c * wb, minlength=sub.size)
                    sub += np.bincount(rows + k + 1, weights=c * wc, minlength=sub.size)
                    sub += np.bincount(rows + G + k + 1, weights=c * wd, minlength=sub.size)
                sub = sub.reshape(3 * n, ncol)
                sub[:, -1] = scale * dataset.forces[a0:a1].reshape(-1)
                block[row0:row0 + 3 * n] = sub
                row0 += 3 * n
            gram += block.T @ block
            start = stop
        return gram

    def _stress_block(self, dataset: Dataset, w: np.ndarray, stress_weight: float,
                      stress_offset: bool = False) -> np.ndarray:
        """Scaled stress rows [A_S | s] in GPa, 6 per structure with a stress.

        With ``stress_offset`` an isotropic offset of the DFT stresses is solved exactly: its
        column (the row scales on the diagonal rows) is projected out of the block.
        """
        G = self.grid.size
        ncol = 2 * G + 1
        with_stress = np.flatnonzero(dataset.has_stress)
        norm = np.sum(w[with_stress] * 6)
        out = np.zeros((6 * len(with_stress), ncol))
        iso = np.zeros(6 * len(with_stress))
        for row, s in enumerate(with_stress):
            lo, hi = dataset.pair_offsets[s], dataset.pair_offsets[s + 1]
            scale = np.sqrt(stress_weight * w[s] / norm) * EV_PER_A3_IN_GPA
            iso[6 * row:6 * row + 3] = scale
            k, (wa, wb, wc, wd), direction = self._pair_slope_rows(dataset, lo, hi)
            vec = dataset.pair_vector[lo:hi]
            for v, (a, b) in enumerate(((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))):
                c = 0.5 * direction[:, a] * vec[:, b] / dataset.volume[s] * scale
                line = np.zeros(ncol)
                line += np.bincount(k, weights=c * wa, minlength=ncol)
                line += np.bincount(G + k, weights=c * wb, minlength=ncol)
                line += np.bincount(k + 1, weights=c * wc, minlength=ncol)
                line += np.bincount(G + k + 1, weights=c * wd, minlength=ncol)
                line[-1] = scale * dataset.stress[s, v]
                out[6 * row + v] = line
        if stress_offset:
            q = iso / np.linalg.norm(iso)
            out -= np.outer(q, q @ out)
        return out

    # --- node vectors -------------------------------------------------------------
    def node_vectors(self, programs: Sequence[Program], with_check: bool = False):
        """[U(x_k); U'(x_k)] for each program after the cutoff treatment, shape (T, 2G).

        With ``with_check`` also returns a mask of the programs that the grid represents
        faithfully (see :func:`grid_node_vectors`).
        """
        return grid_node_vectors(self.grid, self.cutoff, programs, with_check)

    # --- scoring ------------------------------------------------------------------
    def score(self, candidates: Sequence[Sequence[Program]]):
        """Loss and outer coefficients of each candidate (a list of term programs).

        Returns ``(losses, coefficients)``: losses (n,) with ``inf`` for invalid
        candidates, and a list of coefficient arrays (one per term).
        """
        terms = [t for cand in candidates for t in cand]
        offsets = np.zeros(len(candidates) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(c) for c in candidates])
        if not terms:
            return np.zeros(0), []
        with np.errstate(all="ignore"):
            nodes, finite = self.node_vectors(terms, with_check=True)
            nodes[~finite] = 0.0
            Z = nodes @ self.RA.T  # (T, rows)
        losses, coefs = _solve_candidates(np.ascontiguousarray(Z), self.Rb, offsets, finite)
        return losses, [coefs[offsets[c]:offsets[c + 1]] for c in range(len(candidates))]

    def residuals(self, terms: Sequence[Program]):
        """Residual vector R_A u - R_b of a candidate with optimal outer coefficients.

        Used by the constant optimiser. Returns ``(residuals, coefficients)``; non-finite
        candidates give a large constant residual.
        """
        invalid = np.full(len(self.Rb), 1e3 * np.sqrt(self.baseline + 1e-300)), None
        with np.errstate(all="ignore"):
            nodes, ok = self.node_vectors(terms, with_check=True)
            Z = nodes @ self.RA.T
            if not (np.all(ok) and np.all(np.isfinite(Z))):
                return invalid
            norms = np.linalg.norm(Z, axis=1)  # may underflow to 0 (denormal Z) or overflow to inf
            norms[norms == 0] = 1.0
            a, *_ = np.linalg.lstsq(Z.T / norms, self.Rb, rcond=None)
            a = a / norms
            res = Z.T @ a - self.Rb
        if not (np.all(np.isfinite(res)) and np.all(np.isfinite(a))):
            return invalid  # e.g. a denormal term: its coefficient overflows and the residuals are nan
        return res, a


@numba.njit(cache=True, parallel=True, error_model="numpy")
def _solve_candidates(Z, Rb, offsets, finite):
    n = offsets.shape[0] - 1
    losses = np.empty(n)
    coefs = np.zeros(Z.shape[0])
    rows = Z.shape[1]
    for c in numba.prange(n):
        lo = offsets[c]
        hi = offsets[c + 1]
        ok = True
        for t in range(lo, hi):
            if not finite[t]:
                ok = False
        if not ok or hi == lo:
            losses[c] = np.inf
            continue
        K = hi - lo
        A = np.empty((rows, K))
        norms = np.empty(K)
        for t in range(K):
            norm = 0.0
            for i in range(rows):
                A[i, t] = Z[lo + t, i]
                norm += Z[lo + t, i] * Z[lo + t, i]
            norms[t] = np.sqrt(norm) if norm > 0 else 1.0
        if not np.all(np.isfinite(A)) or not np.all(np.isfinite(norms)):
            losses[c] = np.inf
            continue
        for t in range(K):  # unit columns: terms of very different size are all resolved
            for i in range(rows):
                A[i, t] /= norms[t]
        a = np.linalg.lstsq(A, Rb, 1e-13)[0]
        res = A @ a - Rb
        for t in range(K):
            a[t] /= norms[t]
        loss = 0.0
        for i in range(rows):
            loss += res[i] * res[i]
        if not np.isfinite(loss):
            losses[c] = np.inf
            continue
        losses[c] = loss
        for t in range(K):
            coefs[lo + t] = a[t]
    return losses, coefs


#: the energy-only loss of the first version, kept as a name
EnergyLoss = PairLoss
