"""Fitness throughput: loss evaluations per second, grid contraction vs. plain DEAP.

Usage::

    python benchmarks/fitness_throughput.py PATH.extxyz [--mode energy|efs]
        [--force-weight 0.003] [--stress-weight 1e-4] [--cutoff 5.0] [--candidates 2000]
        [--baseline-candidates 50] [--exact-check 5] [--grid-size 200]
        [--cutoff-style hard] [--seed 0] [--batch-size 500] [--repeats 3] [--out FILE]

What is measured
----------------
Random GP trees are drawn the way a search starts (``deap.gp.genHalfAndHalf(pset, 1, 4)``
over symbpot's default operators, with a seeded RNG). Every tree is a candidate pair
potential ``V(r) = sum_k a_k T_k(r)`` whose top-level additive terms ``T_k`` each get a
least-squares coefficient ``a_k``; the per-species reference energies are fitted too
(they enter energies only). The loss is taken at those optimal linear parameters:

``--mode energy`` (default)
    the mean over structures of the squared per-atom energy error, (eV/atom)^2.
``--mode efs``
    ``L = w_E * mean_s ((E_s - E_s^DFT) / N_s)^2 + w_F * mean squared force component
    error (eV/Å)^2 + w_S * mean squared stress component error (GPa)^2`` with
    ``w_E = 1``, ``w_F = --force-weight`` (default 0.003) and ``w_S = --stress-weight``
    (default 1e-4): the definition of :mod:`symbpot.fitness.energy` with uniform
    structure weights (forces over structures that have forces, stresses, ASE Voigt
    order, over those that have a stress).

The same candidates are scored in the same run in two ways:

(a) grid
    :meth:`symbpot.fitness.PairLoss.score` on batches of ``--batch-size`` candidates (a
    generation at a time); in efs mode the loss is
    ``PairLoss(dataset, cutoff, grid_size, energy_weight=1, force_weight=w_F,
    stress_weight=w_S)``. The one-off precompute (``PairLoss(...)``; in efs mode it
    includes the force Gram matrix and the stress block) is timed as ``setup_s``; the
    first ``score`` call as ``jit_warmup_s`` (numba compilation, or only a load from
    numba's on-disk cache if an earlier run filled it: point ``NUMBA_CACHE_DIR`` at an
    empty folder to measure a cold compile); then the whole candidate set is scored
    ``--repeats`` times and the median pass gives ``evals_per_s_grid``. ``score`` also
    evaluates each candidate at the interval midpoints and gives ``inf`` to candidates
    the grid does not represent faithfully (poles between nodes); that check is part of
    the timing. Converting the trees to term programs (``tree_terms``) is timed
    separately (``tree_to_programs_s``) and is reported, but is not part of
    ``evals_per_s_grid``; ``evals_per_s_grid_incl_conversion`` includes it.
(b) deap
    The plain DEAP way, on the first ``--baseline-candidates`` candidates: a primitive
    set with the same primitive names implemented in numpy; per candidate, each term is
    compiled with ``gp.compile`` and evaluated over every pair distance of the data set.

    energy mode: the term energies are summed per structure with
    ``0.5 * np.bincount(pair_structure, ...)``, and the least-squares problem (columns:
    term energies and species counts, rows scaled by 1/n_atoms, columns scaled to unit
    norm) is solved with ``np.linalg.lstsq`` and the loss computed.

    efs mode: in addition each term is turned into a sympy expression (the same tree
    string compiled by ``gp.compile`` against a primitive set whose primitives build
    sympy expressions), differentiated with ``sympy.diff`` and the derivative compiled
    with ``sympy.lambdify(..., "numpy")``, once per term of each candidate; V'(r) is
    evaluated over every pair (with the cutoff treatment of
    :class:`symbpot.forms.Cutoff`: U = V, V - V(rc) or V*S, U' = V', V' or V'S + VS').
    Energies per structure ``0.5 * bincount(pair_structure, U)``, forces per atom
    ``bincount(pair_i, U'/r * D_a)`` (D = r_j - r_i, three components) and stresses per
    structure (Voigt xx, yy, zz, yz, xz, xy) ``bincount(pair_structure, 0.5 U'/r * D_a
    D_b / volume)``; the per-pair geometric factors D/r and 0.5 D_a D_b / (r volume)
    depend on the data only and are computed once, before the timing
    (``deap_setup_s``). The rows are scaled as in :class:`symbpot.fitness.exact.ExactLoss`
    (energy rows sqrt(w_E w_s)/N_s, force rows sqrt(w_F w_s / sum w_s 3 N_s), stress
    rows sqrt(w_S w_s / sum w_s 6) * 160.21766208 GPa per eV/Å^3, w_s = 1/S), the
    columns are the per-term [energy; force; stress] rows plus one species-count column
    per species (energy rows only), scaled to unit norm, and ``np.linalg.lstsq`` gives
    the coefficients and the loss.

    efs mode also times a second variant of the same baseline on the same candidates
    (``evals_per_s_deap_sparse``, ``speedup_vs_deap_sparse``): the sums over pairs are
    done by two precomputed ``scipy.sparse`` matrices (pairs -> scaled energy rows from
    U, pairs -> scaled force and stress rows from U', built once: ``deap_sparse_setup_s``)
    instead of ten ``bincount`` calls per term; everything else is identical, and its
    losses are compared with the bincount ones (``deap_sparse_max_rel_loss_diff``).
    It is the faster plain-numpy way, so its speedup is the conservative one.

    All of that, the sympy work included, is inside the timing (one untimed warm-up
    call, then ``--repeats`` passes; the median pass gives ``evals_per_s_deap``). In
    efs mode the time spent in sympy (conversion, ``diff``, ``lambdify``) is also
    summed per pass, and ``evals_per_s_deap_excl_sympy`` leaves it out; sympy's cache
    is cleared (untimed) before every pass so that each pass pays the first-time cost
    of its candidates, as a search meeting new trees does. Translating the trees into
    the numpy primitive set and splitting them into terms is done beforehand (a DEAP
    search would hold its trees in that set already).

``speedup_vs_deap`` is ``evals_per_s_grid / evals_per_s_deap``.

Correctness is checked in the same run on the candidates scored both ways: the fraction
on which both agree about validity (finite loss or not), and, where both are finite, the
relative difference of ``sqrt(loss)`` (max, median, 95th percentile, and the few worst
candidates; in energy mode sqrt(loss) is the energy RMSE, and ``max_rel_rmse_diff``
keeps its name in efs mode for the relative difference of sqrt(loss)). Nothing is
filtered: random trees can have singularities and huge values, and both numbers are
reported as they come. The baseline itself is checked against symbpot's exact path
(:meth:`symbpot.fitness.exact.ExactLoss.fit_linear`, direct sums by the compiled
interpreter) on the first ``--exact-check`` candidates with a finite baseline loss:
``exact_check`` gives the largest relative difference of the loss and of the fitted
term coefficients. In efs mode the loss of the zero potential (reference energies only)
and of the best grid candidate (re-fitted by the baseline) are also split into their
energy, force and stress parts, with the plain RMSEs (``zero_potential_parts``,
``best_grid_candidate``).

Output
------
Progress goes to stderr; one JSON object is printed as the last line of stdout (and
written to ``--out`` if given).
"""
from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import random
import sys
import time

import numba
import numpy as np
import sympy
from deap import gp

import symbpot.expr
from symbpot.data import Dataset
from symbpot.errors import SymbpotError
from symbpot.fitness import EnergyLoss, PairLoss
from symbpot.fitness.direct import EV_PER_A3_IN_GPA
from symbpot.fitness.exact import ExactLoss
from symbpot.forms import Cutoff
from symbpot.forms.cutoff import STYLES
from symbpot.gp import primitive_set, tree_terms
from symbpot.gp.primitives import deap_random, individual, split_tree_terms


def log(message: str) -> None:
    """Progress line on stderr."""
    print(f"[fitness_throughput] {message}", file=sys.stderr, flush=True)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Loss evaluations per second: symbpot grid contraction vs. plain DEAP.")
    parser.add_argument("data", help="training data file that ASE reads (e.g. mlearn Cu train.extxyz)")
    parser.add_argument("--mode", choices=("energy", "efs"), default="energy",
                        help="loss on energies only, or on energies, forces and stresses (default energy)")
    parser.add_argument("--force-weight", type=float, default=0.003,
                        help="w_F of the force term, (eV/Å)^-2 relative to (eV/atom)^-2, efs mode (default 0.003)")
    parser.add_argument("--stress-weight", type=float, default=1e-4,
                        help="w_S of the stress term, GPa^-2 relative to (eV/atom)^-2, efs mode (default 1e-4)")
    parser.add_argument("--cutoff", type=float, default=5.0, help="neighbour cutoff in Å (default 5.0)")
    parser.add_argument("--cutoff-style", choices=STYLES, default="hard",
                        help="cutoff treatment (default hard)")
    parser.add_argument("--grid-size", type=int, default=200, help="radial grid nodes G (default 200)")
    parser.add_argument("--candidates", type=int, default=2000,
                        help="candidates scored by the grid (default 2000)")
    parser.add_argument("--baseline-candidates", type=int, default=50,
                        help="first N candidates also scored the plain DEAP way (default 50)")
    parser.add_argument("--exact-check", type=int, default=5,
                        help="baseline candidates also fitted by symbpot's ExactLoss (default 5)")
    parser.add_argument("--batch-size", type=int, default=500,
                        help="candidates per score() call (default 500)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed passes of each method (median is used; default 3)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random trees (default 0)")
    parser.add_argument("--out", help="also write the JSON result to this file")
    args = parser.parse_args(argv)
    for name in ("grid_size", "candidates", "batch_size", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.baseline_candidates < 1:
        parser.error("--baseline-candidates must be at least 1")
    if args.exact_check < 0:
        parser.error("--exact-check must not be negative")
    for name in ("force_weight", "stress_weight"):
        value = getattr(args, name)
        if not (np.isfinite(value) and value >= 0):
            parser.error(f"--{name.replace('_', '-')} must be a non-negative number")
    args.baseline_candidates = min(args.baseline_candidates, args.candidates)
    return args


def loss_weights(args) -> dict:
    """w_E, w_F, w_S of the mode."""
    if args.mode == "energy":
        return {"energy": 1.0, "force": 0.0, "stress": 0.0}
    return {"energy": 1.0, "force": float(args.force_weight), "stress": float(args.stress_weight)}


# --- candidates ------------------------------------------------------------------------
def random_trees(n: int, seed: int) -> list:
    """``n`` random trees over symbpot's default operators, as a search's first generation."""
    pset = primitive_set(symbpot.expr.DEFAULT_OPERATORS)
    with deap_random(random.Random(seed)):
        return [individual(gp.genHalfAndHalf(pset, 1, 4)) for _ in range(n)]


# --- plain DEAP baseline -----------------------------------------------------------------
def _inv(a):
    return np.divide(1.0, a)


def numpy_primitive_set() -> gp.PrimitiveSet:
    """A DEAP primitive set with symbpot's primitive names, implemented with numpy.

    Constants in tree strings are parsed by ``PrimitiveTree.from_string`` as plain
    terminals, so no ephemeral is needed here.
    """
    pset = gp.PrimitiveSet("numpy_baseline", 1)
    functions = {
        "add": (np.add, 2), "sub": (np.subtract, 2), "mul": (np.multiply, 2), "div": (np.divide, 2),
        "neg": (np.negative, 1), "inv": (_inv, 1), "square": (np.square, 1),
        "cube": (lambda a: a * a * a, 1), "exp": (np.exp, 1),
    }
    missing = set(symbpot.expr.DEFAULT_OPERATORS) - set(functions)
    if missing:
        raise RuntimeError(f"baseline lacks numpy versions of {sorted(missing)}")
    for name in symbpot.expr.DEFAULT_OPERATORS:
        function, arity = functions[name]
        pset.addPrimitive(function, arity, name=name)
    pset.renameArguments(ARG0="r")
    return pset


def baseline_terms(tree, np_pset: gp.PrimitiveSet) -> list:
    """The top-level terms of ``tree`` as trees of the numpy primitive set."""
    return [gp.PrimitiveTree.from_string(str(gp.PrimitiveTree(nodes)), np_pset)
            for nodes in split_tree_terms(tree)]


class DeapBaseline:
    """Energy loss the plain way: compiled tree over all pairs, bincount, lstsq.

    Parameters
    ----------
    dataset : Dataset
    cutoff : Cutoff
    np_pset : gp.PrimitiveSet
        The numpy primitive set used by ``gp.compile``.
    """

    def __init__(self, dataset: Dataset, cutoff: Cutoff, np_pset: gp.PrimitiveSet):
        self.pset = np_pset
        self.cutoff = cutoff
        self.r = dataset.pair_distance
        self.structure = dataset.pair_structure
        self.n_structures = len(dataset)
        self.inv_atoms = 1.0 / dataset.n_atoms
        self.target = dataset.energies * self.inv_atoms
        self.species_columns = dataset.species_counts * self.inv_atoms[:, None]
        self.inside = self.r < cutoff.radius
        self.switch = cutoff.switch(self.r)[0] if cutoff.style == "smooth" else None

    def pair_energy(self, term_tree) -> np.ndarray:
        """Per-structure pair energy (eV) of one term."""
        function = gp.compile(term_tree, self.pset)
        v = np.broadcast_to(np.asarray(function(self.r), dtype=float), self.r.shape)
        if self.cutoff.style == "shift":
            at_cutoff = np.asarray(function(np.array([self.cutoff.radius])), dtype=float)
            v = v - at_cutoff.ravel()[0]
        elif self.cutoff.style == "smooth":
            v = v * self.switch
        v = np.where(self.inside, v, 0.0)
        return 0.5 * np.bincount(self.structure, weights=v, minlength=self.n_structures)

    def loss(self, term_trees) -> float:
        """Mean squared per-atom energy error at optimal coefficients; ``inf`` if invalid."""
        with np.errstate(all="ignore"):
            energies = [self.pair_energy(t) for t in term_trees]
            M = np.column_stack([e * self.inv_atoms for e in energies] + [self.species_columns])
            if not np.all(np.isfinite(M)):
                return np.inf
            norms = np.linalg.norm(M, axis=0)
            norms[norms == 0] = 1.0
            try:
                x, *_ = np.linalg.lstsq(M / norms, self.target, rcond=None)
            except np.linalg.LinAlgError:
                return np.inf
            residual = (M / norms) @ x - self.target
            loss = float(np.mean(residual**2))
        return loss if np.isfinite(loss) else np.inf


def _sympy_quotient(a, b):
    try:
        return sympy.sympify(a) / sympy.sympify(b)
    except ZeroDivisionError:  # a constant subtree divided by an exact zero
        return sympy.zoo


def _sympy_inverse(a):
    return _sympy_quotient(1, a)


def sympy_primitive_set() -> gp.PrimitiveSet:
    """The same primitive names, building sympy expressions (compiled with ``gp.compile``)."""
    pset = gp.PrimitiveSet("sympy_baseline", 1)
    functions = {
        "add": (lambda a, b: sympy.sympify(a) + b, 2), "sub": (lambda a, b: sympy.sympify(a) - b, 2),
        "mul": (lambda a, b: sympy.sympify(a) * b, 2), "div": (_sympy_quotient, 2),
        "neg": (lambda a: -sympy.sympify(a), 1), "inv": (_sympy_inverse, 1),
        "square": (lambda a: sympy.sympify(a) ** 2, 1), "cube": (lambda a: sympy.sympify(a) ** 3, 1),
        "exp": (sympy.exp, 1),
    }
    missing = set(symbpot.expr.DEFAULT_OPERATORS) - set(functions)
    if missing:
        raise RuntimeError(f"baseline lacks sympy versions of {sorted(missing)}")
    for name in symbpot.expr.DEFAULT_OPERATORS:
        function, arity = functions[name]
        pset.addPrimitive(function, arity, name=name)
    pset.renameArguments(ARG0="r")
    return pset


class DeapSympyBaseline:
    """Energy + force + stress loss the plain way: gp.compile for V, sympy for V', bincount, lstsq.

    Parameters
    ----------
    dataset : Dataset
    cutoff : Cutoff
    np_pset, sympy_pset : gp.PrimitiveSet
        Primitive sets with the same names, implemented with numpy and with sympy.
    energy_weight, force_weight, stress_weight : float
        w_E, w_F, w_S (uniform structure weights), as in ``ExactLoss``.
    sums : {"bincount", "sparse"}
        How per-pair values are summed into rows: ``np.bincount`` per row block and
        component (the plain way), or one product with a precomputed ``scipy.sparse``
        matrix per block (pairs -> scaled rows; built once from the data).
    """

    def __init__(self, dataset: Dataset, cutoff: Cutoff, np_pset: gp.PrimitiveSet, sympy_pset: gp.PrimitiveSet,
                 energy_weight: float = 1.0, force_weight: float = 0.0, stress_weight: float = 0.0,
                 sums: str = "bincount"):
        if sums not in ("bincount", "sparse"):
            raise ValueError(f"unknown sums {sums!r}")
        self.sums = sums
        self.pset = np_pset
        self.sympy_pset = sympy_pset
        self.symbol = sympy.Symbol("r", positive=True)
        self.cutoff = cutoff
        keep = dataset.pair_distance < cutoff.radius  # beyond the cutoff U = U' = 0
        self.r = np.ascontiguousarray(dataset.pair_distance[keep])
        self.structure = dataset.pair_structure[keep]
        self.pair_i = dataset.pair_i[keep]
        vector = dataset.pair_vector[keep]
        self.n_structures = len(dataset)
        self.n_atoms_total = int(dataset.atom_offsets[-1])
        if cutoff.style == "smooth":
            s, s1, _ = cutoff.switch(self.r)
            self.switch, self.switch_slope = s, s1
        # data-only geometric factors: D/r (forces) and 0.5 D_a D_b / (r volume) (stresses)
        self.direction = [np.ascontiguousarray(vector[:, a] / self.r) for a in range(3)]
        volume = dataset.volume[self.structure]
        inv_volume = np.where(volume > 0, 1.0 / np.where(volume > 0, volume, 1.0), 0.0)
        self.virial = [np.ascontiguousarray(0.5 * vector[:, a] * vector[:, b] / self.r * inv_volume)
                       for a, b in ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))]
        # row scaling of ExactLoss (uniform structure weights w_s = 1/S)
        w = np.full(len(dataset), 1.0 / len(dataset))
        self.energy_scale = np.sqrt(energy_weight * w) / dataset.n_atoms
        self.use_forces = force_weight > 0 and np.any(dataset.has_forces)
        self.use_stress = stress_weight > 0 and np.any(dataset.has_stress)
        blocks = {"energy": len(dataset)}
        if self.use_forces:
            atoms_w = np.repeat(np.where(dataset.has_forces, w, 0.0), dataset.n_atoms)
            norm = np.sum(w[dataset.has_forces] * 3 * dataset.n_atoms[dataset.has_forces])
            self.force_scale = np.repeat(np.sqrt(force_weight * atoms_w / norm), 3).reshape(-1, 3)
            blocks["force"] = 3 * self.n_atoms_total
        if self.use_stress:
            norm = np.sum(w[dataset.has_stress] * 6)
            sw = np.where(dataset.has_stress, w, 0.0)
            self.stress_scale = (np.repeat(np.sqrt(stress_weight * sw / norm), 6) * EV_PER_A3_IN_GPA).reshape(-1, 6)
            blocks["stress"] = 6 * self.n_structures
        self.block_sizes = blocks
        self.weights = {"energy": float(energy_weight), "force": float(force_weight), "stress": float(stress_weight)}
        counts = dataset.species_counts.astype(float)
        self.species_columns = [self._rows(counts[:, k], np.zeros((self.n_atoms_total, 3)),
                                           np.zeros((self.n_structures, 6))) for k in range(counts.shape[1])]
        self.target = self._rows(dataset.energies, dataset.forces, dataset.stress)
        self.sympy_s = 0.0  # time spent in sympy, summed over calls
        if sums == "sparse":
            self._build_sparse()

    def _build_sparse(self) -> None:
        """Scaled pair -> row matrices: energy rows from U, force and stress rows from U'."""
        import scipy.sparse

        P = len(self.r)
        pairs = np.arange(P)
        self.value_matrix = scipy.sparse.csr_matrix(
            (0.5 * self.energy_scale[self.structure], (self.structure, pairs)), shape=(self.n_structures, P))
        blocks = []
        if self.use_forces:
            rows = np.concatenate([3 * self.pair_i + a for a in range(3)])
            data = np.concatenate([self.direction[a] * self.force_scale[self.pair_i, a] for a in range(3)])
            blocks.append(scipy.sparse.csr_matrix((data, (rows, np.tile(pairs, 3))), shape=(3 * self.n_atoms_total, P)))
        if self.use_stress:
            rows = np.concatenate([6 * self.structure + k for k in range(6)])
            data = np.concatenate([self.virial[k] * self.stress_scale[self.structure, k] for k in range(6)])
            blocks.append(scipy.sparse.csr_matrix((data, (rows, np.tile(pairs, 6))), shape=(6 * self.n_structures, P)))
        self.slope_matrix = scipy.sparse.vstack(blocks).tocsr() if blocks else None

    def _rows(self, energies, forces, stress) -> np.ndarray:
        parts = [self.energy_scale * energies]
        if self.use_forces:
            parts.append((self.force_scale * forces).reshape(-1))
        if self.use_stress:
            parts.append((self.stress_scale * stress).reshape(-1))
        return np.concatenate(parts)

    def derivative(self, term_tree):
        """V'(r) of a term as a numpy function: the tree in sympy, ``diff``, ``lambdify``."""
        expression = sympy.sympify(gp.compile(term_tree, self.sympy_pset)(self.symbol))
        return sympy.lambdify(self.symbol, sympy.diff(expression, self.symbol), "numpy")

    def term_rows(self, term_tree) -> np.ndarray:
        """Scaled [energy; force; stress] rows of one term (its column of the design matrix)."""
        start = time.perf_counter()
        slope = self.derivative(term_tree)
        self.sympy_s += time.perf_counter() - start
        function = gp.compile(term_tree, self.pset)
        r = self.r
        v = np.broadcast_to(np.asarray(function(r), dtype=float), r.shape)
        d = np.broadcast_to(np.asarray(slope(r), dtype=float), r.shape)
        if self.cutoff.style == "shift":
            v = v - np.asarray(function(np.array([self.cutoff.radius])), dtype=float).ravel()[0]
        elif self.cutoff.style == "smooth":
            v, d = v * self.switch, d * self.switch + v * self.switch_slope
        if self.sums == "sparse":
            parts = [self.value_matrix @ v] + ([self.slope_matrix @ d] if self.slope_matrix is not None else [])
            return np.concatenate(parts)
        energies = 0.5 * np.bincount(self.structure, weights=v, minlength=self.n_structures)
        forces = stress = None
        if self.use_forces:
            forces = np.column_stack([np.bincount(self.pair_i, weights=d * self.direction[a],
                                                  minlength=self.n_atoms_total) for a in range(3)])
        if self.use_stress:
            stress = np.column_stack([np.bincount(self.structure, weights=d * factor, minlength=self.n_structures)
                                      for factor in self.virial])
        return self._rows(energies, forces, stress)

    def solve(self, term_trees):
        """``(loss, term coefficients, residual)`` at the optimal linear parameters; loss ``inf`` if invalid."""
        with np.errstate(all="ignore"):
            try:
                columns = [self.term_rows(t) for t in term_trees]
            except (ZeroDivisionError, OverflowError, TypeError, ValueError):
                return np.inf, None, None  # sympy could not build or differentiate the term
            design = np.column_stack(columns + self.species_columns)
            if not np.all(np.isfinite(design)):
                return np.inf, None, None
            norms = np.linalg.norm(design, axis=0)
            norms[norms == 0] = 1.0
            try:
                x, *_ = np.linalg.lstsq(design / norms, self.target, rcond=None)
            except np.linalg.LinAlgError:
                return np.inf, None, None
            x = x / norms
            residual = design @ x - self.target
            loss = float(residual @ residual)
        if not np.isfinite(loss):
            return np.inf, None, None
        return loss, x[: len(term_trees)], residual

    def loss(self, term_trees) -> float:
        return self.solve(term_trees)[0]

    def parts(self, residual) -> dict:
        """The loss split into its energy, force and stress parts, and the plain RMSEs."""
        out = {}
        start = 0
        units = {"energy": ("energy_rmse_meV_per_atom", 1000.0), "force": ("force_rmse_eV_per_A", 1.0),
                 "stress": ("stress_rmse_GPa", 1.0)}
        for name, size in self.block_sizes.items():
            part = float(residual[start:start + size] @ residual[start:start + size])
            start += size
            out[f"loss_{name}"] = part
            key, factor = units[name]
            # with uniform structure weights, part / w is the plain mean squared error
            out[key] = float(factor * np.sqrt(part / self.weights[name])) if self.weights[name] > 0 else None
        return out

    def zero_potential(self):
        """Residual with the reference energies only (no pair potential)."""
        design = np.column_stack(self.species_columns)
        norms = np.linalg.norm(design, axis=0)
        norms[norms == 0] = 1.0
        x, *_ = np.linalg.lstsq(design / norms, self.target, rcond=None)
        return (design / norms) @ x - self.target


# --- timing ------------------------------------------------------------------------------
def batches(items, size: int):
    return [items[k:k + size] for k in range(0, len(items), size)]


def score_all(loss_model: PairLoss, candidate_batches) -> np.ndarray:
    return np.concatenate([loss_model.score(batch)[0] for batch in candidate_batches])


def time_grid(loss_model: PairLoss, candidates, batch_size: int, repeats: int):
    """Warm-up time, per-pass times and the losses of the last pass."""
    chunks = batches(candidates, batch_size)
    start = time.perf_counter()
    loss_model.score(chunks[0])
    warmup = time.perf_counter() - start
    passes = []
    losses = None
    for k in range(repeats):
        start = time.perf_counter()
        losses = score_all(loss_model, chunks)
        passes.append(time.perf_counter() - start)
        log(f"grid pass {k + 1}/{repeats}: {len(candidates)} candidates in {passes[-1]:.3f} s")
    return warmup, passes, losses


def time_baseline(baseline, term_trees, repeats: int):
    """Per-pass times, per-pass sympy times and losses of the plain DEAP evaluation.

    One untimed warm-up call first. For the sympy baseline, sympy's cache is cleared
    (untimed) before every pass, so that each pass pays for every candidate what a
    search pays for a tree it meets for the first time.
    """
    uses_sympy = hasattr(baseline, "sympy_s")
    baseline.loss(term_trees[0])
    losses = np.empty(len(term_trees))
    passes, sympy_passes = [], []
    for k in range(repeats):
        if uses_sympy:
            sympy.core.cache.clear_cache()
            baseline.sympy_s = 0.0
        start = time.perf_counter()
        for c, terms in enumerate(term_trees):
            losses[c] = baseline.loss(terms)
        passes.append(time.perf_counter() - start)
        sympy_passes.append(baseline.sympy_s if uses_sympy else 0.0)
        extra = f" (sympy {sympy_passes[-1]:.3f} s)" if uses_sympy else ""
        log(f"deap pass {k + 1}/{repeats}: {len(term_trees)} candidates in {passes[-1]:.3f} s{extra}")
    return passes, sympy_passes, losses


# --- comparison --------------------------------------------------------------------------
def compare_losses(grid: np.ndarray, deap: np.ndarray, trees, n_worst: int = 3, energy_only: bool = True) -> dict:
    """Validity agreement and relative differences of sqrt(loss) on the candidates scored both ways.

    In energy mode sqrt(loss) is the energy RMSE, reported in meV/atom.
    """
    grid_ok, deap_ok = np.isfinite(grid), np.isfinite(deap)
    both = grid_ok & deap_ok
    out = {
        "n_compared": int(len(grid)),
        "validity_agreement": float(np.mean(grid_ok == deap_ok)),
        "n_valid_both": int(both.sum()),
        "n_invalid_grid_only": int((~grid_ok & deap_ok).sum()),
        "n_invalid_deap_only": int((grid_ok & ~deap_ok).sum()),
    }
    if not both.any():
        out.update(max_rel_rmse_diff=None, median_rel_rmse_diff=None, p95_rel_rmse_diff=None, worst=[])
        return out
    rmse_grid = np.sqrt(np.maximum(grid[both], 0.0))
    rmse_deap = np.sqrt(np.maximum(deap[both], 0.0))
    rel = np.abs(rmse_grid - rmse_deap) / np.maximum(rmse_deap, 1e-300)
    index = np.flatnonzero(both)
    order = np.argsort(rel)[::-1][:n_worst]
    out.update(
        max_rel_rmse_diff=float(rel.max()),
        median_rel_rmse_diff=float(np.median(rel)),
        p95_rel_rmse_diff=float(np.percentile(rel, 95)),
        frac_rel_rmse_diff_below_0_001=float(np.mean(rel < 1e-3)),
        worst=[{"candidate": int(index[k]), "tree": str(trees[index[k]]),
                **({"rmse_grid_meV_per_atom": float(1000 * rmse_grid[k]),
                    "rmse_deap_meV_per_atom": float(1000 * rmse_deap[k])} if energy_only else
                   {"sqrt_loss_grid": float(rmse_grid[k]), "sqrt_loss_deap": float(rmse_deap[k])}),
                "rel_diff": float(rel[k])}
               for k in order],
    )
    return out


def exact_check(dataset: Dataset, cutoff: Cutoff, weights: dict, candidates, baseline, base_trees,
                base_losses: np.ndarray, n_check: int) -> dict:
    """The baseline against symbpot's exact path (``ExactLoss.fit_linear``) on a few candidates.

    Uses the first ``n_check`` candidates with a finite baseline loss; compares the loss and
    the fitted term coefficients (relative differences).
    """
    exact = ExactLoss(dataset, cutoff, energy_weight=weights["energy"], force_weight=weights["force"],
                      stress_weight=weights["stress"])
    chosen = [int(c) for c in np.flatnonzero(np.isfinite(base_losses))[:n_check]]
    rows = []
    for c in chosen:
        coef_exact, _, loss_exact = exact.fit_linear(candidates[c], dataset.species)
        loss_base, coef_base = base_losses[c], None
        if isinstance(baseline, DeapSympyBaseline):
            loss_base, coef_base, _ = baseline.solve(base_trees[c])
        row = {"candidate": c, "loss_deap": float(loss_base), "loss_exact": float(loss_exact),
               "rel_loss_diff": float(abs(loss_base - loss_exact) / max(abs(loss_exact), 1e-300))}
        if coef_base is not None and coef_exact is not None:
            row["max_rel_coef_diff"] = float(np.max(np.abs(coef_base - coef_exact)
                                                    / np.maximum(np.abs(coef_exact), 1e-300)))
        rows.append(row)
    out = {"n_checked": len(rows), "candidates": rows}
    if rows:
        out["max_rel_loss_diff"] = max(r["rel_loss_diff"] for r in rows)
        coef = [r["max_rel_coef_diff"] for r in rows if "max_rel_coef_diff" in r]
        out["max_rel_coef_diff"] = max(coef) if coef else None
    return out


def package_version(name: str):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def main(argv=None) -> dict:
    args = parse_args(argv)
    log(f"reading {args.data} (cutoff {args.cutoff} Å)")
    start = time.perf_counter()
    dataset = Dataset.from_file(args.data, cutoff=args.cutoff)
    read_s = time.perf_counter() - start
    cutoff = Cutoff(args.cutoff, args.cutoff_style)
    log(f"{len(dataset)} structures, {dataset.n_pairs} pairs (read in {read_s:.1f} s)")

    trees = random_trees(args.candidates, args.seed)
    start = time.perf_counter()
    candidates = [tree_terms(t) for t in trees]
    convert_s = time.perf_counter() - start
    n_terms = np.array([len(c) for c in candidates])
    n_nodes = np.array([len(t) for t in trees])

    weights = loss_weights(args)
    efs = args.mode == "efs"
    start = time.perf_counter()
    if efs:
        loss_model = PairLoss(dataset, cutoff, grid_size=args.grid_size, energy_weight=weights["energy"],
                              force_weight=weights["force"], stress_weight=weights["stress"])
    else:
        loss_model = EnergyLoss(dataset, cutoff, grid_size=args.grid_size)
    setup_s = time.perf_counter() - start
    log(f"{args.mode} mode, weights {weights}: PairLoss setup {setup_s:.3f} s "
        f"({loss_model.RA.shape[0]} rows); scoring {len(candidates)} candidates "
        f"in batches of {args.batch_size}, numba threads {numba.get_num_threads()}")
    warmup_s, passes, grid_losses = time_grid(loss_model, candidates, args.batch_size, args.repeats)
    grid_s = float(np.median(passes))

    nb = args.baseline_candidates
    np_pset = numpy_primitive_set()
    start = time.perf_counter()
    if efs:
        baseline = DeapSympyBaseline(dataset, cutoff, np_pset, sympy_primitive_set(), energy_weight=weights["energy"],
                                     force_weight=weights["force"], stress_weight=weights["stress"])
    else:
        baseline = DeapBaseline(dataset, cutoff, np_pset)
    deap_setup_s = time.perf_counter() - start
    base_trees = [baseline_terms(t, np_pset) for t in trees[:nb]]
    log(f"plain DEAP baseline on the first {nb} candidates (setup {deap_setup_s:.3f} s)")
    deap_passes, sympy_passes, deap_losses = time_baseline(baseline, base_trees, args.repeats)
    deap_s = float(np.median(deap_passes))
    if efs:
        log("the same baseline with the sums done by precomputed scipy.sparse matrices")
        start = time.perf_counter()
        sparse = DeapSympyBaseline(dataset, cutoff, np_pset, sympy_primitive_set(), energy_weight=weights["energy"],
                                   force_weight=weights["force"], stress_weight=weights["stress"], sums="sparse")
        sparse_setup_s = time.perf_counter() - start
        sparse_passes, sparse_sympy, sparse_losses = time_baseline(sparse, base_trees, args.repeats)

    evals_grid = len(candidates) / grid_s
    evals_deap = nb / deap_s
    result = {
        "benchmark": "fitness_throughput",
        "mode": args.mode,
        "weights": weights,
        "data": args.data,
        "n_structures": int(len(dataset)),
        "n_pairs": int(dataset.n_pairs),
        "species": list(dataset.species),
        "cutoff": float(args.cutoff),
        "cutoff_style": args.cutoff_style,
        "grid_size": int(args.grid_size),
        "seed": int(args.seed),
        "batch_size": int(args.batch_size),
        "n_candidates_grid": int(len(candidates)),
        "n_candidates_baseline": int(nb),
        "mean_terms_per_candidate": float(n_terms.mean()),
        "mean_nodes_per_candidate": float(n_nodes.mean()),
        "mean_nodes_per_candidate_baseline": float(n_nodes[:nb].mean()),
        "evals_per_s_grid": float(evals_grid),
        "evals_per_s_deap": float(evals_deap),
        "speedup_vs_deap": float(evals_grid / evals_deap),
    }
    if efs:
        excl = [p - s for p, s in zip(deap_passes, sympy_passes)]
        sparse_excl = [p - s for p, s in zip(sparse_passes, sparse_sympy)]
        evals_sparse = nb / float(np.median(sparse_passes))
        both = np.isfinite(deap_losses) & np.isfinite(sparse_losses)
        result.update(
            evals_per_s_deap_excl_sympy=float(nb / np.median(excl)),
            speedup_vs_deap_excl_sympy=float(evals_grid / (nb / np.median(excl))),
            evals_per_s_deap_sparse=float(evals_sparse),
            speedup_vs_deap_sparse=float(evals_grid / evals_sparse),
            evals_per_s_deap_sparse_excl_sympy=float(nb / np.median(sparse_excl)),
            deap_sparse_pass_s=[float(p) for p in sparse_passes],
            deap_sparse_sympy_s=[float(s) for s in sparse_sympy],
            deap_sparse_setup_s=float(sparse_setup_s),
            deap_sparse_validity_agreement=float(np.mean(np.isfinite(deap_losses) == np.isfinite(sparse_losses))),
            deap_sparse_max_rel_loss_diff=float(np.max(np.abs(sparse_losses[both] - deap_losses[both])
                                                       / np.abs(deap_losses[both]))) if both.any() else None,
        )
    result.update({
        "evals_per_s_grid_incl_conversion": float(len(candidates) / (grid_s + convert_s)),
        "grid_pass_s": [float(p) for p in passes],
        "deap_pass_s": [float(p) for p in deap_passes],
    })
    if efs:
        result["deap_sympy_s"] = [float(s) for s in sympy_passes]
    result.update({
        "setup_s": float(setup_s),
        "grid_rows": int(loss_model.RA.shape[0]),
        "jit_warmup_s": float(warmup_s),
        "tree_to_programs_s": float(convert_s),
        "deap_setup_s": float(deap_setup_s),
        "read_data_s": float(read_s),
        "n_invalid_grid": int(np.sum(~np.isfinite(grid_losses))),
    })
    best = int(np.argmin(grid_losses))
    if efs:
        zero_residual = baseline.zero_potential()
        result.update(
            n_atoms=int(dataset.n_atoms.sum()),
            n_structures_with_forces=int(dataset.has_forces.sum()),
            n_structures_with_stress=int(dataset.has_stress.sum()),
            zero_potential_loss=float(loss_model.baseline),
            zero_potential_loss_deap=float(zero_residual @ zero_residual),
            zero_potential_parts=baseline.parts(zero_residual),
            best_grid_loss=float(grid_losses[best]),
        )
        loss_b, coef_b, residual_b = baseline.solve(baseline_terms(trees[best], np_pset))
        result["best_grid_candidate"] = {
            "candidate": best, "tree": str(trees[best]), "loss_grid": float(grid_losses[best]),
            "loss_deap": float(loss_b),
            "coefficients_deap": None if coef_b is None else [float(a) for a in coef_b],
            **(baseline.parts(residual_b) if residual_b is not None else {}),
        }
    else:
        result.update(
            zero_potential_rmse_meV_per_atom=float(1000 * np.sqrt(loss_model.baseline)),
            best_grid_rmse_meV_per_atom=float(1000 * np.sqrt(grid_losses[best])),
        )
    check = compare_losses(grid_losses[:nb], deap_losses, trees[:nb], energy_only=not efs)
    result["max_rel_rmse_diff"] = check.pop("max_rel_rmse_diff")
    result["check"] = check
    if args.exact_check:
        log(f"checking the baseline against ExactLoss.fit_linear on {args.exact_check} candidates")
        result["exact_check"] = exact_check(dataset, cutoff, weights, candidates, baseline, base_trees,
                                            deap_losses, args.exact_check)
        log(f"baseline vs exact: max relative loss difference {result['exact_check'].get('max_rel_loss_diff')}")
    affinity = getattr(os, "sched_getaffinity", None)
    result.update(
        numba_threads=int(numba.get_num_threads()),
        numba_cache_dir=os.environ.get("NUMBA_CACHE_DIR"),
        cpu_count=os.cpu_count(),
        cpus_available=len(affinity(0)) if affinity else None,
        date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        symbpot_version=package_version("symbpot"),
        versions={name: package_version(name) for name in ("numpy", "numba", "deap", "ase", "sympy")},
        python=platform.python_version(),
        machine=platform.machine(),
    )
    text = json.dumps(result)
    if args.out:
        directory = os.path.dirname(os.path.abspath(args.out))
        os.makedirs(directory, exist_ok=True)
        with open(args.out, "w") as fh:
            json.dump(result, fh, indent=1)
            fh.write("\n")
        log(f"wrote {args.out}")
    print(text)
    return result


if __name__ == "__main__":
    try:
        main()
    except SymbpotError as exc:
        print(f"fitness_throughput: error: {exc}", file=sys.stderr)
        sys.exit(2)
