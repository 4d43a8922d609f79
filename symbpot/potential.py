"""The frozen Potential: what a search produces and everything downstream consumes.

A pair potential is E = sum_i e_{Z_i} + 1/2 sum_{i != j, r_ij < rc} U(r_ij), where U is
the discovered V(r) with its cutoff treatment and e_Z are per-species reference
energies (DFT total energies contain them; a pair term that vanishes beyond rc cannot).
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field

import numpy as np
import sympy

from .errors import DataError, PotentialFileError
from .expr import Program, ProgramError
from .export.sympy_form import parse, round_floats, simplify, to_latex
from .fitness.direct import pair_values, structure_pair_energies
from .forms.cutoff import Cutoff

FORMAT_NAME = "symbpot-potential"
FORMAT_VERSION = 1


def package_version() -> str:
    try:
        from importlib.metadata import version

        return version("symbpot")
    except Exception:  # pragma: no cover - running from a source tree without metadata
        return "unknown"


@dataclass
class Potential:
    """A discovered pair potential.

    Parameters
    ----------
    pair : Program
        V(r) in eV (r in Å) before the cutoff treatment.
    cutoff : Cutoff
    reference_energies : dict
        ``{symbol: eV/atom}``.
    metrics : dict
        Errors on the data it was fitted (and validated) on.
    complexity : int, optional
        Complexity of the tree it came from.
    """

    pair: Program
    cutoff: Cutoff
    reference_energies: dict
    metrics: dict = field(default_factory=dict)
    complexity: int | None = None
    form: str = "pair"

    # --- closed forms -------------------------------------------------------------
    def pair_function(self, simplified: bool = True) -> sympy.Expr:
        """V(r) as sympy, without the cutoff treatment."""
        if not simplified:
            return self.pair.to_sympy()
        cached = self.__dict__.get("_simplified")
        if cached is None or cached[0] is not self.pair:
            cached = (self.pair, simplify(self.pair.to_sympy()))
            self.__dict__["_simplified"] = cached
        return cached[1]

    def sympy(self, simplified: bool = True) -> sympy.Expr:
        """The full pair energy U(r) for r < rc, including the cutoff function."""
        return self.cutoff.sympy(self.pair_function(simplified))

    def latex(self, digits: int = 6) -> str:
        return to_latex(self.sympy(), digits)

    def __str__(self) -> str:
        return str(round_floats(self.sympy(), 6))

    # --- energies -----------------------------------------------------------------
    def pair_energy(self, r, order: int = 0):
        """U(r) (and U'(r) if ``order`` is 1), zero at and beyond the cutoff."""
        return pair_values(self.pair, self.cutoff, np.asarray(r, dtype=float), order)

    def _reference_sum(self, counts: np.ndarray, species) -> np.ndarray:
        missing = [s for s in species if s not in self.reference_energies]
        if missing:
            raise DataError(f"the potential has no reference energy for {', '.join(missing)}")
        return counts @ np.array([self.reference_energies[s] for s in species], dtype=float)

    def predict_energies(self, dataset) -> np.ndarray:
        """Total energies (eV) of every structure of a :class:`Dataset` (exact path)."""
        self._check_cutoff(dataset)
        pair = structure_pair_energies(self.pair, self.cutoff, dataset)
        return pair + self._reference_sum(dataset.species_counts, dataset.species)

    def _check_cutoff(self, dataset) -> None:
        if dataset.cutoff + 1e-12 < self.cutoff.radius:
            raise DataError(f"data pairs were built with cutoff {dataset.cutoff} Å, below the potential's "
                            f"{self.cutoff.radius} Å")

    def energy(self, atoms) -> float:
        """Total energy (eV) of one ``ase.Atoms``, reference energies included."""
        from ase.neighborlist import neighbor_list

        d = neighbor_list("d", atoms, self.cutoff.radius)
        pair = 0.5 * float(np.sum(self.pair_energy(d))) if len(d) else 0.0
        symbols = atoms.get_chemical_symbols()
        species = sorted(set(symbols))
        counts = np.array([[symbols.count(s) for s in species]])
        return pair + float(self._reference_sum(counts, species)[0])

    def calculator(self):
        """An ASE calculator (energy, energies, forces, stress) for this potential."""
        from .calculator import SymbpotCalculator

        return SymbpotCalculator(self)

    to_calculator = calculator

    def export_lammps(self, out_dir, style: str = "lepton", **kwargs) -> dict:
        """Write LAMMPS files (DIR/in.pair, plus a table for style="table"); see symbpot.export.lammps."""
        from .export.lammps import export_lammps

        return export_lammps(self, out_dir, style, **kwargs)

    def predict(self, dataset):
        """Energies (S,), forces (N_total, 3) and stresses (S, 6) of a :class:`Dataset`."""
        from .fitness.direct import predict_pairs

        self._check_cutoff(dataset)
        energies, forces, stress = predict_pairs(self.pair, self.cutoff, dataset)
        return energies + self._reference_sum(dataset.species_counts, dataset.species), forces, stress

    # --- (de)serialisation ----------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "symbpot_version": package_version(),
            "form": self.form,
            "expression": str(self.sympy()),
            "pair_function": str(self.pair_function()),
            **self.cutoff.to_dict(),
            "reference_energies": {k: float(v) for k, v in self.reference_energies.items()},
            "metrics": self.metrics,
            "complexity": self.complexity,
            "units": {"energy": "eV", "distance": "Angstrom"},
            "program": {"ops": self.pair.ops.tolist(), "args": self.pair.args.tolist()},
        }

    def to_json(self, path) -> None:
        """Write the potential to ``path`` (JSON, written atomically)."""
        path = os.fspath(path)
        tmp = path + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(self.to_dict(), fh, indent=2)
            fh.write("\n")
        os.replace(tmp, path)

    @classmethod
    def from_dict(cls, data: dict, source: str = "potential") -> "Potential":
        try:
            return cls._from_dict(data, source)
        except PotentialFileError:
            raise
        except Exception as exc:  # any malformed value: one clear error naming the file
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise PotentialFileError(f"{source}: invalid potential ({msg})") from None

    @classmethod
    def _from_dict(cls, data: dict, source: str) -> "Potential":
        if not isinstance(data, dict) or data.get("format", FORMAT_NAME) != FORMAT_NAME:
            raise PotentialFileError(f"{source}: not a symbpot potential")
        if int(data.get("format_version", FORMAT_VERSION)) > FORMAT_VERSION:
            raise PotentialFileError(f"{source}: format version {data['format_version']} is newer than "
                                     f"this symbpot understands ({FORMAT_VERSION})")
        if data.get("form", "pair") != "pair":
            raise PotentialFileError(f"{source}: form {data.get('form')!r} is not supported by this version")
        try:
            cutoff = Cutoff(float(data["cutoff"]), data.get("cutoff_style", "hard"),
                            float(data.get("cutoff_width", 1.0)))
            if "program" in data:
                pair = Program.from_arrays(data["program"]["ops"], data["program"]["args"])
            else:
                pair = Program.from_sympy(parse(data["pair_function"]))
            refs = {str(k): float(v) for k, v in data.get("reference_energies", {}).items()}
        except (KeyError, TypeError, ValueError, ProgramError, sympy.SympifyError) as exc:
            raise PotentialFileError(f"{source}: invalid potential ({type(exc).__name__}: {exc})") from None
        if not all(math.isfinite(v) for v in refs.values()):
            raise PotentialFileError(f"{source}: reference energies are not all finite")
        metrics = data.get("metrics", {})
        if not isinstance(metrics, dict):
            raise PotentialFileError(f"{source}: metrics must be a mapping")
        return cls(pair, cutoff, refs, dict(metrics), data.get("complexity"), data.get("form", "pair"))

    @classmethod
    def from_json(cls, path) -> "Potential":
        """Read a potential written by :meth:`to_json` (or a run folder's ``best.json``)."""
        path = os.fspath(path)
        if os.path.isdir(path):
            path = os.path.join(path, "best.json")
        try:
            with open(path) as fh:
                data = json.load(fh)
        except FileNotFoundError:
            raise PotentialFileError(f"{path}: no such file") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise PotentialFileError(f"{path}: cannot read potential ({exc})") from None
        return cls.from_dict(data, path)


def load_potential(path):
    """Read any potential symbpot wrote (a ``best.json`` or a run folder holding one).

    Returns a :class:`Potential` (pair form, one pair function) or a
    :class:`symbpot.manybody.ManyBodyPotential` (EAM forms, per-species-pair functions),
    according to the file's ``form``. Every potential has ``calculator()``, ``species``
    (may be empty for a pair potential that applies to any element),
    ``reference_energies``, ``cutoff`` and ``export_lammps``.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, "best.json")
    try:
        with open(path) as fh:
            data = json.load(fh)
    except FileNotFoundError:
        raise PotentialFileError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PotentialFileError(f"{path}: cannot read potential ({exc})") from None
    if isinstance(data, dict) and data.get("form", "pair") != "pair" or (isinstance(data, dict) and "pairs" in data):
        from .manybody import ManyBodyPotential

        return ManyBodyPotential.from_dict(data, path)
    return Potential.from_dict(data, path)
