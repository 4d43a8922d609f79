"""Closed forms: simplification, size, rounding and LaTeX of sympy expressions."""
from __future__ import annotations

import sympy

from ..expr.registry import R


def expression_size(expr: sympy.Expr) -> int:
    """Number of nodes of the expression tree (symbols and numbers count one each)."""
    return sum(1 for _ in sympy.preorder_traversal(expr))


def simplify(expr: sympy.Expr, max_size: int = 80) -> sympy.Expr:
    """The smallest of a few cheap rewrites of ``expr`` (as built, expanded, powers merged).

    sympy's automatic evaluation already merges integer powers (``((1/r)**3)**2`` is
    ``r**-6``) and collects like terms. ``sympy.simplify`` itself is not used: on
    float-laden expressions it can take minutes (measured: 6 s per front member on
    LJ runs). Rewrites are tried only up to ``max_size`` nodes; ties keep the
    earlier (less rewritten) form.
    """
    options = [expr]
    if expression_size(expr) <= max_size:
        for rewrite in (sympy.expand, lambda e: sympy.powsimp(sympy.expand(e))):
            try:
                options.append(rewrite(expr))
            except Exception:  # pragma: no cover - sympy corner cases
                pass
    return min(options, key=expression_size)


def round_floats(expr: sympy.Expr, digits: int = 6) -> sympy.Expr:
    """The expression with every Float shown to ``digits`` significant digits."""
    return expr.xreplace({f: sympy.Float(f, digits) for f in expr.atoms(sympy.Float)})


def to_latex(expr: sympy.Expr, digits: int = 6) -> str:
    return sympy.latex(round_floats(expr, digits))


def parse(text: str) -> sympy.Expr:
    """Parse an expression string in the symbol ``r`` (as written to best.json)."""
    return sympy.sympify(text, locals={"r": R})
