"""Island tasks: what runs in a worker process (see :mod:`symbpot.gp.islands`).

:func:`run_island` rebuilds an island's search from its state and the payload (the loss
model and configuration, sent once per worker), evolves it and returns the new state and
its front as JSON-compatible data.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import random
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from .engine import Candidate, SearchConfig

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

    from ..malloc import keep_freed_memory
    from . import manybody_search  # noqa: F401

    keep_freed_memory()


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
    from ..malloc import keep_freed_memory

    keep_freed_memory()  # Dask workers too (their nanny sets a small trim threshold)
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
