"""The frozen many-body potential: EAM-like forms and pair forms with one function per species pair.

    E = sum_i e_{s_i} + sum_i F_{s_i}(rho_i) + 1/2 sum_{i != j} phi_{s_i s_j}(r_ij),
    rho_i = sum_{j != i} g_{s_i s_j}(r_ij),

phi and g multiplied by the cutoff function (they and their slopes vanish at rc with the
smooth cutoff), F evaluated as written. ``form == "pair"`` has no F and no g.
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
from .export.sympy_form import round_floats, simplify, to_latex
from .fitness.manybody import embedding_values, pair_types, per_pair_values, type_matrix
from .forms.cutoff import Cutoff
from .potential import FORMAT_NAME, FORMAT_VERSION, package_version

RHO = sympy.Symbol("rho", real=True)
FORMS = ("eam", "pair")


@dataclass
class ManyBodyPotential:
    """A discovered many-body (EAM-like) or multi-species pair potential.

    Parameters
    ----------
    species : tuple of str
        Chemical symbols, in the order of the functions below.
    pair : list of Program
        phi for every species pair in :func:`symbpot.fitness.manybody.pair_types` order
        (AA, AB, BB, ...), in eV, before the cutoff treatment.
    density : list of Program or None
        g for every species pair (same order); None for a pair form.
    embedding : list of Program or None
        F for every species (eV, argument rho); None for a pair form.
    cutoff : Cutoff
    reference_energies : dict
        ``{symbol: eV/atom}``.
    """

    species: tuple
    pair: list
    density: list | None
    embedding: list | None
    cutoff: Cutoff
    reference_energies: dict
    metrics: dict = field(default_factory=dict)
    complexity: int | None = None
    form: str = "eam"

    def __post_init__(self):
        self.species = tuple(self.species)
        n_types = len(self.species) * (len(self.species) + 1) // 2
        if len(self.pair) != n_types:
            raise ValueError(f"need {n_types} pair functions for species {self.species}, got {len(self.pair)}")
        if self.form == "eam":
            if self.density is None or self.embedding is None:
                raise ValueError("an EAM form needs density and embedding functions")
            if len(self.density) != n_types or len(self.embedding) != len(self.species):
                raise ValueError("one density per species pair and one embedding per species are needed")

    @property
    def pair_types(self):
        return pair_types(self.species)

    # --- closed forms -------------------------------------------------------------
    def functions(self, simplified: bool = True) -> dict:
        """``{"phi_CuCu": expr(r), "g_CuCu": expr(r), "F_Cu": expr(rho)}`` (before cutoff treatment)."""
        cache = self.__dict__.setdefault("_closed", {})
        key = bool(simplified)
        if key in cache:
            return cache[key]
        out = {}
        tidy = simplify if simplified else (lambda e: e)
        for (a, b), prog in zip(self.pair_types, self.pair):
            out[f"phi_{a}{b}"] = tidy(prog.to_sympy())
        if self.form == "eam":
            for (a, b), prog in zip(self.pair_types, self.density):
                out[f"g_{a}{b}"] = tidy(prog.to_sympy())
            from .expr.registry import R

            for a, prog in zip(self.species, self.embedding):
                out[f"F_{a}"] = tidy(prog.to_sympy()).subs(R, RHO)
        cache[key] = out
        return out

    def sympy(self, simplified: bool = True) -> dict:
        """The closed forms with the cutoff treatment applied to phi and g."""
        out = {}
        for name, expr in self.functions(simplified).items():
            out[name] = expr if name.startswith("F_") else self.cutoff.sympy(expr)
        return out

    def latex(self, digits: int = 6) -> str:
        names = {"phi": r"\phi", "g": "g", "F": "F"}
        lines = []
        for name, expr in self.functions().items():
            kind, sub = name.split("_", 1)
            arg = r"\rho" if kind == "F" else "r"
            lines.append(f"{names[kind]}_{{{sub}}}({arg}) = {to_latex(expr, digits)}")
        return r" \\ ".join(lines)

    def __str__(self) -> str:
        return "; ".join(f"{k} = {round_floats(v, 6)}" for k, v in self.functions().items())

    # --- evaluation -------------------------------------------------------------------
    def _species_index(self, symbols, source="structure") -> np.ndarray:
        column = {s: k for k, s in enumerate(self.species)}
        missing = sorted(set(symbols) - set(column))
        if missing:
            raise DataError(f"{source}: the potential has no functions for {', '.join(missing)}")
        return np.array([column[s] for s in symbols], dtype=np.int64)

    def _reference(self, symbols) -> np.ndarray:
        missing = sorted(set(symbols) - set(self.reference_energies))
        if missing:
            raise DataError(f"the potential has no reference energy for {', '.join(missing)}")
        return np.array([self.reference_energies[s] for s in symbols], dtype=float)

    def pair_energy(self, r, order: int = 0, types=None):
        """phi (with cutoff) of the first species pair (or ``types``) at ``r``; for plots."""
        r = np.asarray(r, dtype=float)
        t = np.zeros(len(r), dtype=np.int64) if types is None else np.asarray(types)
        v, d = per_pair_values(self.pair, self.cutoff, r, t)
        return v if order == 0 else (v, d)

    def density_value(self, r, t: int = 0):
        r = np.asarray(r, dtype=float)
        return per_pair_values(self.density, self.cutoff, r, np.full(len(r), t))[0]

    def embedding_value(self, rho, a: int = 0):
        rho = np.asarray(rho, dtype=float)
        return embedding_values(self.embedding, rho, np.full(len(rho), a))[0]

    def dimer_energy(self, r, a: int = 0, b: int | None = None):
        """Energy of two atoms of species a and b (indices; b = a by default) at distance r, and its slope.

        Above the two isolated atoms: phi_ab + [F_a(g_ab) - F_a(0)] + [F_b(g_ab) - F_b(0)].
        """
        r = np.asarray(r, dtype=float)
        b = a if b is None else b
        t = np.full(len(r), type_matrix(len(self.species))[a, b], dtype=np.int64)
        phi, dphi = per_pair_values(self.pair, self.cutoff, r, t)
        if self.form != "eam":
            return phi, dphi
        g, dg = per_pair_values(self.density, self.cutoff, r, t)
        for s in (a, b):
            atoms = np.full(len(r), s, dtype=np.int64)
            f, fp = embedding_values(self.embedding, g, atoms)
            f0 = embedding_values(self.embedding, np.zeros(1), np.full(1, s, dtype=np.int64))[0][0]
            phi, dphi = phi + (f - f0), dphi + fp * dg
        return phi, dphi

    def atoms_results(self, atoms) -> dict:
        """Per-atom energies (reference included), forces and the virial tensor of one structure."""
        from ase.neighborlist import neighbor_list

        from .fitness.direct import pair_sums
        from .fitness.manybody import _effective_slopes

        symbols = atoms.get_chemical_symbols()
        species = self._species_index(symbols)
        i, j, d, vec = neighbor_list("ijdD", atoms, self.cutoff.radius)
        types = type_matrix(len(self.species))[species[i], species[j]]
        phi, dphi = per_pair_values(self.pair, self.cutoff, d, types)
        slopes = dphi
        embed = np.zeros(len(atoms))
        rho = np.zeros(len(atoms))
        if self.form == "eam":
            g, dg = per_pair_values(self.density, self.cutoff, d, types)
            rho = np.bincount(i, weights=g, minlength=len(atoms))
            embed, fprime = embedding_values(self.embedding, rho, species)
            slopes = _effective_slopes(i.astype(np.int64), j.astype(np.int64), dphi, dg, fprime)
        energies, forces, virial = pair_sums(phi, slopes, i, vec, d, len(atoms))
        energies = energies + embed + self._reference(symbols)
        return {"energies": energies, "forces": forces, "virial": virial, "rho": rho}

    def energy(self, atoms) -> float:
        return float(self.atoms_results(atoms)["energies"].sum())

    def calculator(self):
        """An ASE calculator (energy, energies, forces, stress)."""
        from .calculator import SymbpotCalculator

        return SymbpotCalculator(self)

    to_calculator = calculator

    def predict(self, dataset):
        """Energies (S,), forces (N_total, 3) and stresses (S, 6) of a :class:`Dataset` (exact path)."""
        from .fitness.manybody import predict_manybody

        if dataset.cutoff + 1e-12 < self.cutoff.radius:
            raise DataError(f"data pairs were built with cutoff {dataset.cutoff} Å, below the potential's "
                            f"{self.cutoff.radius} Å")
        dataset = dataset.restrict_cutoff(self.cutoff.radius)
        species = self._species_index([s for a in dataset.frames for s in a.get_chemical_symbols()], "data")
        energies, forces, stress, _ = predict_manybody(
            self.pair, self.density, self.embedding if self.form == "eam" else None, self.cutoff, dataset, species)
        refs = dataset.species_counts_for(list(self.reference_energies)) @ np.array(
            list(self.reference_energies.values()), dtype=float)
        missing = set(dataset.species) - set(self.reference_energies)
        if missing:
            raise DataError(f"the potential has no reference energy for {', '.join(sorted(missing))}")
        return energies + refs, forces, stress

    def predict_energies(self, dataset) -> np.ndarray:
        return self.predict(dataset)[0]

    def export_lammps(self, out_dir, style: str = "setfl", **kwargs) -> dict:
        """Write LAMMPS files (an eam/alloy or eam/fs setfl file and DIR/in.pair)."""
        from .export.eam import export_eam

        return export_eam(self, out_dir, style, **kwargs)

    # --- (de)serialisation --------------------------------------------------------------
    def to_dict(self) -> dict:
        def prog(p):
            return {"ops": p.ops.tolist(), "args": p.args.tolist()}

        funcs = self.functions()
        data = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "symbpot_version": package_version(),
            "form": self.form,
            "species": list(self.species),
            "functions": {k: str(v) for k, v in funcs.items()},
            **self.cutoff.to_dict(),
            "reference_energies": {k: float(v) for k, v in self.reference_energies.items()},
            "metrics": self.metrics,
            "complexity": self.complexity,
            "units": {"energy": "eV", "distance": "Angstrom"},
            "pairs": [prog(p) for p in self.pair],
        }
        if self.form == "eam":
            data["densities"] = [prog(p) for p in self.density]
            data["embeddings"] = [prog(p) for p in self.embedding]
        return data

    def to_json(self, path) -> None:
        path = os.fspath(path)
        tmp = path + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(self.to_dict(), fh, indent=2)
            fh.write("\n")
        os.replace(tmp, path)

    @classmethod
    def from_dict(cls, data: dict, source: str = "potential") -> "ManyBodyPotential":
        if not isinstance(data, dict) or data.get("format", FORMAT_NAME) != FORMAT_NAME:
            raise PotentialFileError(f"{source}: not a symbpot potential")
        if int(data.get("format_version", FORMAT_VERSION)) > FORMAT_VERSION:
            raise PotentialFileError(f"{source}: format version {data['format_version']} is newer than "
                                     f"this symbpot understands ({FORMAT_VERSION})")
        form = data.get("form")
        if form not in FORMS:
            raise PotentialFileError(f"{source}: unknown form {form!r}")
        try:
            def prog(d):
                return Program.from_arrays(d["ops"], d["args"])

            pot = cls(
                species=tuple(str(s) for s in data["species"]),
                pair=[prog(p) for p in data["pairs"]],
                density=[prog(p) for p in data["densities"]] if form == "eam" else None,
                embedding=[prog(p) for p in data["embeddings"]] if form == "eam" else None,
                cutoff=Cutoff(float(data["cutoff"]), data.get("cutoff_style", "smooth"),
                              float(data.get("cutoff_width", 1.0))),
                reference_energies={str(k): float(v) for k, v in data.get("reference_energies", {}).items()},
                metrics=dict(data.get("metrics", {})),
                complexity=data.get("complexity"),
                form=form,
            )
        except PotentialFileError:
            raise
        except (KeyError, TypeError, ValueError, ProgramError, sympy.SympifyError) as exc:
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise PotentialFileError(f"{source}: invalid potential ({type(exc).__name__}: {msg})") from None
        except Exception as exc:  # any other malformed value: one clear line naming the file
            raise PotentialFileError(f"{source}: invalid potential ({type(exc).__name__})") from None
        if not all(math.isfinite(v) for v in pot.reference_energies.values()):
            raise PotentialFileError(f"{source}: reference energies are not all finite")
        return pot

    @classmethod
    def from_json(cls, path) -> "ManyBodyPotential":
        from .potential import load_potential

        pot = load_potential(path)
        if not isinstance(pot, cls):
            raise PotentialFileError(f"{os.fspath(path)}: not a many-body potential")
        return pot

