"""symbpot: discover closed-form interatomic potentials by genetic programming.

Public API::

    from symbpot import Dataset, SymbolicPotential, Potential
    data = Dataset.from_file("train.extxyz", cutoff=5.0)
    model = SymbolicPotential(form="pair", seed=0, time_limit=60).fit(data)
    print(model.equations_)
    best = model.get_best()
    best.to_json("best.json")
"""
from .data import Dataset
from .errors import ConfigError, DataError, OutputError, PotentialFileError, SymbpotError
from .estimator import SymbolicPotential
from .forms import Cutoff
from .potential import Potential, package_version

__version__ = package_version()

__all__ = ["Dataset", "SymbolicPotential", "Potential", "Cutoff", "SymbpotError", "DataError", "ConfigError",
           "OutputError", "PotentialFileError", "__version__"]
