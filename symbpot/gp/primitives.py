"""DEAP primitive set over r, built from the operator registry, and tree <-> program glue.

DEAP draws its random numbers from the module-level ``random``; :func:`deap_random`
swaps in a run's own seeded ``random.Random`` for the duration of a search, so every
run has an explicit RNG and runs do not disturb each other's streams.
"""
from __future__ import annotations

import contextlib
import functools
import random
from typing import Sequence

from deap import base, creator, gp

from ..expr import CONST, OPERATORS, VAR, Program
from ..expr.registry import VARIABLE_NAME

#: the RNG used by ephemeral constants and (while a search runs) by DEAP
_state = {"rng": random.Random(0)}


def current_rng() -> random.Random:
    return _state["rng"]


def random_constant() -> float:
    """Ephemeral constant: a small integer or a real number, both useful seeds for fitting."""
    rng = current_rng()
    if rng.random() < 0.3:
        return float(rng.choice((1, 2, 3, 4, 6)))
    return round(rng.uniform(-3.0, 3.0), 3)


@contextlib.contextmanager
def deap_random(rng: random.Random):
    """Route DEAP's random calls (gp, emo, selection) through ``rng`` inside the block."""
    import deap.tools.emo
    import deap.tools.selection

    modules = (gp, deap.tools.emo, deap.tools.selection)
    saved = [m.random for m in modules]
    saved_state = _state["rng"]
    try:
        for m in modules:
            m.random = rng
        _state["rng"] = rng
        yield rng
    finally:
        for m, s in zip(modules, saved):
            m.random = s
        _state["rng"] = saved_state


def _ensure_creator() -> None:
    """Create the DEAP fitness/individual classes once (creator warns on re-creation)."""
    if not hasattr(creator, "SymbpotFitness"):
        creator.create("SymbpotFitness", base.Fitness, weights=(-1.0, -1.0))
    if not hasattr(creator, "SymbpotIndividual"):
        creator.create("SymbpotIndividual", gp.PrimitiveTree, fitness=creator.SymbpotFitness)


@functools.lru_cache(maxsize=None)
def primitive_set(operators: tuple[str, ...]) -> gp.PrimitiveSet:
    """The primitive set over the single variable r for the given registry operators."""
    _ensure_creator()
    pset = gp.PrimitiveSet("V_" + "_".join(operators), 1)
    for name in operators:
        if name not in OPERATORS or OPERATORS[name].arg is None:
            raise ValueError(f"unknown or non-primitive operator {name!r}")
        pset.addPrimitive(_placeholder(OPERATORS[name].arity), OPERATORS[name].arity, name=name)
    pset.addEphemeralConstant("symbpot_const", random_constant)
    pset.renameArguments(ARG0=VARIABLE_NAME)
    return pset


def _placeholder(arity: int):
    # DEAP needs a callable per primitive; evaluation never goes through it (no eval).
    def primitive(*args):  # pragma: no cover - never called
        raise RuntimeError("symbpot trees are compiled to programs, not evaluated by DEAP")

    return primitive


def individual(nodes) -> gp.PrimitiveTree:
    _ensure_creator()
    return creator.SymbpotIndividual(nodes)


# --- tree -> prefix nodes -> terms -> programs -----------------------------------------
def prefix_nodes(tree: Sequence) -> list[tuple[str, float]]:
    """``[(name, value)]`` in prefix order: operators by name, ``r``, ``const`` with value."""
    out = []
    for node in tree:
        if isinstance(node, gp.Primitive):
            out.append((node.name, 0.0))
        elif isinstance(node.value, str):
            out.append((VAR, 0.0))
        else:
            out.append((CONST, float(node.value)))
    return out


def _subtree_end(nodes, begin: int) -> int:
    need = 1
    pos = begin
    while need:
        name = nodes[pos][0]
        need += (OPERATORS[name].arity if name in OPERATORS else 0) - 1
        pos += 1
    return pos


def split_terms(nodes) -> list[list[tuple[str, float]]]:
    """Split the top-level sum/difference into terms (each gets its own coefficient)."""
    name = nodes[0][0]
    if name in ("add", "sub"):
        mid = _subtree_end(nodes, 1)
        return split_terms(nodes[1:mid]) + split_terms(nodes[mid:])
    return [list(nodes)]


def tree_terms(tree) -> list[Program]:
    """The term programs of a tree."""
    return [Program.from_prefix(t) for t in split_terms(prefix_nodes(tree))]


def complexity(tree) -> int:
    """Registry weights of the nodes plus one per outer coefficient."""
    nodes = prefix_nodes(tree)
    weight = sum(OPERATORS[n].complexity if n in OPERATORS else 1 for n, _ in nodes)
    return weight + len(split_terms(nodes))


def with_constants(tree, values) -> gp.PrimitiveTree:
    """A copy of ``tree`` whose ephemeral constants (in prefix order) are ``values``."""
    new = individual(list(tree))
    values = list(values)
    k = 0
    for pos, node in enumerate(new):
        if isinstance(node, gp.Terminal) and not isinstance(node.value, str):
            const = type(node)() if isinstance(type(node), gp.MetaEphemeral) else gp.Terminal(float(values[k]), False, object)
            const.value = float(values[k])
            new[pos] = const
            k += 1
    return new


def constants_of(tree) -> list[float]:
    return [v for n, v in prefix_nodes(tree) if n == CONST]


def split_tree_terms(tree) -> list[list]:
    """The DEAP node lists of the top-level terms of ``tree``."""
    if isinstance(tree[0], gp.Primitive) and tree[0].name in ("add", "sub"):
        end = tree.searchSubtree(1).stop
        left = individual(tree[1:end])
        right = individual(tree[end:])
        return split_tree_terms(left) + split_tree_terms(right)
    return [list(tree)]


def join_terms(terms: list[list], pset) -> gp.PrimitiveTree:
    """A tree summing ``terms`` (prefix: add add ... T1 T2 ... TK)."""
    add = pset.mapping["add"]
    nodes = [add] * (len(terms) - 1)
    for t in terms:
        nodes.extend(t)
    return individual(nodes)


def pruned_variants(tree, pset) -> list[gp.PrimitiveTree]:
    """Every tree obtained by dropping one top-level term (none if there is one term)."""
    terms = split_tree_terms(tree)
    if len(terms) < 2 or "add" not in pset.mapping:
        return []
    return [join_terms(terms[:k] + terms[k + 1:], pset) for k in range(len(terms))]


def local_variants(tree, pset) -> list[gp.PrimitiveTree]:
    """Small, physically common edits of a tree's terms, for local search around the front.

    For every top-level term T: T^2, T^3, 1/T, T*r and T/r in its place, and T^2 added as a
    new term. Operators missing from ``pset`` are skipped.
    """
    terms = split_tree_terms(tree)
    m = pset.mapping
    r = next(t for t in pset.terminals[pset.ret] if isinstance(t.value, str))
    unary = [m[name] for name in ("square", "cube", "inv") if name in m]
    binary = [m[name] for name in ("mul", "div") if name in m]
    out = []
    for k, term in enumerate(terms):
        edits = [[op] + term for op in unary] + [[op] + term + [r] for op in binary]
        for new in edits:
            out.append(join_terms(terms[:k] + [new] + terms[k + 1:], pset) if len(terms) > 1 or "add" in m
                       else individual(new))
        if "square" in m and "add" in m:
            out.append(join_terms(terms + [[m["square"]] + term], pset))
    return out


def tree_from_nodes(nodes, pset) -> gp.PrimitiveTree:
    """Rebuild a tree from :func:`prefix_nodes` output (constants become ephemerals again)."""
    ephemeral = next(t for t in pset.terminals[pset.ret] if isinstance(t, gp.MetaEphemeral))
    variable = next(t for t in pset.terminals[pset.ret] if not isinstance(t, gp.MetaEphemeral))
    out = []
    for name, value in nodes:
        if name == VAR:
            out.append(variable)
        elif name == CONST:
            const = ephemeral()
            const.value = float(value)
            out.append(const)
        else:
            if name not in pset.mapping:
                raise ValueError(f"operator {name!r} is not in the primitive set")
            out.append(pset.mapping[name])
    return individual(out)
