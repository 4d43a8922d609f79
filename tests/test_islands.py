"""Islands (symbpot.gp.islands): parallel populations, migration, one merged front; Dask."""
import math
import os
import signal
import threading
import time

import pytest

from symbpot import SymbolicPotential
from symbpot.cli import main

from conftest import LJ_CUTOFF

#: small generation-bound island runs (ordered schedule, three epochs): the result is deterministic
SETTINGS = dict(islands=2, generations=6, population=40, migration_interval=2, seed=0, time_limit=None,
                cutoff_style="hard")


def front_of(est):
    return [(c.complexity, c.loss, c.key) for c in est.search_.final_hall().front()]


def dominated_or_equal(member, front) -> bool:
    """Covered by a front member as simple and as good, up to the front's own tolerance: a more
    complex rewrite of a function whose loss is lower only by rounding (one part in 1e9) does
    not join the front (HallOfFame.front)."""
    return any(c.complexity <= member["complexity"] and c.loss <= member["loss"] * (1 + 1e-9) for c in front)


@pytest.fixture(scope="module")
def serial_run(lj_dataset):
    """Two islands taking turns in this process: the reference the parallel runs must equal."""
    return SymbolicPotential(workers=1, **SETTINGS).fit(lj_dataset)


def check_merged_front(est, islands=2):
    search = est.search_
    front = search.final_hall().front()
    assert search.islands == islands and search.generation == SETTINGS["generations"]
    assert search.migrations > 0
    assert front and len(est.front_) == len(front)
    complexities = [c.complexity for c in front]
    losses = [c.loss for c in front]
    assert complexities == sorted(set(complexities)) and all(b < a for a, b in zip(losses, losses[1:]))
    assert all(math.isfinite(loss) for loss in losses)
    for island_front in search.island_fronts:  # every island's front is covered by the merged one
        assert island_front
        assert all(dominated_or_equal(m, front) for m in island_front)
    # the merged losses are the islands' losses: re-scoring the members gives them again
    model = search.master.loss_model
    rescored, _ = model.score([c.terms for c in front])
    assert [float(x) for x in rescored] == pytest.approx(losses, rel=1e-9, abs=1e-20)
    best = est.get_best()
    assert best.metrics["energy_rmse_meV_per_atom"] < 1.0  # LJ found (it is in the data's family)


def kill_a_loky_worker(killed: list) -> None:
    import psutil

    for proc in psutil.Process().children(recursive=True):
        if "popen_loky" in " ".join(proc.cmdline()):
            os.kill(proc.pid, signal.SIGKILL)
            killed.append(proc.pid)
            return


def test_two_worker_processes_give_one_valid_merged_front_even_if_one_dies(lj_dataset, serial_run):
    killed = []
    # one worker process is killed after the first epoch: the pool is restarted, the islands resubmitted
    est = SymbolicPotential(workers=2, progress=lambda row: killed or kill_a_loky_worker(killed), **SETTINGS)
    est.fit(lj_dataset)
    check_merged_front(est)
    search = est.search_
    assert killed and search.settings.stats["restarts"] == 1
    assert len(search.pids) >= 2 and os.getpid() not in search.pids  # worker processes did the work
    assert search.settings.stats["numba_threads"] == max(1, os.cpu_count() // 2)
    # islands are pure functions of their state and migrants: same front as taking turns in one process
    assert front_of(est) == front_of(serial_run)
    check_merged_front(serial_run)


def test_workers_one_is_the_single_population_search(lj_dataset):
    est = SymbolicPotential(workers=1, generations=3, population=24, seed=1, time_limit=None).fit(lj_dataset)
    assert type(est.search_).__name__ == "Search"


def test_time_limited_islands_run_asynchronously(lj_dataset):
    est = SymbolicPotential(workers=1, islands=2, time_limit=1.5, population=24, migration_interval=2, seed=3,
                            cutoff_style="hard").fit(lj_dataset)
    search = est.search_
    assert search.tasks >= 4 and all(search.polished) and est.front_
    assert 1.5 <= search.elapsed < 10
    assert [r["evaluations"] for r in search.history] == sorted(r["evaluations"] for r in search.history)


def test_bad_island_settings_are_config_errors(lj_dataset):
    from symbpot import ConfigError

    for kw in (dict(workers=0), dict(islands=0), dict(migration_interval=0), dict(workers=1.5)):
        with pytest.raises(ConfigError):
            SymbolicPotential(generations=1, **kw).check(lj_dataset)


def island_tasks(run_dir) -> list[dict]:
    """Rows of islands.csv, checked against history.csv: the tasks' evaluations are the run's."""
    import csv

    with open(run_dir / "islands.csv", newline="") as fh:
        tasks = list(csv.DictReader(fh))
    with open(run_dir / "history.csv", newline="") as fh:
        history = list(csv.DictReader(fh))
    assert sum(int(t["evaluations"]) for t in tasks) == int(history[-1]["evaluations"])
    assert all(float(t["best_loss"]) > 0 and int(t["front_size"]) > 0 for t in tasks)
    return tasks


def test_island_summary_counts_each_island_and_worker():
    from symbpot.report import island_summary

    rows = [dict(island=0.0, generation=2.0, evaluations=10.0, seconds=4.0, pid=7.0, received_s=5.0, best_loss=0.5),
            dict(island=1.0, generation=2.0, evaluations=20.0, seconds=2.0, pid=8.0, received_s=3.0, best_loss=0.4),
            dict(island=1.0, generation=4.0, evaluations=30.0, seconds=6.0, pid=8.0, received_s=9.0, best_loss=0.2),
            dict(island=0.0, generation=4.0, evaluations=5.0, seconds=3.0, pid=7.0, received_s=9.0, best_loss="")]
    got = island_summary(rows)
    assert got["span_s"] == 8.0  # first start 1 s, last receipt 9 s
    assert got["islands"] == [
        {"island": 0, "tasks": 2, "evaluations": 15, "task_s": 7.0, "generation": 4, "best_loss": 0.5},
        {"island": 1, "tasks": 2, "evaluations": 50, "task_s": 8.0, "generation": 4, "best_loss": 0.2}]
    assert {w["worker"]: w["busy_fraction"] for w in got["workers"]} == {7.0: 7 / 8, 8.0: 1.0}
    assert island_summary([]) == {"islands": [], "workers": [], "span_s": 0.0}


def test_cli_islands_run_resume_and_bad_workers(lj_file, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["evolve", str(lj_file), "--cutoff", str(LJ_CUTOFF), "--cutoff-style", "hard", "--generations", "4",
                 "--population", "24", "--workers", "1", "--islands", "2", "--migration-interval", "2",
                 "--out", str(out), "--quiet", "--no-report"]) == 0
    assert (out / "pareto.csv").exists() and (out / "best.json").exists()
    import json

    config = json.loads((out / "config.json").read_text())
    assert config["islands"] == 2 and config["migration_interval"] == 2
    state = json.loads((out / "checkpoint.json").read_text())["search"]
    assert state["islands"]["count"] == 2 and len(state["islands"]["states"]) == 2
    assert [s["generation"] for s in state["islands"]["states"]] == [4, 4]
    tasks = island_tasks(out)
    assert len(tasks) == 4 and sorted(t["island"] for t in tasks) == ["0", "0", "1", "1"]
    assert {t["generation"] for t in tasks} == {"2", "4"}
    # resume continues every island from the checkpoint, and islands.csv keeps the earlier tasks
    assert main(["evolve", "--resume", str(out), "--generations", "2", "--quiet", "--no-report"]) == 0
    state = json.loads((out / "checkpoint.json").read_text())["search"]
    assert [s["generation"] for s in state["islands"]["states"]] == [6, 6]
    resumed = island_tasks(out)
    assert resumed[:4] == tasks and len(resumed) == 6 and {t["generation"] for t in resumed[4:]} == {"6"}
    pytest.importorskip("matplotlib")
    from symbpot.report import write_report

    written = write_report(out)
    assert str(out / "islands.png") in written
    page = (out / "report.html").read_text()
    assert "<h2>Islands</h2>" in page and "6 island tasks on 1 worker process" in page
    capsys.readouterr()
    assert main(["evolve", str(lj_file), "--cutoff", "5", "--generations", "1", "--workers", "0",
                 "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "workers" in err[0] and not (tmp_path / "x").exists()


# --- Dask ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dask_client():
    """A LocalCluster of two single-thread worker processes on loopback, and a client of it."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        yield client


def test_dask_local_cluster_runs_evolve_to_completion(lj_dataset, serial_run, dask_client):
    from symbpot.gp import islands

    dask_client.wait_for_workers(2)
    est = SymbolicPotential(scheduler=dask_client.scheduler.address, **SETTINGS).fit(lj_dataset)
    check_merged_front(est)
    assert est.search_.settings.stats["pool"] == "dask" and os.getpid() not in est.search_.pids
    assert front_of(est) == front_of(serial_run)  # same front as local islands
    # the data (the loss model) went to the workers once (scatter), not with each of the 6
    # tasks (that would be 3 loads per worker). Dask's broadcast replication once in about
    # ten runs delivered it to one worker twice ({'a': 1, 'b': 2}), so 2 per worker is allowed.
    token = est.search_.settings.stats["token"]
    loads = dask_client.run(lambda: islands.PAYLOAD_LOADS.get(token, 0))
    assert est.search_.tasks == 6 and 1 <= sum(loads.values()) <= 3 and max(loads.values()) <= 2, loads


def test_prestart_gets_a_dask_cluster_ready_and_the_run_uses_its_connection(lj_dataset, serial_run, dask_client):
    """prestart (called by the CLI and fit while the data is read) connects to the scheduler and
    imports the island tasks on every worker; the run then adopts that connection."""
    import sys

    from symbpot.gp import pools

    def imported():
        return "symbpot.gp.island_tasks" in sys.modules

    dask_client.restart()  # new worker processes, which have not imported symbpot
    dask_client.wait_for_workers(2)
    assert not any(dask_client.run(imported).values())
    address = dask_client.scheduler.address
    pools.prestart(2, address)
    client, thread = pools._WARM_DASK[address]
    thread.join(60)
    assert not thread.is_alive() and all(dask_client.run(imported).values())
    pools.prestart(2, address)  # a second call does not connect again
    assert pools._WARM_DASK[address][0] is client
    est = SymbolicPotential(scheduler=address, **SETTINGS).fit(lj_dataset)
    assert address not in pools._WARM_DASK and client.status == "closed"  # adopted, closed with the run
    assert front_of(est) == front_of(serial_run)


def test_an_unreachable_dask_scheduler_is_one_line_before_the_data_is_read(tmp_path, capsys, monkeypatch):
    from symbpot.gp import pools

    monkeypatch.setattr(pools, "CONNECT_TIMEOUT", "1s")
    out = tmp_path / "run"
    assert main(["evolve", str(tmp_path / "missing.extxyz"), "--scheduler", "tcp://127.0.0.1:9",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot connect to the Dask scheduler tcp://127.0.0.1:9" in err[0], err
    assert not out.exists() and not pools._WARM_DASK


def test_killing_a_dask_worker_mid_run_does_not_lose_the_run(lj_dataset, serial_run, dask_client):
    client = dask_client
    client.wait_for_workers(2)
    pids = client.run(os.getpid)  # worker address -> process id (the nannies restart killed ones)
    first_epoch = threading.Event()
    killed = {}

    def kill_a_busy_worker():
        first_epoch.wait(60)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for address, keys in client.processing().items():
                if address in pids and any("symbpot-island" in str(k) for k in keys):
                    os.kill(pids[address], signal.SIGKILL)
                    killed[address] = keys
                    return
            time.sleep(0.005)

    killer = threading.Thread(target=kill_a_busy_worker, daemon=True)
    killer.start()
    est = SymbolicPotential(scheduler=client, progress=lambda row: first_epoch.set(), **SETTINGS)
    est.fit(lj_dataset)
    killer.join(5)
    assert killed, "no worker was killed while it ran an island"
    check_merged_front(est)
    # the lost task was recomputed from the same inputs: nothing of the run is lost or changed
    assert front_of(est) == front_of(serial_run)



def test_a_dask_run_that_loses_its_data_sends_it_again(lj_dataset, serial_run, dask_client, monkeypatch):
    """A worker that dies while it is the only holder of the scattered data takes the data with
    it: Dask cancels the tasks that need it. Here the data is cancelled after the first epoch;
    the run sends it again, resubmits the islands, and ends with the front it would have had."""
    from symbpot.gp import pools

    dask_client.wait_for_workers(2)
    made = []
    scatter = pools.DaskPool._scatter

    def recording(self):
        scatter(self)
        made.append(self.data)
        # every worker holds the data before a task is submitted
        holders = dask_client.who_has([self.data])[self.data.key]
        assert len(holders) == len(dask_client.scheduler_info(n_workers=-1)["workers"]) == 2

    monkeypatch.setattr(pools.DaskPool, "_scatter", recording)
    lost = []

    def lose_the_data(row):
        if not lost:
            lost.append(made[-1].key)
            dask_client.cancel([made[-1]], force=True)

    est = SymbolicPotential(scheduler=dask_client, progress=lose_the_data, **SETTINGS).fit(lj_dataset)
    assert lost and len(made) == 2 and made[1].key != lost[0]
    assert est.search_.settings.stats["restarts"] == 1
    check_merged_front(est)
    assert front_of(est) == front_of(serial_run)


def test_a_dask_pool_keeps_no_more_tasks_on_the_cluster_than_worker_threads(dask_client, monkeypatch):
    """Late binding: a task goes to the cluster only when a worker thread is free (Dask would
    otherwise queue it on a busy worker while another is idle)."""
    import types

    from symbpot.gp import pools

    def task(payload, island, state, n_generations, deadline, numba_threads, polish):
        import time

        time.sleep(0.2)
        return {"island": island, "payload": payload.token}

    dask_client.wait_for_workers(2)
    monkeypatch.setattr(pools, "run_island", task)
    pool = pools.DaskPool(dask_client, types.SimpleNamespace(token="t"))
    try:
        futures = [pool.submit(k, None, 1, None, False) for k in range(5)]
        assert len(pool._running) == 2 and len(pool._queue) == 3
        done = pool.wait(futures, first=True)
        assert done and len(pool._running) <= 2 and len(pool._running) + len(pool._queue) == 5 - len(done)
        assert pool.wait(futures, first=False) == set(futures)
        assert [f.result() for f in futures] == [{"island": k, "payload": "t"} for k in range(5)]
        assert not pool._running and not pool._queue
    finally:
        pool.close()


def test_dask_pool_failures():
    from concurrent.futures import CancelledError

    from symbpot.gp.pools import DaskPool

    pool = DaskPool.__new__(DaskPool)
    assert pool.lost_worker(CancelledError()) and not pool.lost_worker(ValueError("a bug in a task"))
