"""Checkpoints of a running search: JSON, written atomically, with a format version.

A checkpoint holds the search state (population and hall of fame as prefix node lists,
RNG state, counters, history); the data and settings come from the run folder's
``config.json``. JSON rather than pickle: a checkpoint can be read by a person, and a
corrupt file cannot execute code.
"""
from __future__ import annotations

import json
import os
import time

from .errors import SymbpotError

FORMAT_NAME = "symbpot-checkpoint"
FORMAT_VERSION = 1
FILENAME = "checkpoint.json"


class CheckpointError(SymbpotError):
    """A checkpoint is missing, corrupt or of an incompatible version."""


def write_checkpoint(path: str, search_state: dict) -> None:
    from .potential import package_version

    data = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "symbpot_version": package_version(),
            "written": time.strftime("%Y-%m-%dT%H:%M:%S"), "search": search_state}
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(data, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def read_checkpoint(path: str) -> dict:
    """The search state stored in ``path``; :class:`CheckpointError` if unusable."""
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no checkpoint to resume from")
    try:
        with open(path) as fh:
            data = json.load(fh)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: corrupt checkpoint ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{path}: not a symbpot checkpoint")
    if data.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: checkpoint format {data.get('format_version')!r} is not supported "
                              f"(this symbpot writes {FORMAT_VERSION})")
    state = data.get("search")
    needed = ("generation", "evaluations", "elapsed_s", "rng_state", "population", "hall_of_fame", "history")
    if not isinstance(state, dict) or any(k not in state for k in needed):
        raise CheckpointError(f"{path}: checkpoint lacks the search state")
    problem = state_problem(state)
    if problem:
        raise CheckpointError(f"{path}: corrupt checkpoint ({problem})")
    return state


def _tree_problem(nodes) -> str | None:
    """Why a prefix node list (``[[name, value], ...]``) is not one well-formed tree, or None."""
    from .expr.program import CONST, VAR
    from .expr.registry import OPERATORS

    if not isinstance(nodes, list) or not nodes:
        return "a tree is not a non-empty list of nodes"
    need = 1
    for node in nodes:
        if need == 0:
            return "a tree has nodes after its end"
        if not (isinstance(node, (list, tuple)) and len(node) == 2 and isinstance(node[0], str)):
            return "a tree node is not [name, value]"
        name, value = node
        if name in (VAR, CONST):
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                return "a tree constant is not a number"
            need -= 1
        elif name in OPERATORS:
            need += OPERATORS[name].arity - 1
        else:
            return f"unknown operator {name!r}"
    return None if need == 0 else "a tree is truncated"


def state_problem(state: dict) -> str | None:
    """Why a search state cannot be resumed (types, trees, RNG, history rows), or None.

    Checked before a resume writes or prints anything, so that a corrupt checkpoint costs
    the user nothing.
    """
    import random

    from .runfolder import HISTORY_FIELDS

    for key in ("generation", "evaluations"):
        if not isinstance(state[key], int) or isinstance(state[key], bool) or state[key] < 0:
            return f"{key} is not a non-negative integer"
    if not isinstance(state["elapsed_s"], (int, float)):
        return "elapsed_s is not a number"
    try:
        version, internal, gauss = state["rng_state"]
        random.Random().setstate((version, tuple(internal), gauss))
    except (TypeError, ValueError, OverflowError):
        return "the random-number state is invalid"
    history = state["history"]
    if not isinstance(history, list) or not all(isinstance(r, dict) and all(k in r for k in HISTORY_FIELDS)
                                                for r in history):
        return "history rows are malformed"
    for key in ("population", "hall_of_fame"):
        if not isinstance(state[key], list):
            return f"{key} is not a list"
        for ind in state[key]:
            trees = ind if ind and isinstance(ind, list) and isinstance(ind[0], list) and ind[0] \
                and isinstance(ind[0][0], list) else [ind]  # a genome is a list of trees
            for tree in trees:
                problem = _tree_problem(tree)
                if problem:
                    return f"{key}: {problem}"
    return None


class Checkpointer:
    """Writes a checkpoint after a generation if ``interval`` seconds passed since the last one."""

    def __init__(self, path: str, interval: float = 10.0):
        self.path = path
        self.interval = interval
        self.last = time.perf_counter()

    def __call__(self, search, force: bool = False) -> None:
        now = time.perf_counter()
        if force or now - self.last >= self.interval:
            write_checkpoint(self.path, search.state())
            self.last = now
