"""symbpot's numpy Levenberg-Marquardt against scipy's MINPACK ``lm``, on real candidates.

Usage::

    python benchmarks/refine_vs_scipy.py PATH.extxyz [--cutoff 5.0] [--seed 1]
        [--pair-generations 20] [--pair-candidates 300] [--pair-perturb 0.3]
        [--eam-generations 3] [--eam-candidates 60] [--eam-perturb 0] [--out FILE]

Why: symbpot refined constants with ``scipy.optimize.least_squares(method="lm",
x_scale="jac")`` until its MINPACK code was found to read past the end of its Jacobian,
which made EAM searches with one seed part into two results (``runs/benchmarks/README.md``).
:func:`symbpot.fitness.refine.levenberg_marquardt` replaced it; this benchmark checks that
the replacement refines as well.

What is measured: a short search (pair, then EAM, on the file, energies + forces +
stresses with the weights of the recorded Cu runs) fills its cache of scored candidates;
up to ``--*-candidates`` of them with constants (at most the refinement's limit) are drawn
at random (seeded), their constants optionally multiplied by log-normal factors of width
``--*-perturb``, and each is refined by the search's own ``_refine`` twice: with scipy's
``lm`` (as symbpot called it before, same budget) and with symbpot's solver. The refined
candidates are scored again. Reported per form: how many each solver improved over the
start, how many symbpot's ended more than 1 % better or worse than scipy's, the geometric
mean of the losses (start, scipy, symbpot), and the residual evaluations and seconds each
spent. The last line printed is one JSON object (``--out`` writes it too).
"""
from __future__ import annotations

import argparse
import datetime
import json
import random
import sys
import time

import numpy as np

WEIGHTS = dict(energy_weight=1.0, force_weight=0.003, stress_weight=1e-4)


def scipy_lm(fun, x0, max_nfev):
    """What symbpot's ``_refine`` called before: scipy's MINPACK lm (trf below n residuals)."""
    from scipy.optimize import least_squares

    n_res = len(fun(np.asarray(x0, dtype=float)))
    return least_squares(fun, x0, method="lm" if n_res >= len(x0) else "trf", max_nfev=max_nfev,
                         x_scale="jac")


def build_search(form, dataset, cutoff, seed, generations):
    from symbpot.forms import Cutoff
    from symbpot.gp import SearchConfig

    cut = Cutoff(cutoff, "smooth", 1.0)
    config = SearchConfig(population=200, seed=seed, generations=generations, time_limit=None)
    if form == "pair":
        from symbpot.fitness import PairLoss
        from symbpot.gp.engine import Search

        return Search(PairLoss(dataset, cut, 200, **WEIGHTS), config)
    from symbpot.fitness.manybody import ManyBodyLoss
    from symbpot.gp.manybody_search import ManyBodySearch

    config.refine_max_constants = 12
    loss = ManyBodyLoss(dataset, cut, tuple(dataset.species), True, 200, **WEIGHTS)
    return ManyBodySearch(loss, config)


def trees_of(form, tree):
    return [tree] if form == "pair" else list(tree)


def compare(form, dataset, args, n_candidates, perturb, generations):
    import symbpot.gp.engine as engine
    import symbpot.gp.manybody_search as manybody_search
    from symbpot.fitness.refine import levenberg_marquardt
    from symbpot.gp.engine import Candidate
    from symbpot.gp.primitives import constants_of, tree_terms, with_constants

    module = engine if form == "pair" else manybody_search
    search = build_search(form, dataset, args.cutoff, args.seed, generations)
    start = time.perf_counter()
    search.run()
    search_s = time.perf_counter() - start

    def terms_of(tree):
        return tree_terms(tree) if form == "pair" else search.terms_of(tree)

    def n_constants(tree):
        return sum(len(constants_of(t)) for t in trees_of(form, tree))

    def score(tree):
        return float(search.loss_model.score([terms_of(tree)])[0][0])

    pool = [c for c in search.cache.values()
            if c.valid and 0 < n_constants(c.tree) <= search.config.refine_max_constants]
    pool.sort(key=lambda c: c.key)
    random.Random(args.seed).shuffle(pool)
    rng = np.random.default_rng(args.seed)
    candidates = []
    for cand in pool[:n_candidates]:
        tree = cand.tree
        if perturb > 0:
            new = []
            for t in trees_of(form, tree):
                cs = np.array(constants_of(t))
                new.append(with_constants(t, cs * np.exp(rng.normal(0.0, perturb, cs.size))) if cs.size else t)
            tree = new[0] if form == "pair" else manybody_search.genome(new)
        terms = terms_of(tree)
        losses, coefs = search.loss_model.score([terms])
        if np.isfinite(losses[0]):
            candidates.append(Candidate(tree, search.key(tree), float(losses[0]), cand.complexity, terms, coefs[0]))
    losses = {"start": np.array([c.loss for c in candidates])}
    cost = {}
    for name, solver in (("scipy", scipy_lm), ("symbpot", levenberg_marquardt)):
        module.levenberg_marquardt = solver
        before, t0 = search.refine_evaluations, time.perf_counter()
        out = []
        for cand in candidates:
            refined = search._refine(cand)
            out.append(cand.loss if refined is None else score(refined))
        cost[name] = {"evaluations": search.refine_evaluations - before, "seconds": round(time.perf_counter() - t0, 2)}
        losses[name] = np.array(out)
    module.levenberg_marquardt = levenberg_marquardt
    ok = np.isfinite(losses["scipy"]) & np.isfinite(losses["symbpot"])
    ratio = losses["symbpot"][ok] / losses["scipy"][ok]

    def improved(name):
        return int(np.sum(losses[name] < losses["start"] * (1 - 1e-6)))

    def geomean(name):
        return float(np.exp(np.mean(np.log(losses[name][ok]))))

    return {"form": form, "search_generations": generations, "search_s": round(search_s, 1),
            "candidates": len(candidates), "perturb": perturb,
            "improved_over_start": {"scipy": improved("scipy"), "symbpot": improved("symbpot")},
            "symbpot_better_by_1pct": int(np.sum(ratio < 0.99)), "symbpot_worse_by_1pct": int(np.sum(ratio > 1.01)),
            "non_finite": {"scipy": int(np.sum(~np.isfinite(losses["scipy"]))),
                           "symbpot": int(np.sum(~np.isfinite(losses["symbpot"])))},
            "geometric_mean_loss": {k: geomean(k) for k in ("start", "scipy", "symbpot")},
            "largest_ratio": float(ratio.max()), "smallest_ratio": float(ratio.min()), "cost": cost}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data")
    p.add_argument("--cutoff", type=float, default=5.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--pair-generations", type=int, default=20)
    p.add_argument("--pair-candidates", type=int, default=300)
    p.add_argument("--pair-perturb", type=float, default=0.3)
    p.add_argument("--eam-generations", type=int, default=3)
    p.add_argument("--eam-candidates", type=int, default=60)
    p.add_argument("--eam-perturb", type=float, default=0.0)
    p.add_argument("--out")
    args = p.parse_args(argv)
    from symbpot import Dataset, SymbpotError

    try:
        dataset = Dataset.from_file([args.data], cutoff=args.cutoff)
    except SymbpotError as exc:
        p.exit(2, f"refine_vs_scipy.py: error: {exc}\n")
    result = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "data": args.data, "forms": []}
    for form, n, perturb, generations in (("pair", args.pair_candidates, args.pair_perturb, args.pair_generations),
                                          ("eam", args.eam_candidates, args.eam_perturb, args.eam_generations)):
        row = compare(form, dataset, args, n, perturb, generations)
        print(json.dumps(row), file=sys.stderr, flush=True)
        result["forms"].append(row)
    text = json.dumps(result)
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
