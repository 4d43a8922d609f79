"""Lennard-Jones recovery: success rate and wall time over 10 seeds.

Usage::

    python benchmarks/lj_recovery.py [--seeds 10] [--frames 60] [--time-limit 60] [--out FILE]

For every seed, new data are made: sigma and epsilon are drawn at random
(sigma in [2.0, 3.5] Å, epsilon in [0.05, 0.6] eV) and ``--frames`` periodic configurations
(fcc, bcc, sc, hcp; 8-64 atoms; compressed and expanded; rattled) are labelled by a plain
LJ sum with a hard cutoff at 2.5 sigma (:func:`symbpot.demo.lj_frames`). symbpot then
searches with the CLI's defaults (population 200, hard cutoff, target RMSE 1e-4 meV/atom,
``--time-limit`` seconds at most).

A seed is a success when the chosen potential's V(r), on 400 points in [0.9 sigma, rc],
equals a r^-12 - b r^-6 + c to 1e-7 of max|V| (least-squares fit of a, b, c), with a and b
within 0.1 % of 4 eps sigma^12 and 4 eps sigma^6, and its simplified closed form has no more
nodes than a r^-12 - b r^-6 + c.

Reported times: ``fit_s`` is ``SymbolicPotential.fit`` (search + exact final metrics);
``data_s`` makes the frames and packs the pairs. The first seed also pays numba's loading
(or compiling, on a cold cache) of the kernels; ``warmup_s`` measures that separately
on a tiny fit before the seeds run. The last line printed is one JSON object.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import time

import numpy as np


def lj_check(potential, sigma, epsilon, cutoff) -> dict:
    from symbpot.export import expression_size, parse

    r = np.linspace(0.9 * sigma, cutoff, 400)
    v = potential.pair.evaluate(r)
    design = np.column_stack([r**-12, -(r**-6), np.ones_like(r)])
    (a, b, c), *_ = np.linalg.lstsq(design, v, rcond=None)
    misfit = float(np.max(np.abs(design @ [a, b, c] - v)) / np.max(np.abs(v)))
    a_true, b_true = 4 * epsilon * sigma**12, 4 * epsilon * sigma**6
    size = expression_size(potential.pair_function())
    lj_size = expression_size(parse("2.0/r**12 - 3.0/r**6 + 0.5"))
    ok = misfit < 1e-7 and abs(a / a_true - 1) < 1e-3 and abs(b / b_true - 1) < 1e-3 and size <= lj_size
    return {"success": bool(ok), "misfit": misfit, "a_rel_error": float(a / a_true - 1),
            "b_rel_error": float(b / b_true - 1), "c": float(c), "expression_size": size,
            "lj_expression_size": lj_size, "expression": str(potential.pair_function())}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--population", type=int, default=200)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)

    import numba

    from symbpot import Dataset, SymbolicPotential, __version__
    from symbpot.demo import lj_frames

    t0 = time.perf_counter()
    tiny = Dataset.from_frames(lj_frames(8, seed=999), 5.0)
    SymbolicPotential(cutoff_style="hard", time_limit=None, generations=1, population=8).fit(tiny)
    warmup = time.perf_counter() - t0

    results = []
    for seed in range(args.seeds):
        rng = np.random.default_rng(1000 + seed)
        sigma, epsilon = float(rng.uniform(2.0, 3.5)), float(rng.uniform(0.05, 0.6))
        cutoff = 2.5 * sigma
        t0 = time.perf_counter()
        frames = lj_frames(args.frames, sigma=sigma, epsilon=epsilon, cutoff=cutoff, seed=seed)
        data = Dataset.from_frames(frames, cutoff)
        data_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        model = SymbolicPotential(cutoff_style="hard", seed=seed, time_limit=args.time_limit,
                                  population=args.population, target_rmse=1e-4).fit(data)
        fit_s = time.perf_counter() - t0
        row = {"seed": seed, "sigma": sigma, "epsilon": epsilon, "n_structures": len(data),
               "data_s": round(data_s, 3), "fit_s": round(fit_s, 3), "generations": model.search_.generation,
               "evaluations": model.search_.evaluations, **lj_check(model.get_best(), sigma, epsilon, cutoff)}
        results.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)

    fit_times = [r["fit_s"] for r in results]
    summary = {
        "benchmark": "lj_recovery",
        "date": datetime.date.today().isoformat(),
        "symbpot_version": __version__,
        "cpu_count": os.cpu_count(),
        "numba_threads": numba.get_num_threads(),
        "seeds": args.seeds,
        "frames_per_seed": args.frames,
        "time_limit_s": args.time_limit,
        "successes": sum(r["success"] for r in results),
        "success_rate": sum(r["success"] for r in results) / len(results),
        "median_fit_s": statistics.median(fit_times),
        "max_fit_s": max(fit_times),
        "median_total_s": statistics.median(r["fit_s"] + r["data_s"] for r in results),
        "warmup_s": round(warmup, 3),
        "runs": results,
    }
    text = json.dumps(summary)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as fh:
            fh.write(json.dumps(summary, indent=1) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
