"""Run folders: config, live history, Pareto front and best potential on disk.

A run folder is never overwritten: an existing file or non-empty folder is refused.
"""
from __future__ import annotations

import csv
import datetime
import json
import os
import platform

from .errors import OutputError

HISTORY_FIELDS = ("generation", "evaluations", "best_loss", "front_size", "elapsed_s")
#: ``islands.csv``: one row per island task (:attr:`symbpot.gp.islands.IslandSearch.task_log`)
ISLAND_FIELDS = ("island", "generation", "evaluations", "seconds", "pid", "received_s", "best_loss", "front_size",
                 "front")


def default_run_dir(name: str, root: str = "runs") -> str:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return os.path.join(root, f"{name}-{stamp}")


def check_run_dir(path: str) -> None:
    """Raise :class:`OutputError` unless ``path`` is absent or an empty folder."""
    if os.path.isfile(path) or (os.path.exists(path) and not os.path.isdir(path)):
        raise OutputError(f"{path}: output path is an existing file (refusing to overwrite)")
    if os.path.isdir(path) and os.listdir(path):
        raise OutputError(f"{path}: output folder exists and is not empty (refusing to overwrite; "
                          "choose another --out)")


def create_run_dir(path: str) -> str:
    check_run_dir(path)
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{path}: cannot create output folder ({exc.strerror})") from None
    return path


def versions() -> dict:
    """Versions of symbpot, Python and the main dependencies."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in ("symbpot", "numpy", "scipy", "deap", "sympy", "numba", "ase", "joblib"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:  # pragma: no cover
            out[name] = None
    return out


def write_json(path: str, data) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(data, fh, indent=2, default=str)
        fh.write("\n")
    os.replace(tmp, path)


def write_history(path: str, rows, fields=HISTORY_FIELDS) -> None:
    """Rewrite ``history.csv`` (or another table of ``fields``) with ``rows``, atomically."""
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(fields)
        for row in rows:
            writer.writerow([row.get(k) for k in fields])
    os.replace(tmp, path)


class HistoryWriter:
    """Appends one row per generation to ``history.csv`` as the search goes."""

    def __init__(self, path: str, then=None, append: bool = False):
        self.path = path
        self.then = then
        if not append:
            with open(path, "w", newline="") as fh:
                csv.writer(fh).writerow(HISTORY_FIELDS)

    def __call__(self, row: dict) -> None:
        with open(self.path, "a", newline="") as fh:
            csv.writer(fh).writerow([row[k] for k in HISTORY_FIELDS])
        if self.then is not None:
            self.then(row)


def write_results(run_dir: str, estimator) -> dict:
    """Write ``pareto.csv``, ``best.json`` and, for islands, ``islands.csv``; return best.json's content."""
    estimator.equations_.to_csv(os.path.join(run_dir, "pareto.csv"))
    task_log = getattr(getattr(estimator, "search_", None), "task_log", None)
    if task_log:
        write_history(os.path.join(run_dir, "islands.csv"), task_log, ISLAND_FIELDS)
    best = estimator.get_best()
    best.to_json(os.path.join(run_dir, "best.json"))
    with open(os.path.join(run_dir, "best.json")) as fh:
        return json.load(fh)
