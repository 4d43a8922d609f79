"""Thread control: single-threaded BLAS while symbpot works.

symbpot's parallelism is its own (Numba kernels, later joblib workers). OpenBLAS' threads
on top of those oversubscribe the cores: measured here, a 401 x 401 ``eigh`` took 0.20 s
with OpenBLAS threads and 0.027 s with one, and the search loop's small matrix products
behave the same way. Searches therefore run with BLAS limited to one thread
(``threadpoolctl``), restored afterwards.
"""
from __future__ import annotations

import contextlib


@contextlib.contextmanager
def single_threaded_blas():
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield
