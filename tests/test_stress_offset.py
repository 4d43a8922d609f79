"""Fitting an isotropic offset of the DFT stresses (a Pulay-like error of the data) with the potential."""
import numpy as np
import pytest
import sympy
from ase.calculators.singlepoint import SinglePointCalculator

from symbpot import Dataset, SymbolicPotential
from symbpot.cli import main
from symbpot.errors import ConfigError
from symbpot.expr import Program
from symbpot.fitness.direct import EV_PER_A3_IN_GPA
from symbpot.fitness.energy import PairLoss
from symbpot.fitness.exact import ExactLoss
from symbpot.forms.cutoff import Cutoff
from symbpot.manybody import ManyBodyPotential
from symbpot.potential import load_potential
from symbpot.validate import validate

from conftest import rattled_cells

R = sympy.Symbol("r")
P = Program.from_sympy
CUTOFF = Cutoff(5.0, "smooth", 1.0)
OFFSET_GPA = 0.8


def sutton_chen():
    return ManyBodyPotential(("Cu",), [P(0.0124 * 1000 * (2.5 / R) ** 9)], [P((2.5 / R) ** 6)],
                             [P(-1.5 * sympy.sqrt(R))], CUTOFF, {"Cu": -3.0})


def lennard_jones():
    return ManyBodyPotential(("Cu",), [P(4 * 0.4 * ((2.3 / R) ** 12 - (2.3 / R) ** 6))], None, None, CUTOFF,
                             {"Cu": -0.5}, form="pair")


def labelled(pot, n=16, seed=0, offset_gpa=OFFSET_GPA):
    """Frames labelled by ``pot`` whose stresses carry an isotropic offset (tensile positive, GPa)."""
    frames = []
    for atoms in rattled_cells(n, seed):
        atoms.calc = pot.calculator()
        energy, forces, stress = atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
        stress = stress + np.array([1, 1, 1, 0, 0, 0]) * offset_gpa / EV_PER_A3_IN_GPA
        atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces, stress=stress)
        frames.append(atoms)
    return Dataset.from_frames(frames, cutoff=CUTOFF.radius)


@pytest.mark.parametrize("form,truth", [("sutton-chen", sutton_chen), ("lj", lennard_jones)])
def test_template_fit_recovers_the_potential_and_the_offset(form, truth, tmp_path):
    truth = truth()
    ds, held_out = labelled(truth), labelled(truth, n=6, seed=5)
    best = SymbolicPotential(form=form, force_weight=0.01, stress_weight=0.01, stress_offset=True,
                             template_starts=4).fit(ds).get_best()
    m = best.metrics
    assert m["stress_offset_GPa"] == pytest.approx(OFFSET_GPA, rel=1e-6)
    assert m["train"]["energy_rmse_meV_per_atom"] < 1e-5
    assert m["train"]["stress_mae_GPa"] < 1e-5  # against the DFT stress less the offset
    # held-out data: validate() applies the data's offset too
    assert validate(best, held_out)["stress_mae_GPa"] < 1e-5
    # the potential itself (its calculator) gives the physical stress, without the offset
    atoms = held_out.frames[0].copy()
    atoms.calc = best.calculator()
    want = atoms.copy()
    want.calc = truth.calculator()
    assert np.allclose(atoms.get_stress(), want.get_stress(), atol=1e-9)
    # the offset survives the JSON round trip (validate on a reloaded potential)
    best.to_json(tmp_path / "best.json")
    again = load_potential(tmp_path / "best.json")
    assert again.metrics["stress_offset_GPa"] == pytest.approx(m["stress_offset_GPa"], rel=1e-12)


def test_without_the_offset_the_same_fit_is_worse():
    """The offset cannot come from the energy: without it, energies or stresses must give."""
    ds = labelled(sutton_chen())
    best = SymbolicPotential(form="sutton-chen", force_weight=0.01, stress_weight=0.01,
                             template_starts=4).fit(ds).get_best()
    assert "stress_offset_GPa" not in best.metrics
    m = best.metrics["train"]
    assert m["energy_rmse_meV_per_atom"] > 1e-2 or m["stress_mae_GPa"] > 0.1


def test_grid_loss_projects_out_the_offset_exactly():
    """PairLoss (grid) with the offset equals the exact loss with the offset fitted, and is ~0 for the truth."""
    truth = lennard_jones()
    ds = labelled(truth)
    terms = [P((2.3 / R) ** 12), P((2.3 / R) ** 6)]
    losses = {}
    for offset in (False, True):
        grid = PairLoss(ds, CUTOFF, weights=None, force_weight=0.01, stress_weight=0.01, stress_offset=offset)
        exact = ExactLoss(grid_ds := ds.restrict_cutoff(CUTOFF.radius), CUTOFF, None, 1.0, 0.01, 0.01, offset)
        coef, extra, exact_loss = exact.fit_linear(terms, grid_ds.species)
        grid_loss = grid.score([terms])[0][0]
        assert grid_loss == pytest.approx(exact_loss, rel=1e-3, abs=1e-9)  # the grid interpolates
        losses[offset] = exact_loss
        if offset:
            assert extra[-1] * EV_PER_A3_IN_GPA == pytest.approx(OFFSET_GPA, rel=1e-6)
            assert coef == pytest.approx([4 * 0.4, -4 * 0.4], rel=1e-6)
    assert losses[True] < 1e-12 < 1e-6 < losses[False]


def test_pair_search_fits_the_offset():
    """--form pair (the grid loss and the exact final fit) with the offset."""
    truth = lennard_jones()
    ds = labelled(truth)
    best = SymbolicPotential(form="pair", seed_forms=("lj",), generations=2, population=20, time_limit=None,
                             force_weight=0.01, stress_weight=0.01, stress_offset=True).fit(ds).get_best()
    assert best.metrics["stress_offset_GPa"] == pytest.approx(OFFSET_GPA, rel=1e-6)
    assert best.metrics["train"]["stress_mae_GPa"] < 1e-5


def test_offset_needs_stresses_in_the_loss(tmp_path, capsys):
    ds = labelled(sutton_chen(), n=4)
    with pytest.raises(ConfigError, match="stress offset"):
        SymbolicPotential(form="sutton-chen", force_weight=0.01, stress_offset=True).fit(ds)
    path = tmp_path / "d.extxyz"
    import ase.io

    ase.io.write(path, ds.frames, format="extxyz")
    out = tmp_path / "run"
    assert main(["evolve", str(path), "--cutoff", "5.0", "--form", "sutton-chen", "--stress-offset",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "stress offset" in err[0] and not out.exists()


def test_cli_reports_the_offset(tmp_path, capsys):
    import ase.io
    import json

    path = tmp_path / "d.extxyz"
    ase.io.write(path, labelled(sutton_chen(), n=8).frames, format="extxyz")
    out = tmp_path / "run"
    assert main(["evolve", str(path), "--cutoff", "5.0", "--form", "sutton-chen", "--force-weight", "0.01",
                 "--stress-weight", "0.01", "--stress-offset", "--template-starts", "2", "--no-report",
                 "--out", str(out)]) == 0
    assert "stress offset of the data" in capsys.readouterr().out
    metrics = json.loads((out / "best.json").read_text())["metrics"]
    assert metrics["stress_offset_GPa"] == pytest.approx(OFFSET_GPA, rel=1e-4)  # extxyz rounds the stress
    assert json.loads((out / "config.json").read_text())["cli"]["stress_offset"] is True


def test_validate_can_leave_the_offset_out(tmp_path, capsys):
    import ase.io

    truth = sutton_chen()
    best = SymbolicPotential(form="sutton-chen", force_weight=0.01, stress_weight=0.01, stress_offset=True,
                             template_starts=2).fit(labelled(truth)).get_best()
    best.to_json(tmp_path / "best.json")
    clean = labelled(truth, n=4, seed=3, offset_gpa=0.0)  # data from a set-up without the offset
    assert validate(best, clean, stress_offset=False)["stress_mae_GPa"] < 1e-5
    assert validate(best, clean)["stress_mae_GPa"] == pytest.approx(OFFSET_GPA / 2, rel=1e-4)  # 3 of 6 components
    path = tmp_path / "clean.extxyz"
    ase.io.write(path, clean.frames, format="extxyz")
    for flag, applied in ((["--no-stress-offset"], False), ([], True)):
        assert main(["validate", str(tmp_path / "best.json"), str(path), *flag]) == 0
        err = capsys.readouterr().err
        assert "stress offset" in err and ("not applied" in err) != applied
