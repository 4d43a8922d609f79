"""The HTML/PNG report of a run folder (needs matplotlib)."""
import csv
import os
import html
import json
import re
import sys

import numpy as np
import pytest

import symbpot
from symbpot.demo import DEMO_EPSILON, DEMO_SIGMA, lj_frames
from symbpot.errors import SymbpotError
from symbpot.expr import Program
from symbpot.expr.registry import R
from symbpot.forms import Cutoff
from symbpot.runfolder import HISTORY_FIELDS

pytest.importorskip("matplotlib")
from symbpot.report import parity_data, write_report  # noqa: E402

CUTOFF = 2.5 * DEMO_SIGMA


def _with_lj_forces(frames):
    """The demo frames with exact (hard-cut) LJ forces attached, so force parity can be drawn."""
    v = 4 * DEMO_EPSILON * ((DEMO_SIGMA / R) ** 12 - (DEMO_SIGMA / R) ** 6)
    lj = symbpot.Potential(Program.from_sympy(v), Cutoff(CUTOFF, "hard"), {"Ar": 0.0})
    _, forces, _ = lj.predict(symbpot.Dataset.from_frames(frames, CUTOFF))
    start = 0
    for atoms in frames:
        atoms.arrays["forces"] = forces[start:start + len(atoms)]
        start += len(atoms)
    return frames


@pytest.fixture(scope="module")
def fitted():
    data = symbpot.Dataset.from_frames(_with_lj_forces(lj_frames(20, seed=1)), cutoff=CUTOFF)
    model = symbpot.SymbolicPotential(cutoff_style="hard", seed=0, time_limit=None, generations=5,
                                      population=40).fit(data)
    return model, data


@pytest.fixture()
def run_dir(tmp_path, fitted):
    model, _ = fitted
    model.equations_.to_csv(tmp_path / "pareto.csv")
    model.get_best().to_json(tmp_path / "best.json")
    (tmp_path / "config.json").write_text(json.dumps({"data": ["demo:lj(20 frames)"], "cutoff": CUTOFF}))
    with open(tmp_path / "history.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HISTORY_FIELDS)
        writer.writerows([row[k] for k in HISTORY_FIELDS] for row in model.history_)
    return tmp_path


def test_report_files_and_html(run_dir, fitted):
    model, data = fitted
    written = write_report(run_dir, train=data, test=data.subset(range(5)))
    names = {p.rsplit("/", 1)[-1] for p in written}
    assert names == {"pareto.png", "parity_energy.png", "parity_forces.png", "potential.png", "history.png",
                     "report.html"}
    for name in names:
        assert (run_dir / name).stat().st_size > 5000, name
    page = (run_dir / "report.html").read_text()
    assert html.escape(model.get_best().latex()) in page
    assert page.count("data:image/png;base64,") == 5
    assert run_dir.name in page and "test (this report)" in page
    assert "force RMSE" in page
    # the best row of the Pareto table is marked
    assert page.count('class="best"') == 1


def test_report_without_data_skips_parity(run_dir):
    written = write_report(run_dir)  # config lists only demo data
    names = {p.rsplit("/", 1)[-1] for p in written}
    assert "parity_energy.png" not in names and {"pareto.png", "potential.png", "report.html"} <= names
    assert "no parity plots" in (run_dir / "report.html").read_text()


def test_report_reads_data_listed_in_config(run_dir, fitted):
    import ase.io

    _, data = fitted
    ase.io.write(run_dir / "train.extxyz", data.frames[:8], format="extxyz")
    ase.io.write(run_dir / "test.extxyz", data.frames[8:12], format="extxyz")
    config = {"data": [str(run_dir / "train.extxyz"), "demo:lj"], "test_data": ["test.extxyz"],
              "cutoff": CUTOFF, "energy_key": "energy"}
    (run_dir / "config.json").write_text(json.dumps(config))
    names = {p.rsplit("/", 1)[-1] for p in write_report(run_dir)}
    assert {"parity_energy.png", "parity_forces.png"} <= names
    page = (run_dir / "report.html").read_text()
    assert "train (this report)" in page and "test (this report)" in page and "test.extxyz" in page


def test_missing_matplotlib_is_one_clear_error(run_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(SymbpotError, match=re.escape("pip install 'symbpot[plot]'")):
        write_report(run_dir)
    assert not (run_dir / "report.html").exists()


def test_parity_data_matches_predictions(fitted):
    model, data = fitted
    best = model.get_best()
    parity = parity_data(best, data)
    np.testing.assert_allclose(parity["energy_pred"], best.predict_energies(data) / data.n_atoms)
    np.testing.assert_allclose(parity["energy_true"], data.energies / data.n_atoms)
    _, forces, _ = best.predict(data)
    np.testing.assert_allclose(parity["force_pred"], forces.ravel())
    np.testing.assert_allclose(parity["force_true"], data.forces.ravel())
    assert parity["metrics"]["energy_rmse_meV_per_atom"] == pytest.approx(
        best.metrics["train"]["energy_rmse_meV_per_atom"], rel=1e-6, abs=1e-9)
    assert "force_mae_eV_per_A" in parity["metrics"]


def test_not_a_run_folder(tmp_path, run_dir):
    with pytest.raises(SymbpotError, match="not a finished run folder"):
        write_report(tmp_path / "missing")
    (run_dir / "best.json").unlink()
    with pytest.raises(SymbpotError, match=re.escape("(no best.json)")):
        write_report(run_dir)


def test_report_shows_properties_beside_dft(run_dir):
    from symbpot.properties import compute_properties
    from symbpot.potential import load_potential

    pot = load_potential(run_dir)
    result = compute_properties(pot.calculator(), "Ar", "fcc", relax=False, supercell=2, vacancy=False,
                                facets=[])
    dft = {"lattice_constant_A": 5.3}
    with open(os.path.join(run_dir, "properties.json"), "w") as fh:
        json.dump({"potential": result, "dft": dft}, fh, default=float)
    write_report(run_dir)
    page = open(os.path.join(run_dir, "report.html")).read()
    assert "Properties (potential vs DFT)" in page and "lattice" in page
