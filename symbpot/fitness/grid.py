"""Radial grid and cubic-Hermite contraction of pair sums.

With cubic Hermite interpolation between grid nodes x_k, any pair function is

    U(r) ~= h00(t) U_k + h10(t) h U'_k + h01(t) U_{k+1} + h11(t) h U'_{k+1},

so a structure's pair energy 1/2 sum_pairs U(r_ij) is a fixed linear combination of
the node values U_k and slopes U'_k. The weights (one row per structure, 2G columns)
are computed once per data set; afterwards the energy of any candidate costs a
matrix-vector product of size 2G, whatever the number of pairs. The error falls as
h^4. Nodes are spaced geometrically (uniform in log r), finer at short range where
repulsive walls have their largest derivatives.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RadialGrid:
    """Grid nodes ``x`` (G,) from ``r_min`` to ``r_max`` (the cutoff)."""

    x: np.ndarray

    @classmethod
    def geometric(cls, r_min: float, r_max: float, size: int) -> "RadialGrid":
        if size < 4:
            raise ValueError("a radial grid needs at least 4 nodes")
        if not 0 < r_min < r_max:
            raise ValueError(f"bad grid range [{r_min}, {r_max}]")
        return cls(np.geomspace(r_min, r_max, size))

    @classmethod
    def for_distances(cls, distances: np.ndarray, r_max: float, size: int) -> "RadialGrid":
        """A grid starting just below the shortest distance and ending at ``r_max``."""
        r_min = 0.98 * float(np.min(distances))
        return cls.geometric(min(r_min, 0.9 * r_max), r_max, size)

    @property
    def size(self) -> int:
        return len(self.x)

    def hermite_weights(self, r: np.ndarray):
        """Interval index and the four Hermite weights for every distance in ``r``.

        Returns ``k, (w_val_k, w_slope_k, w_val_k1, w_slope_k1)`` such that
        U(r) = w_val_k U_k + w_slope_k U'_k + w_val_k1 U_{k+1} + w_slope_k1 U'_{k+1}.
        Distances outside the grid are extrapolated with the end polynomial.
        """
        x = self.x
        k = np.clip(np.searchsorted(x, r, side="right") - 1, 0, len(x) - 2)
        h = x[k + 1] - x[k]
        t = (r - x[k]) / h
        t2 = t * t
        t3 = t2 * t
        return k, (2 * t3 - 3 * t2 + 1, (t3 - 2 * t2 + t) * h, -2 * t3 + 3 * t2, (t3 - t2) * h)

    def hermite_slope_weights(self, r: np.ndarray):
        """Interval index and the weights giving dU/dr of the Hermite interpolant.

        dU/dr = w_val_k U_k + w_slope_k U'_k + w_val_k1 U_{k+1} + w_slope_k1 U'_{k+1};
        its error falls as h^3.
        """
        x = self.x
        k = np.clip(np.searchsorted(x, r, side="right") - 1, 0, len(x) - 2)
        h = x[k + 1] - x[k]
        t = (r - x[k]) / h
        t2 = t * t
        return k, ((6 * t2 - 6 * t) / h, 3 * t2 - 4 * t + 1, (-6 * t2 + 6 * t) / h, 3 * t2 - 2 * t)

    def contract(self, r: np.ndarray, rows: np.ndarray, n_rows: int, factor: float = 1.0) -> np.ndarray:
        """Matrix C (n_rows x 2G) with C @ [U; U'] = factor * sum over pairs of U(r), per row.

        ``rows[p]`` is the row (structure or atom) that pair ``p`` contributes to.
        """
        G = self.size
        k, (a, b, c, d) = self.hermite_weights(np.asarray(r, dtype=float))
        base = np.asarray(rows, dtype=np.int64) * (2 * G)
        total = n_rows * 2 * G
        out = np.bincount(base + k, weights=a, minlength=total)
        out += np.bincount(base + G + k, weights=b, minlength=total)
        out += np.bincount(base + k + 1, weights=c, minlength=total)
        out += np.bincount(base + G + k + 1, weights=d, minlength=total)
        return factor * out.reshape(n_rows, 2 * G)
