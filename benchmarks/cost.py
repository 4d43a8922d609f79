"""Evaluation cost against data size and against population, pair and EAM forms.

Usage::

    python benchmarks/cost.py PATH.extxyz [--cutoff 5.0] [--sizes 1e4,3e4,1e5,3e5,1e6]
        [--pair-candidates 500] [--eam-candidates 24] [--repeats 3]
        [--populations 50,100,200,400,800] [--eam-populations 25,50,100,200]
        [--run runs/cu-eam] [--seed 0] [--out FILE] [--plot FILE.png]

What is measured (one core: Numba and BLAS limited to one thread)
-----------------------------------------------------------------
1. **Cost against data size.** The structures of the file are put in a random (seeded)
   order; for every size in ``--sizes`` the shortest prefix with at least that many
   neighbour pairs (full list, as ``Dataset.n_pairs`` counts them) is a data set. On each
   one the loss model is built (``setup_s``: :class:`symbpot.fitness.PairLoss` or
   :class:`symbpot.fitness.manybody.ManyBodyLoss`, energies + forces + stresses with the
   weights of the recorded Cu runs) and the *same* candidates are scored ``--repeats``
   times (median: ``s_per_eval``):

   * pair: ``--pair-candidates`` random trees as a search's first generation draws them;
   * EAM: the Sutton-Chen template and random genomes (phi, g, F) drawn by
     :class:`symbpot.gp.manybody_search.ManyBodySearch`, kept if valid on the smallest set
     (``--eam-candidates`` in all).

   ``model_mb`` is the memory of the loss model's arrays (what each worker holds during a
   search), ``data_mb`` that of the packed data set (needed while the model is built).
   ``slope`` is the log-log slope of ``s_per_eval`` against pairs (1: proportional, 0:
   flat); ``linear_fit`` is ``s_per_eval = a + b * pairs`` by least squares in relative
   error (weights ``1 / s_per_eval``: the sizes span two decades, and an unweighted fit
   would follow the largest alone), with its largest relative error over the sizes
   (``linear``: below 20 %; a fixed part ``a``, the per-evaluation work that does not
   depend on the data, makes the log-log slope of a linear cost less than 1 over small
   sizes).
2. **Cost against population.** Searches of ``--populations`` (pair, on the ``1e5``-pair
   set, 10 generations) and ``--eam-populations`` (EAM, on the ``3e4``-pair set, 3
   generations) report seconds per generation and evaluations per second.
3. **Extrapolation** (``estimates``), from the fits (pair: the median cost, as it is flat;
   EAM: the linear fit): the cost of one evaluation and
   of the loss model's memory for 10x and 100x the file's pairs, and the workers a one-day
   EAM search on 10^6 structures (of this file's mean size) would need, taking the number
   of evaluations of the recorded run ``--run`` (its ``history.csv``) and its batch
   fraction as the work a search needs.

The last line printed is one JSON object; ``--out`` writes it to a file too, ``--plot``
draws cost against pairs and against population.
"""
from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import random
import sys
import time

import numpy as np

WEIGHTS = dict(energy_weight=1.0, force_weight=0.003, stress_weight=1e-4)


def nbytes(obj, seen=None) -> int:
    """Bytes of the numpy arrays reachable from ``obj`` (attributes, dicts, lists), each once."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        base = obj if obj.base is None else obj.base
        if isinstance(base, np.ndarray) and base is not obj:
            return nbytes(base, seen)
        return int(obj.nbytes)
    if isinstance(obj, dict):
        return sum(nbytes(v, seen) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(nbytes(v, seen) for v in obj)
    if hasattr(obj, "__dict__") and type(obj).__module__.startswith("symbpot"):
        return sum(nbytes(v, seen) for v in vars(obj).values())
    return 0


def prefix_subsets(dataset, sizes, seed):
    """``[(target, subset)]``: the shortest prefixes of a seeded order with >= target pairs."""
    order = np.random.default_rng(seed).permutation(len(dataset))
    counts = np.diff(dataset.pair_offsets)[order]
    cumulative = np.cumsum(counts)
    out = []
    for target in sizes:
        n = int(np.searchsorted(cumulative, target) + 1)
        if n > len(dataset):
            print(f"skipping {target:g} pairs: the file has {cumulative[-1]}", file=sys.stderr)
            continue
        out.append((target, dataset.subset(np.sort(order[:n]))))
    return out


def timed_score(loss, candidates, repeats, batch=None):
    batches = [candidates] if batch is None else [candidates[i:i + batch] for i in range(0, len(candidates), batch)]
    for b in batches[:1]:
        loss.score(b[:2])  # Numba compilation / cache load outside the clock
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        losses = np.concatenate([np.asarray(loss.score(b)[0]) for b in batches])
        times.append(time.perf_counter() - t)
    return float(np.median(times)) / len(candidates), losses


def pair_candidates(n, seed):
    from deap import gp

    import symbpot.expr
    from symbpot.gp import primitive_set, tree_terms
    from symbpot.gp.primitives import deap_random, individual

    pset = primitive_set(symbpot.expr.DEFAULT_OPERATORS)
    with deap_random(random.Random(seed)):
        return [tree_terms(individual(gp.genHalfAndHalf(pset, 1, 4))) for _ in range(n)]


def eam_candidates(loss, n, seed):
    """Sutton-Chen plus random genomes valid on ``loss``'s data, as ManyBodyTerms."""
    from symbpot.forms.templates import template_genome
    from symbpot.gp import SearchConfig
    from symbpot.gp.manybody_search import ManyBodySearch
    from symbpot.gp.primitives import deap_random

    seed_genome = template_genome("sutton-chen", 1, True, loss.cutoff.radius)
    search = ManyBodySearch(loss, SearchConfig(population=n, seed=seed), seeds=[seed_genome])
    out = []
    with deap_random(search.rng):
        for _ in range(50):
            genomes = search._fresh(4 * n)
            terms = [search.terms_of(g) for g in genomes]
            losses, _ = loss.score(terms)
            out += [t for t, value in zip(terms, losses) if np.isfinite(value)]
            if len(out) >= n:
                break
    return out[:n]


def size_study(dataset, cutoff, sizes, args):
    from symbpot.fitness import PairLoss
    from symbpot.fitness.manybody import ManyBodyLoss

    subsets = prefix_subsets(dataset, sizes, args.seed)
    pair_terms = pair_candidates(args.pair_candidates, args.seed)
    eam_terms = None
    rows = {"pair": [], "eam": []}
    for target, sub in subsets:
        for form in ("pair", "eam"):
            t = time.perf_counter()
            if form == "pair":
                loss = PairLoss(sub, cutoff, 200, **WEIGHTS)
            else:
                loss = ManyBodyLoss(sub, cutoff, tuple(sub.species), True, 200, **WEIGHTS)
            setup = time.perf_counter() - t
            if form == "eam" and eam_terms is None:
                eam_terms = eam_candidates(loss, args.eam_candidates, args.seed)
            terms = pair_terms if form == "pair" else eam_terms
            s_per_eval, losses = timed_score(loss, terms, args.repeats, batch=250 if form == "pair" else None)
            row = {"target_pairs": int(target), "pairs": int(sub.n_pairs), "structures": len(sub),
                   "atoms": int(sub.atom_offsets[-1]), "setup_s": round(setup, 4), "s_per_eval": s_per_eval,
                   "evals_per_s": round(1.0 / s_per_eval, 2), "candidates": len(terms),
                   "valid": int(np.isfinite(losses).sum()), "model_mb": round(nbytes(loss) / 2**20, 2),
                   "data_mb": round(nbytes(sub) / 2**20, 2)}
            rows[form].append(row)
            print(f"{form} {row}", file=sys.stderr, flush=True)
            del loss
    out = {}
    for form, r in rows.items():
        pairs = np.array([x["pairs"] for x in r], float)
        cost = np.array([x["s_per_eval"] for x in r])
        setup = np.array([x["setup_s"] for x in r])
        mem = np.array([x["model_mb"] for x in r])
        # weights 1/cost: relative errors (timings spread over two decades; an unweighted fit
        # would be the largest size's alone)
        b, a = np.polyfit(pairs, cost, 1, w=1.0 / cost)
        out[form] = {"rows": r, "slope": round(float(np.polyfit(np.log(pairs), np.log(cost), 1)[0]), 3),
                     "linear_fit": {"a_s": float(a), "b_s_per_pair": float(b)},
                     "setup_slope": round(float(np.polyfit(np.log(pairs), np.log(setup), 1)[0]), 3),
                     "setup_s_per_pair": float(np.polyfit(pairs, setup, 1)[0]),
                     "model_mb_per_million_pairs": round(float(np.polyfit(pairs, mem, 1)[0]) * 1e6, 1),
                     "data_mb_per_million_pairs": round(float(np.polyfit(
                         pairs, [x["data_mb"] for x in r], 1)[0]) * 1e6, 1),
                     "median_s_per_eval": float(np.median(cost))}
    for form in out:  # how well cost = a + b * pairs describes the measurements
        fit = out[form]["linear_fit"]
        pred = np.array([fit["a_s"] + fit["b_s_per_pair"] * x["pairs"] for x in out[form]["rows"]])
        meas = np.array([x["s_per_eval"] for x in out[form]["rows"]])
        out[form]["linear_fit"]["max_rel_error"] = round(float(np.max(np.abs(pred / meas - 1))), 3)
    out["pair"]["flat"] = bool(out["pair"]["slope"] < 0.15)
    out["eam"]["linear"] = bool(out["eam"]["linear_fit"]["b_s_per_pair"] > 0
                                and out["eam"]["linear_fit"]["max_rel_error"] <= 0.2)
    return out, {int(t): s for t, s in subsets}


def population_study(subsets, cutoff, args):
    from symbpot.fitness import PairLoss
    from symbpot.fitness.manybody import ManyBodyLoss
    from symbpot.gp import Search, SearchConfig
    from symbpot.gp.manybody_search import ManyBodySearch

    out = {}
    plans = (("pair", 100_000, args.populations, 10), ("eam", 30_000, args.eam_populations, 3))
    for form, size, populations, generations in plans:
        sub = subsets.get(size) or subsets[min(subsets, key=lambda k: abs(k - size))]
        if form == "pair":
            loss = PairLoss(sub, cutoff, 200, **WEIGHTS)
        else:
            loss = ManyBodyLoss(sub, cutoff, tuple(sub.species), True, 200, **WEIGHTS)
        rows = []
        for population in populations:
            config = SearchConfig(population=population, generations=generations, time_limit=None, seed=args.seed)
            if form == "eam":
                config.refine_max_constants = 12
            search = (Search if form == "pair" else ManyBodySearch)(loss, config)
            t = time.perf_counter()
            search.run()
            wall = time.perf_counter() - t
            row = {"population": population, "generations": int(search.generation), "wall_s": round(wall, 3),
                   "s_per_generation": round(wall / max(search.generation, 1), 4),
                   "evaluations": int(search.evaluations), "refine_evaluations": int(search.refine_evaluations),
                   "evals_per_s": round(search.evaluations / wall, 2)}
            rows.append(row)
            print(f"{form} population {row}", file=sys.stderr, flush=True)
        pops = np.array([r["population"] for r in rows], float)
        per_gen = np.array([r["s_per_generation"] for r in rows])
        out[form] = {"pairs": int(sub.n_pairs), "rows": rows,
                     "slope_s_per_generation": round(float(np.polyfit(np.log(pops), np.log(per_gen), 1)[0]), 3)}
    return out


def estimates(dataset, sizes, run_dir):
    """Extrapolations from the linear fits (see the module docstring)."""
    pairs = dataset.n_pairs
    per_structure = pairs / len(dataset)
    out = {"file_pairs": int(pairs), "pairs_per_structure": round(per_structure, 1)}
    def cost(form, n):
        """Seconds per evaluation at ``n`` pairs: flat (the median) for the pair form, linear for EAM."""
        if form == "pair":
            return sizes["pair"]["median_s_per_eval"]
        return sizes["eam"]["linear_fit"]["a_s"] + sizes["eam"]["linear_fit"]["b_s_per_pair"] * n

    def gb(form, key, n):
        return round(max(sizes[form][key], 0.0) * n / 1e6 / 1024, 2)

    for factor in (10, 100):
        n = factor * pairs
        out[f"x{factor}"] = {
            form: {"pairs": int(n), "s_per_eval": round(cost(form, n), 6),
                   "setup_s": round(sizes[form]["setup_s_per_pair"] * n, 1),
                   "model_gb": gb(form, "model_mb_per_million_pairs", n),
                   "data_gb": gb(form, "data_mb_per_million_pairs", n)}
            for form in ("pair", "eam")}
    history = os.path.join(run_dir, "history.csv") if run_dir else None
    if history and os.path.exists(history):
        with open(history) as fh:
            last = list(csv.DictReader(fh))[-1]
        with open(os.path.join(run_dir, "config.json")) as fh:
            config = json.load(fh)
        evaluations = int(last["evaluations"])
        fraction = float(config.get("batch_fraction") or 1.0)
        n = 1e6 * per_structure
        s_eval = cost("eam", n * fraction)
        core_s = evaluations * s_eval
        out["one_day_eam_1e6_structures"] = {
            "pairs": int(n), "evaluations_from": run_dir, "evaluations": evaluations, "batch_fraction": fraction,
            "s_per_eval_on_batch": round(s_eval, 2), "core_hours": round(core_s / 3600, 1),
            "workers_for_one_day": int(np.ceil(core_s / 86400)),
            "model_gb_whole_set": gb("eam", "model_mb_per_million_pairs", n),
            "model_gb_batch": gb("eam", "model_mb_per_million_pairs", n * fraction),
            "data_gb_whole_set": gb("eam", "data_mb_per_million_pairs", n),
            "pair_form_s_per_eval": round(cost("pair", n), 6),
            "pair_form_setup_hours": round(sizes["pair"]["setup_s_per_pair"] * n / 3600, 2)}
    return out


def plot(result, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    ax = axes[0]
    for form, color in (("pair", "C0"), ("eam", "C3")):
        rows = result["size"][form]["rows"]
        x = [r["pairs"] for r in rows]
        ax.loglog(x, [r["s_per_eval"] for r in rows], "o-", color=color,
                  label=f"{form}: one evaluation (slope {result['size'][form]['slope']})")
        ax.loglog(x, [r["setup_s"] for r in rows], "s--", color=color, alpha=0.6,
                  label=f"{form}: loss set-up, once (slope {result['size'][form]['setup_slope']})")
    ax.set_xlabel("neighbour pairs in the data (full list)")
    ax.set_ylabel("seconds (one core)")
    ax.set_title("cost against data size")
    ax.legend(fontsize=7)
    ax = axes[1]
    for form, color in (("pair", "C0"), ("eam", "C3")):
        study = result["population"][form]
        rows = study["rows"]
        ax.loglog([r["population"] for r in rows], [r["s_per_generation"] for r in rows], "o-", color=color,
                  label=f"{form} ({study['pairs']:,} pairs): slope {study['slope_s_per_generation']}")
    ax.set_xlabel("population")
    ax.set_ylabel("seconds per generation (one core)")
    ax.set_title("cost against population")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data")
    parser.add_argument("--cutoff", type=float, default=5.0)
    parser.add_argument("--sizes", default="1e4,3e4,1e5,3e5,1e6")
    parser.add_argument("--pair-candidates", type=int, default=500)
    parser.add_argument("--eam-candidates", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--populations", default="50,100,200,400,800")
    parser.add_argument("--eam-populations", default="25,50,100,200")
    parser.add_argument("--run", default="runs/cu-eam")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None)
    parser.add_argument("--plot", default=None)
    args = parser.parse_args(argv)
    args.populations = [int(p) for p in args.populations.split(",")]
    args.eam_populations = [int(p) for p in args.eam_populations.split(",")]
    sizes = [int(float(s)) for s in args.sizes.split(",")]

    import numba

    from symbpot import Dataset
    from symbpot.forms import Cutoff
    from symbpot.threads import single_threaded_blas

    numba.set_num_threads(1)
    dataset = Dataset.from_file([args.data], cutoff=args.cutoff)
    cutoff = Cutoff(args.cutoff, "smooth", 1.0)
    result = {"benchmark": "cost", "date": datetime.datetime.now().isoformat(timespec="seconds"),
              "command": "python benchmarks/cost.py " + " ".join(sys.argv[1:] if argv is None else argv),
              "data": os.path.abspath(args.data), "n_structures": len(dataset), "n_pairs": int(dataset.n_pairs),
              "cpus": os.cpu_count(), "threads": 1, "weights": WEIGHTS}
    with single_threaded_blas():
        result["size"], subsets = size_study(dataset, cutoff, sizes, args)
        result["population"] = population_study(subsets, cutoff, args)
    result["estimates"] = estimates(dataset, result["size"], args.run)
    line = json.dumps(result)
    print(line)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(json.dumps(result, indent=1) + "\n")
    if args.plot:
        plot(result, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
