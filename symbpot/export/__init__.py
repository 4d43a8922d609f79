"""Exports: closed forms (sympy, LaTeX)."""
from .sympy_form import expression_size, parse, round_floats, simplify, to_latex

__all__ = ["simplify", "expression_size", "round_floats", "to_latex", "parse"]
