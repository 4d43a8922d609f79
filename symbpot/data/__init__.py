"""Data loading and neighbour packing."""
from .dataset import Dataset, check_cutoff, read_energy

__all__ = ["Dataset", "check_cutoff", "read_energy"]
