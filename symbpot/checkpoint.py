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
    return state


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
