"""Keep freed memory in the process, so that a search's temporary arrays reuse it (glibc).

Every EAM evaluation allocates and frees arrays of a few MB (force and virial columns, the
design matrix, its QR). With glibc's defaults an array above the mmap threshold (128 kB at
start, raised only when such a block is freed) is mapped afresh and unmapped when freed,
and free memory at the top of the heap above 128 kB is returned to the system; each new
page is then a page fault, whose cost is kernel time. A process that built its loss model
itself had its threshold raised by then; a worker that received the model by pickle had
not, and Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536`` on purpose (to
give memory back between tasks). Measured on the 2-core machine (``runs/benchmarks``,
scaling): EAM island tasks on two loky workers spent ~25 % of their time in the kernel,
and that time went with the settings below.

:func:`keep_freed_memory` sets, once per process, the mmap threshold to glibc's 64-bit
maximum (32 MB) and the trim threshold to 1 GB. The cost: up to 1 GB of freed memory per
process may stay mapped until the process ends (it is reused by the next allocations).
Elsewhere than glibc (macOS, musl) it does nothing.
"""
from __future__ import annotations

import ctypes
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: glibc's upper limit for the mmap threshold on 64-bit systems (HEAP_MAX_SIZE / 2)
MMAP_THRESHOLD = 32 * 1024 * 1024
TRIM_THRESHOLD = 1024 * 1024 * 1024

_state: dict = {}


def keep_freed_memory() -> bool:
    """Apply the settings above in this process (once); True if glibc accepted them."""
    if "applied" not in _state:
        _state["applied"] = _apply()
    return _state["applied"]


def _apply() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 - glibc only (musl has mallopt but ignores it)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    ok = mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and ok
    return ok
