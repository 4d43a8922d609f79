"""Numba interpreter for flat postfix programs, with forward-mode derivatives.

A program is two arrays of equal length: ``ops`` (int64 opcodes, see
:mod:`symbpot.expr.registry`) and ``args`` (float64: the value of a constant, or the
integer exponent of ``OP_POWI``). The interpreter runs the program over a whole vector of
distances at once, carrying value, first and second derivative in r on its stack, so
one pass yields V, V' and V''.

Invalid arithmetic (division by zero, overflow) produces inf or nan, never an
exception (``error_model='numpy'``); callers treat any non-finite output as an
invalid candidate. Only numpy and numba are imported here.
"""
from __future__ import annotations

import numba
import numpy as np

from .registry import (
    OP_ADD,
    OP_CONST,
    OP_DIV,
    OP_EXP,
    OP_MUL,
    OP_NEG,
    OP_POWI,
    OP_SQRT,
    OP_SUB,
    OP_VAR,
)

_JIT = dict(cache=True, error_model="numpy", nogil=True)


@numba.njit(**_JIT)
def _ipow(a, n):
    """a**n for integer n by repeated squaring; a zero base with n < 0 gives inf."""
    m = -n if n < 0 else n
    result = 1.0
    base = a
    while m > 0:
        if m & 1:
            result *= base
        base *= base
        m >>= 1
    if n < 0:
        return 1.0 / result
    return result


@numba.njit(**_JIT)
def stack_depth(ops, lo, hi):
    """Maximum stack depth needed by ``ops[lo:hi]``."""
    depth = 0
    best = 0
    for k in range(lo, hi):
        op = ops[k]
        if op == OP_VAR or op == OP_CONST:
            depth += 1
        elif op == OP_ADD or op == OP_SUB or op == OP_MUL or op == OP_DIV:
            depth -= 1
        if depth > best:
            best = depth
    return best


@numba.njit(**_JIT)
def _run(ops, args, lo, hi, x, order, sv, s1, s2, out_v, out_d1, out_d2):
    """Run ``ops[lo:hi]`` over all of ``x``; write value and derivatives to the outputs."""
    n = x.shape[0]
    top = -1
    for k in range(lo, hi):
        op = ops[k]
        if op == OP_VAR:
            top += 1
            for p in range(n):
                sv[top, p] = x[p]
            if order >= 1:
                for p in range(n):
                    s1[top, p] = 1.0
            if order >= 2:
                for p in range(n):
                    s2[top, p] = 0.0
        elif op == OP_CONST:
            top += 1
            c = args[k]
            for p in range(n):
                sv[top, p] = c
            if order >= 1:
                for p in range(n):
                    s1[top, p] = 0.0
            if order >= 2:
                for p in range(n):
                    s2[top, p] = 0.0
        elif op == OP_ADD or op == OP_SUB:
            b = top
            a = top - 1
            sign = 1.0 if op == OP_ADD else -1.0
            for p in range(n):
                sv[a, p] = sv[a, p] + sign * sv[b, p]
            if order >= 1:
                for p in range(n):
                    s1[a, p] = s1[a, p] + sign * s1[b, p]
            if order >= 2:
                for p in range(n):
                    s2[a, p] = s2[a, p] + sign * s2[b, p]
            top -= 1
        elif op == OP_MUL:
            b = top
            a = top - 1
            for p in range(n):
                va = sv[a, p]
                vb = sv[b, p]
                if order >= 2:
                    s2[a, p] = s2[a, p] * vb + 2.0 * s1[a, p] * s1[b, p] + va * s2[b, p]
                if order >= 1:
                    s1[a, p] = s1[a, p] * vb + va * s1[b, p]
                sv[a, p] = va * vb
            top -= 1
        elif op == OP_DIV:
            b = top
            a = top - 1
            for p in range(n):
                vb = sv[b, p]
                q = sv[a, p] / vb
                if order >= 1:
                    q1 = (s1[a, p] - q * s1[b, p]) / vb
                    if order >= 2:
                        s2[a, p] = (s2[a, p] - 2.0 * q1 * s1[b, p] - q * s2[b, p]) / vb
                    s1[a, p] = q1
                sv[a, p] = q
            top -= 1
        elif op == OP_NEG:
            for p in range(n):
                sv[top, p] = -sv[top, p]
            if order >= 1:
                for p in range(n):
                    s1[top, p] = -s1[top, p]
            if order >= 2:
                for p in range(n):
                    s2[top, p] = -s2[top, p]
        elif op == OP_POWI:
            m = int(args[k])
            for p in range(n):
                va = sv[top, p]
                if m == 0:
                    sv[top, p] = 1.0
                    if order >= 1:
                        s1[top, p] = 0.0
                    if order >= 2:
                        s2[top, p] = 0.0
                    continue
                pm1 = _ipow(va, m - 1)  # a^(m-1)
                if order >= 2:
                    if m == 1:
                        pass
                    else:
                        pm2 = _ipow(va, m - 2)
                        s2[top, p] = m * (m - 1) * pm2 * s1[top, p] ** 2 + m * pm1 * s2[top, p]
                if order >= 1:
                    s1[top, p] = m * pm1 * s1[top, p]
                sv[top, p] = pm1 * va if m > 0 else _ipow(va, m)
        elif op == OP_EXP:
            for p in range(n):
                e = np.exp(sv[top, p])
                if order >= 2:
                    s2[top, p] = e * (s2[top, p] + s1[top, p] ** 2)
                if order >= 1:
                    s1[top, p] = e * s1[top, p]
                sv[top, p] = e
        elif op == OP_SQRT:
            for p in range(n):
                q = np.sqrt(sv[top, p]) if sv[top, p] >= 0.0 else np.nan
                if order >= 1:
                    q1 = 0.5 * s1[top, p] / q
                    if order >= 2:
                        s2[top, p] = (0.5 * s2[top, p] - q1 * q1) / q
                    s1[top, p] = q1
                sv[top, p] = q
        else:
            # unknown opcode: poison the output so the candidate is rejected
            for p in range(n):
                sv[0, p] = np.nan
            top = 0
            break
    for p in range(n):
        out_v[p] = sv[0, p]
    if order >= 1:
        for p in range(n):
            out_d1[p] = s1[0, p]
    if order >= 2:
        for p in range(n):
            out_d2[p] = s2[0, p]


@numba.njit(**_JIT)
def _evaluate_into(ops, args, lo, hi, x, order, out_v, out_d1, out_d2):
    depth = max(stack_depth(ops, lo, hi), 1)
    n = x.shape[0]
    sv = np.empty((depth, n))
    s1 = np.empty((depth if order >= 1 else 1, n))
    s2 = np.empty((depth if order >= 2 else 1, n))
    _run(ops, args, lo, hi, x, order, sv, s1, s2, out_v, out_d1, out_d2)


@numba.njit(**_JIT)
def evaluate_program(ops, args, x, order):
    """Evaluate one program over the distances ``x``.

    Returns ``(v, d1, d2)``: value, first and second derivative in r (the derivative
    arrays are zeros when ``order`` is below 1 or 2).
    """
    n = x.shape[0]
    v = np.empty(n)
    d1 = np.zeros(n)
    d2 = np.zeros(n)
    _evaluate_into(ops, args, 0, ops.shape[0], x, order, v, d1, d2)
    return v, d1, d2


_JIT_PAR = dict(_JIT)
_JIT_PAR["parallel"] = True


def _evaluate_batch(ops, args, offsets, x, order):
    """Evaluate many programs (concatenated, ``offsets`` of length T + 1) over ``x``.

    Returns arrays of shape ``(T, len(x))`` for value, first and second derivative.
    Programs are spread over threads.
    """
    n_programs = offsets.shape[0] - 1
    n = x.shape[0]
    v = np.empty((n_programs, n))
    d1 = np.zeros((n_programs, n))
    d2 = np.zeros((n_programs, n))
    for t in numba.prange(n_programs):
        _evaluate_into(ops, args, offsets[t], offsets[t + 1], x, order, v[t], d1[t], d2[t])
    return v, d1, d2


evaluate_batch = numba.njit(**_JIT_PAR)(_evaluate_batch)
#: the same without threads, for a handful of programs (no thread start-up cost)
evaluate_batch_serial = numba.njit(**_JIT)(_evaluate_batch)


@numba.njit(**_JIT_PAR)
def evaluate_program_parallel(ops, args, x, order, chunk=4096):
    """Evaluate one program over a long vector ``x`` in chunks spread over threads."""
    n = x.shape[0]
    v = np.empty(n)
    d1 = np.zeros(n)
    d2 = np.zeros(n)
    n_chunks = (n + chunk - 1) // chunk
    for c in numba.prange(n_chunks):
        lo = c * chunk
        hi = min(n, lo + chunk)
        _evaluate_into(ops, args, 0, ops.shape[0], x[lo:hi], order, v[lo:hi], d1[lo:hi], d2[lo:hi])
    return v, d1, d2
