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

Modules: the worker side (:func:`run_island`, the payload) is
:mod:`symbpot.gp.island_tasks`; the pools (this process, loky, Dask) are
:mod:`symbpot.gp.pools`; this module is the parent (:class:`IslandSearch`).

Faults: a task is recomputed from the same inputs if its worker dies: Dask's scheduler
reschedules it on another worker (up to ``distributed.scheduler.allowed-failures``
times), and if the run's data was lost with the worker (its tasks are then cancelled) the
data is sent again and the islands resubmitted; a dead local process breaks the loky pool,
which is restarted and the islands in flight resubmitted (at most ``MAX_POOL_RESTARTS``
restarts in either case).
"""
from __future__ import annotations

import hashlib
import math
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .engine import Candidate, HallOfFame
from .island_tasks import PAYLOAD_LOADS, IslandPayload, _score_of, node_key, run_island  # noqa: F401 - public names
from .pools import MAX_POOL_RESTARTS, DaskPool, LocalPool, SerialPool, prestart  # noqa: F401 - public names


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
        #: one row per task received: island, generations done, evaluations, seconds, worker
        #: pid, when it was received (seconds into the run), the best loss and size of the
        #: island's front and a digest of that front, so that two runs can be compared task by
        #: task; kept in checkpoints and written to the run folder as ``islands.csv``
        self.task_log: list[dict] = []

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
        restarted and all those islands are returned for resubmission (same inputs). A Dask
        task is cancelled only when the run's data was lost with a worker: it is sent again.
        """
        done = pool.wait(pending, first=first)
        results, lost, failed = [], [], []
        for fut in sorted(done, key=lambda f: pending[f]):
            k = pending.pop(fut)
            try:
                results.append((k, fut.result()))
            except Exception as exc:  # noqa: BLE001 - a lost worker is recovered from, others re-raised
                if not pool.lost_worker(exc):
                    raise pool.error(exc) from exc
                lost.append(k)
                failed.append(fut)
        if lost:
            lost = sorted(set(lost) | set(pending.values()))
            pending.clear()
            pool.restart(failed)
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
        front = result["front"]
        digest = hashlib.sha1(repr([(m["complexity"], m["loss"]) for m in front]).encode()).hexdigest()
        self.task_log.append({"island": island, "generation": self.island_generations[island],
                              "evaluations": int(result["evaluations"]), "seconds": round(float(result["seconds"]), 3),
                              "pid": result["pid"], "received_s": round(self._now(), 3),
                              "best_loss": min((float(m["loss"]) for m in front), default=None),
                              "front_size": len(front), "front": digest[:12]})

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
                            "migration_interval": self.settings.migration_interval, "task_log": self.task_log}}

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
        self.task_log = [dict(row) for row in islands.get("task_log", [])]
        self.evaluations = int(state["evaluations"])
        self.refine_evaluations = sum(int(s["refine_evaluations"]) for s in self.states if s)
        self.elapsed = float(state["elapsed_s"])
        self.history = list(state["history"])
        version, internal, gauss = state["rng_state"]
        self.rng.setstate((version, tuple(internal), gauss))
        self._merge(islands["merged"])
