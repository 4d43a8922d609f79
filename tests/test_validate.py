"""``symbpot validate POTENTIAL DATA``: metrics against an independent ASE-calculator loop.

The potential is a smooth-cutoff LJ written with Potential.to_json; the data are LJ
configurations labelled (energies, forces, stresses) by a *different* potential (other
sigma, epsilon and reference energy), in two groups, written as extended XYZ. One frame
has no forces and one no stress, so the metrics must count only the labels present.
"""
from __future__ import annotations

import json
import math

import ase.io
import numpy as np
import pytest

from conftest import EPSILON, LJ_CUTOFF, SIGMA
from symbpot import Cutoff, Potential
from symbpot.cli import main
from symbpot.expr import Program, R

EV_PER_A3_IN_GPA = 160.21766208
GROUPS = ("bulk", "strained")
N_FRAMES = 10
METRIC_KEYS = ("energy_mae_meV_per_atom", "energy_rmse_meV_per_atom", "force_mae_eV_per_A", "force_rmse_eV_per_A",
               "stress_mae_GPa", "stress_rmse_GPa", "n_structures")


def lj_potential(sigma, epsilon, ref):
    pair = Program.from_sympy(4 * epsilon * (sigma**12 * R**-12 - sigma**6 * R**-6))
    return Potential(pair, Cutoff(LJ_CUTOFF, "smooth", 1.0), {"Ar": ref})


@pytest.fixture(scope="module")
def model():
    return lj_potential(SIGMA, EPSILON, -0.5)


@pytest.fixture(scope="module")
def labelled(lj_frames_small):
    """Frames labelled by a different potential (sigma +2 %, epsilon -10 %, other reference)."""
    truth = lj_potential(1.02 * SIGMA, 0.9 * EPSILON, -0.48)
    frames = []
    for k, atoms in enumerate(lj_frames_small[:N_FRAMES]):
        atoms = atoms.copy()
        atoms.info.clear()
        atoms.calc = truth.calculator()
        atoms.info["energy"] = atoms.get_potential_energy()
        if k != 3:
            atoms.arrays["forces"] = atoms.get_forces()
        if k != 4:
            atoms.info["stress"] = atoms.get_stress()
        atoms.calc = None
        atoms.info["group"] = GROUPS[k % 2]
        frames.append(atoms)
    return frames


@pytest.fixture()
def files(tmp_path, model, labelled):
    data = tmp_path / "data.extxyz"
    ase.io.write(data, labelled, format="extxyz")
    run = tmp_path / "run"
    run.mkdir()
    model.to_json(run / "best.json")
    return run / "best.json", data


def independent_metrics(potential, data_path):
    """The metrics by a plain loop over the frames with the ASE calculator (labels read back)."""
    frames = ase.io.read(data_path, ":")
    rows = {g: {"e": [], "f": [], "s": [], "n": 0} for g in ("all",) + GROUPS}
    for atoms in frames:
        labels = atoms.calc.results  # ASE reads energy/forces/stress of extxyz into a SinglePointCalculator
        e_label = labels["energy"]
        f_label = labels.get("forces")
        s_label = labels.get("stress")
        atoms.calc = potential.calculator()
        e = atoms.get_potential_energy()
        for g in ("all", atoms.info["group"]):
            r = rows[g]
            r["n"] += 1
            r["e"].append((e - e_label) / len(atoms))
            if f_label is not None:
                r["f"].extend((atoms.get_forces() - f_label).ravel())
            if s_label is not None:
                r["s"].extend((atoms.get_stress() - s_label).ravel() * EV_PER_A3_IN_GPA)
    out = {}
    for g, r in rows.items():
        e, f, s = (np.array(r[k]) for k in "efs")
        out[g] = {"n_structures": r["n"],
                  "energy_mae_meV_per_atom": 1000 * np.mean(np.abs(e)),
                  "energy_rmse_meV_per_atom": 1000 * np.sqrt(np.mean(e**2)),
                  "force_mae_eV_per_A": np.mean(np.abs(f)), "force_rmse_eV_per_A": np.sqrt(np.mean(f**2)),
                  "stress_mae_GPa": np.mean(np.abs(s)), "stress_rmse_GPa": np.sqrt(np.mean(s**2))}
    return out


def run_json(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "Traceback" not in out + err
    lines = out.strip().splitlines()
    return json.loads(lines[-1]), lines[:-1]


def assert_metrics_match(got, expected):
    for key in METRIC_KEYS:
        assert key in got, key
        if key == "n_structures":
            assert got[key] == expected[key]
        else:
            assert got[key] == pytest.approx(expected[key], rel=1e-8, abs=1e-12), key


def test_validate_json_matches_independent_ase_loop(files, model, capsys):
    pot_path, data = files
    metrics, table = run_json(["validate", str(pot_path), str(data), "--json"], capsys)
    expected = independent_metrics(Potential.from_json(pot_path), data)
    # the labels come from another potential: every error is clearly non-zero
    for key in METRIC_KEYS[:-1]:
        assert expected["all"][key] > 1e-3, key
    assert_metrics_match(metrics, expected["all"])
    assert metrics["n_structures"] == N_FRAMES
    assert metrics["n_force_components"] == 3 * (sum(len(a) for a in ase.io.read(data, ":")) -
                                                 len(ase.io.read(data, "3")))
    assert metrics["n_stress_components"] == 6 * (N_FRAMES - 1)
    assert sorted(metrics["groups"]) == sorted(GROUPS)
    for g in GROUPS:
        assert_metrics_match(metrics["groups"][g], expected[g])
    assert sum(metrics["groups"][g]["n_structures"] for g in GROUPS) == N_FRAMES
    # the table printed before the JSON line names every group
    text = "\n".join(table)
    assert all(name in text for name in ("all",) + GROUPS)


def test_validate_accepts_a_run_folder(files, capsys):
    pot_path, data = files
    from_file, _ = run_json(["validate", str(pot_path), str(data), "--json"], capsys)
    from_folder, _ = run_json(["validate", str(pot_path.parent), str(data), "--json"], capsys)
    assert from_folder == from_file


def test_validate_of_the_labelling_potential_gives_zero_errors(tmp_path, labelled, capsys):
    data = tmp_path / "data.extxyz"
    ase.io.write(data, labelled, format="extxyz")
    lj_potential(1.02 * SIGMA, 0.9 * EPSILON, -0.48).to_json(tmp_path / "truth.json")
    metrics, _ = run_json(["validate", str(tmp_path / "truth.json"), str(data), "--json"], capsys)
    # labels went through the extxyz text format (8 decimals for positions and forces)
    assert metrics["energy_mae_meV_per_atom"] < 1e-3
    assert metrics["force_mae_eV_per_A"] < 1e-5
    assert metrics["stress_mae_GPa"] < 1e-3


def test_validate_without_json_prints_a_table(files, capsys):
    pot_path, data = files
    assert main(["validate", str(pot_path), str(data)]) == 0
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    lines = out.strip().splitlines()
    assert not lines[-1].startswith("{")
    assert lines[0].split()[0] == "group" and [ln.split()[0] for ln in lines[1:]] == ["all", *GROUPS]


# --- bad inputs: exit 2, one line on stderr naming the file, no traceback ----------------------
def check_error(argv, name, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2
    assert "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert name in lines[0]
    return lines[0]


def test_missing_potential_file(files, tmp_path, capsys):
    _, data = files
    check_error(["validate", str(tmp_path / "nope.json"), str(data), "--json"], "nope.json", capsys)


def test_run_folder_without_best_json(files, tmp_path, capsys):
    _, data = files
    empty = tmp_path / "empty_run"
    empty.mkdir()
    check_error(["validate", str(empty), str(data)], "best.json", capsys)



@pytest.mark.parametrize("content", [
    "{not json", "", "[1, 2]", '{"format": "symbpot-potential"}', '{"cutoff": "abc", "pair_function": "r"}',
    '{"cutoff": 5.0, "pair_function": "r**(-12)", "reference_energies": {"Ar": "x"}}',
    pytest.param('{"cutoff": 5.0, "pair_function": "r**(-12) +", "reference_energies": {}}',
                 id="unparsable-pair-function"),
    "\x00\xff\xfe"])
def test_corrupt_potential_file(files, tmp_path, capsys, content):
    _, data = files
    bad = tmp_path / "bad_run"
    bad.mkdir()
    (bad / "best.json").write_bytes(content.encode("latin-1"))
    check_error(["validate", str(bad / "best.json"), str(data)], "best.json", capsys)
    check_error(["validate", str(bad), str(data)], "best.json", capsys)


def test_missing_data_file(files, tmp_path, capsys):
    pot_path, _ = files
    check_error(["validate", str(pot_path), str(tmp_path / "missing.extxyz"), "--json"], "missing.extxyz", capsys)


def test_unreadable_data_file(files, tmp_path, capsys):
    pot_path, _ = files
    garbage = tmp_path / "garbage.extxyz"
    garbage.write_text("this is not\nan xyz file\n")
    check_error(["validate", str(pot_path), str(garbage)], "garbage.extxyz", capsys)


def test_data_without_the_potentials_species(files, tmp_path, labelled, capsys):
    pot_path, _ = files
    frames = [a.copy() for a in labelled[:2]]
    for a in frames:
        a.symbols[:] = "Kr"
    data = tmp_path / "kr.extxyz"
    ase.io.write(data, frames, format="extxyz")
    line = check_error(["validate", str(pot_path), str(data)], "Kr", capsys)
    assert "reference energy" in line


def test_metric_values_are_finite_and_json_safe(files, capsys):
    pot_path, data = files
    metrics, _ = run_json(["validate", str(pot_path), str(data), "--json"], capsys)
    for key in METRIC_KEYS:
        assert math.isfinite(metrics[key])
