"""Physics of every energy path of a Potential: ASE calculator, Potential.energy, Potential.predict.

Checked on rattled two-element (Cu/Ag) structures: fcc and bcc supercells, a triclinic
cell, a tiny cell whose atoms interact with their own periodic images, and a finite
cluster; for three pair functions (LJ-like, Morse-like, exp times a power) and the three
cutoff styles.

* energies against an independent brute-force image sum (numpy, own cutoff formulas);
* forces against central differences of the calculator's own energy, stress against
  central differences with respect to a homogeneous strain (ASE's (1/V) dE/d(strain));
* bookkeeping (net force, sum of per-atom energies, reference energies) and invariances;
* the three paths agree with each other; stress without a periodic cell and species
  without a reference energy raise.

``hard`` (energy jumps at rc) and ``shift`` (force jumps at rc) are only differentiable
away from rc, so every structure is drawn such that no pair distance lies within
``MARGIN`` of rc; the finite-difference steps move distances by far less than that.
"""
from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest
import sympy
from ase import Atoms
from ase.build import bulk
from ase.calculators.calculator import PropertyNotImplementedError
from ase.neighborlist import neighbor_list
from ase.stress import voigt_6_to_full_3x3_stress

from symbpot import Cutoff, DataError, Dataset, Potential
from symbpot.calculator import SymbpotCalculator
from symbpot.expr import Program, R
from conftest import random_rotation

RC = 5.0
WIDTH = 1.2
MARGIN = 2e-3  # no pair distance within this of rc (Å)
REFS = {"Cu": -3.5, "Ag": -2.1}

PAIRS = {
    "lj": 4 * 0.4 * (2.3**12 * R**-12 - 2.3**6 * R**-6),
    "morse": 0.4 * (sympy.exp(-2 * 1.5 * (R - 2.6)) - 2 * sympy.exp(-1.5 * (R - 2.6))),
    "exp_power": 60 * sympy.exp(-1.4 * R) * R**-2 - 25 * R**-6,
}
STYLES = ("smooth", "shift", "hard")
STRUCTURES = ("fcc", "bcc", "triclinic", "self_image", "cluster")
PERIODIC = ("fcc", "bcc", "triclinic", "self_image")


# --- independent reference: V(r) by lambdify, cutoff formulas written out ---------------------
def reference_pair(name, style):
    v = sympy.lambdify(R, PAIRS[name], "numpy")

    def u(r):
        r = np.asarray(r, dtype=float)
        if style == "hard":
            out = v(r)
        elif style == "shift":
            out = v(r) - v(RC)
        else:
            t = np.clip((RC - r) / WIDTH, 0.0, 1.0)
            out = v(r) * np.where(r <= RC - WIDTH, 1.0, t**3 * (10 - 15 * t + 6 * t**2))
        return np.where(r < RC, out, 0.0)

    return u


def brute_force_atom_energies(atoms, u):
    """Per-atom pair energies 1/2 sum_j,n U(|r_j + n.cell - r_i|) by an explicit image sum."""
    pos = atoms.positions
    if any(atoms.pbc):
        assert all(atoms.pbc)
        cell = np.asarray(atoms.cell)
        volume = abs(np.linalg.det(cell))
        heights = [volume / np.linalg.norm(np.cross(cell[(k + 1) % 3], cell[(k + 2) % 3])) for k in range(3)]
        spread = np.ptp(atoms.get_scaled_positions(wrap=False), axis=0)
        n = [int(np.ceil(RC / h + s)) + 1 for h, s in zip(heights, spread)]
        grid = np.array(np.meshgrid(*[np.arange(-m, m + 1) for m in n], indexing="ij")).reshape(3, -1).T
        shifts = grid @ cell
    else:
        shifts = np.zeros((1, 3))
    d = np.linalg.norm(pos[None, :, None, :] + shifts[None, None, :, :] - pos[:, None, None, :], axis=-1)
    self_pair = np.zeros_like(d, dtype=bool)
    zero = np.flatnonzero(np.all(shifts == 0, axis=1))[0]
    self_pair[np.arange(len(atoms)), np.arange(len(atoms)), zero] = True
    d = np.where(self_pair, np.inf, d)
    return 0.5 * np.sum(u(d), axis=(1, 2))


# --- structures ------------------------------------------------------------------------
def _mix_species(atoms, rng):
    symbols = np.where(rng.random(len(atoms)) < 0.5, "Cu", "Ag")
    symbols[0], symbols[-1] = "Cu", "Ag"  # both species always present
    atoms.set_chemical_symbols(list(symbols))
    return atoms


def _fcc(rng):
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 2, 1))
    atoms.positions += rng.normal(0, 0.08, atoms.positions.shape)
    return atoms


def _bcc(rng):
    atoms = bulk("Cu", "bcc", a=2.95, cubic=True).repeat(2)
    atoms.positions += rng.normal(0, 0.08, atoms.positions.shape)
    return atoms


def _triclinic(rng):
    atoms = bulk("Cu", "fcc", a=3.61).repeat(2)
    deform = np.eye(3) + rng.uniform(-0.08, 0.08, (3, 3))
    atoms.set_cell(atoms.cell @ deform, scale_atoms=True)
    atoms.positions += rng.normal(0, 0.08, atoms.positions.shape)
    return atoms


def _self_image(rng):
    cell = np.array([[2.7, 0.0, 0.0], [0.5, 2.6, 0.0], [0.3, 0.6, 2.75]]) + rng.uniform(-0.05, 0.05, (3, 3))
    atoms = Atoms("CuAg", scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5]], cell=cell, pbc=True)
    atoms.positions += rng.normal(0, 0.05, atoms.positions.shape)
    return atoms


def _cluster(rng):
    big = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(3)
    centre = big.positions[np.argmin(np.linalg.norm(big.positions - big.cell.sum(axis=0) / 2, axis=1))]
    keep = np.linalg.norm(big.positions - centre, axis=1) < 3.7
    atoms = Atoms("Cu%d" % keep.sum(), positions=big.positions[keep] - centre, pbc=False)
    atoms.positions += rng.normal(0, 0.08, atoms.positions.shape)
    return atoms


BUILDERS = {"fcc": _fcc, "bcc": _bcc, "triclinic": _triclinic, "self_image": _self_image, "cluster": _cluster}


@functools.lru_cache(maxsize=None)
def _structure(name):
    for seed in range(500):
        rng = np.random.default_rng(1000 * STRUCTURES.index(name) + seed)
        atoms = _mix_species(BUILDERS[name](rng), rng)
        d = neighbor_list("d", atoms, RC + 1.0)
        if d.min() > 1.9 and np.min(np.abs(d - RC)) > MARGIN:
            return atoms
    raise RuntimeError(f"no {name} structure clear of the cutoff")  # pragma: no cover


def structure(name):
    return _structure(name).copy()


def test_structures_are_what_they_claim():
    assert len(structure("fcc")) == 16 and len(structure("bcc")) == 16
    tri = structure("triclinic")
    angles = tri.cell.angles()
    assert np.all(np.abs(angles - 90) > 2) and np.ptp(tri.cell.lengths()) > 0.05
    small = structure("self_image")
    assert max(small.cell.lengths()) < RC / 1.5  # every atom sees several of its own images
    i, j = neighbor_list("ij", small, RC)
    assert np.any(i == j)
    assert not any(structure("cluster").pbc) and len(structure("cluster")) > 12
    for name in STRUCTURES:
        assert set(structure(name).get_chemical_symbols()) == {"Cu", "Ag"}


@functools.lru_cache(maxsize=None)
def potential(name, style):
    return Potential(Program.from_sympy(PAIRS[name]), Cutoff(RC, style, WIDTH), dict(REFS))


def calculated(atoms, pot):
    atoms = atoms.copy()
    atoms.calc = pot.calculator()
    return atoms


def energy_at(atoms, calc, positions=None, cell=None):
    probe = atoms.copy()
    if cell is not None:
        probe.set_cell(cell, scale_atoms=False)
    if positions is not None:
        probe.positions = positions
    probe.calc = calc
    return probe.get_potential_energy()


def strained(atoms, eps):
    """Cell and positions under the homogeneous deformation I + eps."""
    f = np.eye(3) + eps
    return atoms.positions @ f, np.asarray(atoms.cell) @ f


CASES = [(p, s, st) for p in PAIRS for s in STYLES for st in STRUCTURES]


# --- energy bookkeeping ------------------------------------------------------------------
@pytest.mark.parametrize("pair,style,name", CASES)
def test_energy_equals_brute_force_pair_sum_plus_reference_energies(pair, style, name):
    atoms = calculated(structure(name), potential(pair, style))
    e = atoms.get_potential_energy()
    energies = atoms.get_potential_energies()
    forces = atoms.get_forces()
    symbols = atoms.get_chemical_symbols()
    refs = np.array([REFS[s] for s in symbols])
    pair_atoms = brute_force_atom_energies(atoms, reference_pair(pair, style))
    assert abs(pair_atoms.sum()) > 0.05 and len(set(refs)) == 2  # both parts matter
    np.testing.assert_allclose(energies, pair_atoms + refs, rtol=1e-11, atol=1e-11)
    assert e == pytest.approx(pair_atoms.sum() + symbols.count("Cu") * -3.5 + symbols.count("Ag") * -2.1,
                              rel=1e-12, abs=1e-11)
    assert e == pytest.approx(energies.sum(), rel=1e-13, abs=1e-12)
    assert atoms.get_potential_energy(force_consistent=True) == e
    np.testing.assert_allclose(forces.sum(axis=0), 0.0, atol=1e-10 * (1 + np.abs(forces).sum()))
    assert np.abs(forces).max() > 1e-3


# --- forces are minus the gradient of the energy -------------------------------------------
def _force_tolerance(expected, scale):
    return 1e-6 * max(1.0, abs(expected), scale)


@pytest.mark.parametrize("pair,style,name", CASES)
def test_forces_are_minus_directional_derivative_of_energy(pair, style, name):
    """-dE/dlambda of E(x + lambda v) equals F . v for random directions v (all atoms at once)."""
    atoms = structure(name)
    calc = potential(pair, style).calculator()
    forces = calculated(atoms, potential(pair, style)).get_forces()
    rng = np.random.default_rng(7)
    h = 1e-5
    for _ in range(2 if style == "smooth" else 1):
        v = rng.normal(size=atoms.positions.shape)
        plus = energy_at(atoms, calc, positions=atoms.positions + h * v)
        minus = energy_at(atoms, calc, positions=atoms.positions - h * v)
        numeric = -(plus - minus) / (2 * h)
        expected = float(np.sum(forces * v))
        assert numeric == pytest.approx(expected, abs=_force_tolerance(expected, np.abs(forces * v).sum()))


@pytest.mark.parametrize("name", STRUCTURES)
@pytest.mark.parametrize("pair", PAIRS)
def test_forces_equal_minus_central_difference_gradient(pair, name):
    """Component by component (every atom of the 2-atom cell, two of the cluster, one elsewhere)."""
    atoms = structure(name)
    pot = potential(pair, "smooth")
    calc = pot.calculator()
    forces = calculated(atoms, pot).get_forces()
    h = 1e-5
    which = {"self_image": (0, 1), "cluster": (0, len(atoms) // 2)}.get(name, (len(atoms) // 2,))
    for i in which:
        for a in range(3):
            pos = atoms.positions.copy()
            pos[i, a] += h
            plus = energy_at(atoms, calc, positions=pos)
            pos[i, a] -= 2 * h
            minus = energy_at(atoms, calc, positions=pos)
            numeric = -(plus - minus) / (2 * h)
            assert numeric == pytest.approx(forces[i, a], abs=1e-6 * max(1.0, abs(forces[i, a]))), (i, a)


# --- stress is the strain derivative ----------------------------------------------------------
@pytest.mark.parametrize("pair,style,name", [c for c in CASES if c[2] in PERIODIC])
def test_stress_is_directional_strain_derivative(pair, style, name):
    """(1/V) dE/dlambda of E((I + lambda eps) x) equals sigma : eps for random symmetric eps."""
    atoms = structure(name)
    pot = potential(pair, style)
    stress = voigt_6_to_full_3x3_stress(calculated(atoms, pot).get_stress())
    calc = pot.calculator()
    volume = atoms.get_volume()
    rng = np.random.default_rng(3)
    h = 1e-5
    for _ in range(2 if style == "smooth" else 1):
        eps = rng.normal(size=(3, 3))
        eps = 0.5 * (eps + eps.T)
        plus = energy_at(atoms, calc, *strained(atoms, h * eps))
        minus = energy_at(atoms, calc, *strained(atoms, -h * eps))
        numeric = (plus - minus) / (2 * h * volume)
        expected = float(np.sum(stress * eps))
        assert numeric == pytest.approx(expected, abs=1e-6 * max(1e-2, abs(expected)))


def numerical_voigt_stress(atoms, calc, h=1e-5):
    """ASE convention: sigma_ab = (1/V) dE/d eps_ab with eps symmetric, Voigt xx yy zz yz xz xy."""
    volume = atoms.get_volume()
    out = np.zeros(6)
    for k, (a, b) in enumerate(((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))):
        eps = np.zeros((3, 3))
        eps[a, b] = eps[b, a] = h
        plus = energy_at(atoms, calc, *strained(atoms, eps))
        minus = energy_at(atoms, calc, *strained(atoms, -eps))
        out[k] = (plus - minus) / ((2 if a == b else 4) * h * volume)
    return out


@pytest.mark.parametrize("pair,name", [(p, n) for p in PAIRS for n in PERIODIC
                                       if p == "lj" or n in ("triclinic", "self_image")])
def test_stress_equals_numerical_strain_derivative_voigt(pair, name):
    atoms = structure(name)
    pot = potential(pair, "smooth")
    stress = calculated(atoms, pot).get_stress()
    numeric = numerical_voigt_stress(atoms, pot.calculator())
    assert np.abs(stress).max() > 1e-4  # not trivially zero
    np.testing.assert_allclose(stress, numeric, rtol=0, atol=1e-6 * max(1e-2, np.abs(stress).max()))
    # the off-diagonal components are not all negligible (checks the Voigt order and factor)
    assert np.abs(stress[3:]).max() > 1e-5


def test_stress_matches_ase_numerical_stress():
    atoms = calculated(structure("triclinic"), potential("morse", "smooth"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # deprecated in newer ASE, still there
        numeric = atoms.calc.calculate_numerical_stress(atoms, d=1e-5)
    np.testing.assert_allclose(atoms.get_stress(), numeric, atol=1e-8)


# --- invariances --------------------------------------------------------------------------
def results(atoms, pot):
    a = calculated(atoms, pot)
    stress = a.get_stress() if all(a.pbc) else None
    return a.get_potential_energy(), a.get_potential_energies(), a.get_forces(), stress


@pytest.mark.parametrize("pair,style,name", [c for c in CASES if c[1] == "smooth" or c[0] == "lj"])
def test_rotation_translation_permutation_invariance(pair, style, name):
    pot = potential(pair, style)
    atoms = structure(name)
    e, energies, forces, stress = results(atoms, pot)

    q = random_rotation(5)
    rotated = atoms.copy()
    rotated.positions = atoms.positions @ q.T
    if all(atoms.pbc):
        rotated.set_cell(np.asarray(atoms.cell) @ q.T, scale_atoms=False)
    e2, energies2, forces2, stress2 = results(rotated, pot)
    assert e2 == pytest.approx(e, rel=1e-12)
    np.testing.assert_allclose(energies2, energies, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(forces2, forces @ q.T, rtol=1e-8, atol=1e-9)
    if stress is not None:
        full = voigt_6_to_full_3x3_stress(stress)
        np.testing.assert_allclose(voigt_6_to_full_3x3_stress(stress2), q @ full @ q.T, atol=1e-11)

    moved = atoms.copy()
    moved.translate([3.3, -7.1, 12.4])
    e3, energies3, forces3, stress3 = results(moved, pot)
    if all(atoms.pbc):
        wrapped = moved.copy()
        wrapped.wrap()
        e4, energies4, forces4, stress4 = results(wrapped, pot)
        assert e4 == pytest.approx(e, rel=1e-12)
        np.testing.assert_allclose(forces4, forces, atol=1e-9)
        np.testing.assert_allclose(stress4, stress, atol=1e-11)
        np.testing.assert_allclose(stress3, stress, atol=1e-11)
    assert e3 == pytest.approx(e, rel=1e-12)
    np.testing.assert_allclose(energies3, energies, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(forces3, forces, atol=1e-9)

    perm = np.random.default_rng(4).permutation(len(atoms))
    e5, energies5, forces5, stress5 = results(atoms[perm], pot)
    assert e5 == pytest.approx(e, rel=1e-12)
    np.testing.assert_allclose(energies5, energies[perm], rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(forces5, forces[perm], atol=1e-9)
    if stress is not None:
        np.testing.assert_allclose(stress5, stress, atol=1e-11)


def test_calculator_recomputes_after_changes():
    pot = potential("lj", "smooth")
    atoms = calculated(structure("fcc"), pot)
    e0 = atoms.get_potential_energy()
    f0 = atoms.get_forces().copy()
    atoms.positions[3] += [0.05, -0.02, 0.01]
    e1 = atoms.get_potential_energy()
    assert e1 != e0
    assert e1 == pytest.approx(calculated(atoms, pot).get_potential_energy(), rel=1e-14)
    atoms.positions[3] -= [0.05, -0.02, 0.01]
    assert atoms.get_potential_energy() == pytest.approx(e0, rel=1e-14)
    np.testing.assert_allclose(atoms.get_forces(), f0, atol=1e-13)
    atoms.symbols[0] = "Ag" if atoms.symbols[0] == "Cu" else "Cu"
    assert abs(atoms.get_potential_energy() - e0) == pytest.approx(abs(REFS["Cu"] - REFS["Ag"]), rel=1e-10)


# --- the three energy paths agree ------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _structures_dataset():
    frames = []
    for name in STRUCTURES:
        atoms = structure(name)
        atoms.info["energy"] = 0.0
        frames.append(atoms)
    return frames, Dataset.from_frames(frames, RC)


def structures_dataset():
    frames, dataset = _structures_dataset()
    return [a.copy() for a in frames], dataset


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("pair", PAIRS)
def test_potential_energy_and_predict_equal_calculator(pair, style):
    pot = potential(pair, style)
    frames, dataset = structures_dataset()
    assert not dataset.has_forces.any() and list(dataset.volume > 0) == [n in PERIODIC for n in STRUCTURES]
    energies, forces, stress = pot.predict(dataset)
    assert energies.shape == (len(frames),) and forces.shape == (sum(map(len, frames)), 3)
    assert stress.shape == (len(frames), 6)
    np.testing.assert_allclose(pot.predict_energies(dataset), energies, rtol=1e-14)
    for s, (name, atoms) in enumerate(zip(STRUCTURES, frames)):
        calc_atoms = calculated(atoms, pot)
        e = calc_atoms.get_potential_energy()
        assert pot.energy(atoms) == pytest.approx(e, rel=1e-12, abs=1e-12)
        assert energies[s] == pytest.approx(e, rel=1e-12, abs=1e-12)
        lo, hi = dataset.atom_offsets[s], dataset.atom_offsets[s + 1]
        np.testing.assert_allclose(forces[lo:hi], calc_atoms.get_forces(), rtol=1e-11, atol=1e-11)
        if name in PERIODIC:
            np.testing.assert_allclose(stress[s], calc_atoms.get_stress(), rtol=1e-11, atol=1e-13)
        else:
            np.testing.assert_array_equal(stress[s], 0.0)


def test_potential_round_trip_keeps_calculator_results(tmp_path):
    pot = potential("exp_power", "smooth")
    pot.to_json(tmp_path / "best.json")
    again = Potential.from_json(tmp_path)
    assert isinstance(again.calculator(), SymbpotCalculator)
    a, b = calculated(structure("triclinic"), pot), calculated(structure("triclinic"), again)
    assert b.get_potential_energy() == pytest.approx(a.get_potential_energy(), rel=1e-13)
    np.testing.assert_allclose(b.get_forces(), a.get_forces(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(b.get_stress(), a.get_stress(), rtol=1e-12, atol=1e-14)


# --- errors ---------------------------------------------------------------------------------
@pytest.mark.parametrize("pbc", [False, (True, True, False)])
def test_stress_without_periodic_cell_raises(pbc):
    pot = potential("lj", "smooth")
    atoms = structure("cluster") if pbc is False else structure("fcc")
    atoms.pbc = pbc
    atoms.calc = pot.calculator()
    with pytest.raises(PropertyNotImplementedError):
        atoms.get_stress()
    # energy and forces still work (and again after the failed stress)
    e = atoms.get_potential_energy()
    assert np.isfinite(e)
    assert np.abs(atoms.get_forces().sum(axis=0)).max() < 1e-9
    with pytest.raises(PropertyNotImplementedError):
        atoms.get_stress()
    fresh = atoms.copy()
    fresh.calc = pot.calculator()
    assert fresh.get_potential_energy() == pytest.approx(e, rel=1e-14)
    with pytest.raises(PropertyNotImplementedError):
        fresh.get_stress()


def test_species_without_reference_energy_raises_data_error():
    pot = potential("morse", "smooth")
    atoms = structure("fcc")
    atoms.symbols[2] = "Au"
    atoms.calc = pot.calculator()
    with pytest.raises(DataError, match="Au"):
        atoms.get_potential_energy()
    with pytest.raises(DataError, match="Au"):
        atoms.get_forces()
    with pytest.raises(DataError, match="Au"):
        pot.energy(atoms)
    atoms.info["energy"] = 0.0
    with pytest.raises(DataError, match="Au"):
        pot.predict(Dataset.from_frames([atoms], RC))
