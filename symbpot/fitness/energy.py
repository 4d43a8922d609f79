"""Energy loss by grid contraction, with reference energies and outer coefficients solved in closed form.

The loss of a pair potential U on a data set is the weighted mean squared per-atom
energy error,

    L = sum_s w_s ((E_pair,s + n_s . e - E_s) / N_s)^2,   sum_s w_s = 1,

minimised over the per-species reference energies e. E_pair is linear in the node
vector u = [U(x_k); U'(x_k)] (see :mod:`symbpot.fitness.grid`): E_pair = C u. We scale
rows by sqrt(w_s)/N_s, project out the span of the species-count columns (which solves
for e exactly), and keep only the triangular factor R of the QR decomposition of
[A | b]. Then L(u) = ||R_A u - R_b||^2 exactly, with R_A of at most 2G + 1 rows.

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


class EnergyLoss:
    """Fast energy loss of pair candidates on one data set.

    Parameters
    ----------
    dataset : Dataset
    cutoff : Cutoff
    grid_size : int
        Number of radial nodes G.
    weights : array, optional
        Per-structure weights.
    """

    def __init__(self, dataset: Dataset, cutoff: Cutoff, grid_size: int = DEFAULT_GRID_SIZE, weights=None):
        self.cutoff = cutoff
        self.grid = RadialGrid.for_distances(dataset.pair_distance, cutoff.radius, grid_size)
        w = structure_weights(dataset, weights)
        scale = np.sqrt(w) / dataset.n_atoms
        C = self.grid.contract(dataset.pair_distance, dataset.pair_structure, len(dataset), 0.5)
        A = scale[:, None] * C
        b = scale * dataset.energies
        Q = species_projector(scale, dataset.species_counts)
        A -= Q @ (Q.T @ A)
        b = b - Q @ (Q.T @ b)
        R = np.linalg.qr(np.column_stack([A, b]), mode="r")
        self.RA = np.ascontiguousarray(R[:, :-1])
        self.Rb = np.ascontiguousarray(R[:, -1])
        #: loss of the zero potential (the variance left after reference energies)
        self.baseline = float(self.Rb @ self.Rb)

    # --- node vectors -------------------------------------------------------------
    def node_vectors(self, programs: Sequence[Program]) -> np.ndarray:
        """[U(x_k); U'(x_k)] for each program after the cutoff treatment, shape (T, 2G)."""
        ops, args, offsets = concatenate(programs)
        x = self.grid.x
        evaluate = evaluate_batch if len(programs) > 8 else evaluate_batch_serial
        v, d1, _ = evaluate(ops, args, offsets, x, 1)
        u, u1 = self.cutoff.apply(x, v, d1, v_at_cutoff=v[:, -1])
        return np.hstack([u, u1])

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
            nodes = self.node_vectors(terms)
            finite = np.all(np.isfinite(nodes), axis=1)
            nodes[~finite] = 0.0
            Z = nodes @ self.RA.T  # (T, rows)
        losses, coefs = _solve_candidates(np.ascontiguousarray(Z), self.Rb, offsets, finite)
        return losses, [coefs[offsets[c]:offsets[c + 1]] for c in range(len(candidates))]

    def loss_of_nodes(self, u: np.ndarray) -> float:
        """Loss of one potential given directly by its node vector (2G,)."""
        res = self.RA @ u - self.Rb
        return float(res @ res)

    def residuals(self, terms: Sequence[Program]):
        """Residual vector R_A u - R_b of a candidate with optimal outer coefficients.

        Used by the constant optimiser. Returns ``(residuals, coefficients)``; non-finite
        candidates give a large constant residual.
        """
        with np.errstate(all="ignore"):
            nodes = self.node_vectors(terms)
            Z = nodes @ self.RA.T
        if not np.all(np.isfinite(Z)):
            return np.full(len(self.Rb), 1e3 * np.sqrt(self.baseline + 1e-300)), None
        a, *_ = np.linalg.lstsq(Z.T, self.Rb, rcond=None)
        return Z.T @ a - self.Rb, a


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
        for t in range(K):
            for i in range(rows):
                A[i, t] = Z[lo + t, i]
        if not np.all(np.isfinite(A)):
            losses[c] = np.inf
            continue
        a = np.linalg.lstsq(A, Rb, 1e-13)[0]
        res = A @ a - Rb
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
