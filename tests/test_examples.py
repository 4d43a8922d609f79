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
