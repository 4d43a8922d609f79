"""Keep freed memory in the process, so that a search's temporary arrays reuse it (glibc).

Every EAM evaluation allocates and frees arrays of a few MB (force and virial columns, the
design matrix, its QR). With glibc's defaults such an array may be mapped afresh and unmapped
when freed (above the mmap threshold, which starts at 128 kB and adapts to what is freed),
and free memory at the top of the heap is given back to the system (above the trim
threshold); each new page is then a page fault, whose cost is kernel time. Dask's nanny
starts its workers with ``MALLOC_TRIM_THRESHOLD_=65536`` on purpose (to give memory back
between tasks), which makes every such array new pages. Measured on the 2-core machine
(``runs/benchmarks/README.md``, scaling): EAM island tasks on two loky workers spent about
a fifth of their CPU time in the kernel (7.6 s of 48 s and 8.2 s of 31 s), and 0.4 s with the
settings below; why glibc's adaptive threshold did not avoid it in those workers was not
traced.

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
