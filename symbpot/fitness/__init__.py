"""Fitness: grid-contracted losses, exact evaluation, constant optimisation."""
from .direct import (atom_pair_energies, energy_errors, fit_reference_energies, pair_values,
                     structure_pair_energies)
from .energy import DEFAULT_GRID_SIZE, EnergyLoss, PairLoss
from .grid import RadialGrid

__all__ = ["EnergyLoss", "PairLoss", "RadialGrid", "DEFAULT_GRID_SIZE", "pair_values", "structure_pair_energies",
           "atom_pair_energies", "fit_reference_energies", "energy_errors"]
