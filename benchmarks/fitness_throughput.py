"""Fitness throughput: energy-loss evaluations per second, grid contraction vs. plain DEAP.

Usage::

    python benchmarks/fitness_throughput.py PATH.extxyz [--cutoff 5.0] [--candidates 2000]
        [--baseline-candidates 50] [--grid-size 200] [--cutoff-style hard] [--seed 0]
        [--batch-size 500] [--repeats 3] [--out FILE]

What is measured
----------------
Random GP trees are drawn the way a search starts (``deap.gp.genHalfAndHalf(pset, 1, 4)``
over symbpot's default operators, with a seeded RNG). Every tree is a candidate pair
potential ``V(r) = sum_k a_k T_k(r)`` whose top-level additive terms ``T_k`` each get a
least-squares coefficient ``a_k``; the per-species reference energies are fitted too.
The loss is the mean over structures of the squared per-atom energy error, (eV/atom)^2,
at those optimal linear parameters (energies only). The same candidates are scored in
the same run in two ways:

(a) grid
    :meth:`symbpot.fitness.EnergyLoss.score` on batches of ``--batch-size`` candidates (a
    generation at a time). The one-off precompute (``EnergyLoss(...)``) is timed as
    ``setup_s``; the first ``score`` call as ``jit_warmup_s`` (numba compilation, or
    only a load from numba's on-disk cache if an earlier run filled it: point
    ``NUMBA_CACHE_DIR`` at an empty folder to measure a cold compile); then the whole
    candidate set is scored ``--repeats`` times and the median pass gives
    ``evals_per_s_grid``. Converting the trees to term programs
    (``tree_terms``) is timed separately (``tree_to_programs_s``) and is reported, but
    is not part of ``evals_per_s_grid``; ``evals_per_s_grid_incl_conversion`` includes it.
(b) deap
    The plain DEAP way, on the first ``--baseline-candidates`` candidates: a primitive
    set with the same primitive names implemented in numpy; per candidate, each term is
    compiled with ``gp.compile``, evaluated over every pair distance of the data set,
    summed per structure with ``0.5 * np.bincount(pair_structure, ...)``, and then the
    least-squares problem (columns: term energies and species counts, rows scaled by
    1/n_atoms, columns scaled to unit norm) is solved with ``np.linalg.lstsq`` and the
    loss computed. All of that is inside the timing (one untimed warm-up call, then
    ``--repeats`` passes; the median pass gives ``evals_per_s_deap``). Translating the
    trees into the numpy primitive set and splitting them into terms is done beforehand
    (a DEAP search would hold its trees in that set already).

``speedup_vs_deap`` is ``evals_per_s_grid / evals_per_s_deap``.

Correctness is checked on the candidates scored both ways: the fraction on which both
agree about validity (finite loss or not), and, where both are finite, the relative
difference of the RMSE ``sqrt(loss)`` (max, median, 95th percentile, and the few worst
candidates). Nothing is filtered: random trees can have singularities and huge values,
and both numbers are reported as they come.

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
from deap import gp

import symbpot.expr
from symbpot.data import Dataset
from symbpot.errors import SymbpotError
from symbpot.fitness import EnergyLoss
from symbpot.forms import Cutoff
from symbpot.forms.cutoff import STYLES
from symbpot.gp import primitive_set, tree_terms
from symbpot.gp.primitives import deap_random, individual, split_tree_terms


def log(message: str) -> None:
    """Progress line on stderr."""
    print(f"[fitness_throughput] {message}", file=sys.stderr, flush=True)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Energy-loss evaluations per second: symbpot grid contraction vs. plain DEAP.")
    parser.add_argument("data", help="training data file that ASE reads (e.g. mlearn Cu train.extxyz)")
    parser.add_argument("--cutoff", type=float, default=5.0, help="neighbour cutoff in Å (default 5.0)")
    parser.add_argument("--cutoff-style", choices=STYLES, default="hard",
                        help="cutoff treatment (default hard)")
    parser.add_argument("--grid-size", type=int, default=200, help="radial grid nodes G (default 200)")
    parser.add_argument("--candidates", type=int, default=2000,
                        help="candidates scored by the grid (default 2000)")
    parser.add_argument("--baseline-candidates", type=int, default=50,
                        help="first N candidates also scored the plain DEAP way (default 50)")
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
    args.baseline_candidates = min(args.baseline_candidates, args.candidates)
    return args


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


# --- timing ------------------------------------------------------------------------------
def batches(items, size: int):
    return [items[k:k + size] for k in range(0, len(items), size)]


def score_all(loss_model: EnergyLoss, candidate_batches) -> np.ndarray:
    return np.concatenate([loss_model.score(batch)[0] for batch in candidate_batches])


def time_grid(loss_model: EnergyLoss, candidates, batch_size: int, repeats: int):
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


def time_baseline(baseline: DeapBaseline, term_trees, repeats: int):
    """Per-pass times and losses of the plain DEAP evaluation (after one untimed warm-up)."""
    baseline.loss(term_trees[0])
    losses = np.empty(len(term_trees))
    passes = []
    for k in range(repeats):
        start = time.perf_counter()
        for c, terms in enumerate(term_trees):
            losses[c] = baseline.loss(terms)
        passes.append(time.perf_counter() - start)
        log(f"deap pass {k + 1}/{repeats}: {len(term_trees)} candidates in {passes[-1]:.3f} s")
    return passes, losses


# --- comparison --------------------------------------------------------------------------
def compare_losses(grid: np.ndarray, deap: np.ndarray, trees, n_worst: int = 3) -> dict:
    """Validity agreement and relative RMSE differences on the candidates scored both ways."""
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
                "rmse_grid_meV_per_atom": float(1000 * rmse_grid[k]),
                "rmse_deap_meV_per_atom": float(1000 * rmse_deap[k]), "rel_diff": float(rel[k])}
               for k in order],
    )
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

    start = time.perf_counter()
    loss_model = EnergyLoss(dataset, cutoff, grid_size=args.grid_size)
    setup_s = time.perf_counter() - start
    log(f"EnergyLoss setup {setup_s:.3f} s; scoring {len(candidates)} candidates "
        f"in batches of {args.batch_size}, numba threads {numba.get_num_threads()}")
    warmup_s, passes, grid_losses = time_grid(loss_model, candidates, args.batch_size, args.repeats)
    grid_s = float(np.median(passes))

    nb = args.baseline_candidates
    np_pset = numpy_primitive_set()
    baseline = DeapBaseline(dataset, cutoff, np_pset)
    base_trees = [baseline_terms(t, np_pset) for t in trees[:nb]]
    log(f"plain DEAP baseline on the first {nb} candidates")
    deap_passes, deap_losses = time_baseline(baseline, base_trees, args.repeats)
    deap_s = float(np.median(deap_passes))

    evals_grid = len(candidates) / grid_s
    evals_deap = nb / deap_s
    result = {
        "benchmark": "fitness_throughput",
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
        "evals_per_s_grid_incl_conversion": float(len(candidates) / (grid_s + convert_s)),
        "grid_pass_s": [float(p) for p in passes],
        "deap_pass_s": [float(p) for p in deap_passes],
        "setup_s": float(setup_s),
        "jit_warmup_s": float(warmup_s),
        "tree_to_programs_s": float(convert_s),
        "read_data_s": float(read_s),
        "n_invalid_grid": int(np.sum(~np.isfinite(grid_losses))),
        "zero_potential_rmse_meV_per_atom": float(1000 * np.sqrt(loss_model.baseline)),
        "best_grid_rmse_meV_per_atom": float(1000 * np.sqrt(np.min(grid_losses))),
    }
    check = compare_losses(grid_losses[:nb], deap_losses, trees[:nb])
    result["max_rel_rmse_diff"] = check.pop("max_rel_rmse_diff")
    result["check"] = check
    affinity = getattr(os, "sched_getaffinity", None)
    result.update(
        numba_threads=int(numba.get_num_threads()),
        numba_cache_dir=os.environ.get("NUMBA_CACHE_DIR"),
        cpu_count=os.cpu_count(),
        cpus_available=len(affinity(0)) if affinity else None,
        date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        symbpot_version=package_version("symbpot"),
        versions={name: package_version(name) for name in ("numpy", "numba", "deap", "ase")},
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
