"""Genetic programming: primitive set, search loop, Pareto front."""
from .engine import Candidate, HallOfFame, Search, SearchConfig, combine_terms
from .primitives import complexity, primitive_set, tree_terms

__all__ = ["Search", "SearchConfig", "Candidate", "HallOfFame", "combine_terms", "complexity",
           "primitive_set", "tree_terms"]
