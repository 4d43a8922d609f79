"""Test-set errors of every member of a run's Pareto front (one-element pair or EAM runs).

Usage::

    python benchmarks/front_on_test.py RUN_DIR TEST.extxyz [--max-size N] [--out FILE]

Each row of ``RUN_DIR/pareto.csv`` is rebuilt from its closed form (the expressions as
written, with the run's cutoff), its reference energy is refitted on the run's training
data, and its energy MAE/RMSE (meV/atom) and force MAE (eV/Å) on the test data are printed,
one JSON line per member and a last line with all of them. This shows what a different
choice of ``best`` (e.g. ``--max-nodes``) would have given on the test set.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys

import numpy as np
import sympy


def member_potential(row, config):
    from symbpot.expr.program import Program
    from symbpot.forms.cutoff import Cutoff
    from symbpot.manybody import ManyBodyPotential
    from symbpot.potential import Potential

    r, rho = sympy.Symbol("r"), sympy.Symbol("rho")
    cutoff = Cutoff(config["cutoff"], config["cutoff_style"], config["cutoff_width"])
    (species,) = config["species"]

    def program(text, symbol):
        return Program.from_sympy(sympy.sympify(text, locals={"r": r, "rho": rho}).subs(symbol, r), r)

    if config["form"] == "eam":
        f = dict(part.split(" = ", 1) for part in row["expression"].split("; "))
        pair = species + species
        return ManyBodyPotential((species,), [program(f[f"phi_{pair}"], r)], [program(f[f"g_{pair}"], r)],
                                 [program(f[f"F_{species}"], rho)], cutoff, {species: 0.0})
    return Potential(program(row["expression"], r), cutoff, {species: 0.0})


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run")
    parser.add_argument("test", nargs="+")
    parser.add_argument("--max-size", type=int, default=None, help="only members of at most this many nodes")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)

    from symbpot import Dataset
    from symbpot.fitness.direct import fit_reference_energies

    with open(f"{args.run}/config.json") as fh:
        config = json.load(fh)
    if len(config["species"]) != 1 or config["form"] not in ("pair", "eam"):
        print("front_on_test: only one-element pair or eam runs", file=sys.stderr)
        return 2
    train = Dataset.from_file(config["data"], cutoff=config["cutoff"])
    test = Dataset.from_file(args.test, cutoff=config["cutoff"])
    rows = []
    with open(f"{args.run}/pareto.csv") as fh:
        for row in csv.DictReader(fh):
            if args.max_size is not None and int(row["size"]) > args.max_size:
                continue
            pot = member_potential(row, config)
            ref = fit_reference_energies(pot.predict(train)[0], train, config["species"], None)
            pot.reference_energies = {config["species"][0]: float(ref[0])}
            energies, forces, _ = pot.predict(test)
            err = (energies - test.energies) / test.n_atoms
            has_f = np.repeat(test.has_forces, test.n_atoms)
            out = {"complexity": int(row["complexity"]), "size": int(row["size"]),
                   "validation_rmse_meV_per_atom": float(row["validation_rmse_meV_per_atom"]),
                   "test_energy_mae_meV_per_atom": round(1000 * float(np.mean(np.abs(err))), 3),
                   "test_energy_rmse_meV_per_atom": round(1000 * float(np.sqrt(np.mean(err ** 2))), 3),
                   "test_force_mae_eV_per_A": round(float(np.mean(np.abs(forces - test.forces)[has_f])), 4)}
            print(json.dumps(out), flush=True)
            rows.append(out)
    result = {"run": args.run, "test": args.test, "members": rows}
    print(json.dumps(result))
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
