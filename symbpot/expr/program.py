"""Flat postfix programs: compiled once from a tree (or a sympy expression), never ``eval``.

A :class:`Program` is the only representation of an expression that the numeric code
sees. It converts to sympy and to LAMMPS' Lepton syntax through the operator registry.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import sympy

from .interpreter import evaluate_program, evaluate_program_parallel
from .registry import CANONICAL, OP_CONST, OP_VAR, OPERATORS, OPCODE_ARITY, R

#: node names for the leaves of a prefix node list
VAR = "r"
CONST = "const"


class ProgramError(ValueError):
    """An expression cannot be compiled into a program."""


@dataclass(frozen=True, eq=False)
class Program:
    """A postfix program: ``ops`` (int64 opcodes) and ``args`` (float64 operands).

    ``args[k]`` holds the constant of an ``OP_CONST`` node and the exponent of an
    ``OP_POWI`` node; it is 0 elsewhere.
    """

    ops: np.ndarray
    args: np.ndarray

    # --- construction -------------------------------------------------------------
    @classmethod
    def from_prefix(cls, nodes: Sequence[tuple[str, float]]) -> "Program":
        """Compile a prefix node list ``[(name, value), ...]``.

        ``name`` is ``"r"``, ``"const"`` (``value`` is the constant) or a registry
        operator name (``value`` is the exponent for ``"powi"``, ignored otherwise).
        """
        ops: list[int] = []
        args: list[float] = []

        def emit(pos: int) -> int:
            if pos >= len(nodes):
                raise ProgramError("prefix node list ends inside an operator")
            name, value = nodes[pos]
            if name == VAR:
                ops.append(OP_VAR)
                args.append(0.0)
                return pos + 1
            if name == CONST:
                ops.append(OP_CONST)
                args.append(float(value))
                return pos + 1
            try:
                op = OPERATORS[name]
            except KeyError:
                raise ProgramError(f"unknown operator {name!r}") from None
            nxt = pos + 1
            for _ in range(op.arity):
                nxt = emit(nxt)
            ops.append(op.opcode)
            args.append(float(op.arg if op.arg is not None else int(value)))
            return nxt

        end = emit(0)
        if end != len(nodes):
            raise ProgramError("prefix node list has trailing nodes")
        return cls.from_arrays(ops, args)

    @classmethod
    def from_arrays(cls, ops: Iterable[int], args: Iterable[float]) -> "Program":
        ops_a = np.ascontiguousarray(ops, dtype=np.int64)
        args_a = np.ascontiguousarray(args, dtype=np.float64)
        if ops_a.shape != args_a.shape or ops_a.ndim != 1 or len(ops_a) == 0:
            raise ProgramError("ops and args must be non-empty 1-d arrays of equal length")
        depth = 0
        for op in ops_a:
            arity = OPCODE_ARITY.get(int(op))
            if arity is None:
                raise ProgramError(f"unknown opcode {int(op)}")
            depth += 1 - arity
            if depth < 1:
                raise ProgramError("program pops more values than it pushes")
        if depth != 1:
            raise ProgramError("program does not leave exactly one value")
        return cls(ops_a, args_a)

    @classmethod
    def from_sympy(cls, expr: sympy.Expr, symbol: sympy.Symbol = R) -> "Program":
        """Compile a sympy expression in ``symbol`` built from registry operators."""
        ops: list[int] = []
        args: list[float] = []
        name_of = {"r": symbol}

        def push_const(value: float) -> None:
            ops.append(OP_CONST)
            args.append(float(value))

        def emit(e: sympy.Expr) -> None:
            if e.is_Symbol:
                if e.name != name_of["r"].name:
                    raise ProgramError(f"unknown symbol {e} (only {symbol} is allowed)")
                ops.append(OP_VAR)
                args.append(0.0)
            elif e.is_number:
                value = complex(e)
                if value.imag != 0 or not np.isfinite(value.real):
                    raise ProgramError(f"constant {e} is not a finite real number")
                push_const(value.real)
            elif e.is_Add or e.is_Mul:
                op = OPERATORS["add" if e.is_Add else "mul"]
                terms = e.args
                emit(terms[0])
                for t in terms[1:]:
                    emit(t)
                    ops.append(op.opcode)
                    args.append(0.0)
            elif e.is_Pow:
                base, exponent = e.args
                if base == sympy.E:
                    emit(exponent)
                    ops.append(OPERATORS["exp"].opcode)
                    args.append(0.0)
                    return
                if exponent.is_Rational and exponent.q == 2:  # x**(n/2) = sqrt(x)**n (sqrt(rho)*rho simplified)
                    emit(base)
                    ops.append(OPERATORS["sqrt"].opcode)
                    args.append(0.0)
                    if exponent.p != 1:
                        ops.append(OPERATORS["powi"].opcode)
                        args.append(float(exponent.p))
                    return
                if not (exponent.is_Integer):
                    raise ProgramError(f"non-integer power {e} is not supported")
                emit(base)
                ops.append(OPERATORS["powi"].opcode)
                args.append(float(int(exponent)))
            elif isinstance(e, sympy.exp):
                emit(e.args[0])
                ops.append(OPERATORS["exp"].opcode)
                args.append(0.0)
            else:
                raise ProgramError(f"unsupported function {e.func.__name__} in {e}")

        emit(sympy.sympify(expr))
        return cls.from_arrays(ops, args)

    # --- evaluation -------------------------------------------------------------
    def evaluate(self, r, order: int = 0):
        """Value (and derivatives up to ``order``) at the distances ``r``.

        Returns ``v`` for ``order == 0``, else ``(v, dv/dr)`` or ``(v, dv/dr, d2v/dr2)``.
        """
        x = np.ascontiguousarray(np.atleast_1d(r), dtype=np.float64)
        if x.shape[0] > 20000:
            v, d1, d2 = evaluate_program_parallel(self.ops, self.args, x, order)
        else:
            v, d1, d2 = evaluate_program(self.ops, self.args, x, order)
        return (v, (v, d1), (v, d1, d2))[min(order, 2)]

    # --- conversions -------------------------------------------------------------
    def _fold(self, leaf_var, leaf_const, node):
        stack = []
        for op, arg in zip(self.ops.tolist(), self.args.tolist()):
            if op == OP_VAR:
                stack.append(leaf_var)
            elif op == OP_CONST:
                stack.append(leaf_const(arg))
            else:
                row = CANONICAL[op]
                children = stack[len(stack) - row.arity:]
                del stack[len(stack) - row.arity:]
                stack.append(node(row, children, arg))
        return stack[0]

    def to_sympy(self, symbol: sympy.Symbol = R) -> sympy.Expr:
        """The expression as sympy (constants as Floats).

        A constant subtree sympy cannot evaluate gives zoo: a division by zero, or a number
        too large for it (exp(exp(1/2e-311)) raised OverflowError, "too many digits").
        """
        def node(row, children, arg):
            try:
                return row.sympy(children, arg)
            except (ZeroDivisionError, OverflowError):
                return sympy.zoo

        return self._fold(symbol, lambda c: sympy.Float(c, 17), node)

    def to_lepton(self, variable: str = "r") -> str:
        """The expression in LAMMPS' Lepton syntax."""
        return self._fold(variable, lambda c: repr(float(c)), lambda row, ch, arg: row.lepton(ch, arg))

    @functools.cached_property
    def constant_positions(self) -> np.ndarray:
        """Indices of the constant nodes (whose values are in ``args``)."""
        return np.flatnonzero(self.ops == OP_CONST)

    def with_constants(self, values) -> "Program":
        """A copy with the constants replaced (in program order)."""
        args = self.args.copy()
        args[self.constant_positions] = values
        return Program(self.ops, args)  # same structure: no need to validate again

    @functools.cached_property
    def key(self) -> str:
        """Structural hash key: identical programs have identical keys."""
        return self.ops.tobytes().hex() + ":" + self.args.tobytes().hex()

    def __len__(self) -> int:
        return len(self.ops)


def concatenate(programs: Sequence[Program]):
    """Pack programs into ``(ops, args, offsets)`` for :func:`evaluate_batch`."""
    offsets = np.zeros(len(programs) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(p) for p in programs])
    if programs:
        ops = np.concatenate([p.ops for p in programs])
        args = np.concatenate([p.args for p in programs])
    else:
        ops = np.zeros(0, dtype=np.int64)
        args = np.zeros(0)
    return ops, args, offsets
