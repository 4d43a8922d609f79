"""The HTML/PNG report of a many-body (EAM) run folder (needs matplotlib)."""
import html
import json

import numpy as np
import pytest
import sympy
from ase.build import bulk

import symbpot
from symbpot import runfolder
from symbpot.cli import main
from symbpot.expr import Program
from symbpot.expr.registry import R
from symbpot.forms import Cutoff
from symbpot.front import FrontTable
from symbpot.manybody import ManyBodyPotential

pytest.importorskip("matplotlib")
from symbpot.report import _front_potentials, write_report  # noqa: E402

P = Program.from_sympy
CUTOFF = 5.0


def sutton_chen(repulsion=47000.0, embedding=-23.0, metrics=None):
    return ManyBodyPotential(("Cu",), [P(repulsion * R**-9)], [P(R**-6)], [P(embedding * sympy.sqrt(R))],
                             Cutoff(CUTOFF, "smooth", 1.0), {"Cu": -3.0}, metrics=metrics or {})


def _frames(n=20, seed=0):
    """Rattled fcc Cu cells (4 atoms) labelled by a Sutton-Chen potential."""
    calc = sutton_chen().calculator()
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(n):
        atoms = bulk("Cu", "fcc", a=3.45 + 0.3 * rng.random(), cubic=True)
        atoms.rattle(0.05, seed=seed + k)
        atoms.calc = calc
        energy, forces = atoms.get_potential_energy(), atoms.get_forces()
        atoms.calc = None
        atoms.info["energy"] = energy
        atoms.arrays["forces"] = forces
        frames.append(atoms)
    return frames


@pytest.fixture(scope="module")
def fitted():
    data = symbpot.Dataset.from_frames(_frames(), cutoff=CUTOFF)
    model = symbpot.SymbolicPotential(form="sutton-chen", force_weight=0.01).fit(data)
    assert isinstance(model.get_best(), ManyBodyPotential)
    return model, data


@pytest.fixture()
def run_dir(tmp_path, fitted):
    model, _ = fitted
    run = runfolder.create_run_dir(str(tmp_path / "run"))
    runfolder.write_results(run, model)
    runfolder.write_history(f"{run}/history.csv", model.history_)
    return tmp_path / "run"


def _names(written):
    return {p.rsplit("/", 1)[-1] for p in written}


def test_many_body_report_files_and_html(run_dir, fitted):
    model, data = fitted
    written = write_report(run_dir, train=data, test=data.subset(range(5)))
    names = _names(written)
    assert names == {"pareto.png", "parity_energy.png", "parity_forces.png", "potential.png", "history.png",
                     "report.html"}
    for name in names:
        assert (run_dir / name).stat().st_size > 5000, name
    page = (run_dir / "report.html").read_text()
    best = model.get_best()
    assert html.escape(best.latex()) in page
    for name in ("phi_CuCu", "g_CuCu", "F_Cu"):
        assert name in page
    assert "U(r) for r" not in page and "<th>functions</th>" in page
    assert page.count("data:image/png;base64,") == 5
    assert "test (this report)" in page and "force RMSE" in page
    assert page.count('class="best"') == 1  # the best row of the front is found
    assert "largest density rho of an atom in the data" in page


def test_many_body_report_from_cli_reads_config_data(run_dir, fitted, capsys):
    import ase.io

    _, data = fitted
    ase.io.write(run_dir / "train.extxyz", data.frames, format="extxyz")
    (run_dir / "config.json").write_text(json.dumps({"data": ["train.extxyz"], "cutoff": CUTOFF,
                                                     "form": "sutton-chen"}))
    assert main(["report", str(run_dir)]) == 0
    assert "report.html" in capsys.readouterr().out
    page = (run_dir / "report.html").read_text()
    assert "train (this report)" in page and "F_Cu" in page
    assert {"parity_energy.png", "parity_forces.png", "potential.png"} <= {p.name for p in run_dir.iterdir()}


def _hand_made_run(path, potentials):
    """A run folder of hand-made potentials (no data, no config): best.json and pareto.csv."""
    path.mkdir()
    potentials[0].to_json(path / "best.json")
    FrontTable.from_potentials(potentials, [1e-3 * (k + 1) for k in range(len(potentials))]).to_csv(
        path / "pareto.csv")
    return path


def _metrics(rmse):
    return {"train": {"energy_rmse_meV_per_atom": rmse, "energy_mae_meV_per_atom": rmse, "n_structures": 3}}


def test_front_members_are_drawn_for_many_body(tmp_path):
    best = sutton_chen(metrics=_metrics(1.0))
    best.complexity = 14
    other = sutton_chen(40000.0, -20.0, metrics=_metrics(5.0))
    other.complexity = 12
    run = _hand_made_run(tmp_path / "run", [best, other])
    rows = [dict(r, complexity=float(r["complexity"])) for r in FrontTable.from_potentials(
        [best, other], [1e-3, 2e-3]).rows]
    expression = "; ".join(f"{k} = {v}" for k, v in best.functions().items())
    members = _front_potentials(rows, best, 0, expression, top=4)
    assert len(members) == 1
    label, member = members[0]
    assert "complexity 12" in label
    r = np.linspace(2.2, 4.9, 7)
    np.testing.assert_allclose(member.pair_energy(r), other.pair_energy(r), rtol=1e-12)
    np.testing.assert_allclose(member.density_value(r), other.density_value(r), rtol=1e-12)
    np.testing.assert_allclose(member.embedding_value(r), other.embedding_value(r), rtol=1e-12)
    names = _names(write_report(run))
    assert names == {"pareto.png", "potential.png", "report.html"}
    page = (run / "report.html").read_text()
    assert "fcc lattice" in page and "no parity plots" in page
    assert "phi_CuCu = 40000.0/r**9" in page  # the other member, rounded, in the front table


def _two_species(form):
    pairs = [P(c * R**-9) for c in (47000.0, 52000.0, 60000.0)]
    densities = [P(c * R**-6) for c in (1.0, 1.2, 1.5)] if form == "eam" else None
    embeddings = [P(c * sympy.sqrt(R)) for c in (-23.0, -26.0)] if form == "eam" else None
    return ManyBodyPotential(("Cu", "Ni"), pairs, densities, embeddings, Cutoff(CUTOFF, "smooth", 1.0),
                             {"Cu": -3.0, "Ni": -4.0}, metrics=_metrics(2.0), complexity=30, form=form)


@pytest.mark.parametrize("form", ["eam", "pair"])
def test_two_species_report(tmp_path, form):
    best = _two_species(form)
    run = _hand_made_run(tmp_path / "run", [best])
    written = write_report(run)
    assert (run / "potential.png").stat().st_size > 5000
    page = (run / "report.html").read_text()
    assert html.escape(best.latex()) in page
    for name in ("phi_CuCu", "phi_CuNi", "phi_NiNi"):
        assert name in page
    for name in ("g_CuCu", "g_CuNi", "g_NiNi", "F_Cu", "F_Ni"):
        assert (name in page) == (form == "eam")
    assert page.count('class="best"') == 1
    assert len(written) == 3


def test_a_many_body_front_table_prints_rounded_functions():
    """repr of ``equations_`` for many-body fronts: each function of ``name = expr; ...`` rounded."""
    best = sutton_chen(47302.2123456, -23.4375123456, metrics=_metrics(1.0))
    best.complexity = 14
    table = FrontTable.from_potentials([best], [1e-3])
    assert "47302.2123455" in table.rows[0]["expression"]  # full precision in the table
    row = repr(table).splitlines()[1]
    assert "phi_CuCu = 47302.0/r**9; g_CuCu = r**(-6); F_Cu = -23.438*sqrt(rho)" in row, row
