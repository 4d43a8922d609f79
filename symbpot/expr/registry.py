"""The one operator registry (design rule 1).

Every operator the search can use is one row: its arity, the opcode (and integer
argument) the compiled interpreter executes, its sympy counterpart, its spelling in
LAMMPS' Lepton expression language and its complexity weight. The GP primitive set,
the flat-program compiler, the sympy export and the LAMMPS export all read this table,
so they cannot drift apart.

Opcodes are plain integers so that :mod:`symbpot.expr.interpreter` (numba, no Python
objects) can dispatch on them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import sympy

# --- opcodes understood by the interpreter -------------------------------------------
OP_VAR = 0  # push r
OP_CONST = 1  # push a constant (value in the program's ``args``)
OP_ADD = 2
OP_SUB = 3
OP_MUL = 4
OP_DIV = 5
OP_NEG = 6
OP_POWI = 7  # integer power; the exponent is the program's ``args`` entry
OP_EXP = 8
OP_SQRT = 9  # square root (nan for a negative argument: the candidate is rejected)

OPCODE_ARITY = {
    OP_VAR: 0,
    OP_CONST: 0,
    OP_ADD: 2,
    OP_SUB: 2,
    OP_MUL: 2,
    OP_DIV: 2,
    OP_NEG: 1,
    OP_POWI: 1,
    OP_EXP: 1,
    OP_SQRT: 1,
}


@dataclass(frozen=True)
class Operator:
    """One row of the registry.

    Attributes
    ----------
    name : str
        Name of the GP primitive (also used in DEAP tree strings).
    arity : int
        Number of arguments.
    opcode : int
        Interpreter opcode.
    arg : int or None
        Fixed integer argument for the opcode (the exponent for ``OP_POWI``); ``None``
        means the argument is stored in the program (the generic ``powi`` row).
    sympy : callable
        ``sympy(children, arg)`` builds the sympy expression.
    lepton : callable
        ``lepton(children, arg)`` spells the node in LAMMPS' Lepton language.
    complexity : int
        Weight of one node of this operator in the complexity measure.
    """

    name: str
    arity: int
    opcode: int
    arg: int | None
    sympy: Callable
    lepton: Callable
    complexity: int = 1


def _lepton_powi(c, n):
    if n < 0:
        return f"(1/{c[0]})" if n == -1 else f"(1/({c[0]})^{-n})"
    return f"({c[0]})^{n}"


OPERATORS: dict[str, Operator] = {
    op.name: op
    for op in (
        Operator("add", 2, OP_ADD, 0, lambda c, n: c[0] + c[1], lambda c, n: f"({c[0]}+{c[1]})"),
        Operator("sub", 2, OP_SUB, 0, lambda c, n: c[0] - c[1], lambda c, n: f"({c[0]}-{c[1]})"),
        Operator("mul", 2, OP_MUL, 0, lambda c, n: c[0] * c[1], lambda c, n: f"({c[0]}*{c[1]})"),
        Operator("div", 2, OP_DIV, 0, lambda c, n: c[0] / c[1], lambda c, n: f"({c[0]}/{c[1]})"),
        Operator("neg", 1, OP_NEG, 0, lambda c, n: -c[0], lambda c, n: f"(-{c[0]})"),
        Operator("powi", 1, OP_POWI, None, lambda c, n: c[0] ** int(n), lambda c, n: _lepton_powi(c, int(n))),
        Operator("inv", 1, OP_POWI, -1, lambda c, n: c[0] ** -1, lambda c, n: _lepton_powi(c, -1)),
        Operator("square", 1, OP_POWI, 2, lambda c, n: c[0] ** 2, lambda c, n: _lepton_powi(c, 2)),
        Operator("cube", 1, OP_POWI, 3, lambda c, n: c[0] ** 3, lambda c, n: _lepton_powi(c, 3)),
        Operator("exp", 1, OP_EXP, 0, lambda c, n: sympy.exp(c[0]), lambda c, n: f"exp({c[0]})", complexity=2),
        Operator("sqrt", 1, OP_SQRT, 0, lambda c, n: sympy.sqrt(c[0]), lambda c, n: f"sqrt({c[0]})", complexity=2),
    )
}

#: The row that converts an opcode back to sympy / Lepton (any exponent for OP_POWI).
CANONICAL: dict[int, Operator] = {
    OP_ADD: OPERATORS["add"],
    OP_SUB: OPERATORS["sub"],
    OP_MUL: OPERATORS["mul"],
    OP_DIV: OPERATORS["div"],
    OP_NEG: OPERATORS["neg"],
    OP_POWI: OPERATORS["powi"],
    OP_EXP: OPERATORS["exp"],
    OP_SQRT: OPERATORS["sqrt"],
}

#: Operators used by default by the pair-potential search.
DEFAULT_OPERATORS = ("add", "sub", "mul", "div", "neg", "inv", "square", "cube", "exp")
#: Operators of the embedding function F(rho) of many-body forms (sqrt: Finnis-Sinclair).
EMBEDDING_OPERATORS = ("add", "sub", "mul", "div", "neg", "square", "cube", "sqrt")

VARIABLE_NAME = "r"
R = sympy.Symbol(VARIABLE_NAME, positive=True)

