"""Operator registry, flat programs and the compiled interpreter."""
from .program import CONST, VAR, Program, ProgramError, concatenate
from .registry import DEFAULT_OPERATORS, OPERATORS, R

__all__ = ["Program", "ProgramError", "concatenate", "OPERATORS", "DEFAULT_OPERATORS", "R", "VAR", "CONST"]
