"""EAM against pair forms on many-body data labelled by ASE's EMT calculator (Cu, CuAu).

Usage::

    python benchmarks/emt_eam_vs_pair.py [--systems Cu,CuAu] [--generations 120] [--population 60]
        [--train 96] [--test 24] [--validation-fraction 0.2] [--seeds 0] [--pair-seeds 0,1,2]
        [--eam-seed-forms sutton-chen] [--cutoff 5.0] [--out FILE]

For each system, ``--train`` and ``--test`` structures are made with different seeds:
fcc, bcc and sc cells (2x2x2 cubic) with the lattice constant scattered by 5 %, every fourth
fcc cell with a vacancy, atoms rattled by 0.06 Å; for CuAu 40 % of the atoms (at random) are
Au and the lattice constants are those of the alloy (fcc 3.75 Å, bcc 3.0 Å, sc 2.5 Å). Labels
are EMT energies and forces; the fit uses energies only (``force_weight=0``), a smooth cutoff
(``--cutoff``, 1 Å wide), and ``--validation-fraction`` of the training structures to choose
``best``.

The same search budget (``--generations`` x ``--population``) is given to every search:

* ``pair``: one pair tree per species pair, seeded with the Morse template, once per seed of
  ``--pair-seeds``; and the ``lj`` and ``morse`` templates fitted alone;
* ``eam``: phi, g per species pair and F per species, seeded with ``--eam-seed-forms``, once
  per seed of ``--seeds``.

The pair baseline is the *best* pair result on the test set (the most favourable choice for
the pair side, chosen on the test set on purpose), the EAM result the median over its
seeds; ``ratio = best pair / median EAM`` test energy RMSE (target: >= 3). The last line
printed is one JSON object.
"""
from __future__ import annotations

import argparse
import datetime
import json
import sys
import time

import numpy as np


def emt_data(system: str, n: int, seed: int, cutoff: float = 5.0):
    from ase.build import bulk
    from ase.calculators.emt import EMT

    from symbpot import Dataset

    alloy = system == "CuAu"
    lattice = [("fcc", 3.75 if alloy else 3.6), ("bcc", 3.0 if alloy else 2.87), ("sc", 2.5 if alloy else 2.4),
               ("fcc", 3.75 if alloy else 3.6)]
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(n):
        kind, a = lattice[k % 4]
        atoms = bulk("Cu", kind, a=a * (1 + 0.05 * rng.normal()), cubic=True).repeat(2)
        if k % 4 == 3:
            del atoms[0]
        if alloy:
            au = rng.random(len(atoms)) < 0.4
            au[rng.integers(len(atoms))] = True  # both species in every cell
            au[rng.integers(len(atoms))] = False
            atoms.symbols[au] = "Au"
        atoms.rattle(0.06, seed=k + 1000 * seed)
        atoms.calc = EMT()
        atoms.get_potential_energy()
        atoms.get_forces()
        frames.append(atoms)
    return Dataset.from_frames(frames, cutoff=cutoff)


def rmse_mev(pot, data) -> float:
    predicted = pot.predict(data)[0]
    return float(1000 * np.sqrt(np.mean(((predicted - data.energies) / data.n_atoms) ** 2)))


def fit_one(form, seed_forms, train, test, seed, args) -> dict:
    from symbpot import SymbolicPotential

    search = form in ("pair", "eam")
    budget = dict(generations=args.generations, population=args.population) if search else dict(generations=0)
    t = time.perf_counter()
    best = SymbolicPotential(form=form, seed_forms=seed_forms, force_weight=0.0, time_limit=None, seed=seed,
                             validation_fraction=args.validation_fraction, **budget).fit(train).get_best()
    return {"form": form, "seed": seed, "test_rmse_meV_per_atom": round(rmse_mev(best, test), 3),
            "train_rmse_meV_per_atom": round(rmse_mev(best, train), 3),
            "complexity": int(best.complexity), "seconds": round(time.perf_counter() - t, 1)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--systems", default="Cu,CuAu")
    parser.add_argument("--generations", type=int, default=120)
    parser.add_argument("--population", type=int, default=60)
    parser.add_argument("--train", type=int, default=96)
    parser.add_argument("--test", type=int, default=24)
    parser.add_argument("--validation-fraction", type=float, default=0.2)
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--pair-seeds", default="0,1,2")
    parser.add_argument("--eam-seed-forms", default="sutton-chen")
    parser.add_argument("--cutoff", type=float, default=5.0)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)

    result = {"benchmark": "emt_eam_vs_pair", "date": datetime.datetime.now().isoformat(timespec="seconds"),
              "command": "python benchmarks/emt_eam_vs_pair.py " + " ".join(sys.argv[1:] if argv is None else argv),
              "settings": {k: getattr(args, k) for k in ("generations", "population", "train", "test",
                                                         "validation_fraction", "seeds", "pair_seeds",
                                                         "eam_seed_forms", "cutoff")}, "systems": {}}
    for system in args.systems.split(","):
        train, test = emt_data(system, args.train, 0, args.cutoff), emt_data(system, args.test, 1, args.cutoff)
        pair, eam = [], []
        for seed in [int(s) for s in args.pair_seeds.split(",")]:
            pair.append(fit_one("pair", ("morse",), train, test, seed, args))
            print(f"{system}: {pair[-1]}", file=sys.stderr, flush=True)
        for template in ("lj", "morse"):
            pair.append(fit_one(template, (), train, test, 0, args))
            print(f"{system}: {pair[-1]}", file=sys.stderr, flush=True)
        for seed in [int(s) for s in args.seeds.split(",")]:
            eam.append(fit_one("eam", tuple(args.eam_seed_forms.split(",")), train, test, seed, args))
            print(f"{system}: {eam[-1]}", file=sys.stderr, flush=True)
        best_pair = min(r["test_rmse_meV_per_atom"] for r in pair)
        median_eam = float(np.median([r["test_rmse_meV_per_atom"] for r in eam]))
        ratio = round(best_pair / median_eam, 2)
        result["systems"][system] = {"pair": pair, "eam": eam, "best_pair_test_rmse": best_pair,
                                     "median_eam_test_rmse": median_eam, "ratio": ratio,
                                     "target_3x_met": bool(ratio >= 3)}
    line = json.dumps(result)
    print(line)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
