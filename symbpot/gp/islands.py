"""Islands: several populations evolving in parallel, with migration of Pareto members.

The island model of PySR and Operon. ``K`` islands (each a full :class:`Search` or
:class:`ManyBodySearch` with its own population, hall of fame and RNG; island ``k`` is
seeded with ``seed + k``) evolve in worker processes. An island task is a pure function
of its inputs: it rebuilds the search from the island's checkpoint state
(:meth:`Search.state`), runs ``migration_interval`` generations, and returns the new state
and its Pareto front. The parent merges every front it receives into one hall of fame
(the losses are comparable: all islands score on the same loss model) and, before an
island's next task, replaces a few random non-front members of its population by
migrants: members of the merged front that the island does not have.

Two schedules:

* **ordered** when a number of generations is given: epoch e of every island (its e-th
  task) is merged, in island order, into the front H_e once all islands have done it; an
  island that has done e epochs receives migrants from H_(e-1), drawn with an RNG of its
  own for that island and epoch. An island may thus run one epoch ahead of the slowest
  (workers do not wait at every migration for the slowest island), yet every task's
  inputs are fixed: the same seed, data, number of islands and migration interval give
  the same front whatever the number of workers, their kind (local processes or Dask) and
  the order tasks finish in (unless the time limit cuts the run short). Migration starts
  with the third epoch (H_0 is empty, or the front a resumed run starts from);
* **asynchronous** when only a time limit is given (PySR's way): an island is resubmitted
  as soon as its task returns, with migrants from the merged front as it is then. The
  result then depends on timing.

Workers: ``workers`` local processes (joblib's loky process pool; with one worker the
islands take turns in this process), or an existing Dask cluster (``scheduler``, an
address such as ``tcp://127.0.0.1:8786``, or a ``distributed.Client``). The search's loss model (with the data it needs) is the
*payload*: built once in the parent, it is sent once to each worker (loky: a temporary
file each worker reads at its first task; Dask: ``client.scatter(..., broadcast=True)``)
and never with a task; a task
carries only the island's state (population, hall of fame and RNG as JSON-compatible
lists). Each task limits Numba to ``max(1, cores // workers)`` threads (for Dask: the
host's cores over the worker threads on that host) and BLAS to one thread, so the machine
is not oversubscribed.

A state carries the loss, complexity and coefficients of its trees, so that the next task
does not score them again (for a many-body loss that would cost a generation per task);
re-scoring and migrants are not counted as evaluations. An island polishes its front
(:meth:`Search.polish`) in its last task only, as a single search does once at its end.

Faults: a task is recomputed from the same inputs if its worker dies: Dask's scheduler
reschedules it on another worker (up to ``distributed.scheduler.allowed-failures``
times); a dead local process breaks the loky pool, which is restarted and the islands in
flight resubmitted (at most ``MAX_POOL_RESTARTS`` times).
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .engine import Candidate, HallOfFame, SearchConfig

MAX_POOL_RESTARTS = 3

#: per-process payloads of loky workers (set by the pool's initializer), by token
_PAYLOADS: dict[str, "IslandPayload"] = {}
#: how often each payload was unpickled in this process (tests check "sent once")
PAYLOAD_LOADS: dict[str, int] = {}


@dataclass
class IslandPayload:
    """What every island task needs besides its state: sent once to each worker."""

    token: str
    search_class: type
    loss_model: Any
    config: SearchConfig
    seeds: list
    full_model: Any = None

    def __setstate__(self, state):
        self.__dict__.update(state)
        PAYLOAD_LOADS[self.token] = PAYLOAD_LOADS.get(self.token, 0) + 1

    def new_search(self, island: int):
        config = dataclasses.replace(self.config, seed=self.config.seed + island, generations=None,
                                     time_limit=None)
        kwargs = {"seeds": self.seeds}
        if self.full_model is not None:
            kwargs["full_model"] = self.full_model
        return self.search_class(self.loss_model, config, **kwargs)


def _local_payload(ref) -> IslandPayload:
    """The payload of a loky worker: ``(token, path)`` read once per process, then kept."""
    token, path = ref
    if token not in _PAYLOADS:
        import pickle

        with open(path, "rb") as fh:
            payload = pickle.load(fh)
        _PAYLOADS.clear()  # one run at a time: drop an earlier run's data
        _PAYLOADS[token] = payload
    return _PAYLOADS[token]


def _warm_up() -> None:
    """loky initializer: import what island tasks need while the parent prepares the data."""
    import threadpoolctl  # noqa: F401

    from . import manybody_search  # noqa: F401


#: local worker processes started ahead of a run (:func:`prestart`), waiting to be adopted
_WARM: dict = {}


def prestart(workers: int) -> None:
    """Start ``workers`` local worker processes now, so that they import symbpot while this
    process reads the data and builds the loss model; the next island run with as many
    workers uses them (the CLI and :class:`SymbolicPotential` call this)."""
    if workers > 1 and workers not in _WARM:
        from joblib.externals.loky import ProcessPoolExecutor

        executor = ProcessPoolExecutor(max_workers=workers, initializer=_warm_up)
        for _ in range(workers):
            executor.submit(int)  # processes start on demand: ask for all of them
        _WARM[workers] = executor


@contextlib.contextmanager
def _thread_limits(numba_threads):
    """Numba limited to ``numba_threads`` (an int, or threads by host for Dask), BLAS to one."""
    import numba
    from threadpoolctl import threadpool_limits

    if isinstance(numba_threads, dict):
        numba_threads = numba_threads.get(_dask_host(), 1)
    old = numba.get_num_threads()
    numba.set_num_threads(max(1, min(int(numba_threads), numba.config.NUMBA_NUM_THREADS)))
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            yield
    finally:
        numba.set_num_threads(old)


def _dask_host() -> str | None:
    try:
        from distributed import get_worker

        return _host_of(get_worker().address)
    except (ImportError, ValueError):
        return None


def _host_of(address: str) -> str:
    from urllib.parse import urlparse

    return urlparse(address).hostname or address


def node_key(nodes) -> str:
    """Identity of a tree or genome given as prefix node lists (tuples and lists alike)."""
    return json.dumps(nodes)


def run_island(payload, island: int, state: dict | None, n_generations: int | None, deadline: float | None,
               numba_threads, polish: bool = True) -> dict:
    """One island task: restore ``state`` (None: a new island), evolve, return state and front.

    ``payload`` is an :class:`IslandPayload` or, in loky workers, ``(token, file)``. The search
    stops after ``n_generations`` generations or at ``deadline`` (``time.time()`` value; a
    new island scores its first population in any case), whichever comes first (None: no
    bound), or when the target loss is reached. ``polish`` drops dead
    terms from the front at the end (:meth:`Search.polish`); the parent asks for it in an
    island's last task only, as a single search polishes once, at its end.
    """
    if isinstance(payload, tuple):
        payload = _local_payload(payload)
    with _thread_limits(numba_threads):
        t0 = time.perf_counter()
        search = payload.new_search(island)
        cfg = search.config
        if state is not None:
            _restore(search, state)
        evaluations, generation = search.evaluations, search.generation
        if n_generations is not None:
            cfg.generations = generation + int(n_generations)
        if deadline is not None:
            cfg.time_limit = search.elapsed + max(float(deadline) - time.time(), 0.0)
        if not polish:
            search.polish = _no_polish
        search.run()
        front = [_member(search._nodes(c.tree), c) for c in search.final_hall().front()]
        target_done = (cfg.target_loss is not None and search.target_reached_at is not None
                       and search.generation - search.target_reached_at >= cfg.patience)
        return {"island": island, "state": _island_state(search, front), "front": front, "polished": polish,
                "evaluations": search.evaluations - evaluations, "generations": search.generation - generation,
                "seconds": time.perf_counter() - t0, "target_done": bool(target_done), "pid": os.getpid()}


def _no_polish(rounds: int = 6) -> None:
    return None


def _member(nodes, cand) -> dict:
    """A scored tree as JSON-compatible data."""
    return {"nodes": nodes, "loss": float(cand.loss), "complexity": int(cand.complexity),
            "coefficients": [float(a) for a in np.ravel(cand.coefficients)]}


def _score_of(cand) -> list | None:
    if cand is None:
        return None
    return [float(cand.loss), int(cand.complexity), [float(a) for a in np.ravel(cand.coefficients)]]


def _island_state(search, front: list) -> dict:
    """``search.state()`` plus the scores of its trees, so that the next task need not re-score them."""
    state = search.state()
    state["history"] = []  # the parent keeps the history; do not ship it back and forth
    state["scores"] = {
        "population": [_score_of(search.cache.get(search.key(t))) for t in search.population or []],
        "hall": [_score_of(c) for c in search.hall.best.values()],  # the order of state["hall_of_fame"]
        "full_front": front if getattr(search, "full_hall", None) is not None else [],
    }
    return state


def _restore(search, state: dict) -> None:
    """:meth:`Search.restore` with the shipped scores put into the search's cache first.

    Known trees are then not scored again (for a many-body loss, scoring a population
    costs as much as a generation). Trees without a score (migrants of a batched search,
    whose merged losses are whole-set losses) are scored here. Neither counts as new
    evaluations. The hall of fame (and a batched search's whole-set hall) is rebuilt
    from the scores.
    """
    from .primitives import deap_random, tree_terms

    scores = state.get("scores") or {}
    trees = list(state["population"]) + list(state["hall_of_fame"])
    values = list(scores.get("population") or [None] * len(state["population"])) + \
        list(scores.get("hall") or [None] * len(state["hall_of_fame"]))
    seeded = []
    with deap_random(random.Random(0)):  # rebuilding draws ephemeral values (then overwritten): not the island's RNG
        for nodes, value in zip(trees, values):
            if value is None:
                continue
            tree = search._from_nodes(nodes)
            key = search.key(tree)
            if key not in search.cache:
                terms = search.terms_of(tree) if hasattr(search, "terms_of") else tree_terms(tree)
                search.cache[key] = Candidate(tree, key, float(value[0]), int(value[1]), terms,
                                              np.asarray(value[2], dtype=float))
                seeded.append(search.cache[key])
        full = [(search._from_nodes(m["nodes"]), m) for m in scores.get("full_front") or []]
    search.restore(state)
    for cand in seeded:
        search.hall.update(cand)
    for tree, m in full:
        terms = search.terms_of(tree)
        search.full_hall.update(Candidate(tree, search.key(tree), float(m["loss"]), int(m["complexity"]), terms,
                                          np.asarray(m["coefficients"], dtype=float)))
    with deap_random(search.rng):
        search._score(search.population)  # migrants without a score
    search.evaluations = int(state["evaluations"])
    search._last_best = search.best_loss()  # the reference of the stagnation restart


# --- pools ------------------------------------------------------------------------------
class SerialPool:
    """Islands one after the other in this process (one worker: no processes to start)."""

    kind = "serial"
    n_slots = 1

    def __init__(self, payload: IslandPayload):
        import joblib

        self.payload = payload
        self.numba_threads = joblib.cpu_count()

    def submit(self, island, state, n_generations, deadline, polish):
        from concurrent.futures import Future

        future = Future()
        try:
            future.set_result(run_island(self.payload, island, state, n_generations, deadline, self.numba_threads,
                                         polish))
        except Exception as exc:  # noqa: BLE001 - raised again by result()
            future.set_exception(exc)
        return future

    def wait(self, futures, first: bool):
        return set(futures)

    def lost_worker(self, exc: BaseException) -> bool:
        return False

    def error(self, exc: BaseException) -> BaseException:
        return exc

    def close(self) -> None:
        pass


class LocalPool:
    """``workers`` local processes (joblib's loky pool).

    The payload is written once to a temporary file that each worker reads once (at its
    first task) and keeps; the processes may have been started ahead (:func:`prestart`).
    """

    kind = "local"

    def __init__(self, workers: int, payload: IslandPayload):
        import pickle
        import tempfile

        import joblib

        self.workers = int(workers)
        self.payload = payload
        self.numba_threads = max(1, joblib.cpu_count() // self.workers)
        self.restarts = 0
        fd, self.path = tempfile.mkstemp(prefix="symbpot-islands-", suffix=".pickle")
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(payload, fh, protocol=pickle.HIGHEST_PROTOCOL)
        self.executor = _WARM.pop(self.workers, None)
        if self.executor is None:
            self._start()

    def _start(self) -> None:
        from joblib.externals.loky import ProcessPoolExecutor

        self.executor = ProcessPoolExecutor(max_workers=self.workers, initializer=_warm_up)

    @property
    def n_slots(self) -> int:
        return self.workers

    def submit(self, island, state, n_generations, deadline, polish):
        from joblib.externals.loky import BrokenProcessPool

        args = (run_island, (self.payload.token, self.path), island, state, n_generations, deadline,
                self.numba_threads, polish)
        try:
            return self.executor.submit(*args)
        except BrokenProcessPool:  # a worker died while idle: the tasks in flight fail too (handled by the loop)
            self.restart()
            return self.executor.submit(*args)

    def wait(self, futures, first: bool):
        from concurrent.futures import FIRST_COMPLETED, ALL_COMPLETED, wait

        return wait(list(futures), return_when=FIRST_COMPLETED if first else ALL_COMPLETED).done

    def lost_worker(self, exc: BaseException) -> bool:
        from joblib.externals.loky import BrokenProcessPool

        return isinstance(exc, BrokenProcessPool)

    def error(self, exc: BaseException) -> BaseException:
        return exc

    def restart(self) -> None:
        from ..errors import SymbpotError

        self.restarts += 1
        if self.restarts > MAX_POOL_RESTARTS:
            raise SymbpotError(f"island workers died {self.restarts} times; giving up")
        self.executor.shutdown(wait=False, kill_workers=True)
        self._start()

    def close(self) -> None:
        self.executor.shutdown(wait=True)
        with contextlib.suppress(OSError):
            os.remove(self.path)


class DaskPool:
    """Islands on a Dask cluster; the payload is scattered to every worker once."""

    kind = "dask"

    def __init__(self, scheduler, payload: IslandPayload):
        from ..errors import ConfigError, SymbpotError

        try:
            from distributed import Client
        except ImportError:
            raise ConfigError("a Dask scheduler needs dask.distributed: pip install 'symbpot[dask]'") from None
        self.own_client = not hasattr(scheduler, "submit")
        if self.own_client:
            try:
                self.client = Client(scheduler, timeout="20s")
            except (OSError, TimeoutError, ValueError) as exc:
                raise SymbpotError(f"cannot connect to the Dask scheduler {scheduler} ({exc})") from None
        else:
            self.client = scheduler
        info = self.client.scheduler_info(n_workers=-1)["workers"] if _accepts_n_workers(self.client) \
            else self.client.scheduler_info()["workers"]
        if not info:
            raise SymbpotError(f"the Dask cluster at {scheduler} has no workers")
        self.n_slots = int(sum(w.get("nthreads", 1) for w in info.values()))
        self.numba_threads = self._threads_by_host(info)
        self.payload = payload
        self.data = self.client.scatter(payload, broadcast=True, hash=False)

    def _threads_by_host(self, info) -> dict:
        """Numba threads per task on each host: its cores over the worker threads it runs."""
        threads, cores = {}, {}
        for address, w in info.items():
            host = _host_of(address)
            threads[host] = threads.get(host, 0) + int(w.get("nthreads", 1))
        try:
            for address, n in self.client.run(os.cpu_count).items():
                cores[_host_of(address)] = int(n or 1)
        except Exception:  # noqa: BLE001 - a worker gone meanwhile: one thread is always safe
            pass
        return {h: max(1, cores.get(h, 1) // threads[h]) for h in threads}

    def submit(self, island, state, n_generations, deadline, polish):
        return self.client.submit(run_island, self.data, island, state, n_generations, deadline, self.numba_threads,
                                  polish, pure=False, key=f"symbpot-island-{island}-{uuid.uuid4().hex}")

    def wait(self, futures, first: bool):
        from distributed import wait

        return wait(list(futures), return_when="FIRST_COMPLETED" if first else "ALL_COMPLETED").done

    def lost_worker(self, exc: BaseException) -> bool:
        return False  # the scheduler already reschedules tasks of lost workers

    def error(self, exc: BaseException) -> BaseException:
        """Dask's own failures (a task's workers died too often, lost connection) as one-line errors."""
        from ..errors import SymbpotError

        if type(exc).__module__.split(".")[0] == "distributed" or isinstance(exc, (OSError, TimeoutError)):
            return SymbpotError(f"Dask: {type(exc).__name__}: {exc}")
        return exc

    def restart(self) -> None:  # pragma: no cover - never called (lost_worker is False)
        raise RuntimeError

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.data.release()
        if self.own_client:
            with contextlib.suppress(Exception):
                self.client.close()


def _accepts_n_workers(client) -> bool:
    import inspect

    return "n_workers" in inspect.signature(client.scheduler_info).parameters


# --- the parent ----------------------------------------------------------------------------
@dataclass
class IslandSettings:
    """How islands run: their number, the workers, and migration."""

    islands: int | None = None
    workers: int = 1
    scheduler: Any = None
    migration_interval: int = 10
    migrants: int | None = None  # per island and epoch; None: population // 20 (at least 1)
    threads: int | None = None  # Numba threads per task; None: cores // workers (Dask: per host)
    #: filled in while running
    stats: dict = field(default_factory=dict)


class IslandSearch:
    """Runs the islands of a search and merges their fronts; the estimator's search interface.

    ``master`` is a :class:`Search` (or :class:`ManyBodySearch`) built as for a single
    population: its loss model, configuration, seeds and callbacks define the islands;
    it does not evolve itself. Exposes ``run``, ``final_hall``, ``state``, ``restore``,
    ``history``, ``generation``, ``evaluations`` and ``elapsed`` like a search.
    """

    def __init__(self, master, settings: IslandSettings):
        self.master = master
        self.settings = settings
        self.config = master.config
        self.progress = master.progress
        self.on_generation = master.on_generation
        self.rng = random.Random(master.config.seed)
        # the merged front: island fronts are the whole set's when batching (full_model)
        self.hall = HallOfFame(checker=master.core_checker(getattr(master, "full_model", None) or master.loss_model))
        self.nodes: dict[str, list] = {}  # candidate key -> prefix nodes
        self._node_keys: dict[str, str] = {}  # candidate key -> node_key of its nodes
        self.history: list[dict] = []
        self.evaluations = 0
        self.refine_evaluations = 0  # residual evaluations of the constant optimiser, over all islands
        self.elapsed = 0.0
        self.islands = settings.islands
        self.states: list = []
        self.island_fronts: list = []
        self.island_generations: list = []
        self.polished: list = []
        self.migrations = 0
        self.tasks = 0
        self.task_seconds = 0.0  # summed wall time of the island tasks, as each worker saw it
        self.pids: set = set()

    @property
    def generation(self) -> int:
        return min(self.island_generations) if self.island_generations else 0

    def final_hall(self) -> HallOfFame:
        return self.hall

    def best_loss(self) -> float:
        front = self.hall.front()
        return front[-1].loss if front else math.inf

    def _payload(self) -> IslandPayload:
        m = self.master
        return IslandPayload(uuid.uuid4().hex, type(m), m.loss_model, m.config, list(m.seeds),
                             getattr(m, "full_model", None))

    def _open_pool(self):
        s = self.settings
        payload = self._payload()
        if s.scheduler is not None:
            pool = DaskPool(s.scheduler, payload)
        elif s.workers == 1:
            pool = SerialPool(payload)
        else:
            pool = LocalPool(s.workers, payload)
        if s.threads is not None:
            pool.numba_threads = int(s.threads)
        return pool

    # --- merging and migration ---------------------------------------------------------------
    def _candidate(self, member: dict) -> Candidate:
        from .primitives import deap_random, tree_terms

        with deap_random(random.Random(0)):  # rebuilding draws ephemeral values that are then overwritten
            tree = self.master._from_nodes(member["nodes"])
        terms = self.master.terms_of(tree) if hasattr(self.master, "terms_of") else tree_terms(tree)
        return Candidate(tree, self.master.key(tree), float(member["loss"]), int(member["complexity"]), terms,
                         np.array(member["coefficients"], dtype=float))

    def _merge(self, front: list) -> None:
        for member in front:
            key = node_key(member["nodes"])
            old = self.hall.best.get(int(member["complexity"]))
            if (old is not None and not float(member["loss"]) < old.loss
                    and (self.hall.checker is None or self.hall.physical(old))):
                continue
            cand = self._candidate(member)
            self.nodes[cand.key] = member["nodes"]
            self.hall.update(cand)
            self._node_keys[cand.key] = key

    def _migrate(self, island: int, source: list, rng: random.Random) -> None:
        """Replace random non-front members of ``island`` by members of ``source`` (a merged front) it lacks."""
        state = self.states[island]
        if state is None or not source:
            return
        population = state["population"]
        own = {node_key(m["nodes"]) for m in self.island_fronts[island]}
        known = own | {node_key(n) for n in population}
        pool = [c for c in source if self._node_keys[c.key] not in known]
        n = self.settings.migrants or max(1, self.config.population // 20)
        slots = [i for i, nodes in enumerate(population) if node_key(nodes) not in own]
        n = min(n, len(pool), len(slots))
        if n <= 0:
            return
        chosen = rng.sample(pool, n)
        scores = state.setdefault("scores", {})
        if not scores.get("population"):
            scores["population"] = [None] * len(population)
        batched = getattr(self.master, "full_model", None) is not None  # merged losses are not the islands'
        for slot, cand in zip(rng.sample(slots, n), chosen):
            population[slot] = self.nodes[cand.key]
            scores["population"][slot] = None if batched else _score_of(cand)
        self.migrations += n

    # --- main loop ------------------------------------------------------------------------------
    def run(self) -> HallOfFame:
        start = self._start = time.perf_counter()
        pool = self._open_pool()
        try:
            if self.islands is None:  # two per worker: a slow island does not leave a worker idle
                self.islands = max(1, 2 * pool.n_slots)
            if not self.states:
                self.states = [None] * self.islands
                self.island_fronts = [[] for _ in range(self.islands)]
                self.island_generations = [0] * self.islands
                self.polished = [False] * self.islands
            if self.config.generations is not None:
                self._run_ordered(pool)
            else:
                self._run_async(pool)
            self._polish_round(pool)
        finally:
            self.settings.stats = {"pool": pool.kind, "slots": pool.n_slots, "numba_threads": pool.numba_threads,
                                   "restarts": getattr(pool, "restarts", 0), "token": pool.payload.token}
            pool.close()
            self.elapsed += time.perf_counter() - start
        return self.hall

    def _now(self) -> float:
        return self.elapsed + time.perf_counter() - self._start if hasattr(self, "_start") else self.elapsed

    def _task_bounds(self, island: int):
        """(generations, deadline, polish) of the island's next task; None if it should not run.

        An island's front is polished in its last task: the one that reaches the number of
        generations, or, after the others (time limit, target reached), a task of its own.
        """
        cfg = self.config
        n = self.settings.migration_interval
        last = False
        if cfg.generations is not None:
            n = min(n, cfg.generations - self.island_generations[island])
            if n <= 0:
                return None
            last = self.island_generations[island] + n >= cfg.generations
        deadline = None
        if cfg.time_limit is not None:  # wall-clock time, so that a worker's start-up counts too
            remaining = cfg.time_limit - self._now()
            if remaining <= 0 and self.states[island] is not None:
                return None
            deadline = time.time() + max(remaining, 0.0)
        return n, deadline, last

    def _submit(self, pool, pending: dict, island: int, bounds) -> None:
        pending[pool.submit(island, self.states[island], *bounds)] = island
        self.tasks += 1

    def _collect(self, pool, pending: dict, first: bool):
        """Wait for tasks: ``([(island, result)]`` in island order, islands to resubmit)``.

        A lost local worker breaks the pool and fails every task in flight: the pool is
        restarted and all those islands are returned for resubmission (same inputs).
        """
        done = pool.wait(pending, first=first)
        results, lost = [], []
        for fut in sorted(done, key=lambda f: pending[f]):
            k = pending.pop(fut)
            try:
                results.append((k, fut.result()))
            except Exception as exc:  # noqa: BLE001 - a lost worker is recovered from, others re-raised
                if not pool.lost_worker(exc):
                    raise pool.error(exc) from exc
                lost.append(k)
        if lost:
            lost = sorted(set(lost) | set(pending.values()))
            pending.clear()
            pool.restart()
        return results, lost

    def _after_tasks(self) -> None:
        self._record()
        if self.on_generation is not None:
            self.on_generation(self)

    def _run_async(self, pool) -> None:
        """Time-limited: resubmit each island as soon as it returns, migrants from the front as it is."""
        pending: dict = {}
        todo, stop = list(range(self.islands)), False
        while True:
            for k in ([] if stop else todo):
                bounds = self._task_bounds(k)
                if bounds is not None:
                    self._submit(pool, pending, k, bounds)
            if not pending:
                break
            results, todo = self._collect(pool, pending, first=True)
            for k, result in results:
                self._absorb(k, result)
                self._merge(result["front"])
                stop |= result["target_done"]
            for k, _ in results:
                self._migrate(k, self.hall.front(), self.rng)
                todo.append(k)
            if results:
                self._after_tasks()

    def _run_ordered(self, pool) -> None:
        """Generation-bound: a deterministic schedule that lets islands drift by one epoch.

        Epoch e of every island is merged, in island order, into the front H_e once all
        islands have done it (H_0: the front at the start). An island that has done e epochs
        gets its migrants from H_(e-1), chosen with an RNG of its own for that epoch; so it
        may start its next epoch while the slowest island still runs epoch e, and no worker
        waits at every migration for the slowest island.
        """
        n = self.islands
        epochs = [0] * n  # epochs done in this call
        levels = {0: self.hall.front()}  # H_e
        fronts: dict = {}  # epoch -> {island: front}, until every island has done that epoch
        complete = 0
        migrated: set = set()
        pending: dict = {}
        idle, finished, stop = set(range(n)), set(), False
        while True:
            for k in ([] if stop else sorted(idle)):
                e = epochs[k]
                if e - 1 > complete:  # H_(e-1) not there yet: wait for the slower islands
                    continue
                bounds = self._task_bounds(k)
                if bounds is None:
                    finished.add(k)
                    idle.discard(k)
                    continue
                if e >= 1 and (k, e) not in migrated:
                    migrated.add((k, e))
                    self._migrate(k, levels[e - 1], random.Random(f"{self.config.seed}:{k}:{e}"))
                self._submit(pool, pending, k, bounds)
                idle.discard(k)
            if not pending:
                break
            results, lost = self._collect(pool, pending, first=True)
            idle.update(lost)
            for k, result in results:
                self._absorb(k, result)
                epochs[k] += 1
                fronts.setdefault(epochs[k], {})[k] = result["front"]
                stop |= result["target_done"]
                idle.add(k)
            while all(e > complete for e in epochs):
                complete += 1
                for k in range(n):
                    self._merge(fronts[complete][k])
                del fronts[complete]
                levels[complete] = self.hall.front()
                levels.pop(complete - 2, None)
            if results:
                self._after_tasks()
        for e in sorted(fronts):  # epochs not every island reached (time limit, target)
            for k in sorted(fronts[e]):
                self._merge(fronts[e][k])

    def _polish_round(self, pool) -> None:
        """A polishing task for every island whose last task did not polish (in island order)."""
        todo = [k for k in range(self.islands) if self.states[k] is not None and not self.polished[k]]
        pending: dict = {}
        results: list = []
        while todo or pending:
            for k in todo:
                self._submit(pool, pending, k, (0, None, True))
            got, todo = self._collect(pool, pending, first=False)
            results += got
        for k, result in sorted(results, key=lambda r: r[0]):
            self._absorb(k, result)
            self._merge(result["front"])
        if results:
            self._after_tasks()

    def _absorb(self, island: int, result: dict) -> None:
        before = self.states[island]["refine_evaluations"] if self.states[island] else 0
        self.refine_evaluations += int(result["state"]["refine_evaluations"]) - int(before)
        self.states[island] = result["state"]
        self.island_fronts[island] = result["front"]
        self.island_generations[island] = int(result["state"]["generation"])
        self.polished[island] = bool(result["polished"])
        self.evaluations += int(result["evaluations"])
        self.task_seconds += float(result["seconds"])
        self.pids.add(result["pid"])

    def _record(self) -> None:
        row = {"generation": self.generation, "evaluations": self.evaluations, "best_loss": self.best_loss(),
               "front_size": len(self.hall.front()), "elapsed_s": round(self._now(), 4)}
        self.history.append(row)
        if self.progress is not None:
            self.progress(row)

    # --- checkpoint state ---------------------------------------------------------------------
    def state(self) -> dict:
        """JSON-compatible state: the islands' states, the merged front, the parent's RNG."""
        version, internal, gauss = self.rng.getstate()
        front = [{"nodes": self.nodes[c.key], "loss": c.loss, "complexity": c.complexity,
                  "coefficients": [float(a) for a in np.ravel(c.coefficients)]} for c in self.hall.best.values()]
        return {"generation": self.generation, "evaluations": self.evaluations, "elapsed_s": self._now(),
                "refine_evaluations": self.refine_evaluations, "target_reached_at": None, "rng_state": [version, list(internal), gauss],
                "population": [], "hall_of_fame": [m["nodes"] for m in front], "refined": [], "explored": [],
                "history": self.history,
                "islands": {"count": self.islands, "states": self.states, "fronts": self.island_fronts,
                            "merged": front, "migrations": self.migrations,
                            "migration_interval": self.settings.migration_interval}}

    def restore(self, state: dict) -> None:
        islands = state.get("islands")
        if not isinstance(islands, dict):
            raise ValueError("the checkpoint is of a single-population run (resume it with one worker)")
        if self.islands is not None and int(islands["count"]) != self.islands:
            raise ValueError(f"the checkpoint has {islands['count']} islands, this run {self.islands}")
        self.islands = int(islands["count"])
        self.states = list(islands["states"])
        self.island_fronts = [list(f) for f in islands["fronts"]]
        self.island_generations = [int(s["generation"]) if s else 0 for s in self.states]
        self.polished = [False] * self.islands
        self.migrations = int(islands.get("migrations", 0))
        self.evaluations = int(state["evaluations"])
        self.refine_evaluations = sum(int(s["refine_evaluations"]) for s in self.states if s)
        self.elapsed = float(state["elapsed_s"])
        self.history = list(state["history"])
        version, internal, gauss = state["rng_state"]
        self.rng.setstate((version, tuple(internal), gauss))
        self._merge(islands["merged"])
