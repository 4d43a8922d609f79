"""symbpot.malloc: freed memory is reused, not mapped afresh (page faults) at every array."""
import os
import subprocess
import sys

import pytest

from symbpot.malloc import keep_freed_memory

# a fresh interpreter: allocate and free 8 MB arrays (as an EAM evaluation does), count page faults
SCRIPT = r"""
import resource, sys
import numpy as np
if sys.argv[1] == "keep":
    from symbpot.malloc import keep_freed_memory
    assert keep_freed_memory()
a = np.ones(1_000_000); del a  # first use: the pages are new in any case
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    a = np.ones(1_000_000)  # 8 MB, written in full
    del a
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def faults(mode: str) -> int:
    # as Dask's nanny starts its workers (distributed.nanny.pre-spawn-environ): memory is given
    # back to the system at every free, so every new array is new pages
    env = dict(os.environ, MALLOC_TRIM_THRESHOLD_="65536")
    out = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, check=True, env=env)
    return int(out.stdout.split()[-1])


@pytest.mark.skipif(not keep_freed_memory(), reason="not glibc: keep_freed_memory does nothing here")
def test_freed_arrays_are_reused_without_page_faults():
    default = faults("default")
    kept = faults("keep")
    # 20 arrays mapped afresh: at least hundreds of faults each (4 kB pages; fewer with
    # huge pages or fault-around, 18,640 in all seen here)
    assert default > 20 * 100
    assert kept < default / 20  # kept: the same memory again (0 seen here)


def test_keep_freed_memory_is_idempotent():
    assert keep_freed_memory() == keep_freed_memory()
