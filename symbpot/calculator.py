"""ASE calculator built from a :class:`symbpot.Potential` (same kernels as the fitness)."""
from __future__ import annotations

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from .fitness.direct import pair_sums, to_voigt


class SymbpotCalculator(Calculator):
    """Energy, per-atom energies, forces and stress of a discovered pair potential.

    The per-species reference energies are included, so total energies are on the scale
    of the DFT data the potential was fitted to. Stress follows ASE's convention
    ((1/V) dE/d(strain), eV/Å^3) and needs a periodic cell.
    """

    implemented_properties = ["energy", "energies", "free_energy", "forces", "stress"]

    def __init__(self, potential, **kwargs):
        super().__init__(**kwargs)
        self.potential = potential

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        from ase.neighborlist import neighbor_list

        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        pot = self.potential
        if hasattr(pot, "atoms_results"):  # many-body forms
            res = pot.atoms_results(atoms)
            energies, forces, virial = res["energies"], res["forces"], res["virial"]
        else:
            i, d, vec = neighbor_list("idD", atoms, pot.cutoff.radius)
            u, du = pot.pair_energy(d, order=1)
            energies, forces, virial = pair_sums(u, du, i, vec, d, len(atoms))
            symbols = atoms.get_chemical_symbols()
            missing = sorted(set(symbols) - set(pot.reference_energies))
            if missing:
                from .errors import DataError

                raise DataError(f"the potential has no reference energy for {', '.join(missing)}")
            energies = energies + np.array([pot.reference_energies[s] for s in symbols])
        energy = float(energies.sum())
        self.results["energy"] = energy
        self.results["free_energy"] = energy
        self.results["energies"] = energies
        self.results["forces"] = forces
        if all(atoms.pbc) and atoms.cell.volume > 0:
            self.results["stress"] = to_voigt(virial) / atoms.cell.volume
        elif "stress" in properties:
            from ase.calculators.calculator import PropertyNotImplementedError

            raise PropertyNotImplementedError("stress needs a periodic cell with a volume")
