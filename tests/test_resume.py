"""Checkpoints and resume: a run killed with SIGKILL continues from its last checkpoint."""
import json
import signal
import subprocess
import sys
import time

import pytest

from symbpot.cli import main

from conftest import LJ_CUTOFF


def history_generations(run):
    lines = (run / "history.csv").read_text().splitlines()[1:]
    return [int(line.split(",")[0]) for line in lines]


def test_killed_run_resumes_from_checkpoint(lj_file, tmp_path, capsys):
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "symbpot.cli", "evolve", str(lj_file), "--cutoff", str(LJ_CUTOFF),
           "--time-limit", "300", "--population", "40", "--checkpoint-interval", "0.2", "--out", str(run),
           "--quiet", "--no-report"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    checkpoint = run / "checkpoint.json"
    deadline = time.time() + 240
    while time.time() < deadline:
        if checkpoint.exists() and json.loads(checkpoint.read_text())["search"]["generation"] >= 3:
            break
        time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("no checkpoint was written")
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (run / "best.json").exists()  # it really died mid-run
    saved = json.loads(checkpoint.read_text())["search"]["generation"]

    code = main(["evolve", "--resume", str(run), "--generations", "3", "--quiet", "--no-report"])
    assert code == 0, capsys.readouterr().err
    gens = history_generations(run)
    assert gens == list(range(saved + 4))  # history continues from the checkpoint, counting up
    best = json.loads((run / "best.json").read_text())
    assert best["form"] == "pair" and best["metrics"]["energy_rmse_meV_per_atom"] >= 0
    assert json.loads(checkpoint.read_text())["search"]["generation"] == saved + 3


def test_finished_run_resumes_and_keeps_counting(lj_file, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["evolve", str(lj_file), "--cutoff", str(LJ_CUTOFF), "--generations", "2", "--population", "24",
                 "--out", str(run), "--quiet", "--no-report"]) == 0
    config_before = (run / "config.json").read_text()
    assert main(["evolve", "--resume", str(run), "--generations", "2", "--quiet", "--no-report"]) == 0
    assert history_generations(run) == [0, 1, 2, 3, 4]
    assert (run / "config.json").read_text() == config_before  # started settings are kept


def test_resume_refuses_bad_folders(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["evolve", "--resume", str(empty)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "checkpoint" in err[0]
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "checkpoint.json").write_text("{not json")
    (corrupt / "config.json").write_text("{}")
    assert main(["evolve", "--resume", str(corrupt)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "corrupt" in err[0]
    assert (corrupt / "checkpoint.json").read_text() == "{not json"  # reported, not overwritten
    assert main(["evolve", "--resume", str(tmp_path / "missing")]) == 2


def test_same_seed_same_pareto(lj_file, tmp_path, capsys):
    runs = []
    for name in ("a", "b"):
        out = tmp_path / name
        assert main(["evolve", str(lj_file), "--cutoff", str(LJ_CUTOFF), "--generations", "4", "--population",
                     "32", "--seed", "7", "--out", str(out), "--quiet", "--no-report"]) == 0
        runs.append((out / "pareto.csv").read_text())
    assert runs[0] == runs[1]
