"""Numba kernels of the exact path: cutoff treatment and per-structure pair sums.

Pairs are stored structure by structure (CSR offsets), so the sums run in parallel over
structures without write conflicts: each structure owns its atoms and its virial.
"""
from __future__ import annotations

import numba
import numpy as np

STYLE_CODES = {"hard": 0, "shift": 1, "smooth": 2}
_JIT = dict(cache=True, error_model="numpy", nogil=True)


@numba.njit(parallel=True, **_JIT)
def apply_cutoff(r, v, dv, style, radius, width, v_at_cutoff):
    """U and U' from V and V' (in place on copies); zero at and beyond the cutoff."""
    n = r.shape[0]
    u = np.empty(n)
    du = np.empty(n)
    for p in numba.prange(n):
        x = r[p]
        if x >= radius:
            u[p] = 0.0
            du[p] = 0.0
            continue
        if style == 1:
            u[p] = v[p] - v_at_cutoff
            du[p] = dv[p]
        elif style == 2 and x > radius - width:
            t = (radius - x) / width
            s = t * t * t * (10.0 - 15.0 * t + 6.0 * t * t)
            ds = -(30.0 * t * t * (1.0 - t) * (1.0 - t)) / width
            u[p] = v[p] * s
            du[p] = dv[p] * s + v[p] * ds
        else:
            u[p] = v[p]
            du[p] = dv[p]
    return u, du


@numba.njit(parallel=True, **_JIT)
def structure_sums(u, du, pair_offsets, atom_offsets, pair_i, pair_vector, pair_distance, want_forces):
    """Per-structure energies (S,), per-atom forces (N, 3; empty unless wanted) and virials (S, 6, Voigt).

    E_s = 1/2 sum U, F_i = sum_j U' D_ij / r_ij, W_ab = 1/2 sum U' D_a D_b / r.
    """
    n_struct = pair_offsets.shape[0] - 1
    energies = np.zeros(n_struct)
    forces = np.zeros((atom_offsets[-1] if want_forces else 0, 3))
    virial = np.zeros((n_struct, 6))
    for s in numba.prange(n_struct):
        e = 0.0
        w0 = w1 = w2 = w3 = w4 = w5 = 0.0
        for p in range(pair_offsets[s], pair_offsets[s + 1]):
            e += 0.5 * u[p]
            c = du[p] / pair_distance[p]
            dx = pair_vector[p, 0]
            dy = pair_vector[p, 1]
            dz = pair_vector[p, 2]
            if want_forces:
                i = pair_i[p]
                forces[i, 0] += c * dx
                forces[i, 1] += c * dy
                forces[i, 2] += c * dz
            w0 += 0.5 * c * dx * dx
            w1 += 0.5 * c * dy * dy
            w2 += 0.5 * c * dz * dz
            w3 += 0.5 * c * dy * dz
            w4 += 0.5 * c * dx * dz
            w5 += 0.5 * c * dx * dy
        energies[s] = e
        virial[s, 0] = w0
        virial[s, 1] = w1
        virial[s, 2] = w2
        virial[s, 3] = w3
        virial[s, 4] = w4
        virial[s, 5] = w5
    return energies, forces, virial
