"""Numerical safety: random programs never crash the interpreter or the loss, and never give a NaN loss.

Counts (all seeded, so every run checks the same programs):

* bulk: 10^5 random programs in total, 50,000 DEAP trees (ramped half-and-half, grow and full
  generators over three primitive sets of the registry, a fifth of them with constants replaced
  by extreme values) and 50,000 flat postfix programs over every opcode of the registry (OP_SQRT
  included) with extreme constants (+-1e300, +-1e-300, 0, -0, the largest and smallest
  doubles, inf, nan) and huge integer powers (up to +-2^62). Every one of them is run through
  the interpreter (value, V', V'' over distances from 0 to 1e300, in one parallel batch, with
  the batch checked against the serial path) and scored once by ``PairLoss.score`` (energies,
  forces and stresses; hard, shift and smooth cutoffs; one data set with a pair at 0.31 Å);
* deep programs: chains of 5,000 unary operators, a stack 2,000 deep, full binary DEAP trees of
  depth 12 (8,191 nodes), full trees of depth 14 over every operator, a DEAP tree 500 levels deep
  (DEAP's own ``gp.compile`` breaks past about 90);
* hypothesis: 300 + 200 derandomised examples (programs with arbitrary floats and powers as
  prefix node lists; candidates of up to four terms).

"Never crash" means no exception; the interpreter may return inf or nan (its callers reject
those), the loss must be finite (>= 0) or +inf, and a finite loss must come with finite outer
coefficients and be no worse than the zero potential's. Extreme distances: a pair at 0.1 Å is
refused by ``Dataset`` with one clean ``DataError``; potentials and their ASE calculator are
finite (or inf) at 0.1 Å and exactly zero at and beyond the cutoff.
"""
from __future__ import annotations

import math
import os
import random
import warnings

import numpy as np
import pytest
import sympy
from ase import Atoms
from deap import gp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symbpot import Cutoff, Dataset, Potential
from symbpot.demo import DEMO_SIGMA, lj_frames
from symbpot.errors import DataError
from symbpot.expr import CONST, OPERATORS, VAR, Program, R, concatenate
from symbpot.expr.interpreter import evaluate_batch, evaluate_batch_serial, evaluate_program
from symbpot.expr.registry import (DEFAULT_OPERATORS, EMBEDDING_OPERATORS, OP_ADD, OP_CONST, OP_DIV, OP_EXP,
                                   OP_MUL, OP_NEG, OP_POWI, OP_SQRT, OP_SUB, OP_VAR, OPCODE_ARITY)
from symbpot.fitness.energy import PairLoss
from symbpot.gp.primitives import deap_random, individual, primitive_set, tree_terms

RC = 2.5 * DEMO_SIGMA
N_BULK = 100_000
CHUNK = 5_000

#: every operator a tree can hold (fixed-argument rows of the registry)
ALL_OPERATORS = tuple(sorted(name for name, op in OPERATORS.items() if op.arg is not None))
PRIMITIVE_SETS = (DEFAULT_OPERATORS, EMBEDDING_OPERATORS, ALL_OPERATORS)

UNARY_OPS = np.array([op for op, arity in OPCODE_ARITY.items() if arity == 1], dtype=np.int64)
BINARY_OPS = np.array([op for op, arity in OPCODE_ARITY.items() if arity == 2], dtype=np.int64)
EXTREME_CONSTANTS = np.array([1e300, -1e300, 1e-300, -1e-300, 0.0, -0.0, 5e-324, -5e-324,
                              1.7976931348623157e308, -1.7976931348623157e308, 2.2250738585072014e-308,
                              709.0, 710.0, -745.0, 1e30, 1e-30, math.inf, -math.inf, math.nan])
HUGE_POWERS = np.array([0, 1, -1, 2, 3, -2, -3, 6, -6, 12, -12, 99, -99, 900, -900, 1023, -1075, 2**31 - 1,
                        -2**31, 2**31, 10**9, -10**9, 2**53, 10**18, -10**18, 2**62, -2**62], dtype=np.float64)
#: distances for the interpreter: zero, denormal, tiny, the usual range, huge, inf and nan
DISTANCES = np.concatenate([[0.0, 5e-324, 1e-300, 1e-10, 0.1, 0.3], np.geomspace(0.5, 10.0, 40),
                            [1e10, 1e300, math.inf, -1.0, math.nan]])


# --- random programs ----------------------------------------------------------------------
def random_flat_programs(rng: np.random.Generator, n: int, max_nodes: int = 40) -> list:
    """``n`` random postfix programs of 1 to ``max_nodes - 1`` nodes over every opcode.

    Each program's arities are shuffled and rotated into a valid prefix word (cycle
    lemma: start just after the first minimum of the partial sums of arity - 1); reversed,
    that is a valid postfix program. Opcodes, constants (60 % ordinary, 20 % of any
    magnitude from 1e-320 to 1e308, 20 % the extreme values) and powers (half of them
    huge) are then drawn for all programs at once.
    """
    sizes = rng.integers(1, max_nodes, n)
    words = []
    for size in sizes:
        n_binary = int(rng.integers(0, (size - 1) // 2 + 1))
        arity = np.repeat(np.array([2, 1, 0]), [n_binary, size - 1 - 2 * n_binary, n_binary + 1])
        rng.shuffle(arity)
        start = int(np.argmin(np.cumsum(arity - 1))) + 1
        words.append(np.roll(arity, -start)[::-1])
    arity = np.concatenate(words)
    total = len(arity)
    ops = np.where(arity == 2, rng.choice(BINARY_OPS, total),
                   np.where(arity == 1, rng.choice(UNARY_OPS, total),
                            np.where(rng.random(total) < 0.5, OP_CONST, OP_VAR)))
    constants = np.where(rng.random(total) < 0.75, rng.normal(0.0, 3.0, total),
                         np.sign(rng.normal(size=total)) * 10.0 ** rng.uniform(-320, 308, total))
    constants = np.where(rng.random(total) < 0.2, rng.choice(EXTREME_CONSTANTS, total), constants)
    powers = np.where(rng.random(total) < 0.5, rng.choice(HUGE_POWERS, total), rng.integers(-15, 16, total))
    args = np.where(ops == OP_CONST, constants, np.where(ops == OP_POWI, powers, 0.0))
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    return [Program.from_arrays(ops[a:b], args[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]


GENERATORS = (
    lambda pset: gp.genHalfAndHalf(pset, 1, 6),
    lambda pset: gp.genGrow(pset, 1, 8),
    lambda pset: gp.genFull(pset, 2, 5),
)


def random_trees(seed: int, n: int) -> list:
    """``n`` DEAP trees from the package's primitive sets; a fifth with extreme constants."""
    rng = random.Random(seed)
    trees = []
    with deap_random(rng):
        for k in range(n):
            pset = primitive_set(PRIMITIVE_SETS[k % len(PRIMITIVE_SETS)])
            tree = individual(GENERATORS[(k // 3) % len(GENERATORS)](pset))
            if k % 5 == 0:
                for node in tree:
                    if isinstance(node, gp.Terminal) and not isinstance(node.value, str) and rng.random() < 0.5:
                        node.value = rng.choice(EXTREME_CONSTANTS.tolist())
            trees.append(tree)
    return trees


# --- loss models ------------------------------------------------------------------------------
def morse(d=0.35, a=1.4, r0=2.6):
    return Program.from_sympy(d * (sympy.exp(-2 * a * (R - r0)) - 2 * sympy.exp(-a * (R - r0))))


def labelled_frames(n, seed, close_pair=False):
    """LJ-like cells labelled with energies, forces and stresses by a Morse potential."""
    truth = Potential(morse(), Cutoff(RC, "smooth", 1.0), {"Ar": -0.2})
    frames = []
    for atoms in lj_frames(n, seed=seed):
        atoms = atoms.copy()
        if close_pair and not frames:
            atoms.positions[1] = atoms.positions[0] + [0.31, 0.0, 0.0]  # just above MIN_DISTANCE
        atoms.calc = truth.calculator()
        atoms.info["energy"] = atoms.get_potential_energy()
        atoms.arrays["forces"] = atoms.get_forces()
        atoms.info["stress"] = atoms.get_stress()
        atoms.calc = None
        frames.append(atoms)
    return frames


@pytest.fixture(scope="module")
def loss_models():
    """Three loss models: energies/hard, energies+forces/shift, all terms/smooth (with a 0.31 Å pair)."""
    plain = Dataset.from_frames(labelled_frames(12, seed=5), RC)
    close = Dataset.from_frames(labelled_frames(8, seed=6, close_pair=True), RC)
    assert close.min_distance < 0.32
    return [
        PairLoss(plain, Cutoff(RC, "hard"), grid_size=120),
        PairLoss(plain, Cutoff(RC, "shift"), grid_size=120, force_weight=0.01),
        PairLoss(close, Cutoff(RC, "smooth", 1.0), grid_size=120, force_weight=0.01, stress_weight=1e-4),
    ]


_MODELS = {}


def loss_model(k):
    """The same models for the hypothesis tests (fixtures cannot be used inside @given)."""
    if not _MODELS:
        plain = Dataset.from_frames(labelled_frames(6, seed=7), RC)
        close = Dataset.from_frames(labelled_frames(4, seed=8, close_pair=True), RC)
        _MODELS[0] = PairLoss(plain, Cutoff(RC, "hard"), grid_size=60, force_weight=0.01)
        _MODELS[1] = PairLoss(close, Cutoff(RC, "smooth", 1.0), grid_size=60, force_weight=0.01,
                              stress_weight=1e-4)
    return _MODELS[k]


# --- checks -----------------------------------------------------------------------------------
def check_interpreter(programs, sample_every=97):
    """Run the batch (parallel) and compare with the serial batch and single-program runs."""
    ops, args, offsets = concatenate(programs)
    v, d1, d2 = evaluate_batch(ops, args, offsets, DISTANCES, 2)
    assert v.shape == d1.shape == d2.shape == (len(programs), len(DISTANCES))
    sv, s1, s2 = evaluate_batch_serial(ops, args, offsets, DISTANCES, 2)
    np.testing.assert_array_equal(v, sv)
    np.testing.assert_array_equal(d1, s1)
    np.testing.assert_array_equal(d2, s2)
    for t in range(0, len(programs), sample_every):
        p = programs[t]
        for order in (0, 1, 2):
            ev, e1, e2 = evaluate_program(p.ops, p.args, DISTANCES, order)
            np.testing.assert_array_equal(ev, v[t])
            if order == 2:
                np.testing.assert_array_equal(e1, d1[t])
                np.testing.assert_array_equal(e2, d2[t])


def check_scores(model, candidates):
    """Score a batch; losses are finite and non-negative or +inf, never NaN."""
    losses, coefs = model.score(candidates)
    assert losses.shape == (len(candidates),) and len(coefs) == len(candidates)
    assert not np.any(np.isnan(losses)), [candidates[k] for k in np.flatnonzero(np.isnan(losses))[:3]]
    assert np.all(losses >= 0)  # excludes nan and -inf; +inf is allowed
    finite = np.isfinite(losses)
    for k in np.flatnonzero(finite):
        assert len(coefs[k]) == len(candidates[k]) and np.all(np.isfinite(coefs[k]))
    # a valid candidate never scores worse than the zero potential (its coefficients may be 0)
    assert np.all(losses[finite] <= model.baseline * (1 + 1e-6) + 1e-12)
    return int(finite.sum())


def test_generators_cover_every_opcode_and_operator():
    assert set(UNARY_OPS) | set(BINARY_OPS) | {OP_VAR, OP_CONST} == set(OPCODE_ARITY)
    assert {OP_SQRT, OP_EXP, OP_POWI, OP_NEG} <= set(UNARY_OPS) and {OP_ADD, OP_SUB, OP_MUL, OP_DIV} <= set(BINARY_OPS)
    programs = random_flat_programs(np.random.default_rng(0), 2000)
    ops = np.concatenate([p.ops for p in programs])
    assert set(np.unique(ops)) == set(OPCODE_ARITY)
    powers = np.concatenate([p.args[p.ops == OP_POWI] for p in programs])
    assert np.abs(powers).max() == 2**62
    constants = np.concatenate([p.args[p.ops == OP_CONST] for p in programs])
    assert np.isnan(constants).any() and np.isinf(constants).any() and (constants == 1e300).any()
    trees = random_trees(0, 300)
    names = {node.name for t in trees for node in t if isinstance(node, gp.Primitive)}
    assert names == set(ALL_OPERATORS)


# --- bulk: 10^5 programs ----------------------------------------------------------------------
def test_bulk_random_programs_never_crash_and_never_give_a_nan_loss(loss_models):
    rng = np.random.default_rng(2024)
    checked = scored = valid = 0
    n_trees = n_flat = 0
    for chunk in range(N_BULK // CHUNK):
        model = loss_models[chunk % len(loss_models)]
        if chunk % 2 == 0:
            trees = random_trees(seed=chunk, n=CHUNK)
            candidates = [tree_terms(t) for t in trees]
            n_trees += len(trees)
        else:
            flat = random_flat_programs(rng, CHUNK)
            # flat programs: one term each, and every tenth grouped four to a candidate
            candidates = [[p] for p in flat[: CHUNK - 400]] + [flat[k:k + 4] for k in range(CHUNK - 400, CHUNK, 4)]
            n_flat += len(flat)
        programs = [p for cand in candidates for p in cand]
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # not even a RuntimeWarning escapes
            check_interpreter(programs)
            valid += check_scores(model, candidates)
        checked += len(trees) if chunk % 2 == 0 else len(flat)
        scored += len(candidates)
    assert checked == n_trees + n_flat == N_BULK
    assert n_trees == n_flat == N_BULK // 2
    assert valid > 0.2 * scored  # the generators are not all-invalid


# --- deep and pathological programs ---------------------------------------------------------------
def deep_programs():
    unary = [OP_NEG, OP_SQRT, OP_EXP, OP_POWI]
    chain_ops = [OP_VAR] + [unary[k % 4] for k in range(5000)]
    chain_args = [0.0] + [(-1.0 if k % 8 == 3 else 2.0) if unary[k % 4] == OP_POWI else 0.0 for k in range(5000)]
    inv_chain = [OP_VAR] + [OP_POWI] * 5000
    tall_ops = [OP_VAR, OP_CONST] * 1000 + [OP_ADD, OP_MUL, OP_DIV, OP_SUB] * 499 + [OP_ADD] * 3
    tall_args = [0.0, 1e300] * 1000 + [0.0] * (len(tall_ops) - 2000)
    exp_tower = [OP_CONST] + [OP_EXP] * 3000
    return [
        Program.from_arrays(chain_ops, chain_args),
        Program.from_arrays(inv_chain, [0.0] + [-1.0] * 5000),
        Program.from_arrays(tall_ops, tall_args),
        Program.from_arrays(exp_tower, [-1e300] + [0.0] * 3000),
        Program.from_arrays([OP_VAR, OP_POWI, OP_VAR, OP_POWI, OP_SUB], [0.0, 2.0**62, 0.0, -2.0**62, 0.0]),
    ]


def test_deep_and_pathological_programs(loss_models):
    programs = deep_programs()
    with deap_random(random.Random(3)):
        pset = primitive_set(ALL_OPERATORS)
        binary = primitive_set(("add", "sub", "mul", "div"))
        full = [individual(gp.genFull(binary, 12, 12)) for _ in range(2)]  # 8,191 nodes each
        full += [individual(gp.genFull(pset, 14, 14)) for _ in range(2)]
        # 500 levels of unary operators (DEAP's own compile breaks past ~90)
        unary = [pset.mapping[name] for name in ("neg", "inv", "square", "sqrt", "exp")]
        tall = individual([unary[k % len(unary)] for k in range(500)] + [pset.terminals[pset.ret][0]])
    assert [t.height for t in full] == [12, 12, 14, 14] and tall.height == 500
    assert len(full[0]) == len(full[1]) == 2**13 - 1
    tree_candidates = [tree_terms(t) for t in full + [tall]]
    programs += [p for cand in tree_candidates for p in cand]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_interpreter(programs, sample_every=1)
        for model in loss_models:
            check_scores(model, [[p] for p in programs] + tree_candidates)


def test_malformed_arguments_from_a_file_do_not_crash():
    """A program read from a corrupt best.json can carry any float as a power or constant."""
    weird = [math.nan, math.inf, -math.inf, 1e300, -1e300, 2.0**63, -2.0**63, 0.5, -0.5, 1e-300]
    programs = [Program.from_arrays([OP_VAR, OP_POWI], [0.0, w]) for w in weird]
    programs += [Program.from_arrays([OP_CONST, OP_VAR, OP_MUL], [w, 0.0, 0.0]) for w in weird]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_interpreter(programs, sample_every=1)
        check_scores(loss_model(1), [[p] for p in programs])


@pytest.mark.parametrize("value", [5e-324, -5e-324, 1e-310, 2.2250738585072014e-308, 1e300, -1e300])
def test_residuals_of_tiny_and_huge_terms_are_finite(value):
    """Regression (found by hypothesis): a denormal constant term made ``PairLoss.residuals``
    return nan (its norm underflows to 0, its coefficient overflows), which is what the
    Levenberg-Marquardt refinement of constants sees."""
    candidates = [[Program.from_prefix([(CONST, value)])],
                  [Program.from_prefix([("mul", 0.0), (CONST, value), (VAR, 0.0)])],
                  [Program.from_prefix([("inv", 0.0), (VAR, 0.0)]), Program.from_prefix([(CONST, value)])]]
    for which in (0, 1):
        model = loss_model(which)
        check_scores(model, candidates)
        for cand in candidates:
            with np.errstate(all="ignore"):
                res, coef = model.residuals(cand)
            assert np.all(np.isfinite(res))
            assert coef is None or np.all(np.isfinite(coef))


# --- hypothesis -------------------------------------------------------------------------------
# the same examples in every run unless SYMBPOT_HYPOTHESIS_RANDOM is set (as in test_expr.py)
SETTINGS = dict(deadline=None, derandomize=not os.environ.get("SYMBPOT_HYPOTHESIS_RANDOM"),
                suppress_health_check=[HealthCheck.too_slow])
any_floats = st.one_of(st.floats(), st.sampled_from(EXTREME_CONSTANTS.tolist()), st.floats(-5, 5))
powers = st.one_of(st.integers(-2**62, 2**62), st.integers(-20, 20))


@st.composite
def prefix_programs(draw, depth=6):
    """Prefix node lists over every registry operator (powi with any integer exponent)."""
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        if draw(st.booleans()):
            return [(VAR, 0.0)]
        return [(CONST, draw(any_floats))]
    name = draw(st.sampled_from(sorted(OPERATORS)))
    nodes = [(name, float(draw(powers)) if name == "powi" else 0.0)]
    for _ in range(OPERATORS[name].arity):
        nodes += draw(prefix_programs(depth - 1))
    return nodes


distances = st.lists(st.one_of(st.floats(min_value=0.0), st.sampled_from([0.0, 0.1, 1e-300, 1e300])),
                     min_size=1, max_size=20)


@settings(max_examples=300, **SETTINGS)
@given(prefix_programs(), distances, st.integers(0, 2))
def test_interpreter_never_raises(nodes, r, order):
    program = Program.from_prefix(nodes)
    x = np.array(r, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        v, d1, d2 = evaluate_program(program.ops, program.args, x, order)
        bv, b1, b2 = evaluate_batch(*concatenate([program, program]), x, order)
    assert v.shape == d1.shape == d2.shape == x.shape
    np.testing.assert_array_equal(bv[1], v)
    np.testing.assert_array_equal(b1[0], d1)
    np.testing.assert_array_equal(b2[0], d2)


@settings(max_examples=200, **SETTINGS)
@given(st.lists(st.lists(prefix_programs(depth=4), min_size=1, max_size=4), min_size=1, max_size=12),
       st.integers(0, 1))
def test_loss_is_finite_or_inf_never_nan(candidates, which):
    model = loss_model(which)
    programs = [[Program.from_prefix(n) for n in cand] for cand in candidates]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_scores(model, programs)
    for cand in programs[:2]:  # the residuals the constant optimiser sees are finite too
        with np.errstate(all="ignore"):  # as in Search._refine (norms of huge columns overflow to inf)
            res, coef = model.residuals(cand)
        assert res.shape == model.Rb.shape and np.all(np.isfinite(res))


# --- extreme distances ------------------------------------------------------------------------------
def test_overlapping_atoms_give_one_clean_data_error(tmp_path):
    import ase.io

    frames = lj_frames(3, seed=1)
    bad = frames[1].copy()
    bad.info.update(frames[1].info)
    bad.positions[2] = bad.positions[0] + [0.1, 0.0, 0.0]
    with pytest.raises(DataError, match=r"frame 1: atoms overlap \(distance 0.1 Å < 0.3 Å\)") as exc:
        Dataset.from_frames([frames[0], bad, frames[2]], RC)
    assert len(str(exc.value).splitlines()) == 1 and exc.value.__cause__ is None
    path = tmp_path / "overlap.extxyz"
    ase.io.write(path, [frames[0], bad], format="extxyz")
    with pytest.raises(DataError, match=r"overlap.extxyz:1: atoms overlap"):
        Dataset.from_file(path, RC)
    kept = Dataset.from_frames([frames[0], bad, frames[2]], RC, skip_bad_frames=True)
    assert len(kept) == 2 and "overlap" in kept.skipped[0]


POTENTIALS = {
    "lj_smooth": (4 * 0.409 * ((2.338 / R) ** 12 - (2.338 / R) ** 6), Cutoff(RC, "smooth", 1.0)),
    "lj_hard": (4 * 0.409 * ((2.338 / R) ** 12 - (2.338 / R) ** 6), Cutoff(RC, "hard")),
    "morse_shift": (None, Cutoff(RC, "shift")),
    "morse_smooth": (None, Cutoff(RC, "smooth", 2.0)),
    "exp_wall_over_r": (sympy.exp(-R) / R + 1 / R ** 2, Cutoff(RC, "smooth", 0.5)),
}


def make_potential(name):
    expr, cutoff = POTENTIALS[name]
    program = morse() if expr is None else Program.from_sympy(expr)
    return Potential(program, cutoff, {"Cu": -3.5})


@pytest.mark.parametrize("name", sorted(POTENTIALS))
def test_potential_at_extreme_distances(name):
    pot = make_potential(name)
    near = np.array([0.1, 0.2, 0.3])
    far = np.array([RC, RC * (1 + 1e-15), RC + 1e-9, RC + 0.5, 2 * RC, 1e10, 1e300, math.inf])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        u, du = pot.pair_energy(near, order=1)
        assert not np.any(np.isnan(u)) and not np.any(np.isnan(du))
        assert np.all(u > 0) and np.all(du < 0)  # repulsive walls, finite or inf
        uf, duf = pot.pair_energy(far, order=1)
        np.testing.assert_array_equal(uf, 0.0)
        np.testing.assert_array_equal(duf, 0.0)
        assert np.all(np.isfinite(pot.pair_energy(np.linspace(0.1, RC, 1001))))


@pytest.mark.parametrize("name", sorted(POTENTIALS))
def test_calculator_at_0_1_angstrom_and_beyond_the_cutoff(name):
    pot = make_potential(name)
    close = Atoms("Cu3", positions=[[0, 0, 0], [0.1, 0, 0], [0, 0.1, 0]], cell=[12, 12, 12], pbc=True)
    close.calc = pot.calculator()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        e = close.get_potential_energy()
        f = close.get_forces()
        s = close.get_stress()
        assert not math.isnan(e) and e > 3 * -3.5
        assert not np.any(np.isnan(f)) and not np.any(np.isnan(s))
        assert np.all(np.isfinite(close.get_potential_energies()))
        assert pot.energy(close) == pytest.approx(e, rel=1e-12)
        np.testing.assert_allclose(f.sum(axis=0), 0.0, atol=1e-9 * np.abs(f).max())
        # the same atoms pulled apart beyond the cutoff: only the reference energies remain
        apart = Atoms("Cu3", positions=[[0, 0, 0], [RC + 1e-9, 0, 0], [0, RC + 0.5, 0]], cell=[30, 30, 30], pbc=False)
        apart.calc = pot.calculator()
        assert apart.get_potential_energy() == 3 * -3.5
        np.testing.assert_array_equal(apart.get_forces(), 0.0)
        np.testing.assert_array_equal(apart.get_potential_energies(), -3.5)
        assert pot.energy(apart) == 3 * -3.5
        # a periodic cell whose images are all beyond the cutoff
        lonely = Atoms("Cu", positions=[[0, 0, 0]], cell=[RC + 0.01] * 3, pbc=True)
        lonely.calc = pot.calculator()
        assert lonely.get_potential_energy() == -3.5
        np.testing.assert_array_equal(lonely.get_stress(), 0.0)
