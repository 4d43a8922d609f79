"""The bookkeeping of benchmarks/scaling.py: how rounds become medians, speed-ups, targets and
the ``identical_work`` verdict, and how a lost summary is rebuilt from the printed log.

The runs themselves take half an hour on the Cu set, so these tests feed made-up round
details of the shape ``run_islands`` returns; the island machinery has its own tests
(tests/test_islands.py).
"""
from __future__ import annotations

import importlib.util
import pathlib

import pytest

BENCHMARKS = pathlib.Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture(scope="module")
def scaling():
    spec = importlib.util.spec_from_file_location("benchmark_scaling", BENCHMARKS / "scaling.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def detail(rate, task_s, fronts=("a", "b", "c", "d"), evaluations=1000, busy=0.95):
    """A ``run_islands`` detail: two islands, two epochs, one front digest per task."""
    log = [{"island": i % 2, "generation": 10 * (1 + i // 2), "front": f} for i, f in enumerate(fronts)]
    return {"evals_per_s": rate, "evaluations": evaluations, "task_s_sum": task_s, "busy_fraction": busy,
            "pool_restarts": 0, "task_log": log}


def rounds_of(rates, task_s=(30.0, 31.0, 33.0)):
    """Three rounds; ``rates[r]`` = (1core, 2cores, dask) rates of round r."""
    return [{"1core": detail(a, task_s[0]), "2cores": detail(b, task_s[1]), "dask_2workers": detail(c, task_s[2])}
            for a, b, c in rates]


def test_speed_ups_are_medians_of_each_rounds_own_speed_up_and_the_targets_follow(scaling):
    entry = scaling.summarise_rounds(rounds_of([(100, 190, 150), (80, 185, 170), (110, 200, 165)]))
    assert entry["evals_per_s_1core"] == 100
    assert entry["evals_per_s_2cores"] == 190
    assert entry["evals_per_s_dask_2workers"] == 165
    assert entry["speedup_2cores_per_round"] == [1.9, round(185 / 80, 3), round(200 / 110, 3)]
    assert entry["speedup_dask_2workers_per_round"] == [1.5, 2.125, 1.5]
    assert entry["speedup_2cores"] == pytest.approx(1.9)
    # paired: each round against its own one-core run, not the median rates' ratio (165 / 100)
    assert entry["speedup_dask_2workers"] == pytest.approx(1.5)
    assert entry["speedup_dask_2workers_of_medians"] == pytest.approx(1.65)
    assert entry["task_inflation_2cores"] == pytest.approx(31 / 30, abs=1e-3)
    assert entry["task_inflation_dask_2workers"] == pytest.approx(1.1)
    assert entry["target_2cores_met"] and not entry["target_dask_met"]
    assert entry["identical_work"] and "first_differing_tasks" not in entry
    # round 1's full details are kept, the task log reduced to (island, generation, digest) per round
    assert entry["2cores"]["task_log"][0]["front"] == "a"
    assert entry["rounds"][0]["1core"]["task_fronts"] == [(0, 10, "a"), (1, 10, "b"), (0, 20, "c"), (1, 20, "d")]


def test_a_target_just_missed_is_reported_as_not_met(scaling):
    entry = scaling.summarise_rounds(rounds_of([(100, 179, 161), (100, 181, 159), (100, 179, 159)]))
    assert entry["speedup_2cores"] == pytest.approx(1.79)
    assert entry["speedup_dask_2workers"] == pytest.approx(1.59)
    assert not entry["target_2cores_met"]
    assert not entry["target_dask_met"]
    entry = scaling.summarise_rounds(rounds_of([(100, 180, 160)] * 3))
    assert entry["target_2cores_met"] and entry["target_dask_met"]  # the targets are ">="


def test_a_run_that_parted_is_not_identical_work_and_the_first_differing_task_is_named(scaling):
    details = rounds_of([(100, 190, 170)] * 3)
    details[1]["dask_2workers"] = detail(170, 33.0, fronts=("a", "b", "x", "y"))
    entry = scaling.summarise_rounds(details)
    assert not entry["identical_work"]
    assert entry["first_differing_tasks"] == {"2:dask_2workers": [(0, 20), "c", "x"]}


def test_the_same_fronts_after_a_different_number_of_evaluations_is_not_identical_work(scaling):
    details = rounds_of([(100, 190, 170)] * 3)
    details[2]["2cores"] = detail(190, 31.0, evaluations=1001)
    assert not scaling.summarise_rounds(details)["identical_work"]


def test_a_lost_summary_is_rebuilt_from_the_printed_rounds(scaling, tmp_path):
    details = rounds_of([(100, 190, 150), (80, 185, 170), (110, 200, 165)])
    log = tmp_path / "scaling.err"
    lines = ["machine ceiling: {'compute_2process_speedup': 2.0}"]
    for r, got in enumerate(details):
        for name, d in got.items():
            lines.append(f"pair same work round {r + 1} {name}: {d!r}")
    lines.append("eam same work round 1 1core: {'evaluations': 5}")  # another form's line is not read
    log.write_text("\n".join(lines) + "\n")
    assert scaling.details_from_log(str(log), "pair") == details
    assert scaling.summarise_rounds(scaling.details_from_log(str(log), "pair"))["speedup_2cores"] == pytest.approx(1.9)


def test_an_incomplete_log_is_refused_with_its_name(scaling, tmp_path):
    log = tmp_path / "cut.err"
    log.write_text(f"pair same work round 1 1core: {detail(100, 30.0)!r}\n")
    with pytest.raises(SystemExit, match="cut.err: no complete rounds of 'pair'"):
        scaling.details_from_log(str(log), "pair")
