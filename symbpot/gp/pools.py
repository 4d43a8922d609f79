"""Where island tasks run (see :mod:`symbpot.gp.islands`): this process, local processes, or Dask.

Every pool has ``submit``, ``wait``, ``lost_worker``, ``error``, ``close``, ``n_slots`` and
``numba_threads``; :func:`prestart` starts local workers ahead of a run.
"""
from __future__ import annotations

import contextlib
import os
import time
import uuid

from .island_tasks import IslandPayload, _host_of, _warm_up, run_island

MAX_POOL_RESTARTS = 3
#: how long to try to reach a Dask scheduler
CONNECT_TIMEOUT = "20s"

#: local worker processes started ahead of a run (:func:`prestart`), waiting to be adopted
_WARM: dict = {}
#: Dask clients connected ahead of a run (:func:`prestart`), with their warm-up thread, by address
_WARM_DASK: dict = {}


def prestart(workers: int, scheduler=None) -> None:
    """Get the workers of the next island run ready while this process reads the data and
    builds the loss model (the CLI and :class:`SymbolicPotential` call this).

    Local (``scheduler`` None): start ``workers`` worker processes now, so that they import
    symbpot meanwhile; the next island run with as many workers uses them. Dask
    (``scheduler`` an address): connect now (an unreachable scheduler is reported before
    the data is read), and import the island tasks' modules on the scheduler and on every
    worker in a background thread (:func:`_warm_cluster`); the next run on that scheduler
    uses the connection.
    """
    if scheduler is not None:
        if isinstance(scheduler, str) and scheduler not in _WARM_DASK:
            import threading

            client = _connect(scheduler)
            thread = threading.Thread(target=_warm_cluster, args=(client,), name="symbpot-dask-warm-up", daemon=True)
            thread.start()
            _WARM_DASK[scheduler] = (client, thread)
        return
    if workers > 1 and workers not in _WARM:
        from joblib.externals.loky import ProcessPoolExecutor

        executor = ProcessPoolExecutor(max_workers=workers, initializer=_warm_up)
        for _ in range(workers):
            executor.submit(int)  # processes start on demand: ask for all of them
        _WARM[workers] = executor


def _connect(address: str):
    """A ``distributed.Client`` of the scheduler at ``address``, or a one-line error."""
    from ..errors import ConfigError, SymbpotError

    try:
        from distributed import Client
    except ImportError:
        raise ConfigError("a Dask scheduler needs dask.distributed: pip install 'symbpot[dask]'") from None
    try:
        return Client(address, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as exc:
        raise SymbpotError(f"cannot connect to the Dask scheduler {address} ({exc})") from None


def _warm_cluster(client) -> None:
    """Import what island tasks need on every worker and on the scheduler.

    The scheduler unpickles every task it is sent, :func:`run_island` included, so the
    first island task makes it import symbpot (about 1 s of CPU). Measured on a
    two-worker LocalCluster (2026-12-07): while it did, the first tasks reached the
    workers 0.5-1.4 s after they were submitted, and one worker was once given three of
    the first four. Workers import symbpot when they unpickle the run's data. Errors are
    left to the run itself to report.
    """
    with contextlib.suppress(Exception):
        client.run_on_scheduler(_import_tasks)
    with contextlib.suppress(Exception):
        client.run(_warm_up)


def _import_tasks() -> None:
    from . import island_tasks, manybody_search  # noqa: F401


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
            future = self.executor.submit(*args)
        except BrokenProcessPool:  # a worker died while idle: the tasks in flight fail too (handled by the loop)
            self.restart()
            future = self.executor.submit(*args)
        future.pool_generation = self.restarts
        return future

    def wait(self, futures, first: bool):
        from concurrent.futures import FIRST_COMPLETED, ALL_COMPLETED, wait

        return wait(list(futures), return_when=FIRST_COMPLETED if first else ALL_COMPLETED).done

    def lost_worker(self, exc: BaseException) -> bool:
        from joblib.externals.loky import BrokenProcessPool

        return isinstance(exc, BrokenProcessPool)

    def error(self, exc: BaseException) -> BaseException:
        return exc

    def restart(self, failed=()) -> None:
        """Start new worker processes, unless the pool was already restarted after the
        ``failed`` tasks were submitted (``submit`` restarts a pool it finds broken; one dead
        worker is one restart)."""
        from ..errors import SymbpotError

        if failed and all(getattr(f, "pool_generation", self.restarts) < self.restarts for f in failed):
            return
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
        from ..errors import SymbpotError

        self.own_client = not hasattr(scheduler, "submit")
        warm = _WARM_DASK.pop(scheduler, None) if self.own_client else None
        if warm is not None:  # connected by prestart: wait for its warm-up (the data needs the imports anyway)
            self.client, thread = warm
            thread.join()
        else:
            self.client = _connect(scheduler) if self.own_client else scheduler
            _warm_cluster(self.client)
        info = self.client.scheduler_info(n_workers=-1)["workers"] if _accepts_n_workers(self.client) \
            else self.client.scheduler_info()["workers"]
        if not info:
            raise SymbpotError(f"the Dask cluster at {scheduler} has no workers")
        self.n_slots = int(sum(w.get("nthreads", 1) for w in info.values()))
        self.numba_threads = self._threads_by_host(info)
        self.payload = payload
        self.restarts = 0
        self._queue: list = []  # (proxy future, task arguments) not yet sent
        self._running: dict = {}  # Dask future -> proxy future
        self._scatter()

    def _scatter(self) -> None:
        """Send the payload to every worker, and wait until the scheduler knows each has it.

        ``scatter(broadcast=True)`` replicates after the first copy; a task submitted before
        a worker is registered as a holder made that worker fetch a second copy (seen in
        about one of ten test runs), and a worker killed while it was the only registered
        holder took the data with it (its island tasks were cancelled, "already forgotten").
        """
        self.data = self.client.scatter(self.payload, broadcast=True, hash=False)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            workers = set(self.client.scheduler_info(**self._all)["workers"])
            holders = set(self.client.who_has([self.data]).get(self.data.key, ()))
            if workers and workers <= holders:
                return
            self.client.replicate([self.data])
            time.sleep(0.05)

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
        """A future of the island's task; the task goes to the cluster once a worker thread is free.

        Dask assigns a task to a worker when it is submitted. With more islands than worker
        threads, an island then waits behind the task it was queued after even when another
        worker is idle: in the EAM scaling run of 2026-12-07 one worker idled for 33 of 139 s
        while the other ran the tasks queued on it. So at most :meth:`_slots` tasks are on the
        cluster at once, as a local pool hands a task to the first worker that is free.
        """
        from concurrent.futures import Future

        proxy = Future()
        self._queue.append((proxy, (island, state, n_generations, deadline, polish)))
        self._fill()
        return proxy

    def _slots(self) -> int:
        try:
            return max(1, sum(self.client.nthreads().values()))
        except Exception:  # noqa: BLE001 - no answer now: what the cluster had at the start
            return self.n_slots

    def _fill(self) -> None:
        """Send queued tasks to the cluster while it has fewer than a task per worker thread."""
        if not self._queue:
            return
        free = self._slots() - len(self._running)
        while self._queue and free > 0:
            proxy, (island, state, n_generations, deadline, polish) = self._queue.pop(0)
            future = self.client.submit(run_island, self.data, island, state, n_generations, deadline,
                                        self.numba_threads, polish, pure=False,
                                        key=f"symbpot-island-{island}-{uuid.uuid4().hex}")
            self._running[future] = proxy
            free -= 1

    def wait(self, futures, first: bool):
        """The done ones of ``futures`` (all of them, or at least one if ``first``)."""
        from distributed import wait

        futures = set(futures)
        while True:
            self._fill()
            done = {f for f in futures if f.done()}
            if done and (first or done == futures):
                return done
            if not self._running:
                raise RuntimeError("island tasks awaited that were never submitted")
            try:
                finished = wait(list(self._running), return_when="FIRST_COMPLETED").done
            except Exception:  # noqa: BLE001 - cancelled tasks: their result() raises, handed on below
                finished = {f for f in self._running if f.done() or f.cancelled()}
                if not finished:
                    raise
            failed = False
            for future in finished:
                proxy = self._running.pop(future)
                try:
                    proxy.set_result(future.result())
                except BaseException as exc:  # noqa: BLE001 - the caller decides (lost data, a bug)
                    proxy.set_exception(exc)
                    failed = True
            if failed:  # the data may be gone: send nothing more until the caller has decided
                return {f for f in futures if f.done()}

    @property
    def _all(self) -> dict:
        return {"n_workers": -1} if _accepts_n_workers(self.client) else {}

    def lost_worker(self, exc: BaseException) -> bool:
        """A task cancelled by the scheduler: its data went with a dead worker.

        The scheduler itself reschedules the tasks of a lost worker; only when the payload was
        lost too are they cancelled, and the run re-sends it and resubmits them (restart).
        """
        from concurrent.futures import CancelledError

        return isinstance(exc, CancelledError) or type(exc).__name__ == "FuturesCancelledError"

    def error(self, exc: BaseException) -> BaseException:
        """Dask's own failures (a task's workers died too often, lost connection) as one-line errors."""
        from ..errors import SymbpotError

        if type(exc).__module__.split(".")[0] == "distributed" or isinstance(exc, (OSError, TimeoutError)):
            return SymbpotError(f"Dask: {type(exc).__name__}: {exc}")
        return exc

    def restart(self, failed=()) -> None:
        """Send the payload again (the islands in flight are resubmitted by the caller)."""
        from ..errors import SymbpotError

        self.restarts += 1
        if self.restarts > MAX_POOL_RESTARTS:
            raise SymbpotError(f"Dask lost the run's data {self.restarts} times; giving up")
        self._queue.clear()  # the caller resubmits every island it was waiting for
        self._running.clear()
        with contextlib.suppress(Exception):
            self.data.release()
        self._scatter()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.data.release()
        if self.own_client:
            with contextlib.suppress(Exception):
                self.client.close()


def _accepts_n_workers(client) -> bool:
    import inspect

    return "n_workers" in inspect.signature(client.scheduler_info).parameters
