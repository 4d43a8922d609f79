"""Command line: ``symbpot evolve ...``, a thin layer over the Python API.

Every error symbpot raises on purpose (:class:`SymbpotError`) and every argument error
becomes one line on stderr and exit status 2, never a traceback.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import warnings

from .errors import ConfigError, SymbpotError, SymbpotWarning
from .properties_cli import add_properties_parser, cmd_properties

DEMO_N_FRAMES = 60


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors in one line (exit status 2)."""

    def error(self, message):  # noqa: D401 - argparse API
        self.exit(2, f"{self.prog}: error: {message}\n")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="symbpot", description="Discover closed-form interatomic potentials.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    ev = sub.add_parser("evolve", help="discover a potential from energies by genetic programming")
    ev.add_argument("data", nargs="*", help="data files (any format ASE reads, e.g. extxyz)")
    ev.add_argument("--resume", metavar="DIR", default=None,
                    help="continue the run in DIR from its last checkpoint, with the settings it was started "
                         "with; --time-limit and --generations then count on top of what it did")
    ev.add_argument("--demo", choices=["lj"], help="use built-in demo data (Lennard-Jones energies)")
    ev.add_argument("--form", default="pair", metavar="FORM",
                    help="pair (evolve V(r); one per species pair), eam (evolve phi, g and F together), or a "
                         "template whose constants are fitted: lj, morse, buckingham, finnis-sinclair, "
                         "sutton-chen (default pair)")
    ev.add_argument("--seed-forms", default="", metavar="T1,T2",
                    help="templates put into the initial population, e.g. lj,morse,finnis-sinclair")
    ev.add_argument("--batch-fraction", type=float, default=None, metavar="F",
                    help="many-body forms: select on a random fraction F of the structures, score front "
                         "candidates on all of them (faster searches on large data)")
    ev.add_argument("--template-starts", type=_non_negative_int, default=8,
                    help="starting points of a template's constant fit (default 8)")
    ev.add_argument("--cutoff", type=_positive_float, help="cutoff radius in Å (required with data files)")
    ev.add_argument("--cutoff-style", choices=["smooth", "shift", "hard"], default=None,
                    help="cutoff treatment (default smooth; hard for --demo lj, whose labels are truncated)")
    ev.add_argument("--cutoff-width", type=_positive_float, default=1.0,
                    help="width of the smoothing window in Å (default 1.0)")
    _data_keys(ev)
    ev.add_argument("--test", nargs="+", default=None, metavar="DATA",
                    help="separate test data: errors reported in best.json, pareto and the report")
    ev.add_argument("--energy-weight", type=_non_negative_float, default=1.0,
                    help="weight of the per-atom energy term, (eV/atom)^2 (default 1)")
    ev.add_argument("--force-weight", type=_non_negative_float, default=0.0,
                    help="weight of the force term, (eV/Å)^2 (default 0: energies only)")
    ev.add_argument("--stress-weight", type=_non_negative_float, default=0.0,
                    help="weight of the stress term, GPa^2 (default 0)")
    ev.add_argument("--stress-offset", action="store_true",
                    help="fit an isotropic offset of the DFT stresses (the same in every cell, e.g. VASP's Pulay "
                         "stress) as one more free parameter; reported as stress_offset_GPa")
    ev.add_argument("--group-weights", type=_group_weights, default=None, metavar="G=W,...",
                    help="per-group structure weights, e.g. Elastic=2,Surface=0.5")
    ev.add_argument("--seed", type=_non_negative_int, default=0, help="random seed (default 0)")
    ev.add_argument("--time-limit", type=_positive_float, default=None, help="seconds (default 60)")
    ev.add_argument("--generations", type=_non_negative_int, default=None, help="maximum generations")
    ev.add_argument("--population", type=_non_negative_int, default=200, help="population size (default 200)")
    ev.add_argument("--validation-fraction", type=float, default=0.0,
                    help="fraction of structures held out for validation (default 0)")
    ev.add_argument("--target-rmse", type=_positive_float, default=None,
                    help="stop when the training energy RMSE reaches this (meV/atom)")
    ev.add_argument("--grid-size", type=_non_negative_int, default=200, help="radial grid nodes (default 200)")
    ev.add_argument("--max-nodes", type=int, default=None, metavar="N",
                    help="choose best among front members whose simplified closed form has at most N nodes "
                         "(pareto.csv's size)")
    ev.add_argument("--max-size", type=_non_negative_int, default=30, help="maximum tree size (default 30)")
    ev.add_argument("--out", default=None, help="run folder (default runs/<name>-<date>); never overwritten")
    # islands (symbpot.gp.islands)
    ev.add_argument("--workers", type=_non_negative_int, default=1,
                    help="worker processes evolving islands in parallel (default 1: one population)")
    ev.add_argument("--scheduler", default=None, metavar="ADDRESS",
                    help="run the islands on a Dask cluster, e.g. tcp://127.0.0.1:8786 (needs symbpot[dask])")
    ev.add_argument("--islands", type=_non_negative_int, default=None,
                    help="number of islands (default: twice the number of workers)")
    ev.add_argument("--migration-interval", type=_non_negative_int, default=10,
                    help="generations between migrations of Pareto members (default 10)")
    ev.add_argument("--checkpoint-interval", type=_positive_float, default=10.0,
                    help="seconds between checkpoints, written after a generation (default 10)")
    ev.add_argument("--quiet", action="store_true", help="no progress display")
    ev.add_argument("--no-report", action="store_true", help="do not write the report pictures and HTML")

    va = sub.add_parser("validate", help="errors of a potential on data, overall and per group")
    va.add_argument("potential", help="a run folder or a best.json")
    va.add_argument("data", nargs="+", help="data files")
    _data_keys(va)
    va.add_argument("--json", action="store_true", help="print the metrics as one JSON object (last line)")
    va.add_argument("--no-stress-offset", action="store_true",
                    help="compare the model's own stress with the data, without the stress offset fitted to the "
                         "training data (for data from another DFT set-up)")

    ex = sub.add_parser("export", help="write a potential for LAMMPS (pair_style lepton, table or eam)")
    ex.add_argument("potential", help="a run folder or a best.json")
    ex.add_argument("--format", default="lammps", help="output format (lammps)")
    ex.add_argument("--style", default=None, choices=["lepton", "table", "setfl", "alloy", "fs"],
                    help="pair potentials: lepton (the closed form, LAMMPS LEPTON package; default) or table; "
                         "EAM potentials: setfl (eam/alloy, or eam/fs when densities depend on both species; "
                         "default), alloy or fs")
    ex.add_argument("--out", required=True, help="folder to write into; existing files are never overwritten")
    ex.add_argument("--table-points", type=_non_negative_int, default=20000, help="table points N (default 20000)")
    ex.add_argument("--r-inner", type=_positive_float, default=None,
                    help="inner radius of the table in Å (default: where |U| first exceeds 100 eV)")

    re_ = sub.add_parser("report", help="(re)write the pictures and report.html of a run folder")
    re_.add_argument("run", help="run folder")
    add_properties_parser(sub)
    return parser


def _data_keys(p) -> None:
    p.add_argument("--energy-key", default="energy", help="key of the total energy in the data (default energy)")
    p.add_argument("--forces-key", default="forces", help="key of the forces (default forces)")
    p.add_argument("--stress-key", default="stress", help="key of the stress, ASE convention (default stress)")
    p.add_argument("--group-key", default=None,
                   help="info key of the structure group (default: group, config_type or mlearn_group)")
    p.add_argument("--index", default=":", help="frames to read from each file, ASE syntax (default ':')")
    p.add_argument("--skip-bad-frames", action="store_true",
                   help="skip frames without a finite energy, with bad forces or overlapping atoms (reported)")


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative number, got {text!r}")
    return value


def _group_weights(text: str) -> dict:
    out = {}
    for item in text.split(","):
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise argparse.ArgumentTypeError(f"expected GROUP=WEIGHT, got {item!r}")
        out[name.strip()] = _non_negative_float(value)
    return out


def _read(paths, cutoff, args):
    from .data import Dataset

    data = Dataset.from_file(paths, cutoff=cutoff, energy_key=args.energy_key, index=args.index,
                             forces_key=args.forces_key or None, stress_key=args.stress_key or None,
                             group_key=args.group_key, skip_bad_frames=getattr(args, "skip_bad_frames", False))
    for reason in data.skipped:
        print(f"symbpot: skipped {reason}", file=sys.stderr)
    return data


def _load_data(args):
    from .data import Dataset

    if args.demo and args.data:
        raise ConfigError("give either data files or --demo, not both")
    if args.demo == "lj":
        from .demo import DEMO_SIGMA, lj_frames

        cutoff = args.cutoff or 2.5 * DEMO_SIGMA
        frames = lj_frames(DEMO_N_FRAMES, seed=args.seed, cutoff=2.5 * DEMO_SIGMA)
        return Dataset.from_frames(frames, cutoff), [f"demo:lj({DEMO_N_FRAMES} frames)"], cutoff
    if not args.data:
        raise ConfigError("no data files given (or use --demo lj)")
    if args.cutoff is None:
        raise ConfigError("--cutoff is required with data files")
    return _read(args.data, args.cutoff, args), [os.path.abspath(p) for p in args.data], args.cutoff


def cmd_evolve(args) -> int:
    if args.resume:
        return _resume(args)
    if args.time_limit is None:
        args.time_limit = 60.0
    return _evolve(args)


def _resume(args) -> int:
    """Continue a killed or finished run from its checkpoint, with its own settings."""
    import json

    from .checkpoint import FILENAME, read_checkpoint

    run = args.resume
    if args.data or args.demo:
        raise ConfigError("--resume takes the data from the run folder; give no data files or --demo")
    config_path = os.path.join(run, "config.json")
    if not os.path.isdir(run):
        raise ConfigError(f"{run}: no such run folder")
    state = read_checkpoint(os.path.join(run, FILENAME))
    try:
        with open(config_path) as fh:
            config = json.load(fh)
        saved = config["cli"]
    except FileNotFoundError:
        raise ConfigError(f"{config_path}: missing, cannot resume") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{config_path}: unreadable run configuration ({exc})") from None
    extra_time, extra_generations = args.time_limit, args.generations
    quiet = args.quiet
    for key, value in saved.items():
        if hasattr(args, key):
            setattr(args, key, value)
    args.time_limit = extra_time if extra_time is not None else (None if extra_generations else 60.0)
    args.generations = extra_generations
    args.quiet = quiet
    args.out = run
    return _evolve(args, resume_state=state)


def _evolve(args, resume_state=None) -> int:
    from . import SymbolicPotential
    from .checkpoint import FILENAME
    from .estimator import ProgressPrinter
    from .export.sympy_form import round_floats
    from .runfolder import (HistoryWriter, check_run_dir, create_run_dir, default_run_dir, versions,
                            write_history, write_json, write_results)

    if not 0 <= args.validation_fraction < 1:
        raise ConfigError(f"--validation-fraction must be in [0, 1), got {args.validation_fraction}")
    if args.population < 4:
        raise ConfigError(f"--population must be at least 4, got {args.population}")
    from .estimator import FORMS
    from .forms.templates import parse_seed_forms

    if args.form not in FORMS:
        raise ConfigError(f"--form: unknown form {args.form!r} (choose from {', '.join(FORMS)})")
    parse_seed_forms(args.seed_forms)  # unknown names: one clear error before any data is read
    out = args.out or default_run_dir("demo-lj" if args.demo else "evolve")
    if resume_state is None:
        check_run_dir(out)
    if args.workers > 1 or args.scheduler:  # islands: workers get ready while the data is read
        from .gp.islands import prestart

        prestart(args.workers, args.scheduler)
    dataset, sources, cutoff = _load_data(args)
    test = _read(args.test, cutoff, args) if args.test else None
    style = args.cutoff_style or ("hard" if args.demo else "smooth")
    target = args.target_rmse if args.target_rmse is not None else (1e-4 if args.demo else None)
    estimator = SymbolicPotential(form=args.form, seed_forms=args.seed_forms,
                                  template_starts=max(1, args.template_starts), seed=args.seed,
                                  batch_fraction=args.batch_fraction, time_limit=args.time_limit,
                                  generations=args.generations, population=args.population, cutoff=cutoff,
                                  cutoff_style=style, cutoff_width=min(args.cutoff_width, cutoff),
                                  grid_size=args.grid_size, max_size=args.max_size,
                                  max_nodes=getattr(args, "max_nodes", None),
                                  validation_fraction=args.validation_fraction, target_rmse=target,
                                  energy_weight=args.energy_weight, force_weight=args.force_weight,
                                  stress_weight=args.stress_weight, group_weights=args.group_weights,
                                  stress_offset=bool(getattr(args, "stress_offset", False)),
                                  workers=args.workers, scheduler=args.scheduler, islands=args.islands,
                                  migration_interval=args.migration_interval)
    estimator.check(dataset)  # every setting checked before the run folder is made
    cli_settings = {k: v for k, v in vars(args).items()
                    if k not in ("command", "version", "resume", "out", "quiet", "time_limit", "generations",
                                 "checkpoint_interval")}
    for key in ("data", "test"):  # absolute, so that a resume works from any directory
        if cli_settings.get(key):
            cli_settings[key] = [os.path.abspath(p) for p in cli_settings[key]]
    if resume_state is not None:
        print(f"symbpot: resuming {out} from generation {resume_state['generation']}", file=sys.stderr)
        write_history(os.path.join(out, "history.csv"), resume_state["history"])
    else:
        create_run_dir(out)
    config = {"command": "evolve", "data": sources, "cli": cli_settings, "n_structures": len(dataset), "n_pairs": dataset.n_pairs,
              "test_data": [os.path.abspath(p) for p in args.test] if args.test else [],
              "species": list(dataset.species), "energy_key": args.energy_key, "forces_key": args.forces_key,
              "stress_key": args.stress_key, "group_key": args.group_key, "index": args.index,
              **estimator.get_params(), "versions": versions(), "symbpot_version": versions()["symbpot"]}
    if resume_state is None:
        write_json(os.path.join(out, "config.json"), config)
    printer = None if args.quiet else ProgressPrinter(energy_only=not (args.force_weight or args.stress_weight))
    estimator.progress = HistoryWriter(os.path.join(out, "history.csv"), then=printer,
                                       append=resume_state is not None)
    print(f"symbpot: {len(dataset)} structures, {dataset.n_pairs} pairs within {cutoff:g} Å; run folder {out}",
          file=sys.stderr)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SymbpotWarning)
        estimator.fit(dataset, checkpoint=os.path.join(out, FILENAME), resume=resume_state,
                      checkpoint_interval=args.checkpoint_interval)
    for w in caught:  # ours as one line each; anything else as Python would show it
        if issubclass(w.category, SymbpotWarning):
            print(f"symbpot: warning: {' '.join(str(w.message).split())}", file=sys.stderr)
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    if printer is not None:
        printer.finish()
    pot = estimator.get_best()
    if test is not None:
        from .validate import validate

        pot.metrics["test"] = validate(pot, test)
    best = write_results(out, estimator)
    if hasattr(pot, "functions"):
        print("best: " + "; ".join(f"{k} = {round_floats(v, 8)}" for k, v in pot.functions().items()))
    else:
        print(f"best: U(r) = {round_floats(pot.sympy(), 8)}")
    print(f"energy RMSE {best['metrics']['energy_rmse_meV_per_atom']:.4g} meV/atom, "
          f"MAE {best['metrics']['energy_mae_meV_per_atom']:.4g} meV/atom ({best['metrics']['judged_on']})")
    if "stress_offset_GPa" in best["metrics"]:
        print(f"stress offset of the data (fitted, added to the model's diagonal stress to compare with it): "
              f"{best['metrics']['stress_offset_GPa']:.4g} GPa")
    if test is not None:
        t = pot.metrics["test"]
        print(f"test: energy MAE {t['energy_mae_meV_per_atom']:.4g} meV/atom"
              + (f", force MAE {t['force_mae_eV_per_A']:.4g} eV/Å" if "force_mae_eV_per_A" in t else ""))
    islands_csv = ", islands.csv" if os.path.isfile(os.path.join(out, "islands.csv")) else ""
    print(f"wrote {out}/best.json, pareto.csv, history.csv{islands_csv}, config.json")
    if not args.no_report:
        _report(out, estimator.train_, test)
    return 0


def _report(run_dir, train=None, test=None) -> None:
    """Write the report; a missing matplotlib is reported, not fatal for evolve."""
    try:
        from .report import write_report
    except ImportError:  # report module not available
        return
    try:
        write_report(run_dir, train=train, test=test)
        print(f"wrote {run_dir}/report.html")
    except SymbpotError as exc:
        print(f"symbpot: no report: {exc}", file=sys.stderr)


def cmd_validate(args) -> int:
    import json

    from .potential import load_potential
    from .validate import format_table, validate

    potential = load_potential(args.potential)
    dataset = _read(args.data, potential.cutoff.radius, args)
    metrics = validate(potential, dataset, stress_offset=not args.no_stress_offset)
    offset = (getattr(potential, "metrics", None) or {}).get("stress_offset_GPa")
    if offset and dataset.has_stress.any():
        how = "not applied (--no-stress-offset)" if args.no_stress_offset else \
            "added to the model's diagonal stress (--no-stress-offset to compare the model's own)"
        print(f"symbpot: stress offset fitted to the training data, {offset:.4g} GPa: {how}", file=sys.stderr)
    print(format_table(metrics))
    if args.json:
        print(json.dumps(metrics))
    return 0


def cmd_export(args) -> int:
    if args.format != "lammps":
        raise ConfigError(f"--format: unknown export format {args.format!r} (supported: lammps)")
    args.style_given = args.style is not None
    if args.style is None:
        args.style = "lepton"
    from .export.lammps import export_lammps
    from .potential import Potential, load_potential

    pot = load_potential(args.potential)
    if isinstance(pot, Potential):
        if args.style not in ("lepton", "table"):
            raise ConfigError(f"--style {args.style} is for EAM potentials; a pair potential takes lepton or table")
        paths = export_lammps(pot, args.out, args.style, table_points=args.table_points, r_inner=args.r_inner)
    else:
        style = "setfl" if args.style == "lepton" and args.style_given is False else args.style
        if style not in ("setfl", "alloy", "fs"):
            raise ConfigError(f"--style {args.style}: a many-body potential is written as an EAM setfl file "
                              "(setfl, alloy or fs)")
        paths = pot.export_lammps(args.out, style)
    for path in paths.values():
        print(f"wrote {path}")
    print("LAMMPS energies exclude the per-species reference energies; in.pair's header lists them")
    return 0


def cmd_report(args) -> int:
    from .report import write_report

    if not os.path.isdir(args.run):
        raise SymbpotError(f"{args.run}: no such run folder")
    paths = write_report(args.run)
    print(f"wrote {len(paths)} files in {args.run} (report.html)")
    return 0


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from .potential import package_version

        print(package_version())
        return 0
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return {"evolve": cmd_evolve, "validate": cmd_validate, "report": cmd_report,
                "export": cmd_export, "properties": cmd_properties}[args.command](args)
    except SymbpotError as exc:
        print(f"symbpot: error: {' '.join(str(exc).split())}", file=sys.stderr)  # always one line
        return 2
    except KeyboardInterrupt:
        print("symbpot: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
