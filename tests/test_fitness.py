"""Tests of the fitness layer, cutoffs, Potential and Dataset.

Data: small periodic sets from ``symbpot.demo.lj_frames`` (labels: plain LJ sum with a
hard cutoff) and the same kind of cells labelled by ASE's Morse calculator, whose quintic
smooth cutoff is exactly symbpot's ``smooth`` cutoff with rc = rcut2 * r0 and
w = (rcut2 - rcut1) * r0.
"""
from __future__ import annotations

import dataclasses
import json
import math
import random

import ase.io
import numpy as np
import pytest
import sympy
from ase import Atoms
from ase.calculators.morse import MorsePotential
from ase.calculators.singlepoint import SinglePointCalculator
from ase.neighborlist import neighbor_list
from deap import gp

from symbpot import ConfigError, Cutoff, DataError, Dataset, Potential, PotentialFileError
from symbpot.demo import DEMO_EPSILON as EPS
from symbpot.demo import DEMO_SIGMA as SIGMA
from symbpot.demo import lj_frames
from symbpot.expr import DEFAULT_OPERATORS, Program, R
from symbpot.fitness import (EnergyLoss, atom_pair_energies, energy_errors, fit_reference_energies,
                             pair_values, structure_pair_energies)
from symbpot.gp import primitive_set
from symbpot.gp.primitives import deap_random, prefix_nodes
from conftest import random_rotation

RC = 2.5 * SIGMA
STYLES = ("hard", "shift", "smooth")

# Morse labels (ASE): V = eps (exp(2 rho (1 - r/r0)) - 2 exp(rho (1 - r/r0))) times ASE's fcut
M_EPS, M_R0, M_RHO, M_RCUT1, M_RCUT2 = 0.35, 2.6, 4.5, 1.6, 2.1
M_RC = M_RCUT2 * M_R0
M_WIDTH = (M_RCUT2 - M_RCUT1) * M_R0
M_K = M_RHO / M_R0


# --- program builders ----------------------------------------------------------------
def r_():
    return [("r", 0.0)]


def c_(value):
    return [("const", float(value))]


def powi(n, x=None):
    return [("powi", float(n))] + (x or r_())


def mul(a, b):
    return [("mul", 0.0)] + a + b


def add(a, b):
    return [("add", 0.0)] + a + b


def sub(a, b):
    return [("sub", 0.0)] + a + b


def exp_(a):
    return [("exp", 0.0)] + a


def P(nodes):
    return Program.from_prefix(nodes)


def lj_program(eps=EPS, sigma=SIGMA):
    return P(add(mul(c_(4 * eps * sigma**12), powi(-12)), mul(c_(-4 * eps * sigma**6), powi(-6))))


def lj_terms():
    return [P(powi(-12)), P(powi(-6))]


def morse_program():
    return P(add(mul(c_(M_EPS), exp_(mul(c_(-2 * M_K), sub(r_(), c_(M_R0))))),
                 mul(c_(-2 * M_EPS), exp_(mul(c_(-M_K), sub(r_(), c_(M_R0)))))))


def morse_terms():
    return [P(exp_(mul(c_(-2 * M_K), r_()))), P(exp_(mul(c_(-M_K), r_())))]


def lj_value(d, eps=EPS, sigma=SIGMA):
    sr6 = (sigma / d) ** 6
    return 4 * eps * (sr6 * sr6 - sr6)


def smooth_switch(d, rc, w):
    """Independent smoothstep: 1 below rc - w, 0 beyond rc, quintic in between."""
    if d <= rc - w:
        return 1.0
    if d >= rc:
        return 0.0
    t = (rc - d) / w
    return 10 * t**3 - 15 * t**4 + 6 * t**5


# --- data fixtures -------------------------------------------------------------------
@pytest.fixture(scope="module")
def lj_set():
    frames = lj_frames(n_frames=20, seed=4)
    return frames, Dataset.from_frames(frames, RC)


@pytest.fixture(scope="module")
def lj_frames20(lj_set):
    return lj_set[0]


@pytest.fixture(scope="module")
def lj_ds(lj_set):
    return lj_set[1]


def morse_label(atoms):
    atoms = atoms.copy()
    atoms.info.clear()
    atoms.calc = MorsePotential(epsilon=M_EPS, r0=M_R0, rho0=M_RHO, rcut1=M_RCUT1, rcut2=M_RCUT2)
    energy = atoms.get_potential_energy()
    atoms.calc = None
    atoms.info["energy"] = float(energy)
    return atoms


@pytest.fixture(scope="module")
def morse_ds():
    frames = [morse_label(a) for a in lj_frames(n_frames=12, seed=5)]
    return Dataset.from_frames(frames, M_RC)


def datasets(request, name):
    return request.getfixturevalue({"lj": "lj_ds", "morse": "morse_ds"}[name])


def cutoff_for(name, style):
    return Cutoff(RC, style) if name == "lj" else Cutoff(M_RC, style, M_WIDTH)


# --- direct path -----------------------------------------------------------------------
def test_lj_direct_energies_equal_labels(lj_ds):
    energies = structure_pair_energies(lj_program(), Cutoff(RC, "hard"), lj_ds)
    assert energies.shape == (len(lj_ds),)
    np.testing.assert_allclose(energies, lj_ds.energies, rtol=0, atol=1e-10)
    assert np.ptp(lj_ds.energies / lj_ds.n_atoms) > 0.1  # the data are not trivial


@pytest.mark.parametrize("style", ["hard", "smooth"])
def test_direct_energies_equal_independent_double_loop(lj_frames20, lj_ds, style):
    cutoff = Cutoff(RC, style, 1.3)
    program = lj_program()
    structure = structure_pair_energies(program, cutoff, lj_ds)
    per_atom = atom_pair_energies(program, cutoff, lj_ds)
    for s, atoms in enumerate(lj_frames20):
        i, j, d = neighbor_list("ijd", atoms, RC)
        total = 0.0
        atom = np.zeros(len(atoms))
        for a, b, dist in zip(i, j, d):
            assert a != b or dist > 0
            if dist >= RC:
                continue
            u = lj_value(dist) * (smooth_switch(dist, RC, 1.3) if style == "smooth" else 1.0)
            total += 0.5 * u
            atom[a] += 0.5 * u
        assert structure[s] == pytest.approx(total, rel=1e-12, abs=1e-10)
        lo, hi = lj_ds.atom_offsets[s], lj_ds.atom_offsets[s + 1]
        np.testing.assert_allclose(per_atom[lo:hi], atom, rtol=1e-12, atol=1e-11)
    # per-atom energies sum to the structure energies
    sums = np.add.reduceat(per_atom, lj_ds.atom_offsets[:-1])
    np.testing.assert_allclose(sums, structure, rtol=1e-12, atol=1e-10)


def _brute_force_pair_energy(atoms, rc, V):
    """Sum over all periodic images without any neighbour list."""
    cell = atoms.cell.array
    volume = abs(np.linalg.det(cell))
    heights = [volume / np.linalg.norm(np.cross(cell[(k + 1) % 3], cell[(k + 2) % 3])) for k in range(3)]
    reps = [int(math.ceil(rc / h)) for h in heights]
    pos = atoms.positions
    total = 0.0
    for n0 in range(-reps[0], reps[0] + 1):
        for n1 in range(-reps[1], reps[1] + 1):
            for n2 in range(-reps[2], reps[2] + 1):
                shift = n0 * cell[0] + n1 * cell[1] + n2 * cell[2]
                diff = pos[None, :, :] + shift - pos[:, None, :]
                d = np.linalg.norm(diff, axis=-1).ravel()
                d = d[(d > 1e-9) & (d < rc)]
                total += 0.5 * np.sum(V(d))
    return total


def test_direct_energies_equal_brute_force_image_sum(lj_frames20, lj_ds):
    small = [s for s, a in enumerate(lj_frames20) if len(a) <= 16][:4]
    assert small
    energies = structure_pair_energies(lj_program(), Cutoff(RC, "hard"), lj_ds)
    for s in small:
        ref = _brute_force_pair_energy(lj_frames20[s], RC, lj_value)
        assert energies[s] == pytest.approx(ref, rel=1e-11, abs=1e-10)


def test_morse_direct_energies_equal_ase_morse_labels(morse_ds):
    cutoff = Cutoff(M_RC, "smooth", M_WIDTH)
    energies = structure_pair_energies(morse_program(), cutoff, morse_ds)
    np.testing.assert_allclose(energies, morse_ds.energies, rtol=0, atol=1e-10)
    # pairs reach into the smoothing window, so the cutoff treatment matters
    assert np.any((morse_ds.pair_distance > M_RC - M_WIDTH) & (morse_ds.pair_distance < M_RC))
    hard = structure_pair_energies(morse_program(), Cutoff(M_RC, "hard"), morse_ds)
    assert np.max(np.abs(hard - morse_ds.energies)) > 1e-3


# --- grid contraction == direct ----------------------------------------------------------
def analytic_candidates(seed: int, n: int = 10):
    """Sums of LJ-like, exponential, Coulomb-like and polynomial-in-1/r terms."""
    rng = np.random.default_rng(seed)
    s = SIGMA
    kinds = [
        lambda: mul(c_(rng.uniform(-2, 2) * s**12), powi(-12)),
        lambda: mul(c_(rng.uniform(-2, 2) * s**6), powi(-6)),
        lambda: (lambda a: mul(c_(rng.uniform(-2, 2) * math.exp(2 * a)), exp_(mul(c_(-a), r_()))))(
            rng.uniform(0.5, 3.0)),
        lambda: mul(c_(rng.uniform(-2, 2) * s), powi(-1)),
        lambda: add(add(mul(c_(rng.uniform(-1, 1) * s), powi(-1)), mul(c_(rng.uniform(-1, 1) * s**2), powi(-2))),
                    mul(c_(rng.uniform(-1, 1) * s**4), [("square", 0.0)] + [("inv", 0.0)] + r_())),
        lambda: mul(c_(rng.uniform(-0.01, 0.01)), [("cube", 0.0)] + sub(r_(), c_(rng.uniform(2, 5)))),
    ]
    out = []
    for _ in range(n):
        picks = rng.choice(len(kinds), size=rng.integers(2, 4), replace=False)
        nodes = kinds[picks[0]]()
        for k in picks[1:]:
            nodes = add(nodes, kinds[k]())
        out.append(P(nodes))
    return out


def moderate(program, cutoff, r_min):
    """A pair-potential-like candidate: finite and without poles up to the cutoff, at most
    20 eV and 200 eV/Å at short range, and a tail of at most 1 eV over the last 1.5 Å."""
    x = np.geomspace(r_min, cutoff.radius * (1 - 1e-12), 4000)
    with np.errstate(all="ignore"):
        u, u1 = pair_values(program, cutoff, x, 1)
        v = program.evaluate(x)
    tail = x > cutoff.radius - 1.5
    return bool(np.all(np.isfinite(u)) and np.all(np.isfinite(u1)) and np.max(np.abs(u)) <= 20
                and np.max(np.abs(u1)) <= 200 and np.max(np.abs(v[tail])) <= 1.0)


def gp_candidates(seed: int, n: int = 150):
    pset = primitive_set(tuple(DEFAULT_OPERATORS))
    with deap_random(random.Random(seed)):
        trees = [gp.PrimitiveTree(gp.genHalfAndHalf(pset, 1, 4)) for _ in range(n)]
    return [P(prefix_nodes(t)) for t in trees]


def grid_energies(ds, cutoff, programs, grid_size):
    loss = EnergyLoss(ds, cutoff, grid_size=grid_size)
    with np.errstate(all="ignore"):
        nodes = loss.node_vectors(programs)
    ds = ds.restrict_cutoff(cutoff.radius)  # the loss only sees pairs within its cutoff
    C = loss.grid.contract(ds.pair_distance, ds.pair_structure, len(ds), 0.5)
    assert C.shape == (len(ds), 2 * grid_size)
    return loss, nodes @ C.T  # (programs, structures)


@pytest.mark.parametrize("data", ["lj", "morse"])
@pytest.mark.parametrize("style", STYLES)
def test_grid_contraction_equals_direct(request, data, style):
    ds = datasets(request, data)
    cutoff = cutoff_for(data, style)
    r_min = 0.98 * ds.min_distance
    gp_kept = [p for p in gp_candidates(seed=len(style) + 17 * len(data)) if moderate(p, cutoff, r_min)]
    analytic = [p for p in analytic_candidates(seed=3 + len(style)) if moderate(p, cutoff, r_min)]
    assert len(gp_kept) >= 15 and len(analytic) >= 5
    programs = [lj_program()] + analytic + gp_kept
    direct = np.array([structure_pair_energies(p, cutoff, ds) for p in programs])
    assert np.all(np.isfinite(direct))
    errors = {}
    for G in (200, 1000):
        _, grid = grid_energies(ds, cutoff, programs, G)
        errors[G] = np.max(np.abs(grid - direct) / ds.n_atoms, axis=1)
    # 1e-8 eV/atom needs a fine grid: with the default 200 nodes the h^4 error of LJ walls
    # (~4e-7) and of the smooth-cutoff window (~2e-6 for V = 1 eV there) is larger
    assert errors[1000].max() < 1e-8, errors[1000].max()
    assert errors[200].max() < 1e-5, errors[200].max()
    # and the error falls like h^4 (5 times the nodes: ~600 times smaller; ask for 100)
    big = errors[200] > 1e-10
    assert big.sum() >= 5
    assert np.all(errors[1000][big] < errors[200][big] / 100)


def test_grid_default_size_lj_error_is_small(lj_ds):
    cutoff = Cutoff(RC, "hard")
    _, grid = grid_energies(lj_ds, cutoff, [lj_program()], 200)
    err = np.abs(grid[0] - lj_ds.energies) / lj_ds.n_atoms
    assert err.max() < 1e-6
    assert err.max() > 0  # it is an approximation, not the direct sum


def direct_loss(term_programs, cutoff, ds, weights=None):
    """Loss and coefficients by lstsq on exact per-structure energies (independent of EnergyLoss)."""
    w = np.ones(len(ds)) if weights is None else np.asarray(weights, float)
    w = w / w.sum()
    E = np.column_stack([structure_pair_energies(t, cutoff, ds) for t in term_programs])
    counts = ds.species_counts.astype(float)
    row = np.sqrt(w) / ds.n_atoms
    M = row[:, None] * np.hstack([E, counts])
    y = row * ds.energies
    sol, *_ = np.linalg.lstsq(M, y, rcond=None)
    res = M @ sol - y
    return float(res @ res), sol[: len(term_programs)]


SCORE_CANDIDATES = {
    "r12": lambda: [P(powi(-12))],
    "r6": lambda: [P(powi(-6))],
    "r12_exp": lambda: [P(powi(-12)), P(exp_(mul(c_(-1.5), r_())))],
    "r8_r6_exp": lambda: [P(powi(-8)), P(powi(-6)), P(exp_(mul(c_(-2.0), r_())))],
    "coulomb_r12": lambda: [P(powi(-1)), P(powi(-12))],
    "lj_scaled": lambda: [lj_program(1.1, 2.3)],
}


@pytest.mark.parametrize("data", ["lj", "morse"])
@pytest.mark.parametrize("style", STYLES)
def test_score_equals_direct_loss(request, data, style):
    ds = datasets(request, data)
    cutoff = cutoff_for(data, style)
    candidates = [make() for make in SCORE_CANDIDATES.values()]
    losses, coefs = EnergyLoss(ds, cutoff, grid_size=800).score(candidates)
    assert losses.shape == (len(candidates),)
    for name, cand, loss, coef in zip(SCORE_CANDIDATES, candidates, losses, coefs):
        ref, ref_coef = direct_loss(cand, cutoff, ds)
        assert ref > 1e-8  # none of these fits exactly: the relative comparison is meaningful
        assert loss == pytest.approx(ref, rel=1e-6), name
        np.testing.assert_allclose(coef, ref_coef, rtol=1e-4, err_msg=name)
        if len(cand) == 1:
            # with the score's outer coefficient, reference energies fitted on exact energies
            e_pair = coef[0] * structure_pair_energies(cand[0], cutoff, ds)
            refs = fit_reference_energies(e_pair, ds, ds.species)
            err = (e_pair + ds.species_counts @ refs - ds.energies) / ds.n_atoms
            assert loss == pytest.approx(np.mean(err**2), rel=1e-6), name


@pytest.mark.parametrize("style", ["hard", "shift"])
def test_score_default_grid_equals_direct_loss(lj_ds, style):
    cutoff = Cutoff(RC, style)
    candidates = [make() for make in SCORE_CANDIDATES.values()]
    losses, _ = EnergyLoss(lj_ds, cutoff).score(candidates)
    for cand, loss in zip(candidates, losses):
        assert loss == pytest.approx(direct_loss(cand, cutoff, lj_ds)[0], rel=1e-4)


def test_score_with_structure_weights_equals_direct(lj_ds):
    weights = np.random.default_rng(0).uniform(0.1, 3.0, len(lj_ds))
    cutoff = Cutoff(RC, "shift")
    cand = SCORE_CANDIDATES["r12_exp"]()
    loss, coef = EnergyLoss(lj_ds, cutoff, grid_size=800, weights=weights).score([cand])
    ref, ref_coef = direct_loss(cand, cutoff, lj_ds, weights)
    assert loss[0] == pytest.approx(ref, rel=1e-6)
    assert loss[0] != pytest.approx(direct_loss(cand, cutoff, lj_ds)[0], rel=1e-3)
    np.testing.assert_allclose(coef[0], ref_coef, rtol=1e-5)


def test_lj_terms_recover_lj_parameters(lj_ds):
    loss_model = EnergyLoss(lj_ds, Cutoff(RC, "hard"))  # default grid
    losses, coefs = loss_model.score([lj_terms()])
    assert losses[0] < 1e-15
    np.testing.assert_allclose(coefs[0], [4 * EPS * SIGMA**12, -4 * EPS * SIGMA**6], rtol=1e-6)
    assert loss_model.baseline > 1e-3  # the zero potential is far worse


def test_morse_terms_recover_morse_parameters_on_fine_grid(morse_ds):
    losses, coefs = EnergyLoss(morse_ds, Cutoff(M_RC, "smooth", M_WIDTH), grid_size=800).score([morse_terms()])
    assert losses[0] < 1e-15
    np.testing.assert_allclose(coefs[0], [M_EPS * math.exp(2 * M_RHO), -2 * M_EPS * math.exp(M_RHO)], rtol=1e-6)



def test_morse_terms_recover_morse_parameters_on_default_grid(morse_ds):
    losses, coefs = EnergyLoss(morse_ds, Cutoff(M_RC, "smooth", M_WIDTH)).score([morse_terms()])
    assert losses[0] < 1e-12
    np.testing.assert_allclose(coefs[0], [M_EPS * math.exp(2 * M_RHO), -2 * M_EPS * math.exp(M_RHO)], rtol=1e-5)


@pytest.mark.parametrize("term", ["inv_r", "r", "const", "exp_3r"])
def test_smooth_cutoff_scores_smooth_terms(lj_ds, term):
    nodes = {"inv_r": powi(-1), "r": r_(), "const": c_(1.0), "exp_3r": exp_(mul(c_(-3.0), r_()))}[term]
    cutoff = Cutoff(RC, "smooth")
    cand = [P(nodes), P(powi(-12))]
    losses, _ = EnergyLoss(lj_ds, cutoff).score([cand])
    assert losses[0] == pytest.approx(direct_loss(cand, cutoff, lj_ds)[0], rel=1e-4)


@pytest.fixture(scope="module")
def lj_ds_cutoff7(lj_frames20):
    return Dataset.from_frames(lj_frames20[:8], 7.0)


def test_lj_terms_on_data_with_larger_cutoff(lj_ds_cutoff7):
    # the labels are a hard-cutoff LJ sum at RC: the LJ terms fit them exactly
    ds = lj_ds_cutoff7
    pot = Potential(lj_program(), Cutoff(RC, "hard"), {"Ar": 0.0})
    np.testing.assert_allclose(pot.predict_energies(ds), ds.energies, atol=1e-10, rtol=0)
    losses, _ = EnergyLoss(ds, Cutoff(RC, "hard")).score([lj_terms()])
    assert losses[0] < 1e-15


@pytest.mark.parametrize("style", STYLES)
def test_energy_loss_with_cutoff_below_dataset_cutoff(lj_ds_cutoff7, style):
    ds = lj_ds_cutoff7
    assert ds.pair_distance.max() > RC
    cutoff = Cutoff(RC, style)
    direct = structure_pair_energies(lj_program(), cutoff, ds)
    _, grid = grid_energies(ds, cutoff, [lj_program()], 200)
    np.testing.assert_allclose(grid[0] / ds.n_atoms, direct / ds.n_atoms, rtol=0, atol=1e-6)


# --- invalid candidates ---------------------------------------------------------------
INVALID_TERMS = {
    "inv_r_minus_r": [("inv", 0.0)] + sub(r_(), r_()),
    "exp_exp_cube": exp_(exp_([("cube", 0.0)] + r_())),
    "nan": [("div", 0.0)] + sub(r_(), r_()) + sub(r_(), r_()),
    "div_const_zero": [("div", 0.0)] + r_() + c_(0.0),
    "huge_power": powi(900),
}


@pytest.mark.parametrize("style", STYLES)
def test_invalid_candidates_get_infinite_loss(lj_ds, style):
    loss_model = EnergyLoss(lj_ds, Cutoff(RC, style))
    bad = [[P(n)] for n in INVALID_TERMS.values()]
    losses, _ = loss_model.score(bad)
    assert np.all(losses == np.inf), dict(zip(INVALID_TERMS, losses))


@pytest.mark.parametrize("style", STYLES)
def test_batch_mixing_valid_and_invalid_candidates(lj_ds, style):
    loss_model = EnergyLoss(lj_ds, Cutoff(RC, style), grid_size=800)
    valid = [lj_terms(), [P(powi(-12))], [P(powi(-6)), P(exp_(mul(c_(-2.0), r_())))]]
    invalid = [[P(n)] for n in INVALID_TERMS.values()]
    mixed = [[P(powi(-12)), P(INVALID_TERMS["inv_r_minus_r"])], []]  # one bad term spoils it; no terms
    batch = []
    for k in range(max(len(valid), len(invalid))):  # interleave, > 8 terms: parallel path
        batch += valid[k:k + 1] + invalid[k:k + 1]
    batch += mixed
    losses, coefs = loss_model.score(batch)
    assert len(losses) == len(batch) == len(coefs)
    assert not np.any(np.isnan(losses))
    alone = np.array([loss_model.score([v])[0][0] for v in valid])
    for cand, loss, coef in zip(batch, losses, coefs):
        if any(cand is v for v in valid):
            k = next(i for i, v in enumerate(valid) if v is cand)
            assert np.isfinite(loss)
            assert loss == pytest.approx(alone[k], rel=1e-12)
            assert loss == pytest.approx(direct_loss(cand, Cutoff(RC, style), lj_ds)[0], rel=1e-6, abs=1e-20)
            assert len(coef) == len(cand)
        else:
            assert loss == np.inf
    if style == "hard":
        assert losses[0] < 1e-15  # LJ terms on LJ (hard cutoff) labels
    empty_losses, empty_coefs = loss_model.score([])
    assert empty_losses.shape == (0,) and empty_coefs == []


def test_random_gp_batch_never_gives_nan(lj_ds, morse_ds):
    programs = gp_candidates(seed=99, n=200)
    for ds, cutoff in ((lj_ds, Cutoff(RC, "hard")), (morse_ds, Cutoff(M_RC, "shift"))):
        losses, coefs = EnergyLoss(ds, cutoff).score([[p] for p in programs])
        assert not np.any(np.isnan(losses))
        assert np.all((losses >= 0) & ((losses == np.inf) | np.isfinite(losses)))
        assert np.isfinite(losses).sum() > 50  # most random trees are valid
        loss_model = EnergyLoss(ds, cutoff)
        for p, loss, coef in zip(programs, losses, coefs):
            if np.isfinite(loss):
                assert np.all(np.isfinite(coef))
                assert loss <= loss_model.baseline * (1 + 1e-9)  # a term can only help


# --- reference energies ---------------------------------------------------------------
def test_constant_per_atom_offset_does_not_change_the_loss(lj_ds):
    shifted = dataclasses.replace(lj_ds, energies=lj_ds.energies - 3.7 * lj_ds.n_atoms)
    candidates = [make() for make in SCORE_CANDIDATES.values()] + [lj_terms()]
    for style in STYLES:
        a, ca = EnergyLoss(lj_ds, Cutoff(RC, style)).score(candidates)
        b, cb = EnergyLoss(shifted, Cutoff(RC, style)).score(candidates)
        for x, y in zip(a, b):
            if x > 1e-10:
                assert y == pytest.approx(x, rel=1e-9)
            else:  # the exact LJ fit (hard cutoff): both at rounding level
                assert style == "hard" and y < 1e-15 and x < 1e-15
        for x, y in zip(ca, cb):
            np.testing.assert_allclose(y, x, rtol=1e-6)
    pair = structure_pair_energies(lj_program(), Cutoff(RC, "hard"), shifted)
    refs = fit_reference_energies(pair, shifted, ["Ar"])
    assert refs == pytest.approx([-3.7], abs=1e-10)


@pytest.fixture(scope="module")
def two_species(lj_frames20):
    rng = np.random.default_rng(12)
    frames = []
    for atoms in lj_frames20:
        atoms = atoms.copy()
        kr = rng.random(len(atoms)) < 0.5
        atoms.symbols[:] = np.where(kr, "Kr", "Ar")
        # pair energies do not depend on the species (same LJ for all pairs)
        atoms.info["energy"] = atoms.info["energy"] - 1.0 * (~kr).sum() - 2.5 * kr.sum()
        frames.append(atoms)
    return Dataset.from_frames(frames, RC)


def test_two_species_reference_energies_are_recovered(two_species):
    assert two_species.species == ("Ar", "Kr")
    counts = two_species.species_counts
    assert np.linalg.matrix_rank(counts / two_species.n_atoms[:, None]) == 2
    pair = structure_pair_energies(lj_program(), Cutoff(RC, "hard"), two_species)
    np.testing.assert_allclose(fit_reference_energies(pair, two_species, ["Ar", "Kr"]), [-1.0, -2.5], atol=1e-9)
    np.testing.assert_allclose(fit_reference_energies(pair, two_species, ["Kr", "Ar"]), [-2.5, -1.0], atol=1e-9)
    # a species that is not in the data gets zero, the others are unchanged
    np.testing.assert_allclose(fit_reference_energies(pair, two_species, ["Kr", "Xe", "Ar"]), [-2.5, 0.0, -1.0],
                               atol=1e-9)
    # the zero potential leaves the pair energy in the residual: offsets are then biased
    assert not np.allclose(fit_reference_energies(np.zeros(len(two_species)), two_species, ["Ar", "Kr"]),
                           [-1.0, -2.5], atol=1e-3)


def test_two_species_loss_equals_single_species_loss(lj_ds, two_species):
    candidates = [make() for make in SCORE_CANDIDATES.values()]
    a, _ = EnergyLoss(lj_ds, Cutoff(RC, "hard")).score(candidates + [lj_terms()])
    b, cb = EnergyLoss(two_species, Cutoff(RC, "hard")).score(candidates + [lj_terms()])
    # two species give one more free parameter: the loss can only drop, by little here
    assert np.all(b[:-1] <= a[:-1] * (1 + 1e-9))
    assert b[-1] < 1e-15
    np.testing.assert_allclose(cb[-1], [4 * EPS * SIGMA**12, -4 * EPS * SIGMA**6], rtol=1e-6)
    for cand, loss in zip(candidates, b):
        assert loss == pytest.approx(direct_loss(cand, Cutoff(RC, "hard"), two_species)[0], rel=1e-4)


def test_energy_errors_metrics(lj_ds):
    pred = lj_ds.energies + 0.002 * lj_ds.n_atoms * np.where(np.arange(len(lj_ds)) % 2, 1, -1)
    m = energy_errors(pred, lj_ds)
    assert m["energy_rmse_meV_per_atom"] == pytest.approx(2.0)
    assert m["energy_mae_meV_per_atom"] == pytest.approx(2.0)
    assert m["n_structures"] == len(lj_ds)


# --- cutoff physics -------------------------------------------------------------------
def test_smooth_cutoff_vanishes_at_rc_and_is_continuous_at_inner_edge():
    rc, w = 5.0, 1.2
    cutoff = Cutoff(rc, "smooth", w)
    program = lj_program()
    r = np.array([rc, rc - w - 1e-9, rc - w, rc - w + 1e-9])
    v, d1, d2 = program.evaluate(r, 2)
    u, u1, u2 = cutoff.apply(r, v, d1, d2)
    assert u[0] == 0.0 and u1[0] == 0.0 and u2[0] == 0.0
    for x in (u, u1, u2):
        assert x[1] == pytest.approx(x[2], rel=1e-7) and x[3] == pytest.approx(x[2], rel=1e-7)
    np.testing.assert_array_equal(u[1:3], v[1:3])  # S = 1 up to rc - w
    s, s1, s2 = cutoff.switch(np.array([rc - w, rc - w / 2, rc, rc + 0.5]))
    np.testing.assert_allclose(s, [1.0, 0.5, 0.0, 0.0], atol=1e-15)
    np.testing.assert_allclose(s1[[0, 2, 3]], 0.0, atol=1e-15)
    assert s1[1] == pytest.approx(-30 / 16 / w)
    # just inside rc, U -> 0 like (rc - r)^3
    eps = 1e-3
    u_in = cutoff.apply(np.array([rc - eps]), *program.evaluate(np.array([rc - eps]), 1))[0][0]
    assert abs(u_in) == pytest.approx(abs(program.evaluate(rc - eps)[0]) * 10 * (eps / w) ** 3, rel=1e-2)


@pytest.mark.parametrize("style", STYLES)
def test_cutoff_derivatives_match_finite_differences(style):
    cutoff = Cutoff(5.0, style, 1.5)
    program = morse_program()
    r = np.linspace(2.0, 4.99, 300)
    h = 1e-6

    def U(x, order=0):
        v, d1, d2 = program.evaluate(x, 2)
        return cutoff.apply(x, v, d1, d2, v_at_cutoff=program.evaluate(5.0)[0])[order]

    np.testing.assert_allclose(U(r, 1), (U(r + h) - U(r - h)) / (2 * h), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(U(r, 2), (U(r + h, 1) - U(r - h, 1)) / (2 * h), rtol=1e-5, atol=1e-7)
    # pair_values agrees with apply inside and is zero at and beyond rc
    u, u1 = pair_values(program, cutoff, r, 1)
    np.testing.assert_allclose(u, U(r), rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(u1, U(r, 1), rtol=1e-14, atol=1e-15)
    u, u1 = pair_values(program, cutoff, np.array([5.0, 5.5, 9.0]), 1)
    np.testing.assert_array_equal(u, 0.0)
    np.testing.assert_array_equal(u1, 0.0)


def test_shift_cutoff_is_zero_at_rc():
    cutoff = Cutoff(5.0, "shift")
    program = morse_program()
    v, d1 = program.evaluate(np.array([5.0, 3.0]), 1)
    u, u1 = cutoff.apply(np.array([5.0, 3.0]), v, d1, v_at_cutoff=v[0])
    assert u[0] == 0.0
    assert u[1] == v[1] - v[0] and u1[1] == d1[1]
    assert v[0] != 0.0
    # continuous approach from inside
    assert abs(pair_values(program, cutoff, np.array([5.0 - 1e-9]))[0]) < 1e-9
    # hard: a jump of V(rc)
    hard = pair_values(program, Cutoff(5.0, "hard"), np.array([5.0 - 1e-12, 5.0]))
    assert hard[0] == pytest.approx(v[0]) and hard[1] == 0.0
    with pytest.raises(ValueError):
        cutoff.apply(np.array([1.0]), v[:1], d1[:1])


@pytest.mark.parametrize("style", STYLES)
def test_cutoff_closed_form_matches_numeric(style):
    cutoff = Cutoff(5.0, style, 1.5)
    program = morse_program()
    expr = cutoff.sympy(program.to_sympy())
    f = sympy.lambdify(R, expr, "numpy")
    r = np.linspace(2.0, 4.999, 50)
    np.testing.assert_allclose([float(f(x)) for x in r], pair_values(program, cutoff, r), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("kwargs", [dict(radius=0.0), dict(radius=-1.0), dict(radius=float("nan")),
                                    dict(radius=float("inf")), dict(radius=5.0, style="cosine"),
                                    dict(radius=5.0, style="smooth", width=6.0),
                                    dict(radius=5.0, style="smooth", width=0.0)])
def test_bad_cutoffs_raise_config_error(kwargs):
    with pytest.raises(ConfigError):
        Cutoff(**kwargs)


# --- Potential physics ----------------------------------------------------------------
def random_cluster(n=13, seed=0, min_distance=2.5, box=7.0):
    rng = np.random.default_rng(seed)
    pos = []
    while len(pos) < n:
        p = rng.uniform(0, box, 3)
        if all(np.linalg.norm(p - q) >= min_distance for q in pos):
            pos.append(p)
    return Atoms(f"Ar{n}", positions=pos, pbc=False)


@pytest.fixture(scope="module")
def potential():
    return Potential(lj_program(), Cutoff(RC, "smooth"), {"Ar": -0.7})


def test_energy_invariances_cluster(potential):
    atoms = random_cluster()
    e = potential.energy(atoms)
    pair = 0.0
    for i in range(len(atoms)):
        for j in range(i + 1, len(atoms)):
            d = atoms.get_distance(i, j)
            pair += lj_value(d) * smooth_switch(d, RC, 1.0)
    assert e == pytest.approx(pair + len(atoms) * -0.7, rel=1e-12)
    assert abs(pair) > 0.5  # the check is not trivial
    rotated = atoms.copy()
    rotated.positions = atoms.positions @ random_rotation(3).T
    moved = atoms.copy()
    moved.translate([10.3, -4.4, 7.7])
    perm = atoms[np.random.default_rng(1).permutation(len(atoms))]
    for other in (rotated, moved, perm):
        assert potential.energy(other) == pytest.approx(e, rel=1e-12, abs=1e-12)


def test_energy_invariances_periodic(potential, lj_frames20):
    atoms = lj_frames20[2].copy()
    e = potential.energy(atoms)
    rotated = atoms.copy()
    rotated.rotate(37.0, (1.0, 2.0, 3.0), rotate_cell=True)
    moved = atoms.copy()
    moved.translate([1.3, -0.7, 2.2])
    moved.wrap()
    perm = atoms[np.random.default_rng(2).permutation(len(atoms))]
    for other in (rotated, moved, perm):
        assert potential.energy(other) == pytest.approx(e, rel=1e-11)


def test_energy_is_additive_over_far_apart_copies(potential):
    atoms = random_cluster(seed=5)
    e = potential.energy(atoms)
    far = atoms.copy()
    far.translate([30.0, 0.0, 0.0])
    double = atoms + far
    assert potential.energy(double) == pytest.approx(2 * e, rel=1e-12)
    boxed = double.copy()
    boxed.set_cell([80.0, 80.0, 80.0])
    boxed.pbc = True
    boxed.translate([20.0, 25.0, 25.0])
    assert potential.energy(boxed) == pytest.approx(2 * e, rel=1e-12)
    # closer than the cutoff, the copies interact
    near = atoms.copy()
    near.translate([8.0, 0.0, 0.0])
    assert potential.energy(atoms + near) != pytest.approx(2 * e, rel=1e-6)


def test_energy_equals_pair_sum_plus_reference(potential, lj_ds):
    n = lj_ds.n_atoms
    pair = structure_pair_energies(potential.pair, potential.cutoff, lj_ds)
    predicted = potential.predict_energies(lj_ds)
    np.testing.assert_allclose(predicted, pair - 0.7 * n, rtol=1e-13)
    for s in (0, 5, 11):
        assert potential.energy(lj_ds.frames[s]) == pytest.approx(predicted[s], rel=1e-12)
    no_ref = Potential(lj_program(), Cutoff(RC, "smooth"), {"Ar": 0.0})
    assert potential.energy(lj_ds.frames[0]) == pytest.approx(no_ref.energy(lj_ds.frames[0]) - 0.7 * n[0], rel=1e-13)
    with pytest.raises(DataError):
        Potential(lj_program(), Cutoff(RC, "smooth"), {"Kr": 0.0}).energy(lj_ds.frames[0])


def test_hard_potential_reproduces_lj_labels(lj_ds):
    pot = Potential(lj_program(), Cutoff(RC, "hard"), {"Ar": 0.0})
    np.testing.assert_allclose(pot.predict_energies(lj_ds), lj_ds.energies, atol=1e-10, rtol=0)


@pytest.mark.parametrize("style", STYLES)
def test_json_round_trip_gives_identical_energies(tmp_path, lj_frames20, style):
    pot = Potential(morse_program(), Cutoff(5.3, style, 1.1), {"Ar": -0.25, "Kr": 1.5},
                    metrics={"energy_rmse_meV_per_atom": 1.0}, complexity=9)
    path = tmp_path / "best.json"
    pot.to_json(path)
    again = Potential.from_json(path)
    from_dir = Potential.from_json(tmp_path)  # a run folder: reads best.json
    np.testing.assert_array_equal(again.pair.ops, pot.pair.ops)
    np.testing.assert_array_equal(again.pair.args, pot.pair.args)
    assert again.cutoff == pot.cutoff
    assert again.reference_energies == pot.reference_energies
    assert again.complexity == 9
    for atoms in lj_frames20[:4] + [random_cluster()]:
        assert again.energy(atoms) == pot.energy(atoms)
        assert from_dir.energy(atoms) == pot.energy(atoms)
    data = json.loads(path.read_text())
    assert data["cutoff_style"] == style
    # without the program, the sympy pair function is parsed instead
    del data["program"]
    path2 = tmp_path / "no_program.json"
    path2.write_text(json.dumps(data))
    parsed = Potential.from_json(path2)
    for atoms in lj_frames20[:2]:
        assert parsed.energy(atoms) == pytest.approx(pot.energy(atoms), rel=1e-9)


def _valid_potential_dict():
    return Potential(lj_program(), Cutoff(RC, "shift"), {"Ar": -0.5}).to_dict()


def _modified(**changes):
    def make():
        data = _valid_potential_dict()
        for key, value in changes.items():
            if value is KeyError:
                del data[key]
            else:
                data[key] = value
        return json.dumps(data)
    return make


CORRUPT = {
    "binary": lambda: b"\x00\xff\xfe\x80garbage",
    "empty": lambda: "",
    "truncated": lambda: _modified()()[:40],
    "not_json": lambda: "cutoff = 5\n",
    "a_list": lambda: "[1, 2, 3]",
    "a_number": lambda: "42",
    "other_format": _modified(format="something-else"),
    "newer_version": _modified(format_version=99),
    "other_form": _modified(form="eam"),
    "no_cutoff": _modified(cutoff=KeyError),
    "cutoff_not_number": _modified(cutoff="five"),
    "no_program_no_function": _modified(program=KeyError, pair_function=KeyError),
    "program_underflow": _modified(program={"ops": [2], "args": [0.0]}),
    "program_unknown_opcode": _modified(program={"ops": [0, 99], "args": [0.0, 0.0]}),
    "program_leftover": _modified(program={"ops": [0, 0], "args": [0.0, 0.0]}),
    "program_not_arrays": _modified(program={"ops": "abc", "args": [0.0]}),
    "program_a_list": _modified(program=[1, 2]),
    "bad_pair_function": _modified(program=KeyError, pair_function="sin(r"),
    "unsupported_pair_function": _modified(program=KeyError, pair_function="sin(r)"),
    "reference_nan": _modified(reference_energies={"Ar": float("nan")}),
    "reference_text": _modified(reference_energies={"Ar": "low"}),
}


@pytest.mark.parametrize("name", sorted(CORRUPT))
def test_from_json_on_corrupt_file_raises_potential_file_error(tmp_path, name):
    content = CORRUPT[name]()
    path = tmp_path / f"{name}.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(PotentialFileError, match=name):
        Potential.from_json(path)


def test_from_json_missing_file(tmp_path):
    with pytest.raises(PotentialFileError, match="nothere.json"):
        Potential.from_json(tmp_path / "nothere.json")
    with pytest.raises(PotentialFileError):
        Potential.from_json(tmp_path)  # a folder without best.json


CORRUPT_LEAKING = {
    "negative_cutoff": _modified(cutoff=-1.0),
    "unknown_cutoff_style": _modified(cutoff_style="cosine"),
    "version_not_integer": _modified(format_version="one"),
    "references_a_list": _modified(reference_energies=["Ar"]),
    "metrics_a_list": _modified(metrics=[1, 2]),
}


@pytest.mark.parametrize("name", sorted(CORRUPT_LEAKING))
def test_from_json_on_corrupt_values_raises_potential_file_error(tmp_path, name):
    path = tmp_path / f"{name}.json"
    path.write_text(CORRUPT_LEAKING[name]())
    with pytest.raises(PotentialFileError, match=name):
        Potential.from_json(path)


# --- Dataset --------------------------------------------------------------------------
def test_from_file_reads_energies_and_pairs(tmp_path, lj_frames20, lj_ds):
    path = tmp_path / "train.extxyz"
    ase.io.write(path, lj_frames20, format="extxyz")
    ds = Dataset.from_file(path, RC)
    assert len(ds) == len(lj_frames20)
    np.testing.assert_allclose(ds.energies, lj_ds.energies, rtol=1e-14)
    assert ds.n_pairs == lj_ds.n_pairs
    np.testing.assert_allclose(ds.pair_distance, lj_ds.pair_distance, atol=1e-6)
    assert all(src.startswith(str(path)) for src in ds.sources)
    assert ds.sources[3] == f"{path}:3"
    # several files are concatenated; index selects frames
    path2 = tmp_path / "more.extxyz"
    ase.io.write(path2, lj_frames20[:5], format="extxyz")
    both = Dataset.from_file([path, str(path2)], RC)
    assert len(both) == 25
    np.testing.assert_allclose(both.energies[20:], lj_ds.energies[:5], rtol=1e-14)
    assert len(Dataset.from_file(path, RC, index="2:6")) == 4


def test_energy_from_attached_calculator_and_custom_key(lj_frames20):
    frames = []
    for atoms in lj_frames20[:3]:
        a = atoms.copy()
        energy = a.info.pop("energy")
        a.calc = SinglePointCalculator(a, energy=energy)
        frames.append(a)
    ds = Dataset.from_frames(frames, RC)
    np.testing.assert_array_equal(ds.energies, [a.info["energy"] for a in lj_frames20[:3]])
    other = []
    for atoms in lj_frames20[:3]:
        a = atoms.copy()
        a.info["dft_energy"] = a.info.pop("energy") + 1.0
        other.append(a)
    ds = Dataset.from_frames(other, RC, energy_key="dft_energy")
    np.testing.assert_allclose(ds.energies, [a.info["energy"] + 1.0 for a in lj_frames20[:3]])


def test_from_file_errors_name_the_file(tmp_path, lj_frames20):
    missing = tmp_path / "missing.extxyz"
    with pytest.raises(DataError, match="missing.extxyz"):
        Dataset.from_file(missing, RC)
    empty = tmp_path / "empty.extxyz"
    empty.write_text("")
    with pytest.raises(DataError, match="empty.extxyz.*empty"):
        Dataset.from_file(empty, RC)
    garbage = tmp_path / "garbage.extxyz"
    garbage.write_text("this is not\nan xyz file at all\n%%%\n")
    with pytest.raises(DataError, match="garbage.extxyz"):
        Dataset.from_file(garbage, RC)
    binary = tmp_path / "noise.bin"
    binary.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(DataError, match="noise.bin"):
        Dataset.from_file(binary, RC)
    with pytest.raises(DataError, match="directory"):
        Dataset.from_file(tmp_path, RC)
    with pytest.raises(DataError):
        Dataset.from_file([], RC)
    # one frame without energy
    frames = [a.copy() for a in lj_frames20[:4]]
    for a, src in zip(frames, lj_frames20[:4]):
        a.info.update(src.info)
    del frames[2].info["energy"]
    noenergy = tmp_path / "noenergy.extxyz"
    ase.io.write(noenergy, frames, format="extxyz")
    with pytest.raises(DataError, match=r"noenergy.extxyz:2.*energy"):
        Dataset.from_file(noenergy, RC)
    skipped = Dataset.from_file(noenergy, RC, skip_bad_frames=True)
    assert len(skipped) == 3 and len(skipped.skipped) == 1 and "noenergy.extxyz:2" in skipped.skipped[0]


@pytest.mark.parametrize("cutoff", [0, 0.0, -1.0, float("nan"), float("inf"), "abc", None])
def test_bad_dataset_cutoff_raises_config_error(tmp_path, lj_frames20, cutoff):
    path = tmp_path / "ok.extxyz"
    ase.io.write(path, lj_frames20[:2], format="extxyz")
    with pytest.raises(ConfigError, match="cutoff"):
        Dataset.from_file(path, cutoff)
    with pytest.raises(ConfigError, match="cutoff"):
        Dataset.from_frames(lj_frames20[:2], cutoff)


def test_from_frames_rejects_bad_frames(lj_frames20):
    with pytest.raises(DataError):
        Dataset.from_frames([], RC)
    overlap = lj_frames20[0].copy()
    overlap.info.update(lj_frames20[0].info)
    overlap.positions[1] = overlap.positions[0] + [0.1, 0.0, 0.0]
    with pytest.raises(DataError, match="overlap"):
        Dataset.from_frames([lj_frames20[1], overlap], RC)
    nan_energy = lj_frames20[1].copy()
    nan_energy.info["energy"] = float("nan")
    with pytest.raises(DataError, match="frame 0"):
        Dataset.from_frames([nan_energy], RC)
    text_energy = lj_frames20[1].copy()
    text_energy.info["energy"] = "low"
    with pytest.raises(DataError, match="not a number"):
        Dataset.from_frames([text_energy], RC)
    lonely = Atoms("Ar", positions=[[0, 0, 0]], pbc=False)
    lonely.info["energy"] = 0.0
    with pytest.raises(DataError, match="no atom pairs"):
        Dataset.from_frames([lonely], RC)
    ds = Dataset.from_frames([lj_frames20[1], overlap, lj_frames20[2]], RC, skip_bad_frames=True)
    assert len(ds) == 2 and len(ds.skipped) == 1


def test_split_partitions_the_structures(lj_ds):
    train, val = lj_ds.split(0.25, seed=3)
    assert len(val) == 5 and len(train) == 15
    assert set(train.sources).isdisjoint(val.sources)
    assert sorted(train.sources + val.sources) == sorted(lj_ds.sources)
    index = {src: k for k, src in enumerate(lj_ds.sources)}
    for part in (train, val):
        ids = [index[s] for s in part.sources]
        assert ids == sorted(ids)
        np.testing.assert_array_equal(part.energies, lj_ds.energies[ids])
        np.testing.assert_array_equal(part.n_atoms, lj_ds.n_atoms[ids])
        assert part.n_pairs == sum(lj_ds.pair_offsets[k + 1] - lj_ds.pair_offsets[k] for k in ids)
    again_train, again_val = lj_ds.split(0.25, seed=3)
    assert again_val.sources == val.sources
    assert lj_ds.split(0.25, seed=4)[1].sources != val.sources
    assert len(lj_ds.split(0.01, seed=0)[1]) == 1  # at least one validation structure
    for bad in (0.0, 1.0, -0.1, 1.5):
        with pytest.raises(ConfigError):
            lj_ds.split(bad)
    with pytest.raises(DataError):
        lj_ds.subset([0]).split(0.5)


def test_subset_keeps_pair_arrays_consistent(lj_ds):
    idx = [7, 2, 15, 0, 11]
    sub = lj_ds.subset(idx)
    assert len(sub) == len(idx)
    np.testing.assert_array_equal(sub.energies, lj_ds.energies[idx])
    np.testing.assert_array_equal(sub.n_atoms, lj_ds.n_atoms[idx])
    np.testing.assert_array_equal(sub.species_counts, lj_ds.species_counts[idx])
    assert sub.sources == [lj_ds.sources[k] for k in idx]
    for style in STYLES:
        cutoff = Cutoff(RC, style)
        full = structure_pair_energies(lj_program(), cutoff, lj_ds)
        np.testing.assert_allclose(structure_pair_energies(lj_program(), cutoff, sub), full[idx], rtol=1e-14)
        full_atoms = atom_pair_energies(lj_program(), cutoff, lj_ds)
        sub_atoms = atom_pair_energies(lj_program(), cutoff, sub)
        for row, s in enumerate(idx):
            np.testing.assert_allclose(sub_atoms[sub.atom_offsets[row]:sub.atom_offsets[row + 1]],
                                       full_atoms[lj_ds.atom_offsets[s]:lj_ds.atom_offsets[s + 1]], rtol=1e-14)
    # pair arrays: indices inside their structure, vectors consistent with positions
    for row, atoms in enumerate(sub.frames):
        lo, hi = sub.pair_offsets[row], sub.pair_offsets[row + 1]
        assert np.all(sub.pair_structure[lo:hi] == row)
        i = sub.pair_i[lo:hi] - sub.atom_offsets[row]
        j = sub.pair_j[lo:hi] - sub.atom_offsets[row]
        assert i.min() >= 0 and j.min() >= 0 and i.max() < len(atoms) and j.max() < len(atoms)
        vec = sub.pair_vector[lo:hi]
        np.testing.assert_allclose(np.linalg.norm(vec, axis=1), sub.pair_distance[lo:hi], rtol=1e-13)
        shifts = (vec - (atoms.positions[j] - atoms.positions[i])) @ np.linalg.inv(atoms.cell.array)
        np.testing.assert_allclose(shifts, np.round(shifts), atol=1e-9)
    assert np.all(np.diff(sub.pair_structure) >= 0)
    assert sub.pair_offsets[-1] == sub.n_pairs == len(sub.pair_i)


def test_dataset_pairs_are_a_full_list(lj_ds):
    # every pair appears in both directions, with opposite vectors
    s = 1
    lo, hi = lj_ds.pair_offsets[s], lj_ds.pair_offsets[s + 1]
    i, j, v = lj_ds.pair_i[lo:hi], lj_ds.pair_j[lo:hi], lj_ds.pair_vector[lo:hi]
    forward = sorted(zip(i.tolist(), j.tolist(), np.round(v, 8).tolist()))
    backward = sorted(zip(j.tolist(), i.tolist(), np.round(-v, 8).tolist()))
    assert forward == backward
    assert np.all(lj_ds.pair_distance < RC)
    assert lj_ds.min_distance > 0.85 * SIGMA
