"""NVE molecular dynamics through the ASE calculator: a smooth cutoff conserves energy, a hard one does not.

A discovered-like pair potential (Morse for Cu, Girifalco & Weizer 1959, as a symbpot
``Potential`` built from a closed form) drives velocity Verlet (1 fs) on a 108-atom fcc Cu
cell at 500 K. With the smooth cutoff (U, U', U'' continuous at rc) the total energy stays
put; with a hard cutoff every pair that crosses rc changes the potential energy by V(rc)
without any force having done that work, so the total energy jumps about.
"""
from __future__ import annotations

import numpy as np
import pytest
import sympy
from ase import units
from ase.build import bulk
from ase.md.velocitydistribution import Stationary
from ase.md.verlet import VelocityVerlet

try:  # ASE >= 3.29 (MaxwellBoltzmannDistribution is deprecated there)
    from ase.md.velocitydistribution import thermalize_momenta
except ImportError:  # pragma: no cover - older ASE
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

    def thermalize_momenta(atoms, temperature_K, rng=None):
        MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_K, rng=rng)

from symbpot import Cutoff, Potential
from symbpot.expr import Program, R

D, ALPHA, R0 = 0.3429, 1.3588, 2.866  # eV, 1/Å, Å
RC, WIDTH = 5.0, 1.0  # the fcc shell at a*sqrt(2) = 5.11 Å is just outside, the one at 4.43 Å inside the window
REFERENCE = -3.7  # eV/atom
STEPS = 300
TEMPERATURE = 500  # K


def morse_potential(style):
    v = D * (sympy.exp(-2 * ALPHA * (R - R0)) - 2 * sympy.exp(-ALPHA * (R - R0)))
    return Potential(Program.from_sympy(v), Cutoff(RC, style, WIDTH), {"Cu": REFERENCE})


def run_nve(style, seed=1):
    """Total energy per atom (eV) after every step of an NVE run; also the temperatures."""
    atoms = bulk("Cu", "fcc", a=3.615, cubic=True).repeat((3, 3, 3))
    assert len(atoms) == 108
    rng = np.random.default_rng(seed)
    atoms.positions += rng.normal(0.0, 0.02, atoms.positions.shape)
    thermalize_momenta(atoms, TEMPERATURE, rng=rng)
    Stationary(atoms)
    atoms.calc = morse_potential(style).calculator()
    md = VelocityVerlet(atoms, timestep=1.0 * units.fs)
    energies, temperatures = [], []

    def record():
        energies.append(atoms.get_total_energy() / len(atoms))
        temperatures.append(atoms.get_temperature())

    md.attach(record, interval=1)  # also called once before the first step
    md.run(STEPS)
    return np.array(energies), np.array(temperatures)


@pytest.fixture(scope="module")
def runs():
    return {style: run_nve(style) for style in ("smooth", "hard")}


def drift(e):
    """(largest excursion from the start, slope of a straight-line fit per step times the steps), eV/atom."""
    slope = np.polyfit(np.arange(len(e)), e, 1)[0]
    return float(np.max(np.abs(e - e[0]))), float(abs(slope) * (len(e) - 1))


def test_smooth_cutoff_conserves_energy(runs):
    e, temperature = runs["smooth"]
    assert len(e) == STEPS + 1 and np.all(np.isfinite(e))
    assert 150 < temperature[-1] < 600  # it really moved: energy went from kinetic to potential and back
    excursion, trend = drift(e)
    assert excursion < 1e-4, excursion  # eV/atom over 300 fs
    assert trend < 2e-5, trend


def test_hard_cutoff_drifts_more(runs):
    excursion_smooth, trend_smooth = drift(runs["smooth"][0])
    excursion_hard, _ = drift(runs["hard"][0])
    assert excursion_hard > 10 * excursion_smooth, (excursion_hard, excursion_smooth)
    # the jumps are pairs crossing rc: |V(rc)| each, shared over the atoms
    jumps = np.abs(np.diff(runs["hard"][0]))
    v_rc = abs(float(morse_potential("hard").pair.evaluate(np.array([RC]))[0]))
    assert jumps.max() > 0.5 * v_rc / 108


def test_smooth_forces_are_conservative_along_the_trajectory():
    """Work done by the forces over one step equals minus the potential energy change."""
    atoms = bulk("Cu", "fcc", a=3.615, cubic=True).repeat((3, 3, 3))
    rng = np.random.default_rng(3)
    atoms.positions += rng.normal(0.0, 0.1, atoms.positions.shape)
    atoms.calc = morse_potential("smooth").calculator()
    step = rng.normal(0.0, 1e-4, atoms.positions.shape)
    e0, f0 = atoms.get_potential_energy(), atoms.get_forces()
    atoms.positions += step
    e1, f1 = atoms.get_potential_energy(), atoms.get_forces()
    work = float(np.sum(0.5 * (f0 + f1) * step))  # trapezoidal rule, O(step^3)
    assert e1 - e0 == pytest.approx(-work, rel=1e-6, abs=1e-12)
