"""symbpot: discover closed-form interatomic potentials by genetic programming.

Public API::

    from symbpot import Dataset, SymbolicPotential, Potential
    data = Dataset.from_file("train.extxyz", cutoff=5.0)
    model = SymbolicPotential(form="pair", seed=0, time_limit=60).fit(data)
    print(model.equations_)
    best = model.get_best()
    best.to_json("best.json")
"""
import os as _os

# Numba's OpenMP worker threads spin after each parallel region by default; on a busy
# machine that spinning starves the main thread (measured: a 30-generation LJ fit took
# 22-41 s with spinning and 3.9 s with passive waiting while another process ran).
# Set before numba starts its thread pool; a user's own setting wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .data import Dataset  # noqa: E402
from .errors import ConfigError, DataError, OutputError, PotentialFileError, SymbpotError  # noqa: E402
from .estimator import SymbolicPotential  # noqa: E402
from .forms import Cutoff  # noqa: E402
from .potential import Potential, package_version  # noqa: E402

__version__ = package_version()

__all__ = ["Dataset", "SymbolicPotential", "Potential", "Cutoff", "SymbpotError", "DataError", "ConfigError",
           "OutputError", "PotentialFileError", "__version__"]
