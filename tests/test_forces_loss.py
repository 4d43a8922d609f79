"""The grid loss (PairLoss) with forces and stresses, against the exact loss (ExactLoss).

Data: periodic LJ configurations (the session fixture ``lj_frames_small``) relabelled by
the calculator of a known smooth-cutoff LJ Potential: energies (with a reference energy),
forces and stresses. A second set drops forces on half the frames and stresses on a
third, and adds a labelled non-periodic cluster (forces, no stress).

The grid represents U' by the derivative of a cubic Hermite interpolant (error ~h^3), so
losses that include forces or stresses agree with the exact ones to ~1e-6 relative on a
400-node grid; energies alone (error ~h^4) agree much better.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import sympy
from ase.build import bulk

from conftest import EPSILON, LJ_CUTOFF, SIGMA
from symbpot import Cutoff, Dataset, Potential
from symbpot.expr import Program, R
from symbpot.fitness import PairLoss, fit_reference_energies, structure_pair_energies
from symbpot.fitness.exact import ExactLoss
from symbpot.gp.engine import combine_terms
from symbpot.threads import single_threaded_blas

CUTOFF = Cutoff(LJ_CUTOFF, "smooth", 1.0)
A12, A6 = 4 * EPSILON * SIGMA**12, -4 * EPSILON * SIGMA**6
REF = -1.5
FINE_GRID = 400
N_FRAMES = 12


def P(expr):
    return Program.from_sympy(expr)


TRUE_TERMS = [P(R**-12), P(R**-6)]
CANDIDATES = {
    "true": TRUE_TERMS,
    "true_plus_r8": [P(R**-12), P(R**-8), P(R**-6)],
    "r10_r6": [P(R**-10), P(R**-6)],
    "r9_r6": [P(R**-9), P(R**-6)],
    "exp_r6": [P(sympy.exp(-2 * R)), P(R**-6)],
    "r8": [P(R**-8)],
}
EXACT = ("true", "true_plus_r8")  # contain the labelling potential: loss ~ 0
WRONG = [k for k in CANDIDATES if k not in EXACT]

WEIGHTS = [(1, 0, 0), (1, 1, 0), (1, 0, 0.01), (1, 1, 0.01), (0, 1, 0), (0, 0, 1), (0, 1, 0.01), (1, 10, 0.1)]


def loss_kwargs(weights):
    return dict(zip(("energy_weight", "force_weight", "stress_weight"), weights))


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    """Small eigh/QR calls are orders of magnitude slower with oversubscribed OpenBLAS threads."""
    with single_threaded_blas():
        yield


@pytest.fixture(scope="module")
def true_potential():
    return Potential(P(A12 * R**-12 + A6 * R**-6), CUTOFF, {"Ar": REF})


def label(atoms, potential):
    atoms.calc = potential.calculator()
    atoms.info["energy"] = atoms.get_potential_energy()
    atoms.arrays["forces"] = atoms.get_forces()
    if all(atoms.pbc):
        atoms.info["stress"] = atoms.get_stress()
    atoms.calc = None
    return atoms


@pytest.fixture(scope="module")
def labelled_frames(lj_frames_small, true_potential):
    frames = []
    for k, atoms in enumerate(lj_frames_small[:N_FRAMES]):
        atoms = label(atoms.copy(), true_potential)
        atoms.info["group"] = "A" if k % 2 else "B"
        frames.append(atoms)
    return frames


@pytest.fixture(scope="module")
def full_ds(labelled_frames):
    ds = Dataset.from_frames(labelled_frames, LJ_CUTOFF)
    assert ds.has_forces.all() and ds.has_stress.all()
    return ds


def lj_cluster(true_potential):
    atoms = bulk("Ar", "fcc", a=1.12 * SIGMA * math.sqrt(2), cubic=True).repeat(3)
    centre = atoms.positions[np.argmin(np.linalg.norm(atoms.positions - atoms.cell.sum(axis=0) / 2, axis=1))]
    atoms = atoms[np.linalg.norm(atoms.positions - centre, axis=1) < 1.5 * SIGMA]
    atoms.pbc = False
    atoms.set_cell(np.zeros((3, 3)))
    atoms.positions += np.random.default_rng(3).normal(0, 0.05 * SIGMA, atoms.positions.shape)
    atoms = label(atoms, true_potential)
    atoms.info["group"] = "cluster"
    return atoms


@pytest.fixture(scope="module")
def partial_ds(labelled_frames, true_potential):
    frames = []
    for k, atoms in enumerate(labelled_frames):
        atoms = atoms.copy()
        if k % 2:
            del atoms.arrays["forces"]
        if k % 3 == 0:
            del atoms.info["stress"]
        frames.append(atoms)
    frames.append(lj_cluster(true_potential))
    ds = Dataset.from_frames(frames, LJ_CUTOFF)
    assert ds.has_forces.tolist() == [k % 2 == 0 for k in range(N_FRAMES)] + [True]
    assert ds.has_stress.tolist() == [k % 3 != 0 for k in range(N_FRAMES)] + [False]
    return ds


@pytest.fixture(params=["full", "partial"])
def dataset(request):
    return request.getfixturevalue(f"{request.param}_ds")


def exact_loss_of(terms, coefs, dataset, weights, structure_weights=None):
    """ExactLoss of sum_k a_k T_k with the reference energies refitted to the energies."""
    pair = combine_terms(terms, coefs)
    refs = fit_reference_energies(structure_pair_energies(pair, CUTOFF, dataset), dataset, dataset.species,
                                  structure_weights)
    potential = Potential(pair, CUTOFF, dict(zip(dataset.species, map(float, refs))))
    return ExactLoss(dataset, CUTOFF, structure_weights, **loss_kwargs(weights)).loss(potential)


def group_weights(dataset):
    return np.array([{"A": 2.0, "B": 0.5, "cluster": 1.5}[g] for g in dataset.groups])


# --- the labels -------------------------------------------------------------------------
def test_labels_are_exactly_reproduced_by_the_exact_path(full_ds, partial_ds, true_potential):
    for ds in (full_ds, partial_ds):
        energies, forces, stress = true_potential.predict(ds)
        np.testing.assert_allclose(energies, ds.energies, rtol=1e-12)
        np.testing.assert_allclose(forces[np.repeat(ds.has_forces, ds.n_atoms)],
                                   ds.forces[np.repeat(ds.has_forces, ds.n_atoms)], atol=1e-10)
        np.testing.assert_allclose(stress[ds.has_stress], ds.stress[ds.has_stress], atol=1e-12)
        assert np.abs(ds.forces).max() > 0.5 and np.abs(ds.stress).max() > 1e-3
        for weights in WEIGHTS:
            assert ExactLoss(ds, CUTOFF, **loss_kwargs(weights)).loss(true_potential) < 1e-18


# --- grid loss == exact loss -------------------------------------------------------------------
@pytest.mark.parametrize("weighted", [False, True], ids=["uniform", "group-weighted"])
@pytest.mark.parametrize("weights", WEIGHTS, ids=str)
def test_grid_loss_equals_exact_loss_at_returned_coefficients(dataset, weights, weighted):
    w = group_weights(dataset) if weighted else None
    losses, coefs = PairLoss(dataset, CUTOFF, FINE_GRID, weights=w, **loss_kwargs(weights)).score(
        list(CANDIDATES.values()))
    assert np.all(np.isfinite(losses))
    by_name = dict(zip(CANDIDATES, zip(losses, coefs)))
    rtol = 1e-7 if weights[1:] == (0, 0) else 1e-5
    smallest_wrong = min(by_name[k][0] for k in WRONG)
    for name in WRONG:
        loss, c = by_name[name]
        exact = exact_loss_of(CANDIDATES[name], c, dataset, weights, w)
        assert loss == pytest.approx(exact, rel=rtol), name
    for name in EXACT:
        loss, c = by_name[name]
        exact = exact_loss_of(CANDIDATES[name], c, dataset, weights, w)
        # not trivially equal: the wrong candidates are many orders of magnitude worse
        assert loss < 1e-7 * smallest_wrong and exact < 1e-7 * smallest_wrong, name
        assert loss == pytest.approx(exact, abs=1e-9 * smallest_wrong)


def test_each_term_of_the_loss_is_active(full_ds):
    """Adding force or stress weight raises the loss of a wrong candidate by the exact force/stress part."""
    cand = CANDIDATES["r10_r6"]
    coefs = PairLoss(full_ds, CUTOFF, FINE_GRID).score([cand])[1][0]
    e_only = exact_loss_of(cand, coefs, full_ds, (1, 0, 0))
    f_only = exact_loss_of(cand, coefs, full_ds, (0, 1, 0))
    s_only = exact_loss_of(cand, coefs, full_ds, (0, 0, 1))
    assert min(e_only, f_only, s_only) > 1e-4
    assert exact_loss_of(cand, coefs, full_ds, (1, 1, 0.01)) == pytest.approx(e_only + f_only + 0.01 * s_only,
                                                                              rel=1e-12)




@pytest.mark.parametrize("weights", WEIGHTS, ids=str)
def test_exact_fit_linear_agrees_with_grid_score(dataset, weights):
    exact = ExactLoss(dataset, CUTOFF, **loss_kwargs(weights))
    grid_losses, grid_coefs = PairLoss(dataset, CUTOFF, FINE_GRID, **loss_kwargs(weights)).score(
        [CANDIDATES[k] for k in WRONG])
    for name, loss, coefs in zip(WRONG, grid_losses, grid_coefs):
        c, refs, exact_min = exact.fit_linear(CANDIDATES[name], dataset.species)
        assert exact_min == pytest.approx(loss, rel=1e-5), name
        # the exact optimum is not worse than the grid coefficients under the exact loss
        assert exact_min <= exact_loss_of(CANDIDATES[name], coefs, dataset, weights) * (1 + 1e-12)
        np.testing.assert_allclose(c, coefs, rtol=2e-3)


def test_predict_pairs_without_forces_still_gives_stresses(full_ds, true_potential):
    """predict_pairs(want_forces=False) still gives the stresses."""
    from symbpot.fitness.direct import predict_pairs

    e1, _, s1 = predict_pairs(true_potential.pair, CUTOFF, full_ds, want_forces=True)
    e0, _, s0 = predict_pairs(true_potential.pair, CUTOFF, full_ds, want_forces=False)
    np.testing.assert_allclose(e0, e1, rtol=1e-14)
    np.testing.assert_allclose(s1, full_ds.stress, atol=1e-12)
    assert np.abs(s1).max() > 1e-3
    np.testing.assert_allclose(s0, s1, rtol=1e-14)


# --- recovery of the labelling potential ------------------------------------------------------
@pytest.mark.parametrize("weights", [(1, 1, 0), (0, 1, 0), (1, 1, 0.01), (0, 1, 1), (1, 0, 0.01), (0, 0, 1)], ids=str)
def test_true_terms_recover_lj_coefficients_from_forces_and_stresses(dataset, weights):
    losses, coefs = PairLoss(dataset, CUTOFF, **loss_kwargs(weights)).score(  # default grid
        [TRUE_TERMS, CANDIDATES["r10_r6"], CANDIDATES["exp_r6"]])
    np.testing.assert_allclose(coefs[0], [A12, A6], rtol=1e-4)
    assert losses[0] < 1e-6 * min(losses[1:])


# --- energies do not enter a loss without an energy term --------------------------------------
@pytest.mark.parametrize("weights", [(0, 1, 0), (0, 0, 1), (0, 1, 0.01)], ids=str)
def test_loss_without_energy_term_ignores_energies(dataset, weights):
    rng = np.random.default_rng(0)
    offset = dataclasses.replace(dataset, energies=dataset.energies + 0.37 * dataset.n_atoms)
    noisy = dataclasses.replace(dataset, energies=dataset.energies + rng.normal(0, 5.0, len(dataset)))
    cands = [CANDIDATES[k] for k in ("true", "r10_r6", "exp_r6")]
    base_losses, base_coefs = PairLoss(dataset, CUTOFF, **loss_kwargs(weights)).score(cands)
    for other in (offset, noisy):
        losses, coefs = PairLoss(other, CUTOFF, **loss_kwargs(weights)).score(cands)
        np.testing.assert_allclose(losses, base_losses, rtol=1e-10, atol=1e-20)
        for a, b in zip(coefs, base_coefs):
            np.testing.assert_allclose(a, b, rtol=1e-8)
        potential = Potential(combine_terms(cands[1], base_coefs[1]), CUTOFF, {"Ar": 0.0})
        assert ExactLoss(other, CUTOFF, **loss_kwargs(weights)).loss(potential) == pytest.approx(
            ExactLoss(dataset, CUTOFF, **loss_kwargs(weights)).loss(potential), rel=1e-12)
    # with an energy term, a per-atom offset is absorbed by the reference energy but noise is not
    with_energy = (1,) + weights[1:]
    ref_losses = PairLoss(dataset, CUTOFF, **loss_kwargs(with_energy)).score(cands)[0]
    np.testing.assert_allclose(PairLoss(offset, CUTOFF, **loss_kwargs(with_energy)).score(cands)[0], ref_losses,
                               rtol=1e-7, atol=1e-14)
    noisy_losses = PairLoss(noisy, CUTOFF, **loss_kwargs(with_energy)).score(cands)[0]
    assert noisy_losses[0] > 1e-3 > 1e3 * ref_losses[0]


# --- structure weights -------------------------------------------------------------------------
def keep_and_drop(dataset):
    """Group to keep (the one holding the shortest pair, so both grids are the same) and to drop."""
    shortest = int(dataset.pair_structure[np.argmin(dataset.pair_distance)])
    keep = dataset.groups[shortest]
    drop = "B" if keep == "A" else "A"
    return keep, drop


@pytest.mark.parametrize("weights", [(1, 0, 0), (1, 1, 0.01), (0, 1, 0), (0, 0, 1), (1, 10, 0.1)], ids=str)
def test_zero_group_weight_equals_dropping_the_group(dataset, weights):
    keep, drop = keep_and_drop(dataset)
    w = np.array([0.0 if g == drop else 1.0 + (k % 3) for k, g in enumerate(dataset.groups)])
    kept = np.flatnonzero(w > 0)
    sub = dataset.subset(kept)
    assert 0 < len(sub) < len(dataset) and drop not in sub.groups
    cands = list(CANDIDATES.values())
    weighted = PairLoss(dataset, CUTOFF, weights=w, **loss_kwargs(weights))
    dropped = PairLoss(sub, CUTOFF, weights=w[kept], **loss_kwargs(weights))
    np.testing.assert_array_equal(weighted.grid.x, dropped.grid.x)
    l1, c1 = weighted.score(cands)
    l2, c2 = dropped.score(cands)
    wrong = [k for k, name in enumerate(CANDIDATES) if name in WRONG]
    np.testing.assert_allclose(l1[wrong], l2[wrong], rtol=1e-9)
    assert np.all(l1[[0, 1]] < 1e-7 * l1[wrong].min()) and np.all(l2[[0, 1]] < 1e-7 * l2[wrong].min())
    for k in wrong:
        np.testing.assert_allclose(c1[k], c2[k], rtol=1e-7)
    # and the dropped structures really matter when weighted in
    uniform = PairLoss(dataset, CUTOFF, **loss_kwargs(weights)).score(cands)[0]
    assert not np.allclose(uniform[wrong], l1[wrong], rtol=1e-3)
    # the exact loss agrees
    potential = Potential(combine_terms(cands[2], c1[2]), CUTOFF, {"Ar": REF})
    assert ExactLoss(dataset, CUTOFF, w, **loss_kwargs(weights)).loss(potential) == pytest.approx(
        ExactLoss(sub, CUTOFF, w[kept], **loss_kwargs(weights)).loss(potential), rel=1e-12)




def test_zero_weight_on_every_structure_with_forces_equals_dropping_them(full_ds, true_potential):
    keep, drop = keep_and_drop(full_ds)
    only_dropped_have_forces = np.array([g == drop for g in full_ds.groups])
    ds = dataclasses.replace(full_ds, has_forces=only_dropped_have_forces)
    w = np.where(only_dropped_have_forces, 0.0, 1.0)
    kept = np.flatnonzero(w > 0)
    sub = ds.subset(kept)
    assert not sub.has_forces.any()
    kw = loss_kwargs((1, 1, 0))
    cand = CANDIDATES["r10_r6"]
    with np.errstate(all="ignore"):
        grid = PairLoss(ds, CUTOFF, weights=w, **kw).score([cand])
    np.testing.assert_allclose(grid[0], PairLoss(sub, CUTOFF, **kw).score([cand])[0], rtol=1e-9)
    potential = Potential(combine_terms(cand, grid[1][0]), CUTOFF, {"Ar": REF})
    with np.errstate(all="ignore"):
        weighted = ExactLoss(ds, CUTOFF, w, **kw).loss(potential)
    assert weighted == pytest.approx(ExactLoss(sub, CUTOFF, **kw).loss(potential), rel=1e-12)


# --- implementation details that must not change the loss -----------------------------------------
@pytest.mark.parametrize("chunk_atoms", [1, 50, 10**6])
def test_force_gram_chunking_does_not_change_the_loss(partial_ds, chunk_atoms):
    cands = list(CANDIDATES.values())
    kw = loss_kwargs((1, 1, 0.01))
    ref = PairLoss(partial_ds, CUTOFF, **kw).score(cands)
    out = PairLoss(partial_ds, CUTOFF, chunk_atoms=chunk_atoms, **kw).score(cands)
    np.testing.assert_allclose(out[0], ref[0], rtol=1e-9, atol=1e-16)


def test_loss_without_any_available_term_raises(full_ds):
    no_targets = dataclasses.replace(full_ds, has_forces=np.zeros(len(full_ds), bool),
                                     has_stress=np.zeros(len(full_ds), bool))
    with pytest.raises(ValueError, match="no terms"):
        PairLoss(no_targets, CUTOFF, energy_weight=0, force_weight=1, stress_weight=1)
