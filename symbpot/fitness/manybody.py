"""Many-body (EAM-like) energies, forces and stresses, and their loss for the search.

The energy of a configuration is

    E = sum_i e_{s_i} + sum_i F_{s_i}(rho_i) + 1/2 sum_{i != j} phi_{t_ij}(r_ij),
    rho_i = sum_{j != i} g_{t_ij}(r_ij),

with s_i the species of atom i, t_ij the (unordered) species pair of i and j, e_s the
reference energies, phi and g multiplied by the cutoff function and F evaluated exactly
at rho. Without embedding functions this is a pair potential with one function per
species pair. On the full neighbour list (both i->j and j->i) the force on atom i and
the virial are

    F_i = sum_j c_ij D_ij,   W = 1/2 sum_ij c_ij D_ij (x) D_ij,
    c_ij = [(F'(rho_i) + F'(rho_j)) g'(r_ij) + phi'(r_ij)] / r_ij,  D_ij = r_j - r_i.

Two paths use these formulae:

* :func:`predict_manybody`, exact (programs evaluated at every pair distance): the ASE
  calculator, final coefficients and metrics;
* :class:`ManyBodyLoss`, the search's loss: phi and g are represented by their values and
  slopes on the radial grid (cubic Hermite, as the pair loss), so that a candidate costs
  one pass over the pairs per outer coefficient, linear in the data size.

In the loss, phi_t = sum_m a_m P_m and F_s = sum_k c_k f_k are sums of terms with outer
coefficients a, c solved by linear least squares together with the reference energies;
g is one program per species pair whose constants are fitted by the optimiser.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numba
import numpy as np
from scipy.linalg.lapack import dgeqrf

from ..data import Dataset
from ..expr import Program
from ..forms.cutoff import Cutoff
from .direct import EV_PER_A3_IN_GPA, pair_values
from .energy import DEFAULT_GRID_SIZE, grid_node_vectors
from .exact import ExactLoss
from .grid import RadialGrid

_JIT = dict(cache=True, error_model="numpy", nogil=True)

#: Embedding terms must not explode just above the densities of the data: over the next
#: GROWTH_SPAN x (the data's density range), |f| may grow at most GROWTH_LIMIT-fold (what
#: rho**20 does on [0, 1.2 rho_max]). Searches otherwise find terms such as rho**72, which
#: fit the training densities and give hundreds of eV at a 20 % higher density.
GROWTH_SPAN = 0.2
GROWTH_LIMIT = 1.2 ** 20


# --- species and species pairs ------------------------------------------------------------
def pair_types(species: Sequence[str]) -> list[tuple[str, str]]:
    """Unordered species pairs (a, b), a <= b in the order of ``species``: AA, AB, BB, ..."""
    species = list(species)
    return [(a, b) for k, a in enumerate(species) for b in species[k:]]


def type_matrix(n_species: int) -> np.ndarray:
    """(n, n) int matrix: the index in :func:`pair_types` of species pair (a, b)."""
    out = np.zeros((n_species, n_species), dtype=np.int64)
    t = 0
    for a in range(n_species):
        for b in range(a, n_species):
            out[a, b] = out[b, a] = t
            t += 1
    return out


def core_radii(dataset: Dataset, species: Sequence[str]) -> dict[tuple[int, int], float]:
    """Shortest distance of every species pair (a, b), a <= b (indices into ``species``) in the data.

    The repulsive-core check looks below these; a species pair absent from the data gets the
    shortest distance of all pairs. Empty when the data has no pairs.
    """
    if not dataset.n_pairs:
        return {}
    atoms = atom_species_index(dataset, species)
    a, b = atoms[dataset.pair_i], atoms[dataset.pair_j]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    overall = float(dataset.pair_distance.min())
    out = {}
    for x in range(len(species)):
        for y in range(x, len(species)):
            sel = (lo == x) & (hi == y)
            out[(x, y)] = float(dataset.pair_distance[sel].min()) if sel.any() else overall
    return out


def atom_species_index(dataset: Dataset, species: Sequence[str]) -> np.ndarray:
    """Index into ``species`` of every atom of the data set (DataError-free: caller checks)."""
    column = {s: k for k, s in enumerate(species)}
    return np.array([column[s] for atoms in dataset.frames for s in atoms.get_chemical_symbols()],
                    dtype=np.int64)


# --- exact path -------------------------------------------------------------------------------
@numba.njit(parallel=True, **_JIT)
def _rho_exact(pair_offsets, pair_i, g, n_atoms_total):
    rho = np.zeros(n_atoms_total)
    n_struct = pair_offsets.shape[0] - 1
    for s in numba.prange(n_struct):
        for p in range(pair_offsets[s], pair_offsets[s + 1]):
            rho[pair_i[p]] += g[p]
    return rho


@numba.njit(parallel=True, **_JIT)
def _effective_slopes(pair_i, pair_j, dphi, dg, fprime):
    """c_ij * r_ij: (F'_i + F'_j) g' + phi' per pair."""
    n = pair_i.shape[0]
    out = np.empty(n)
    for p in numba.prange(n):
        out[p] = (fprime[pair_i[p]] + fprime[pair_j[p]]) * dg[p] + dphi[p]
    return out


def per_pair_values(programs: Sequence[Program | None], cutoff: Cutoff, r: np.ndarray, types: np.ndarray):
    """Value and slope (cutoff applied) of ``programs[types[p]]`` at every distance ``r[p]``."""
    v = np.zeros(len(r))
    d = np.zeros(len(r))
    for t, program in enumerate(programs):
        if program is None:
            continue
        sel = np.flatnonzero(types == t)
        if len(sel):
            v[sel], d[sel] = pair_values(program, cutoff, r[sel], order=1)
    return v, d


def embedding_values(programs: Sequence[Program | None], rho: np.ndarray, atom_species: np.ndarray):
    """F_{s_i}(rho_i) and F'_{s_i}(rho_i) for every atom."""
    f = np.zeros(len(rho))
    fp = np.zeros(len(rho))
    with np.errstate(all="ignore"):
        for a, program in enumerate(programs):
            if program is None:
                continue
            sel = np.flatnonzero(atom_species == a)
            if len(sel):
                f[sel], fp[sel] = program.evaluate(rho[sel], 1)
    return f, fp


def predict_manybody(pair, density, embedding, cutoff: Cutoff, dataset: Dataset, atom_species: np.ndarray,
                     want_forces: bool = True):
    """Energies without reference energies (S,), forces (N, 3), stresses (S, 6) and rho (N,).

    ``pair`` and ``density``: one program (or None) per species pair (:func:`pair_types`
    order); ``embedding``: one program (or None) per species, or None for a pair form.
    """
    from .kernels import structure_sums

    n_species = len(embedding) if embedding is not None else int(round((np.sqrt(8 * len(pair) + 1) - 1) / 2))
    types = type_matrix(n_species)[atom_species[dataset.pair_i], atom_species[dataset.pair_j]]
    r = dataset.pair_distance
    phi, dphi = per_pair_values(pair, cutoff, r, types)
    n_total = int(dataset.atom_offsets[-1])
    rho = np.zeros(n_total)
    atom_energy = np.zeros(n_total)
    slopes = dphi
    if embedding is not None:
        g, dg = per_pair_values(density, cutoff, r, types)
        rho = _rho_exact(dataset.pair_offsets, dataset.pair_i, g, n_total)
        atom_energy, fprime = embedding_values(embedding, rho, atom_species)
        slopes = _effective_slopes(dataset.pair_i, dataset.pair_j, dphi, dg, fprime)
    energies, forces, virial = structure_sums(phi, slopes, dataset.pair_offsets, dataset.atom_offsets,
                                              dataset.pair_i, dataset.pair_vector, r, want_forces)
    structure_of_atom = np.repeat(np.arange(len(dataset)), dataset.n_atoms)
    energies = energies + np.bincount(structure_of_atom, weights=atom_energy, minlength=len(dataset))
    volume = dataset.volume
    with np.errstate(all="ignore"):
        stress = np.where(volume[:, None] > 0, virial / np.where(volume > 0, volume, 1.0)[:, None], 0.0)
    return energies, forces, stress, rho


# --- grid path (the search) ---------------------------------------------------------------------
@numba.njit(parallel=True, **_JIT)
def _rho_grid(pair_offsets, pair_i, pair_j, pair_type, pair_k, pair_t, pair_h, g_nodes, G, n_atoms_total):
    """rho_i from the Hermite interpolant of g_{t_ij} (node vectors, one row per pair type).

    The pairs are a half list (:func:`half_list`): g is symmetric in the species of i and
    j, so each unordered pair adds g(r_ij) to both atoms.
    """
    rho = np.zeros(n_atoms_total)
    n_struct = pair_offsets.shape[0] - 1
    for s in numba.prange(n_struct):
        for p in range(pair_offsets[s], pair_offsets[s + 1]):
            k = pair_k[p]
            t = pair_t[p]
            h = pair_h[p]
            ty = pair_type[p]
            t2 = t * t
            t3 = t2 * t
            g = ((2 * t3 - 3 * t2 + 1) * g_nodes[ty, k] + (t3 - 2 * t2 + t) * h * g_nodes[ty, G + k]
                 + (-2 * t3 + 3 * t2) * g_nodes[ty, k + 1] + (t3 - t2) * h * g_nodes[ty, G + k + 1])
            rho[pair_i[p]] += g
            rho[pair_j[p]] += g
    return rho


@numba.njit(parallel=True, **_JIT)
def _design_forces_virial(pair_offsets, pair_i, pair_j, pair_type, pair_k, pair_t, pair_h, vec, dist,
                          phi_nodes, phi_type, g_nodes, fprime, G, active, n_atoms_total):
    """Force (N, 3, C) and virial (S, 6, C) columns: C = phi columns then embedding columns.

    ``fprime`` (E, N) holds f_k'(rho_i) of embedding column k (zero for atoms of other
    species). Structures with ``active[s] == False`` are skipped (no force or stress target).
    The pair arrays are a half list (each unordered pair once; see :func:`half_list`).
    """
    n_struct = pair_offsets.shape[0] - 1
    n_phi = phi_nodes.shape[0]
    n_emb = fprime.shape[0]
    n_col = n_phi + n_emb
    forces = np.zeros((n_atoms_total, 3, n_col))
    virial = np.zeros((n_struct, 6, n_col))
    for s in numba.prange(n_struct):
        if not active[s]:
            continue
        for p in range(pair_offsets[s], pair_offsets[s + 1]):
            k = pair_k[p]
            t = pair_t[p]
            h = pair_h[p]
            ty = pair_type[p]
            t2 = t * t
            wa = (6 * t2 - 6 * t) / h
            wb = 3 * t2 - 4 * t + 1
            wc = (-6 * t2 + 6 * t) / h
            wd = 3 * t2 - 2 * t
            inv_r = 1.0 / dist[p]
            dx = vec[p, 0]
            dy = vec[p, 1]
            dz = vec[p, 2]
            i = pair_i[p]
            j = pair_j[p]
            for c in range(n_col):
                if c < n_phi:
                    if phi_type[c] != ty:
                        continue
                    coef = (wa * phi_nodes[c, k] + wb * phi_nodes[c, G + k] + wc * phi_nodes[c, k + 1]
                            + wd * phi_nodes[c, G + k + 1]) * inv_r
                else:
                    e = c - n_phi
                    fsum = fprime[e, i] + fprime[e, j]
                    if fsum == 0.0:
                        continue
                    gp = (wa * g_nodes[ty, k] + wb * g_nodes[ty, G + k] + wc * g_nodes[ty, k + 1]
                          + wd * g_nodes[ty, G + k + 1])
                    coef = fsum * gp * inv_r
                # half list: each unordered pair once, acting on both atoms
                forces[i, 0, c] += coef * dx
                forces[i, 1, c] += coef * dy
                forces[i, 2, c] += coef * dz
                forces[j, 0, c] -= coef * dx
                forces[j, 1, c] -= coef * dy
                forces[j, 2, c] -= coef * dz
                virial[s, 0, c] += coef * dx * dx
                virial[s, 1, c] += coef * dy * dy
                virial[s, 2, c] += coef * dz * dz
                virial[s, 3, c] += coef * dy * dz
                virial[s, 4, c] += coef * dx * dz
                virial[s, 5, c] += coef * dx * dy
    return forces, virial


def half_list(dataset: Dataset) -> np.ndarray:
    """Indices of the full-list pairs that form a half list (i < j, or i == j with D > 0 lexicographically).

    Every unordered pair (including an atom with its own periodic image) appears once;
    pairs stay grouped by structure.
    """
    i, j, D = dataset.pair_i, dataset.pair_j, dataset.pair_vector
    positive = (D[:, 0] > 0) | ((D[:, 0] == 0) & ((D[:, 1] > 0) | ((D[:, 1] == 0) & (D[:, 2] > 0))))
    return np.flatnonzero((i < j) | ((i == j) & positive))


@dataclass
class ManyBodyTerms:
    """What the loss needs of one candidate.

    pair : list (one per species pair) of lists of term programs (phi = sum a_m P_m)
    density : list (one per species pair) of programs g, or None for a pair form
    embedding : list (one per species) of lists of term programs (F = sum c_k f_k), or None
    """

    pair: list
    density: list | None = None
    embedding: list | None = None

    @property
    def n_coefficients(self) -> int:
        return sum(len(t) for t in self.pair) + (sum(len(t) for t in self.embedding) if self.embedding else 0)

    def programs(self):
        """All programs in a fixed order (pair terms, densities, embedding terms)."""
        out = [p for terms in self.pair for p in terms]
        out += list(self.density or [])
        out += [p for terms in (self.embedding or []) for p in terms]
        return out

    def with_programs(self, programs) -> "ManyBodyTerms":
        it = iter(programs)
        pair = [[next(it) for _ in terms] for terms in self.pair]
        density = [next(it) for _ in self.density] if self.density is not None else None
        embedding = [[next(it) for _ in terms] for terms in self.embedding] if self.embedding is not None else None
        return ManyBodyTerms(pair, density, embedding)


@dataclass
class ColumnSolution:
    loss: float
    coefficients: np.ndarray  # outer coefficients (pair columns then embedding columns)
    reference: np.ndarray  # reference energies, one per species (then the stress offset, if fitted)
    residuals: np.ndarray | None = field(default=None, repr=False)


class ManyBodyLoss:
    """Loss of many-body (or multi-species pair) candidates on one data set.

    Same definition as :class:`symbpot.fitness.energy.PairLoss` (weighted per-atom energy,
    force and stress errors; per-species reference energies fitted), computed per
    candidate from grid node vectors of phi and g and exact values of F at rho.

    Parameters
    ----------
    dataset : Dataset
    cutoff : Cutoff
    species : sequence of str
        Species of the potential (every species of the data must be among them).
    embedding : bool
        EAM form (True) or pair form with one function per species pair (False).
    """

    def __init__(self, dataset: Dataset, cutoff: Cutoff, species: Sequence[str], embedding: bool = True,
                 grid_size: int = DEFAULT_GRID_SIZE, weights=None, energy_weight: float = 1.0,
                 force_weight: float = 0.0, stress_weight: float = 0.0, stress_offset: bool = False):
        self.cutoff = cutoff
        self.species = tuple(species)
        self.embedding = bool(embedding)
        dataset = dataset.restrict_cutoff(cutoff.radius)
        self.dataset = dataset
        self.r_min = float(dataset.pair_distance.min()) if dataset.n_pairs else None
        #: shortest distance per species pair (the repulsive-core check of every dimer)
        self.core_radii = core_radii(dataset, self.species)
        self.exact = ExactLoss(dataset, cutoff, weights, energy_weight, force_weight, stress_weight, stress_offset)
        self.grid = RadialGrid.for_distances(dataset.pair_distance, cutoff.radius, grid_size)
        self.atom_species = atom_species_index(dataset, self.species)
        n_sp = len(self.species)
        self.n_types = n_sp * (n_sp + 1) // 2
        self.pair_type = type_matrix(n_sp)[self.atom_species[dataset.pair_i], self.atom_species[dataset.pair_j]]
        x = self.grid.x
        r = dataset.pair_distance
        k = np.clip(np.searchsorted(x, r, side="right") - 1, 0, len(x) - 2)
        self.pair_k = k.astype(np.int64)
        self.pair_h = x[k + 1] - x[k]
        self.pair_t = (r - x[k]) / self.pair_h
        # energy contraction per pair type: (types, S, 2G), 1/2 for the full list
        self.contract = np.stack([
            self.grid.contract(r[self.pair_type == t], dataset.pair_structure[self.pair_type == t], len(dataset), 0.5)
            for t in range(self.n_types)])
        self.structure_of_atom = np.repeat(np.arange(len(dataset)), dataset.n_atoms)
        half = half_list(dataset)
        self.half = {
            "offsets": np.concatenate([[0], np.cumsum(np.bincount(dataset.pair_structure[half],
                                                                   minlength=len(dataset)))]).astype(np.int64),
            "i": dataset.pair_i[half], "j": dataset.pair_j[half], "type": self.pair_type[half],
            "k": self.pair_k[half], "t": self.pair_t[half], "h": self.pair_h[half],
            "vec": np.ascontiguousarray(dataset.pair_vector[half]), "dist": dataset.pair_distance[half]}
        self.active = np.zeros(len(dataset), dtype=np.bool_)
        if self.exact.use_forces:
            self.active |= dataset.has_forces
        if self.exact.use_stress:
            self.active |= dataset.has_stress
        self.counts = dataset.species_counts_for(self.species).astype(float)
        self.target = self.exact.target()
        zeros_f = np.zeros_like(dataset.forces)
        zeros_s = np.zeros_like(dataset.stress)
        # reference energies, and the data's stress offset when it is fitted (ExactLoss)
        self.reference_columns = np.column_stack(
            [self.exact._rows(self.counts[:, a], zeros_f, zeros_s) for a in range(n_sp)]
            + self.exact.offset_columns())
        with np.errstate(all="ignore"):
            volume = np.where(dataset.volume > 0, dataset.volume, np.inf)
        self.inverse_volume = 1.0 / volume
        self._project_references()
        # loss of the zero potential (reference energies only)
        self.baseline = self._solve(np.zeros((len(self.target), 0))).loss

    # --- columns ----------------------------------------------------------------------
    def densities(self, density) -> np.ndarray:
        """rho of every atom of the data (packed, as the data's atoms) for the density programs
        ``density`` (one per species pair, as :class:`ManyBodyTerms`), on this loss's grid."""
        nodes, ok = grid_node_vectors(self.grid, self.cutoff, list(density), with_check=True)
        if not np.all(ok):
            raise ValueError("a density function is not finite on the grid")
        return self._rho(np.ascontiguousarray(nodes))

    def _rho(self, g_nodes) -> np.ndarray:
        h = self.half
        return _rho_grid(h["offsets"], h["i"], h["j"], h["type"], h["k"], h["t"], h["h"], g_nodes, self.grid.size,
                         int(self.dataset.atom_offsets[-1]))

    def _embedding_columns(self, terms: ManyBodyTerms, g_nodes):
        """Energy values (E, S) and f' per atom (E, N) of the embedding columns, or None if invalid."""
        d = self.dataset
        n_total = int(d.atom_offsets[-1])
        rho = self._rho(g_nodes)
        if not np.all(np.isfinite(rho)):
            return None
        n_cols = sum(len(t) for t in terms.embedding)
        energy = np.zeros((n_cols, len(d)))
        fprime = np.zeros((n_cols, n_total))
        col = 0
        with np.errstate(all="ignore"):
            for a, programs in enumerate(terms.embedding):
                sel = np.flatnonzero(self.atom_species == a)
                rho_a = rho[sel]
                if len(sel):
                    hi = float(rho_a.max())
                    lo = min(0.0, float(rho_a.min()))
                    probe = np.linspace(lo, hi + 0.1 * (hi - lo) + 1e-12, 64)
                    above = np.linspace(hi, hi + GROWTH_SPAN * (hi - lo) + 1e-12, 16)
                for program in programs:
                    if len(sel):
                        f, fp = program.evaluate(rho_a, 1)
                        if not (np.all(np.isfinite(f)) and np.all(np.isfinite(fp))):
                            return None
                        if not np.all(np.isfinite(program.evaluate(probe))):
                            return None  # a pole between the data's densities: not a usable F
                        if not np.max(np.abs(program.evaluate(above))) <= GROWTH_LIMIT * np.max(np.abs(f)) + 1e-300:
                            return None  # explodes just above the data's densities (rho**72 was seen)
                        energy[col] = np.bincount(self.structure_of_atom[sel], weights=f, minlength=len(d))
                        fprime[col, sel] = fp
                    col += 1
        return energy, fprime

    def design(self, terms: ManyBodyTerms):
        """Scaled loss columns (rows, C) of a candidate's outer coefficients, or None if invalid."""
        d = self.dataset
        G = self.grid.size
        pair_programs = [p for t in terms.pair for p in t]
        phi_type = np.array([ty for ty, t in enumerate(terms.pair) for _ in t], dtype=np.int64)
        programs = pair_programs + (list(terms.density) if self.embedding else [])
        if not programs:
            return None
        nodes, ok = grid_node_vectors(self.grid, self.cutoff, programs, with_check=True)
        if not np.all(ok):
            return None
        phi_nodes = np.ascontiguousarray(nodes[: len(pair_programs)])
        energy_cols = [self.contract[ty] @ phi_nodes[c] for c, ty in enumerate(phi_type)]
        if self.embedding:
            g_nodes = np.ascontiguousarray(nodes[len(pair_programs):])
            emb = self._embedding_columns(terms, g_nodes)
            if emb is None:
                return None
            energy_emb, fprime = emb
            energy_cols += list(energy_emb)
        else:
            g_nodes = np.zeros((1, 2 * G))
            fprime = np.zeros((0, int(d.atom_offsets[-1])))
        n_cols = len(energy_cols)
        energy = np.array(energy_cols).T if n_cols else np.zeros((len(d), 0))
        if self.active.any():
            h = self.half
            forces, virial = _design_forces_virial(
                h["offsets"], h["i"], h["j"], h["type"], h["k"], h["t"], h["h"], h["vec"], h["dist"],
                phi_nodes, phi_type, g_nodes, np.ascontiguousarray(fprime), G, self.active, int(d.atom_offsets[-1]))
        else:
            forces = np.zeros((int(d.atom_offsets[-1]), 3, n_cols))
            virial = np.zeros((len(d), 6, n_cols))
        stress = virial * self.inverse_volume[:, None, None]
        columns = np.empty((len(self.target), n_cols), order="F")
        for c in range(n_cols):
            columns[:, c] = self.exact._rows(energy[:, c], forces[:, :, c], stress[:, :, c])
        if not np.all(np.isfinite(columns)):
            return None
        return columns

    def _project_references(self) -> None:
        """Factor the reference columns once (every candidate shares them).

        An orthonormal basis U of their span (SVD of the unit-norm columns, directions below
        1e-13 of the largest singular value dropped, as ``lstsq`` would) lets each candidate
        be solved on the part of its columns and of the target orthogonal to U: a QR of
        C + 1 columns instead of C + R + 1, with no copy of the reference columns.
        """
        ref = self.reference_columns
        norms = np.linalg.norm(ref, axis=0)
        norms[norms == 0] = 1.0
        u, sv, vt = np.linalg.svd(ref / norms, full_matrices=False)
        keep = sv > 1e-13 * sv.max() if sv.size else np.zeros(0, dtype=bool)
        self._ref_norms = norms
        self._ref_basis = np.asfortranarray(u[:, keep])
        # scaled reference coefficients b = V S^-1 U^T (target - X a)
        self._ref_solve = vt[keep].T / sv[keep]
        self._ref_target = self._ref_basis.T @ self.target
        self._target_perp = self.target - self._ref_basis @ self._ref_target

    def _solve(self, columns: np.ndarray, keep_residuals: bool = False) -> ColumnSolution:
        """Least squares of the target on ``columns`` and the reference columns.

        The columns are scaled to unit norm, the reference directions projected out of
        them (:meth:`_project_references`), and [X | y] factored in place by Householder QR
        (LAPACK ``dgeqrf``); the small triangular problem is solved by SVD (``lstsq``,
        rcond 1e-13) and the loss is the norm of its residual, which equals that of the
        full residual. Columns are scaled before the projection, so a column inside the
        references' span becomes ~1e-16 and is dropped by the rcond, not blown up.
        """
        n = columns.shape[1]
        n_ref = self.reference_columns.shape[1]
        with np.errstate(all="ignore"):
            norms = np.sqrt(np.einsum("ij,ij->j", columns, columns))
            if not np.all(np.isfinite(norms)):  # huge columns of a bad candidate: infinite loss
                return ColumnSolution(np.inf, np.zeros(n), np.zeros(n_ref))
            norms[norms == 0] = 1.0
            work = np.empty((columns.shape[0], n + 1), order="F")
            np.divide(columns, norms, out=work[:, :n])
            basis = self._ref_basis
            along = basis.T @ work[:, :n]  # (k, n): reference components of the scaled columns
            work[:, :n] -= basis @ along
            work[:, n] = self._target_perp
            qr, _, _, info = dgeqrf(work, overwrite_a=1)
            if info != 0:
                return ColumnSolution(np.inf, np.zeros(n), np.zeros(n_ref))
            m = min(n + 1, qr.shape[0])
            R = np.triu(qr[:m])
            scaled, *_ = np.linalg.lstsq(R[:n, :n], R[:n, n], rcond=1e-13)
            small = R[:, :n] @ scaled - R[:, n]
            loss = float(small @ small)
            coefficients = scaled / norms
            reference = (self._ref_solve @ (self._ref_target - along @ scaled)) / self._ref_norms
            residual = None
            if keep_residuals:
                residual = columns @ coefficients + self.reference_columns @ reference - self.target
        return ColumnSolution(loss if np.isfinite(loss) else np.inf, coefficients, reference, residual)

    # --- the search's interface ---------------------------------------------------------
    def score_one(self, terms: ManyBodyTerms) -> ColumnSolution:
        columns = self.design(terms)
        if columns is None:
            return ColumnSolution(np.inf, np.zeros(terms.n_coefficients), np.zeros(len(self.species)))
        return self._solve(columns)

    def score(self, candidates: Sequence[ManyBodyTerms]):
        """``(losses, coefficients)`` of many candidates (inf loss for invalid ones)."""
        losses = np.empty(len(candidates))
        coefs = []
        for n, terms in enumerate(candidates):
            sol = self.score_one(terms)
            losses[n] = sol.loss
            coefs.append(sol.coefficients)
        return losses, coefs

    def residuals(self, terms: ManyBodyTerms):
        """Residual vector with optimal outer coefficients (for Levenberg-Marquardt)."""
        columns = self.design(terms)
        sol = self._solve(columns, keep_residuals=True) if columns is not None else None
        if sol is None or sol.residuals is None:
            return np.full(len(self.target), 1e3 * np.sqrt(self.baseline / max(len(self.target), 1) + 1e-300)), None
        return sol.residuals, sol.coefficients


def gpa(stress):
    """eV/Å^3 to GPa."""
    return np.asarray(stress) * EV_PER_A3_IN_GPA


def exact_fit(terms: ManyBodyTerms, exact: ExactLoss, species, atom_species: np.ndarray) -> ColumnSolution:
    """Outer coefficients and reference energies minimising the exact loss (no grid)."""
    d = exact.dataset
    n_types = len(terms.pair)
    cols = []
    with np.errstate(all="ignore"):
        for t, programs in enumerate(terms.pair):
            for p in programs:
                pair = [None] * n_types
                pair[t] = p
                e, f, s, _ = predict_manybody(pair, None, None, exact.cutoff, d, atom_species, exact.use_forces)
                cols.append(exact._rows(e, f, s))
        if terms.embedding is not None:
            for a, programs in enumerate(terms.embedding):
                for p in programs:
                    emb = [None] * len(species)
                    emb[a] = p
                    e, f, s, _ = predict_manybody([None] * n_types, terms.density, emb, exact.cutoff, d,
                                                  atom_species, exact.use_forces)
                    cols.append(exact._rows(e, f, s))
    columns = np.column_stack(cols) if cols else np.zeros((len(exact.target()), 0))
    if not np.all(np.isfinite(columns)):
        return ColumnSolution(np.inf, np.zeros(columns.shape[1]), np.zeros(len(species)))
    counts = d.species_counts_for(species).astype(float)
    zf, zs = np.zeros_like(d.forces), np.zeros_like(d.stress)
    refs = np.column_stack([exact._rows(counts[:, a], zf, zs) for a in range(len(species))]
                           + exact.offset_columns())
    design = np.hstack([columns, refs])
    target = exact.target()
    norms = np.linalg.norm(design, axis=0)
    norms[norms == 0] = 1.0
    solution, *_ = np.linalg.lstsq(design / norms, target, rcond=1e-13)
    solution = solution / norms
    residual = design @ solution - target
    n = columns.shape[1]
    return ColumnSolution(float(residual @ residual), solution[:n], solution[n:])
