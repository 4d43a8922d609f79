"""The `symbpot` command: the demo, a tiny LJ file, and every bad input (exit 2, one line)."""
import json
import os
import subprocess
import sys

import pytest

from symbpot.cli import main

from conftest import LJ_CUTOFF


def run_cli(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(path):
    """Names and contents of every file below ``path`` (to check nothing changed)."""
    out = {}
    for root, _, files in os.walk(path):
        for name in files:
            full = os.path.join(root, name)
            with open(full, "rb") as fh:
                out[full] = fh.read()
    return out


def test_evolve_on_lj_file(lj_file, tmp_path, capsys):
    out = tmp_path / "run"
    code, stdout, err = run_cli(["evolve", lj_file, "--cutoff", LJ_CUTOFF, "--cutoff-style", "hard", "--seed", "0",
                                 "--time-limit", "120", "--target-rmse", "1e-4", "--out", out], capsys)
    assert code == 0, err
    for name in ("config.json", "history.csv", "pareto.csv", "best.json"):
        assert (out / name).is_file()
    best = json.loads((out / "best.json").read_text())
    assert best["form"] == "pair"
    assert best["cutoff"] == pytest.approx(LJ_CUTOFF) and best["cutoff_style"] == "hard"
    assert set(best["reference_energies"]) == {"Ar"}
    assert best["metrics"]["energy_rmse_meV_per_atom"] < 0.1
    assert best["metrics"]["energy_mae_meV_per_atom"] <= best["metrics"]["energy_rmse_meV_per_atom"]
    config = json.loads((out / "config.json").read_text())
    assert config["seed"] == 0 and config["versions"]["symbpot"]
    history = (out / "history.csv").read_text().splitlines()
    assert history[0] == "generation,evaluations,best_loss,front_size,elapsed_s"
    gens = [int(line.split(",")[0]) for line in history[1:]]
    assert gens == list(range(len(gens)))
    pareto = (out / "pareto.csv").read_text().splitlines()
    assert pareto[0].startswith("complexity,loss,energy_rmse_meV_per_atom")
    assert len(pareto) >= 2
    assert "gen" in err and "evals/s" in err  # progress display
    # the closed form is sympy-parsable and equals the energy model
    from symbpot import Potential
    from symbpot.export import parse
    from symbpot.expr import R

    expr = parse(best["expression"])
    pot = Potential.from_json(out)
    for r in (2.3, 3.1, 4.4):
        assert float(expr.subs(R, r)) == pytest.approx(float(pot.pair_energy([r])[0]), rel=1e-10)


def test_demo_writes_a_run_folder(tmp_path, capsys):
    out = tmp_path / "demo"
    code, stdout, err = run_cli(["evolve", "--demo", "lj", "--out", out, "--quiet", "--time-limit", "120"], capsys)
    assert code == 0, err
    best = json.loads((out / "best.json").read_text())
    assert best["metrics"]["energy_rmse_meV_per_atom"] < 1e-3
    assert "r**12" in best["expression"] and "r**6" in best["expression"]


def one_line_error(code, err):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_missing_file(tmp_path, capsys):
    code, _, err = run_cli(["evolve", tmp_path / "nope.extxyz", "--cutoff", "5", "--out", tmp_path / "o"], capsys)
    assert "nope.extxyz" in one_line_error(code, err)
    assert not (tmp_path / "o").exists()


def test_garbage_file(tmp_path, capsys):
    bad = tmp_path / "bad.extxyz"
    bad.write_text("this is not\na structure file\n")
    code, _, err = run_cli(["evolve", bad, "--cutoff", "5", "--out", tmp_path / "o"], capsys)
    assert "bad.extxyz" in one_line_error(code, err)
    assert not (tmp_path / "o").exists()


def test_empty_file(tmp_path, capsys):
    empty = tmp_path / "empty.xyz"
    empty.write_text("")
    code, _, err = run_cli(["evolve", empty, "--cutoff", "5", "--out", tmp_path / "o"], capsys)
    assert "empty" in one_line_error(code, err)


def test_frames_without_energy(tmp_path, capsys):
    import ase.io
    from ase.build import bulk

    path = tmp_path / "noenergy.extxyz"
    ase.io.write(path, [bulk("Cu", "fcc", a=3.6, cubic=True)], format="extxyz")
    code, _, err = run_cli(["evolve", path, "--cutoff", "5", "--out", tmp_path / "o"], capsys)
    line = one_line_error(code, err)
    assert "noenergy.extxyz" in line and "energy" in line


@pytest.mark.parametrize("cutoff", ["0", "-1", "abc", "nan"])
def test_bad_cutoff(lj_file, tmp_path, capsys, cutoff):
    with pytest.raises(SystemExit) as exc:
        main(["evolve", str(lj_file), "--cutoff", cutoff, "--out", str(tmp_path / "o")])
    assert exc.value.code == 2
    line = one_line_error(2, capsys.readouterr().err)
    assert "--cutoff" in line


def test_missing_cutoff(lj_file, tmp_path, capsys):
    code, _, err = run_cli(["evolve", lj_file, "--out", tmp_path / "o"], capsys)
    assert "--cutoff" in one_line_error(code, err)


def test_existing_output_is_never_overwritten(lj_file, tmp_path, capsys):
    out = tmp_path / "existing"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    before = snapshot(out)
    code, _, err = run_cli(["evolve", lj_file, "--cutoff", LJ_CUTOFF, "--out", out], capsys)
    assert "existing" in one_line_error(code, err)
    assert snapshot(out) == before
    a_file = tmp_path / "afile"
    a_file.write_text("x")
    code, _, err = run_cli(["evolve", lj_file, "--cutoff", LJ_CUTOFF, "--out", a_file], capsys)
    assert "afile" in one_line_error(code, err)
    assert a_file.read_text() == "x"


def test_real_command_exit_status(tmp_path):
    """The installed console script: exit 2, one line, no traceback."""
    proc = subprocess.run([sys.executable, "-m", "symbpot.cli", "evolve", str(tmp_path / "missing.xyz"),
                           "--cutoff", "5"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "missing.xyz" in proc.stderr


def test_skip_bad_frames(lj_frames_small, tmp_path, capsys):
    import ase.io

    frames = [a.copy() for a in lj_frames_small[:12]]
    for a, b in zip(frames, lj_frames_small[:12]):
        a.info.update(b.info)
    del frames[3].info["energy"]
    path = tmp_path / "mixed.extxyz"
    ase.io.write(path, frames, format="extxyz")
    code, _, err = run_cli(["evolve", path, "--cutoff", LJ_CUTOFF, "--out", tmp_path / "a"], capsys)
    assert "mixed.extxyz:3" in one_line_error(code, err)
    code, _, err = run_cli(["evolve", path, "--cutoff", LJ_CUTOFF, "--skip-bad-frames", "--generations", "2",
                            "--population", "16", "--quiet", "--no-report", "--out", tmp_path / "b"], capsys)
    assert code == 0, err
    assert "skipped" in err and "mixed.extxyz:3" in err
    config = json.loads((tmp_path / "b" / "config.json").read_text())
    assert config["n_structures"] == 11


def test_max_nodes_on_the_command_line(lj_file, tmp_path, capsys):
    import warnings


    out = tmp_path / "run"
    with warnings.catch_warnings():
        warnings.simplefilter("always")  # pytest may otherwise swallow the warning
        code, stdout, err = run_cli(["evolve", lj_file, "--cutoff", LJ_CUTOFF, "--cutoff-style", "hard",
                                     "--generations", "10", "--population", "40", "--max-nodes", "1", "--quiet",
                                     "--no-report", "--out", out], capsys)
    assert code == 0, err
    assert json.loads((out / "config.json").read_text())["max_nodes"] == 1
    # no closed form has a single node: one warning line, then best from the whole front
    lines = [line for line in err.splitlines() if "warning" in line]
    assert lines == ["symbpot: warning: no front member has a closed form of at most 1 nodes; "
                     "best chosen from the whole front"]
    assert "Traceback" not in err


def test_bad_max_nodes_is_one_line_and_no_folder(lj_file, tmp_path, capsys):
    code, _, err = run_cli(["evolve", lj_file, "--cutoff", LJ_CUTOFF, "--max-nodes", "0",
                            "--out", tmp_path / "o"], capsys)
    assert "max nodes" in one_line_error(code, err)
    assert not (tmp_path / "o").exists()
