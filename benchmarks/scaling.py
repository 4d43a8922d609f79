"""Scaling of the search over cores: one core, islands on two processes, islands on Dask.

Usage::

    python benchmarks/scaling.py PATH.extxyz [--cutoff 5.0] [--forms pair,eam]
        [--generations 100] [--migration-interval 10] [--seconds 60]
        [--eam-generations 2] [--eam-migration-interval 1] [--eam-seconds 180]
        [--islands 4] [--force-weight 0.003] [--stress-weight 1e-4] [--population 200] [--seed 0]
        [--repeats 1] [--skip-timed] [--out FILE] [--plot FILE.png]

What is measured
----------------
For each form (``pair``: one V(r); ``eam``: phi, g and F), the loss model of the data is
built once (grid 200, smooth cutoff, w_E 1, w_F ``--force-weight``, w_S
``--stress-weight``); every search has population ``--population`` and seed ``--seed``.
An *evaluation* is the loss of one distinct tree or genome (the count a search reports;
re-scoring known trees after a migration is not counted); ``work`` adds the residual
evaluations of the constant optimiser (Levenberg-Marquardt), which for the EAM loss cost
as much as an evaluation each.

1. **Same work** (the headline numbers ``evals_per_s_1core``, ``evals_per_s_2cores``,
   ``evals_per_s_dask_2workers``): ``--islands`` islands (default 4, the default for two
   workers; :class:`symbpot.gp.islands.IslandSearch`) evolve ``--generations`` generations each (eam: ``--eam-generations``), migrating every
   ``--migration-interval`` (``--eam-migration-interval``) generations. Generation-bound
   island runs should be deterministic, so that the three set-ups do the same computation
   (checked as ``identical_work``: the same evaluations and every task's front digest; the
   8-generation EAM record of 2026-12-06 failed it):

   ``1core``
       the islands take turns in this process, Numba and BLAS limited to one thread;
   ``2cores``
       ``--workers 2``: two local worker processes (joblib's loky pool), one Numba thread
       each. The CLI starts them while it reads the data (:func:`symbpot.gp.islands.prestart`;
       they import symbpot, about 2 s); here they are started before the clock, taking
       ``pool_start_s`` (``evals_per_s_incl_pool_start`` counts it too);
   ``dask_2workers``
       ``--scheduler``: a ``distributed.LocalCluster(n_workers=2, threads_per_worker=1,
       processes=True)`` on loopback, in a child process (:class:`LocalClusterProcess`), so
       that its scheduler does not run inside the process that runs the serial baseline. A
       new cluster is started before each Dask run, outside the clock (``cluster_start_s``),
       and closed after it: an idle LocalCluster (scheduler, nannies, workers) took 17 % of
       one core (5.2 s of CPU in 30 s, measured 2026-12-07), which on two cores would run
       beside the two local processes. As the CLI does while it reads the data
       (:func:`symbpot.gp.pools.prestart`), the client connects and the scheduler and the
       workers import symbpot before the clock (``pool_start_s``); before 2026-12-07 those
       imports ran inside it, and the scheduler's held back the first tasks by 0.5-1.4 s.

   The rate is evaluations over the search's wall time, which for the parallel set-ups
   includes sending the loss model to each worker once, each worker's first calls of the
   Numba kernels, and waiting for a slower island (an island may run one epoch ahead). Speed-ups divide by
   ``1core``; targets: ``2cores`` >= 1.8x, ``dask_2workers`` >= 1.6x.

   ``--repeats N`` measures the three set-ups N times, round r starting with set-up r mod 3
   (this VM's speed drifts by 10-20 % over an hour, which a single sequence of three runs
   cannot tell from scaling). Each round's speed-ups divide by that round's one-core rate
   (``speedup_*_per_round``); the speed-ups ``speedup_*``, on which the targets are judged,
   are the medians of those. The rates ``evals_per_s_*`` are the medians over the rounds, and
   ``speedup_*_of_medians`` their ratios, which until 2026-12-07 were the headline: on
   2026-12-07 the one-core pair rate of this VM went from 4,200 to 2,950 evals/s within
   half an hour, and a ratio of medians then compares runs from different times.
   ``rounds`` keeps every round, and ``entry[set-up]`` has the details of the first round.

2. **Time-limited** (``timed``, unless ``--skip-timed``): each set-up runs ``--seconds``
   seconds (eam: ``--eam-seconds``; the search checks its time limit between generations,
   so a run overshoots by up to one generation), islands asynchronously (an island is
   resubmitted as soon as it returns), with ``single_1core`` (the single-population search,
   :class:`symbpot.gp.Search` or ``ManyBodySearch``, one thread) and ``single_2threads``
   (the same with Numba's two threads, the default) instead of the serial islands. These
   searches follow different trajectories, so their rates differ also because they do
   different work (tree sizes, how much constant fitting); for the EAM loss on the whole
   Cu set a run has only a few generations and the rates are noisy. ``steady`` rates
   leave out the start (before the first history row).

3. **Machine ceiling** (``machine_ceiling``, measured first): two independent single-thread
   processes, sharing no data, run a compute-bound and then a memory-streaming Numba loop;
   ``2 * t_alone / t_two`` is the most two workers can gain on this machine (2.0 on two idle
   physical cores; less on virtual CPUs that share a core or memory bandwidth). The island
   runs also report ``task_s_sum`` (the tasks' own wall times, summed) and
   ``task_inflation_*`` (that sum over the one-core run's): how much slower the same tasks
   ran with another one beside them.

The last line printed is one JSON object; ``--out`` writes it to a file too, ``--plot``
draws the speed-ups.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import subprocess
import sys
import time

import numpy as np


def build(form, dataset, cutoff, args):
    """(search factory, loss setup seconds) for ``form``."""
    from symbpot.fitness import PairLoss
    from symbpot.fitness.manybody import ManyBodyLoss
    from symbpot.gp import Search, SearchConfig
    from symbpot.gp.manybody_search import ManyBodySearch

    weights = dict(energy_weight=1.0, force_weight=args.force_weight, stress_weight=args.stress_weight)
    t = time.perf_counter()
    if form == "pair":
        loss = PairLoss(dataset, cutoff, 200, **weights)
    else:
        loss = ManyBodyLoss(dataset, cutoff, tuple(dataset.species), True, 200, **weights)
    setup_s = time.perf_counter() - t

    def new_search(generations=None, seconds=None):
        config = SearchConfig(population=args.population, generations=generations, time_limit=seconds,
                              seed=args.seed)
        if form == "pair":
            return Search(loss, config)
        config.refine_max_constants = 12  # as the estimator sets it for many-body searches
        return ManyBodySearch(loss, config)

    return new_search, setup_s


def rates(search) -> dict:
    hist = search.history
    work = search.evaluations + search.refine_evaluations
    out = {"evaluations": int(search.evaluations), "refine_evaluations": int(search.refine_evaluations),
           "search_s": round(float(search.elapsed), 3), "evals_per_s": round(search.evaluations / search.elapsed, 2),
           "work_per_s": round(work / search.elapsed, 2), "generations": int(search.generation),
           "best_loss": hist[-1]["best_loss"] if hist else None}
    if len(hist) >= 2 and hist[-1]["elapsed_s"] > hist[0]["elapsed_s"]:
        out["steady_evals_per_s"] = round((hist[-1]["evaluations"] - hist[0]["evaluations"])
                                          / (hist[-1]["elapsed_s"] - hist[0]["elapsed_s"]), 2)
    return out


def run_single(new_search, seconds: float, threads: int) -> dict:
    import numba

    from symbpot.threads import single_threaded_blas

    old = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        with single_threaded_blas():
            search = new_search(seconds=seconds)
            search.run()
            return rates(search)
    finally:
        numba.set_num_threads(old)


def run_islands(search, islands: int, interval: int, workers: int, scheduler=None, threads=None):
    """Rates, schedule and task log of ``islands`` islands run by ``workers`` (or Dask)."""
    from symbpot.gp.islands import IslandSearch, IslandSettings
    from symbpot.threads import single_threaded_blas

    settings = IslandSettings(islands=islands, workers=workers, scheduler=scheduler, migration_interval=interval,
                              threads=threads)
    from symbpot.gp import pools as module

    start_s = 0.0
    if scheduler is not None:  # as the CLI does while it reads the data: connect, import symbpot on the cluster
        t = time.perf_counter()
        module.prestart(workers, scheduler)
        module._WARM_DASK[scheduler][1].join()
        start_s = time.perf_counter() - t
    elif workers > 1:  # as the CLI does while it reads the data: start the processes first
        t = time.perf_counter()
        module.prestart(workers)
        for future in [module._WARM[workers].submit(time.sleep, 0.2) for _ in range(workers)]:
            future.result()
        start_s = time.perf_counter() - t
    with single_threaded_blas():
        islands = IslandSearch(search, settings)
        islands.run()
    out = rates(islands)
    if start_s:
        out["pool_start_s"] = round(start_s, 2)
        out["evals_per_s_incl_pool_start"] = round(islands.evaluations / (islands.elapsed + start_s), 2)
    out["task_s_sum"] = round(islands.task_seconds, 2)  # > 1core's: each task ran slower beside another
    out.update({"tasks": islands.tasks, "migrations": islands.migrations, "worker_pids": len(islands.pids),
                "pool": settings.stats["pool"], "numba_threads_per_task": settings.stats["numba_threads"],
                "pool_restarts": settings.stats["restarts"],
                # wall time the workers were busy: summed task time over (workers x search time)
                "busy_fraction": round(islands.task_seconds / (max(1, len(islands.pids)) * islands.elapsed), 3),
                "task_log": islands.task_log})
    return out


SETUPS = ("1core", "2cores", "dask_2workers")


def summarise_rounds(details: list) -> dict:
    """Round 1's details, per-round rates and digests, medians and speed-ups of the same-work runs.

    ``details`` holds one ``{set-up: run_islands detail}`` per round. The work is identical
    when every run made as many evaluations and every task's front digest agrees.
    """
    entry = {name: details[0][name] for name in SETUPS}
    rounds = []
    for got in details:
        rounds.append({name: {"evals_per_s": d["evals_per_s"], "evaluations": d["evaluations"],
                              "task_s_sum": d["task_s_sum"], "busy_fraction": d["busy_fraction"],
                              "pool_restarts": d["pool_restarts"],
                              # (island, generation, front digest) of every task: where runs part
                              "task_fronts": sorted(((t["island"], t["generation"], t["front"]) for t in d["task_log"]),
                                                    key=lambda x: (x[1], x[0]))}  # by epoch, then island
                       for name, d in got.items()})
        for name in SETUPS[1:]:
            rounds[-1][f"speedup_{name}"] = round(got[name]["evals_per_s"] / got["1core"]["evals_per_s"], 3)
    entry["rounds"] = rounds
    ref = rounds[0]["1core"]["task_fronts"]
    entry["identical_work"] = all(x[name]["task_fronts"] == ref and x[name]["evaluations"] ==
                                  rounds[0]["1core"]["evaluations"] for x in rounds for name in SETUPS)
    if not entry["identical_work"]:  # the first task whose front differs from round 1's one core
        entry["first_differing_tasks"] = {
            f"{r + 1}:{name}": next(([a[:2], a[2], b[2]] for a, b in zip(ref, x[name]["task_fronts"]) if a != b),
                                    None)
            for r, x in enumerate(rounds) for name in SETUPS if x[name]["task_fronts"] != ref}
    for name in SETUPS:  # the median over rounds
        entry[f"evals_per_s_{name}"] = round(float(np.median([x[name]["evals_per_s"] for x in rounds])), 2)
    for name in SETUPS[1:]:
        # the headline: the median of each round's own speed-up, whose three runs are minutes
        # apart (paired), so that the machine's drift between rounds cancels
        entry[f"speedup_{name}_per_round"] = [x[f"speedup_{name}"] for x in rounds]
        entry[f"speedup_{name}"] = round(float(np.median(entry[f"speedup_{name}_per_round"])), 3)
        entry[f"speedup_{name}_of_medians"] = round(entry[f"evals_per_s_{name}"] / entry["evals_per_s_1core"], 3)
        # how much longer the same tasks took when two ran at once (1.0: no contention)
        entry[f"task_inflation_{name}"] = round(float(np.median(
            [x[name]["task_s_sum"] / x["1core"]["task_s_sum"] for x in rounds])), 3)
    entry["target_2cores_met"] = entry["speedup_2cores"] >= 1.8
    entry["target_dask_met"] = entry["speedup_dask_2workers"] >= 1.6
    return entry


def details_from_log(path: str, form: str) -> list:
    """The per-round details that a run printed to stderr (``FORM same work round R SETUP: {...}``),
    for a run whose summary was lost."""
    import ast

    details = []
    with open(path) as fh:
        for line in fh:
            head, sep, body = line.partition(": ")
            words = head.split()
            if sep and words[:4] == [form, "same", "work", "round"] and len(words) == 6:
                r = int(words[4])
                while len(details) < r:
                    details.append({})
                details[r - 1][words[5]] = ast.literal_eval(body.strip())
    if not details or any(set(d) != set(SETUPS) for d in details):
        raise SystemExit(f"{path}: no complete rounds of {form!r}")
    return details


CEILING_SCRIPT = r"""
import sys, time
import numba
import numpy as np

@numba.njit(cache=False)
def compute(n):
    s = 0.0
    for i in range(n):
        s += np.sin(i * 1e-7)
    return s

@numba.njit(cache=False)
def stream(a, reps):
    s = 0.0
    for _ in range(reps):
        for i in range(a.size):
            s += a[i]
    return s

a = np.ones(20_000_000)  # 160 MB, well beyond the caches
compute(10); stream(a[:10], 1)
start = float(sys.argv[1])
while time.time() < start:
    time.sleep(0.01)
t = time.perf_counter(); compute(150_000_000); c = time.perf_counter() - t
t = time.perf_counter(); stream(a, 20); m = time.perf_counter() - t
print(c, m)
"""


def machine_ceiling(repeats: int = 3) -> dict:
    """Speed-up of two independent single-thread processes over one, on this machine.

    Each process runs a compute-bound Numba loop and then a memory-streaming one (160 MB
    array) with no data shared; ``2 * t_alone / t_two`` is the best speed-up two workers can
    reach here (2.0 on two idle physical cores). Median over ``repeats``.
    """
    import statistics

    def run(n):
        start = time.time() + 4.0  # both processes compile first, then start together
        procs = [subprocess.Popen([sys.executable, "-c", CEILING_SCRIPT, str(start)], stdout=subprocess.PIPE,
                                  text=True) for _ in range(n)]
        outs = [tuple(map(float, p.communicate()[0].split())) for p in procs]
        return max(o[0] for o in outs), max(o[1] for o in outs)

    compute, stream = [], []
    for _ in range(repeats):
        one, two = run(1), run(2)
        compute.append(2 * one[0] / two[0])
        stream.append(2 * one[1] / two[1])
    return {"compute_2process_speedup": round(statistics.median(compute), 3),
            "stream_2process_speedup": round(statistics.median(stream), 3), "repeats": repeats}


CLUSTER_SCRIPT = r"""
import sys
from distributed import LocalCluster

if __name__ == "__main__":
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=None)
    print(cluster.scheduler_address, flush=True)
    sys.stdin.read()  # until the benchmark closes our stdin
    cluster.close()
"""


class LocalClusterProcess:
    """A ``distributed.LocalCluster`` (2 single-thread worker processes, loopback) run by a
    child process, so that its scheduler does not share this process (and its GIL) with
    the serial baseline and the local-process runs, as a real cluster's scheduler would not.
    Measured: a LocalCluster inside this process slowed the serial pair search by 15 %."""

    def __init__(self):
        import tempfile

        fd, self.script = tempfile.mkstemp(prefix="symbpot-cluster-", suffix=".py")
        with os.fdopen(fd, "w") as fh:
            fh.write(CLUSTER_SCRIPT)
        self.proc = subprocess.Popen([sys.executable, self.script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)
        self.address = self.proc.stdout.readline().strip()
        if not self.address.startswith("tcp://"):
            self.close()
            raise RuntimeError("the LocalCluster process did not start")

    def close(self) -> None:
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
        finally:
            os.remove(self.script)


def other_processes() -> int:
    """symbpot runs and test sessions on the machine (other than this one)."""
    try:
        out = subprocess.run(["pgrep", "-f", "symbpot evolve|pytest"], capture_output=True, text=True).stdout
    except OSError:
        return -1
    return len([p for p in out.split() if p.strip() and int(p) != os.getpid()])


def plot(result: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    forms = [f for f in ("pair", "eam") if f in result]
    panels = [("same work (generation-bound islands)", ["1core", "2cores", "dask_2workers"],
               ["islands,\n1 core", "islands,\n2 processes", "islands,\n2 Dask workers"], "")]
    if any("timed" in result[f] for f in forms):
        panels.append(("time-limited", ["single_1core", "single_2threads", "2cores", "dask_2workers"],
                       ["1 population,\n1 core", "1 population,\n2 threads", "islands,\n2 processes",
                        "islands,\n2 Dask workers"], "timed"))
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels) + 1, 4.5), sharey=True, squeeze=False)
    axes = axes[0]
    for ax, (title, setups, labels, part) in zip(axes, panels):
        width = 0.8 / len(forms)
        for i, form in enumerate(forms):
            block = result[form].get(part) if part else result[form]
            if not block:
                continue
            base = block[f"evals_per_s_{setups[0]}"]
            values = [1.0] + [block[f"speedup_{s}"] for s in setups[1:]]
            xs = [j + (i - (len(forms) - 1) / 2) * width for j in range(len(setups))]
            ax.bar(xs, values, width, label=f"{form} ({base:,.1f} evals/s at 1.0)")
            for x, v in zip(xs, values):
                ax.text(x, 0.04, f"{v:.2f}", ha="center", va="bottom", fontsize=9, color="white", weight="bold")
            rounds = block.get("rounds", []) if not part else []
            if len(rounds) > 1:  # each round's own speed-ups (the bars are their medians)
                for j, s in enumerate(setups[1:], start=1):
                    ax.plot([xs[j]] * len(rounds), [x[f"speedup_{s}"] for x in rounds], "k.", ms=4)
        ax.axhline(1.8, color="k", lw=0.8, ls="--")
        ax.axhline(1.6, color="gray", lw=0.8, ls=":")
        ax.set_xticks(range(len(setups)), labels, fontsize=8)
        ax.set_title(title + ("\nbars: median of the rounds' speed-ups; dots: each round" if not part and any(
            len(result[f].get("rounds", [])) > 1 for f in forms) else ""), fontsize=9)
        ax.set_ylim(0, 2.45)
        ax.legend(fontsize=8, loc="upper center", ncol=2)
    axes[0].set_ylabel("evaluations/s relative to 1 core\n(targets: 1.8x dashed, 1.6x dotted)")
    fig.suptitle(f"symbpot search scaling on {os.path.basename(os.path.dirname(result['data']))}/"
                 f"{os.path.basename(result['data'])}, {result['cpus']} CPUs", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("--cutoff", type=float, default=5.0)
    parser.add_argument("--forms", default="pair,eam")
    parser.add_argument("--generations", type=int, default=100)
    parser.add_argument("--migration-interval", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--eam-generations", type=int, default=2)
    parser.add_argument("--eam-migration-interval", type=int, default=1)
    parser.add_argument("--eam-seconds", type=float, default=180.0)
    parser.add_argument("--force-weight", type=float, default=0.003)
    parser.add_argument("--stress-weight", type=float, default=1e-4)
    parser.add_argument("--population", type=int, default=200)
    parser.add_argument("--islands", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--skip-timed", action="store_true")
    parser.add_argument("--out", default=None)
    parser.add_argument("--plot", default=None)
    parser.add_argument("--from-log", default=None, metavar="LOG",
                        help="no runs: summarise the rounds that an earlier run printed to stderr (saved in LOG)")
    args = parser.parse_args(argv)
    if args.from_log:
        if not os.path.isfile(args.from_log):
            parser.error(f"{args.from_log}: no such file")
        return summarise_log(args)

    from symbpot import Dataset
    from symbpot.forms import Cutoff

    others = other_processes()
    t = time.perf_counter()
    dataset = Dataset.from_file([args.data], cutoff=args.cutoff)
    data_s = time.perf_counter() - t
    cutoff = Cutoff(args.cutoff, "smooth", 1.0)
    result = {"benchmark": "scaling", "date": datetime.datetime.now().isoformat(timespec="seconds"),
              "command": "python benchmarks/scaling.py " + " ".join(sys.argv[1:] if argv is None else argv),
              "data": os.path.abspath(args.data), "n_structures": len(dataset), "n_pairs": dataset.n_pairs,
              "cutoff": args.cutoff, "cpus": os.cpu_count(),
              "settings": {k: getattr(args, k) for k in (
                  "population", "islands", "seed", "force_weight", "stress_weight", "generations", "migration_interval",
                  "seconds", "eam_generations", "eam_migration_interval", "eam_seconds", "repeats")},
              "data_s": round(data_s, 2), "other_processes_at_start": others}
    result["machine_ceiling"] = machine_ceiling()
    print(f"machine ceiling: {result['machine_ceiling']}", file=sys.stderr, flush=True)
    for form in args.forms.split(","):
        result[form] = measure_form(form, dataset, cutoff, args)
    result["other_processes_at_end"] = other_processes()
    return emit(result, args)


def form_settings(form: str, args) -> tuple:
    """(generations, migration interval, seconds) of ``form``: the ``--eam-*`` options for EAM."""
    if form == "pair":
        return args.generations, args.migration_interval, args.seconds
    return args.eam_generations, args.eam_migration_interval, args.eam_seconds


def measure_form(form: str, dataset, cutoff, args) -> dict:
    """The same-work rounds (and unless ``--skip-timed`` the time-limited runs) of one form."""
    new_search, setup_s = build(form, dataset, cutoff, args)
    generations, interval, seconds = form_settings(form, args)
    entry = {"loss_setup_s": round(setup_s, 2), "generations": generations, "migration_interval": interval}
    setups = [("1core", 1, False, 1), ("2cores", 2, False, None), ("dask_2workers", 2, True, None)]
    details = []
    for r in range(args.repeats):
        # round r starts with set-up r (mod 3): a machine that slows down during the
        # benchmark does not always hit the same set-up
        got = {}
        for name, workers, dask, threads in setups[r % 3:] + setups[:r % 3]:
            with dask_cluster(dask) as (address, start_s):
                detail = run_islands(new_search(generations=generations), args.islands, interval, workers, address,
                                     threads)
            if dask:
                detail["cluster_start_s"] = start_s
            got[name] = detail
            print(f"{form} same work round {r + 1} {name}: {detail}", file=sys.stderr, flush=True)
        details.append(got)
    entry.update(summarise_rounds(details))
    if args.skip_timed:
        return entry
    timed = {"seconds": seconds}
    for name, dask in (("single_1core", False), ("single_2threads", False), ("2cores", False),
                       ("dask_2workers", True)):
        with dask_cluster(dask) as (address, _):
            if name.startswith("single"):
                detail = run_single(new_search, seconds, 1 if name == "single_1core" else 2)
            else:
                detail = run_islands(new_search(seconds=seconds), args.islands, interval, 2, address)
        timed[f"evals_per_s_{name}"] = detail["evals_per_s"]
        timed[name] = detail
        print(f"{form} timed {name}: {detail}", file=sys.stderr, flush=True)
    base = timed["single_1core"]
    for name in ("single_2threads", "2cores", "dask_2workers"):
        timed[f"speedup_{name}"] = round(timed[f"evals_per_s_{name}"] / base["evals_per_s"], 3)
        timed[f"work_speedup_{name}"] = round(timed[name]["work_per_s"] / base["work_per_s"], 3)
        if "steady_evals_per_s" in timed[name] and "steady_evals_per_s" in base:
            timed[f"steady_speedup_{name}"] = round(timed[name]["steady_evals_per_s"] / base["steady_evals_per_s"], 3)
    entry["timed"] = timed
    return entry


@contextlib.contextmanager
def dask_cluster(wanted: bool):
    """``(address, start seconds)`` of a new :class:`LocalClusterProcess`, closed on exit
    (``(None, 0.0)`` when not ``wanted``): no idle cluster runs beside the other set-ups."""
    if not wanted:
        yield None, 0.0
        return
    t = time.perf_counter()
    cluster = LocalClusterProcess()
    try:
        yield cluster.address, round(time.perf_counter() - t, 2)
    finally:
        cluster.close()


def emit(result: dict, args) -> int:
    """Write the summary (``--out``, ``--plot``) and print it as one JSON line."""
    line = json.dumps(result)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as fh:
            fh.write(line + "\n")
    if args.plot:
        plot(result, args.plot)
    print(line)
    return 0


def summarise_log(args) -> int:
    """``--from-log``: the summary of an earlier run from the rounds it printed (its own
    summary was lost); set-up times and fronts are not in the log."""
    import ast

    with open(args.from_log) as fh:
        text = fh.read()
    ceiling = next((ast.literal_eval(line.partition(": ")[2]) for line in text.splitlines()
                    if line.startswith("machine ceiling: ")), None)
    result = {"benchmark": "scaling", "date": datetime.datetime.now().isoformat(timespec="seconds"),
              "command": "python benchmarks/scaling.py " + " ".join(sys.argv[1:]),
              "rebuilt_from_log": os.path.abspath(args.from_log), "data": os.path.abspath(args.data),
              "cpus": os.cpu_count(), "machine_ceiling": ceiling}
    for form in args.forms.split(","):
        generations, interval, _ = form_settings(form, args)
        entry = {"generations": generations, "migration_interval": interval}
        entry.update(summarise_rounds(details_from_log(args.from_log, form)))
        result[form] = entry
    return emit(result, args)


if __name__ == "__main__":
    sys.exit(main())
