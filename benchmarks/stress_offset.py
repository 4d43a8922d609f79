"""What the stress targets cost the energies: a fixed linear EAM basis fitted on DFT data.

Not a search: phi = a sum of fixed powers of r, g = exp(-2 r), F = a sum of fixed functions
of rho, every outer coefficient (and the reference energy) by linear least squares on the
exact loss of :class:`symbpot.fitness.exact.ExactLoss`. This is the best any EAM built from
these functions can do, so it shows what a setting, not the search, limits.

For each stress weight it fits twice: as symbpot fits today, and with one more free
parameter, an isotropic stress offset p0 added to the diagonal stress of every structure
(a constant error of the DFT stresses, such as VASP's Pulay stress with an incomplete
basis, which no potential can reproduce through its energy). Stress errors are given
against the DFT stress as is and, with the offset, against the DFT stress less p0.

It also regresses the DFT diagonal stresses of the training set on the stresses of the
energy-and-force fit (stress weight 0): DFT = slope x model + offset, per group.

    python benchmarks/stress_offset.py ../shared/data/mlearn/Cu/train.extxyz ../shared/data/mlearn/Cu/test.extxyz

prints one JSON line.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import sympy

from symbpot import Dataset
from symbpot.expr import Program
from symbpot.fitness.direct import EV_PER_A3_IN_GPA
from symbpot.fitness.exact import ExactLoss
from symbpot.fitness.manybody import atom_species_index, predict_manybody
from symbpot.forms.cutoff import Cutoff

R = sympy.Symbol("r")
PHI = [1 / R, R**-2] + [R**k for k in range(1, 11)]
DENSITY = sympy.exp(-2 * R)
EMBEDDING = [R, R**2, R**3, sympy.sqrt(R)]


def basis_columns(dataset: Dataset, cutoff: Cutoff, species):
    """(energies, forces, stress) of every basis function on the data (exact sums)."""
    atoms = atom_species_index(dataset, species)
    cols = []
    for p in PHI:
        e, f, s, _ = predict_manybody([Program.from_sympy(p)], None, None, cutoff, dataset, atoms, True)
        cols.append((e, f, s))
    for fx in EMBEDDING:
        e, f, s, _ = predict_manybody([None], [Program.from_sympy(DENSITY)], [Program.from_sympy(fx)], cutoff,
                                      dataset, atoms, True)
        cols.append((e, f, s))
    return cols


def isotropic(dataset: Dataset) -> np.ndarray:
    """(S, 6) ones on the diagonal stress of the structures with a stress."""
    iso = np.zeros_like(dataset.stress)
    iso[dataset.has_stress, :3] = 1.0
    return iso


def fit(train, cols, cutoff, force_weight, stress_weight, offset):
    ex = ExactLoss(train, cutoff, None, 1.0, force_weight, stress_weight)
    zf, zs = np.zeros_like(train.forces), np.zeros_like(train.stress)
    design = [ex._rows(e, f, s) for e, f, s in cols] + [ex._rows(train.n_atoms.astype(float), zf, zs)]
    if offset:
        design.append(ex._rows(np.zeros(len(train)), zf, isotropic(train)))
    X = np.column_stack(design)
    norms = np.linalg.norm(X, axis=0)
    norms[norms == 0] = 1.0
    c = np.linalg.lstsq(X / norms, ex.target(), rcond=1e-13)[0] / norms
    return c[:len(cols)], float(c[len(cols)]), float(c[-1]) if offset else 0.0


def errors(dataset, cols, coef, reference, p0):
    energies = sum(a * e for a, (e, _, _) in zip(coef, cols)) + reference * dataset.n_atoms
    forces = sum(a * f for a, (_, f, _) in zip(coef, cols))
    stress = sum(a * s for a, (_, _, s) in zip(coef, cols))
    with_f = np.repeat(dataset.has_forces, dataset.n_atoms)
    hs = dataset.has_stress
    out = {"energy_mae_meV_per_atom": 1000 * float(np.mean(np.abs((energies - dataset.energies) / dataset.n_atoms))),
           "force_mae_eV_per_A": float(np.mean(np.abs(forces[with_f] - dataset.forces[with_f]))),
           "stress_mae_GPa": EV_PER_A3_IN_GPA * float(np.mean(np.abs(stress[hs] - dataset.stress[hs])))}
    if p0:
        corrected = dataset.stress - p0 * isotropic(dataset)
        out["stress_mae_vs_dft_less_offset_GPa"] = EV_PER_A3_IN_GPA * float(np.mean(np.abs(stress[hs] - corrected[hs])))
    return out


def stress_regression(train, cols, coef):
    """DFT diagonal stress = slope x model + offset (GPa), per group, for an energy-and-force fit."""
    model = EV_PER_A3_IN_GPA * sum(a * s for a, (_, _, s) in zip(coef, cols))
    dft = EV_PER_A3_IN_GPA * train.stress
    groups = np.array([str(a.info.get("group", "all")) for a in train.frames])
    out = {}
    for g in ["all"] + sorted(set(groups[train.has_stress])):
        m = train.has_stress & ((groups == g) if g != "all" else True)
        if m.sum() < 2:
            continue
        x, y = model[m, :3].ravel(), dft[m, :3].ravel()
        slope, offset = np.linalg.lstsq(np.column_stack([x, np.ones_like(x)]), y, rcond=None)[0]
        xo, yo = model[m, 3:].ravel(), dft[m, 3:].ravel()
        out[g] = {"structures": int(m.sum()), "diagonal_slope": float(slope), "diagonal_offset_GPa": float(offset),
                  "diagonal_correlation": float(np.corrcoef(x, y)[0, 1]),
                  "off_diagonal_slope": float(xo @ yo / (xo @ xo)) if xo @ xo > 0 else None}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("train")
    ap.add_argument("test")
    ap.add_argument("--cutoff", type=float, default=6.0)
    ap.add_argument("--force-weight", type=float, default=0.0005)
    ap.add_argument("--stress-weights", default="0,1e-6,1e-5,3e-5,1e-4,1e-3")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    cutoff = Cutoff(args.cutoff, "smooth", 1.0)
    train = Dataset.from_file([args.train], cutoff=args.cutoff)
    test = Dataset.from_file([args.test], cutoff=args.cutoff)
    species = list(train.species)
    if len(species) != 1:
        raise SystemExit("stress_offset.py: one element only")
    ctr, cte = basis_columns(train, cutoff, species), basis_columns(test, cutoff, species)
    rows = []
    for sw in (float(v) for v in args.stress_weights.split(",")):
        for offset in ((False, True) if sw > 0 else (False,)):
            coef, ref, p0 = fit(train, ctr, cutoff, args.force_weight, sw, offset)
            rows.append({"stress_weight": sw, "fitted_offset": offset, "offset_GPa": EV_PER_A3_IN_GPA * p0,
                         "train": errors(train, ctr, coef, ref, p0), "test": errors(test, cte, coef, ref, p0)})
    coef, _, _ = fit(train, ctr, cutoff, args.force_weight, 0.0, False)
    print(json.dumps({"benchmark": "stress_offset", "train": args.train, "test": args.test, "cutoff": args.cutoff,
                      "force_weight": args.force_weight,
                      "basis": {"phi": [str(p) for p in PHI], "g": str(DENSITY), "F": [str(f) for f in EMBEDDING]},
                      "fits": rows, "dft_vs_energy_force_fit_stress": stress_regression(train, ctr, coef),
                      "seconds": round(time.perf_counter() - t0, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
