"""``symbpot properties POTENTIAL --element Cu --structure fcc``: material properties of a potential.

Wired into ``symbpot.cli`` by :func:`add_properties_parser` (the subparser) and
:func:`cmd_properties` (the command); errors are :class:`SymbpotError` subclasses, which the
main CLI turns into one line and exit status 2.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys

from .errors import ConfigError, DataError
from .properties import STRUCTURES, SURFACES


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text!r}")
    return value


def add_properties_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``properties`` subcommand to ``subparsers`` (from ``add_subparsers``); returns it."""
    p = subparsers.add_parser(
        "properties", help="lattice constant, cohesive energy, elastic constants, vacancy and surface energies",
        description="Material properties of a potential computed with its ASE calculator, side by side with "
                    "what DFT data (groups Elastic, Vacancy, Surface) tells, if given.")
    p.add_argument("potential", help="a run folder or a best.json")
    p.add_argument("--element", default=None,
                   help="chemical symbol (default: the potential's only species)")
    p.add_argument("--structure", default="fcc", type=str.lower,
                   help=f"crystal structure: {', '.join(STRUCTURES)} (default fcc; hcp at ideal c/a)")
    p.add_argument("--lattice-constant", type=_positive_float, default=None, metavar="A",
                   help="starting guess of the lattice constant in Å (default: ASE's reference value)")
    p.add_argument("--no-relax", action="store_true",
                   help="no relaxation of the vacancy cell, the slabs and internal coordinates under strain")
    p.add_argument("--supercell", type=_positive_int, default=3,
                   help="vacancy cell: N x N x N conventional cells (default 3)")
    p.add_argument("--facets", nargs="*", default=None, metavar="HKL",
                   help="surfaces to compute, e.g. 100 111 311 (default: the low-index ones of the structure, "
                        "plus those of the DFT slabs with --data; give none to skip surfaces)")
    p.add_argument("--data", nargs="+", default=None, metavar="FILE",
                   help="DFT frames (extxyz, any format ASE reads) to compare with")
    p.add_argument("--plot", default=None, metavar="PNG", help="write the E-V curve to this PNG file")
    p.add_argument("--json", action="store_true", help="print the results as one JSON object (last line)")
    p.set_defaults(func=cmd_properties)
    return p


def _element(args, potential) -> str:
    species = sorted(getattr(potential, "reference_energies", None) or {})
    if args.element is None:
        if len(species) != 1:
            have = f"it has {', '.join(species)}" if species else "it names no species"
            raise ConfigError(f"give --element: the potential does not name exactly one species ({have})")
        return species[0]
    if species and args.element not in species:
        raise ConfigError(f"the potential has no reference energy for {args.element} (it has {', '.join(species)})")
    return args.element


def _read_frames(paths) -> list:
    from ase.io import read

    frames = []
    for path in paths:
        if not os.path.isfile(path):
            raise DataError(f"{path}: no such file")
        try:
            frames.extend(read(path, ":"))
        except Exception as exc:
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise DataError(f"{path}: cannot read ({msg})") from None
    if not frames:
        raise DataError(f"{', '.join(paths)}: no frames")
    return frames


def cmd_properties(args) -> int:
    from .potential import load_potential
    from .properties import compute_properties, format_properties, plot_ev
    from .properties_dft import dft_properties

    structure = args.structure.lower()
    if structure not in STRUCTURES:
        raise ConfigError(f"unknown structure {args.structure!r} (choose from {', '.join(STRUCTURES)})")
    potential = load_potential(args.potential)
    element = _element(args, potential)
    dft = None
    if args.data:
        dft = dft_properties(_read_frames(args.data), element, structure)
    facets = args.facets
    if facets is None:
        facets = list(SURFACES[structure])
        if dft is not None and structure in ("fcc", "bcc"):
            extra = {s["facet"] for s in dft.get("surfaces", []) if s.get("facet")} - set(facets)
            facets += sorted(extra, key=lambda f: (len(f), f))
    print(f"symbpot: properties of {element} {structure} with {args.potential}", file=sys.stderr)
    result = compute_properties(potential.calculator(), element, structure, lattice_constant=args.lattice_constant,
                                relax=not args.no_relax, supercell=args.supercell, facets=facets)
    print(format_properties(result, dft))
    if args.plot:
        print(f"wrote {plot_ev(result, args.plot, dft)}")
    if args.json:
        print(json.dumps({"potential": result, "dft": dft}, default=_jsonable))
    return 0


def _jsonable(value):
    """numpy scalars and arrays in results."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
