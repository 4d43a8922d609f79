"""Material properties (symbpot.properties) with ASE's EMT and a symbpot Lennard-Jones potential."""
import argparse
import json
import math

import numpy as np
import pytest
import sympy
from ase.build import bulk, fcc100, fcc111
from ase.calculators.calculator import Calculator
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator

from symbpot import Cutoff, Potential
from symbpot.errors import ConfigError, SymbpotError
from symbpot.expr import Program
from symbpot.properties import PropertyError, compute_properties, format_properties, plot_ev
from symbpot.properties_dft import dft_properties
from symbpot.properties_cli import add_properties_parser, cmd_properties

LJ_EPS, LJ_SIGMA = 0.4, 2.3
# fcc lattice sums: E/atom = 2 eps (A12 (s/r)^12 - A6 (s/r)^6), r = nearest-neighbour distance
A12, A6 = 12.13188, 14.45392


def lj_potential(cutoff, reference=-1.0):
    r = sympy.Symbol("r")
    v = sympy.expand(4 * LJ_EPS * ((LJ_SIGMA / r) ** 12 - (LJ_SIGMA / r) ** 6))
    return Potential(Program.from_sympy(v), Cutoff(cutoff, "smooth", 1.0), {"Cu": reference})


@pytest.fixture(scope="module")
def emt_cu():
    return compute_properties(EMT(), "Cu", "fcc", supercell=2)


def emt_direct_lattice_constant():
    """EMT's Cu minimum by a plain scan of the primitive cell and a parabola (independent of the module)."""
    a = np.linspace(3.57, 3.61, 9)
    energies = []
    for value in a:
        atoms = bulk("Cu", "fcc", a=value)
        atoms.calc = EMT()
        energies.append(atoms.get_potential_energy())
    c2, c1, _ = np.polyfit(a, energies, 2)
    return -c1 / (2 * c2)


def test_emt_cu_lattice_and_cohesive_energy(emt_cu):
    a_direct = emt_direct_lattice_constant()
    assert abs(a_direct - 3.59) < 0.01  # EMT's Cu, a little below experiment's 3.615 Å
    assert emt_cu["lattice_constant_A"] == pytest.approx(a_direct, abs=2e-3)
    atom = bulk("Cu", "fcc", a=emt_cu["lattice_constant_A"])
    atom.calc = EMT()
    e_bulk = atom.get_potential_energy()
    from ase import Atoms

    single = Atoms("Cu", positions=[[10, 10, 10]], cell=[20] * 3, pbc=False)
    single.calc = EMT()
    assert emt_cu["cohesive_energy_eV"] == pytest.approx(single.get_potential_energy() - e_bulk, abs=1e-6)
    assert 3.0 < emt_cu["cohesive_energy_eV"] < 4.0
    volumes, energies = np.array(emt_cu["ev_curve"]).T
    assert volumes[np.argmin(energies)] == pytest.approx(emt_cu["volume_per_atom_A3"], rel=0.02)


def test_emt_cu_elastic_constants(emt_cu):
    c11, c12, c44 = emt_cu["c11_GPa"], emt_cu["c12_GPa"], emt_cu["c44_GPa"]
    assert c11 > c12 > 0 and c44 > 0
    assert emt_cu["mechanically_stable"]
    assert (c11 + 2 * c12) / 3 == pytest.approx(emt_cu["bulk_modulus_GPa"], rel=0.03)
    assert 100 < emt_cu["bulk_modulus_GPa"] < 180


def test_emt_cu_vacancy_and_surfaces(emt_cu):
    assert 0.5 < emt_cu["vacancy_formation_eV"] < 2.5
    assert emt_cu["vacancy_formation_eV"] <= emt_cu["vacancy_formation_unrelaxed_eV"] + 1e-9
    assert emt_cu["vacancy_cell_atoms"] == 31
    for facet in ("100", "110", "111"):
        gamma = emt_cu[f"surface_energy_{facet}_J_m2"]
        assert 0.3 < gamma < 3.0
        assert gamma <= emt_cu[f"surface_energy_{facet}_unrelaxed_J_m2"] + 1e-9
    assert emt_cu["surface_energy_111_J_m2"] < emt_cu["surface_energy_100_J_m2"]


def test_any_hkl_surface_matches_the_dedicated_slab():
    """Slabs of any hkl (ase.build.surface on the cubic cell) agree with ASE's fcc111 on (111)."""
    from ase.build import surface

    from symbpot import properties

    a = 3.59
    atoms = bulk("Cu", "fcc", a=a)
    atoms.calc = EMT()
    e_bulk = atoms.get_potential_energy()

    def gamma(slab):
        slab.calc = EMT()
        area = np.linalg.norm(np.cross(slab.cell[0], slab.cell[1]))
        return (slab.get_potential_energy() - len(slab) * e_bulk) / (2 * area)

    reference = gamma(fcc111("Cu", (1, 1, 8), a=a, vacuum=8.0))
    assert gamma(surface(bulk("Cu", "fcc", a=a, cubic=True), (1, 1, 1), 8, vacuum=8.0)) == \
        pytest.approx(reference, abs=1e-9)
    assert properties._check_facets("fcc", ["(3,1,1)", "113", "311"]) == ["311"]
    result = compute_properties(EMT(), "Cu", "fcc", lattice_constant=3.6, relax=False, vacancy=False,
                                facets=["111", "311"])
    assert result["surface_energy_311_J_m2"] > result["surface_energy_111_J_m2"] > 0


@pytest.mark.parametrize("structure", ["bcc", "hcp", "diamond"])
def test_other_structures(structure):
    result = compute_properties(EMT(), "Cu", structure, relax=False, supercell=1)
    keys = ["lattice_constant_A", "cohesive_energy_eV", "bulk_modulus_GPa", "c11_GPa", "c12_GPa", "c44_GPa",
            "vacancy_formation_eV"] + [k for k in result if k.startswith("surface_energy_")]
    assert all(math.isfinite(result[k]) for k in keys)
    assert result["cohesive_energy_eV"] > 0
    if structure == "hcp":
        assert {"c13_GPa", "c33_GPa", "surface_energy_0001_J_m2", "surface_energy_10m10_J_m2"} <= set(result)
        assert result["c_over_a"] == pytest.approx(math.sqrt(8 / 3))
    else:
        assert {"surface_energy_100_J_m2", "surface_energy_111_J_m2"} <= set(result)


def test_lj_pair_potential_matches_the_analytic_minimum():
    """Lennard-Jones fcc: r0 = (2 A12 / A6)^(1/6) sigma, E_coh = eps A6^2 / (2 A12), C12 = C44 (Cauchy)."""
    a_exact = math.sqrt(2) * (2 * A12 / A6) ** (1 / 6) * LJ_SIGMA
    e_coh_exact = LJ_EPS * A6**2 / (2 * A12)
    results = [compute_properties(lj_potential(3.5 * LJ_SIGMA, ref).calculator(), "Cu", "fcc", vacancy=False,
                                  facets=[]) for ref in (-1.0, -5.0)]
    first, second = results
    assert first["lattice_constant_A"] == pytest.approx(a_exact, rel=3e-3)
    assert first["cohesive_energy_eV"] == pytest.approx(e_coh_exact, rel=0.05)  # the cutoff trims the tail
    # the per-species reference energy shifts every energy and cancels in every property
    assert second["cohesive_energy_eV"] == pytest.approx(first["cohesive_energy_eV"], abs=1e-9)
    assert second["lattice_constant_A"] == pytest.approx(first["lattice_constant_A"], abs=1e-9)
    assert second["energy_per_atom_eV"] == pytest.approx(first["energy_per_atom_eV"] - 4.0, abs=1e-9)
    assert first["c12_GPa"] == pytest.approx(first["c44_GPa"], rel=0.01)


def test_errors():
    with pytest.raises(ConfigError, match="unknown structure"):
        compute_properties(EMT(), "Cu", "fcx")
    with pytest.raises(ConfigError, match="unknown element"):
        compute_properties(EMT(), "Qq", "fcc")
    with pytest.raises(ConfigError, match="surface"):
        compute_properties(EMT(), "Cu", "hcp", facets=["111"])

    class Broken(Calculator):
        implemented_properties = ["energy", "forces", "stress"]

        def calculate(self, atoms=None, properties=("energy",), system_changes=()):
            raise RuntimeError("boom")

    with pytest.raises(PropertyError, match="calculator failed.*boom") as info:
        compute_properties(Broken(), "Cu", "fcc")
    assert isinstance(info.value, SymbpotError)


# --- DFT side: frames labelled by EMT stand in for DFT, so both sides must agree -------------
def _label(atoms, group):
    atoms.calc = EMT()
    results = {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces()}
    if all(atoms.pbc):
        results["stress"] = atoms.get_stress()
    atoms.calc = SinglePointCalculator(atoms, **results)
    atoms.info.pop("adsorbate_info", None)  # ase.build's slab metadata, not writable to extxyz
    atoms.info["group"] = group
    return atoms


@pytest.fixture(scope="module")
def fake_dft(emt_cu):
    from ase.optimize import FIRE

    a = emt_cu["lattice_constant_A"]
    reference = bulk("Cu", "fcc", a=a, cubic=True).repeat(2)
    frames = []
    strains = [np.diag([s, 0, 0]) for s in (-0.02, -0.01, 0.01, 0.02)]
    strains += [np.diag([0, 0, s]) for s in (-0.01, 0.01)]
    strains += [np.array([[0, 0, 0], [0, 0, s], [0, s, 0]]) for s in (-0.005, 0.005, 0.01)]
    strains += [np.zeros((3, 3)), np.diag([0.08, 0, 0])]  # the last beyond max_strain: not fitted
    for eps in strains:
        atoms = reference.copy()
        atoms.set_cell(reference.cell.array @ (np.eye(3) + eps).T, scale_atoms=True)
        frames.append(_label(atoms, "Elastic"))
    vacancy = reference.copy()
    del vacancy[0]
    vacancy.calc = EMT()
    FIRE(vacancy, logfile=None).run(fmax=0.005)
    frames.append(_label(vacancy, "Vacancy"))
    hot = vacancy.copy()
    hot.rattle(0.2, seed=1)
    frames.append(_label(hot, "Vacancy"))  # a snapshot: ignored
    for maker in (fcc100, fcc111):
        slab = maker("Cu", (2, 2, 9), a=a, vacuum=8.0)
        slab.pbc = True
        slab.calc = EMT()
        FIRE(slab, logfile=None).run(fmax=0.005)
        frames.append(_label(slab, "Surface"))
    return frames


def test_dft_properties_recovers_what_the_frames_hold(emt_cu, fake_dft):
    dft = dft_properties(fake_dft, "Cu", "fcc")
    assert dft["lattice_constant_A"] == pytest.approx(emt_cu["lattice_constant_A"], abs=1e-6)
    for key in ("c11_GPa", "c12_GPa", "c44_GPa", "bulk_modulus_GPa"):
        assert dft[key] == pytest.approx(emt_cu[key], rel=0.03), key
    assert dft["vacancy_formation_eV"] == pytest.approx(emt_cu["vacancy_formation_eV"], abs=0.02)
    assert sorted(s["facet"] for s in dft["surfaces"]) == ["100", "111"]
    for facet in ("100", "111"):
        key = f"surface_energy_{facet}_J_m2"
        assert dft[key] == pytest.approx(emt_cu[key], abs=0.01)
    assert "cohesive_energy_eV" not in dft
    assert any("cohesive energy" in note for note in dft["notes"])
    table = format_properties(emt_cu, dft)
    assert "DFT" in table.splitlines()[0] and "surface energy (111)" in table


def test_dft_properties_is_honest_about_snapshots(fake_dft):
    frames = [f for f in fake_dft if f.info["group"] != "Vacancy" or np.abs(f.get_forces()).max() > 0.5]
    dft = dft_properties(frames, "Cu", "fcc")
    assert "vacancy_formation_eV" not in dft
    assert any("snapshots" in note for note in dft["notes"])
    assert dft_properties([], "Cu")["notes"]  # nothing to derive, said so


def test_plot_ev(tmp_path, emt_cu, fake_dft):
    path = plot_ev(emt_cu, tmp_path / "ev.png", dft_properties(fake_dft, "Cu"))
    with open(path, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"


# --- command line ----------------------------------------------------------------------------
def _parser():
    parser = argparse.ArgumentParser(prog="symbpot")
    add_properties_parser(parser.add_subparsers(dest="command"))
    return parser


def test_cli_properties(tmp_path, capsys, fake_dft):
    import ase.io

    pot = lj_potential(2.5 * LJ_SIGMA, reference=-4.0)
    pot.to_json(tmp_path / "best.json")
    data = tmp_path / "dft.extxyz"
    ase.io.write(data, fake_dft, format="extxyz")
    args = _parser().parse_args(["properties", str(tmp_path), "--structure", "fcc", "--supercell", "2",
                                 "--facets", "100", "111", "--data", str(data), "--plot",
                                 str(tmp_path / "ev.png"), "--json"])
    assert args.func is cmd_properties
    assert cmd_properties(args) == 0
    out = capsys.readouterr().out
    result = json.loads(out.strip().splitlines()[-1])
    a0 = result["potential"]["lattice_constant_A"]
    assert f"{a0:.4f}" in out and "lattice constant" in out
    # a pair potential: unrelaxed vacancy = cohesive energy exactly (cell 2 a0 = 7.1 Å > cutoff 5.75 Å)
    pot_result = result["potential"]
    assert pot_result["vacancy_formation_unrelaxed_eV"] == pytest.approx(pot_result["cohesive_energy_eV"], abs=1e-6)
    assert result["dft"]["surface_energy_111_J_m2"] > 0
    assert (tmp_path / "ev.png").stat().st_size > 0


def test_cli_errors(tmp_path):
    pot = lj_potential(2.5 * LJ_SIGMA)
    pot.to_json(tmp_path / "best.json")
    parser = _parser()
    with pytest.raises(ConfigError, match="unknown structure"):
        cmd_properties(parser.parse_args(["properties", str(tmp_path / "best.json"), "--structure", "bct"]))
    with pytest.raises(ConfigError, match="no reference energy for Al"):
        cmd_properties(parser.parse_args(["properties", str(tmp_path / "best.json"), "--element", "Al"]))
    with pytest.raises(SymbpotError, match="no such file"):
        cmd_properties(parser.parse_args(["properties", str(tmp_path / "best.json"), "--data",
                                          str(tmp_path / "missing.extxyz")]))
    with pytest.raises(SystemExit):
        parser.parse_args(["properties", str(tmp_path), "--lattice-constant", "-1"])
