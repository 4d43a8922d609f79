"""EAM against pair forms on many-body data labelled by ASE's EMT calculator (Cu, CuAu).

Usage::

    python benchmarks/emt_eam_vs_pair.py [--systems Cu,CuAu] [--generations 40] [--population 60]
        [--train 48] [--test 24] [--validation-fraction 0.2] [--seeds 0]
        [--eam-seed-forms sutton-chen,morse] [--out FILE]

For each system, ``--train`` and ``--test`` structures are made with different seeds:
fcc, bcc and sc cells (2x2x2 cubic) with the lattice constant scattered by 5 %, every fourth
fcc cell with a vacancy, atoms rattled by 0.06 Å; for CuAu 40 % of the atoms (at random) are
Au and the lattice constants are those of the alloy (fcc 3.75 Å, bcc 3.0 Å, sc 2.5 Å). Labels
are EMT energies and forces; the fit uses energies only (``force_weight=0``), a 5 Å smooth
cutoff, and ``--validation-fraction`` of the training structures to choose ``best``.

Then the same search budget (``--generations`` x ``--population``, same seed) is given to

* ``pair``: one pair tree per species pair, seeded with the Morse template;
* ``eam``: phi, g per species pair and F per species, seeded with ``--eam-seed-forms``
  (default: the Sutton-Chen template and Morse phi with Sutton-Chen g and F).

and the test energy RMSE (meV/atom) of each ``best`` is reported with ``ratio = pair / eam``
(target: >= 3). The last line printed is one JSON object.
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--systems", default="Cu,CuAu")
    parser.add_argument("--generations", type=int, default=40)
    parser.add_argument("--population", type=int, default=60)
    parser.add_argument("--train", type=int, default=48)
    parser.add_argument("--test", type=int, default=24)
    parser.add_argument("--validation-fraction", type=float, default=0.2)
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--eam-seed-forms", default="sutton-chen,morse")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)

    from symbpot import SymbolicPotential

    result = {"benchmark": "emt_eam_vs_pair", "date": datetime.datetime.now().isoformat(timespec="seconds"),
              "command": "python benchmarks/emt_eam_vs_pair.py " + " ".join(sys.argv[1:] if argv is None else argv),
              "settings": {k: getattr(args, k) for k in ("generations", "population", "train", "test",
                                                         "validation_fraction", "eam_seed_forms")}, "systems": {}}
    for system in args.systems.split(","):
        train, test = emt_data(system, args.train, 0), emt_data(system, args.test, 1)
        runs = []
        for seed in [int(s) for s in args.seeds.split(",")]:
            common = dict(force_weight=0.0, time_limit=None, generations=args.generations,
                          population=args.population, seed=seed, validation_fraction=args.validation_fraction)
            row = {"seed": seed}
            for form, seeds in (("pair", ("morse",)), ("eam", tuple(args.eam_seed_forms.split(",")))):
                t = time.perf_counter()
                best = SymbolicPotential(form=form, seed_forms=seeds, **common).fit(train).get_best()
                row[form] = {"test_rmse_meV_per_atom": round(rmse_mev(best, test), 3),
                             "train_rmse_meV_per_atom": round(rmse_mev(best, train), 3),
                             "seconds": round(time.perf_counter() - t, 1)}
                print(f"{system} seed {seed} {form}: {row[form]}", file=sys.stderr, flush=True)
            row["ratio"] = round(row["pair"]["test_rmse_meV_per_atom"] / row["eam"]["test_rmse_meV_per_atom"], 2)
            runs.append(row)
        ratios = [r["ratio"] for r in runs]
        result["systems"][system] = {"runs": runs, "median_ratio": float(np.median(ratios)),
                                     "target_3x_met": bool(np.median(ratios) >= 3)}
    line = json.dumps(result)
    print(line)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
