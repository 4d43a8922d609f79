"""Many-body (EAM) and multi-species forms: physics of every energy path, grid vs exact, search, templates."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import sympy
from ase import Atoms
from ase.build import bulk
from ase.calculators.fd import calculate_numerical_forces, calculate_numerical_stress

from symbpot import Dataset, SymbolicPotential
from symbpot.cli import main
from symbpot.expr import Program
from symbpot.expr.registry import R
from symbpot.fitness.manybody import (ManyBodyLoss, ManyBodyTerms, atom_species_index, exact_fit, half_list,
                                      predict_manybody)
from symbpot.forms.cutoff import Cutoff
from symbpot.forms.templates import TEMPLATE_NAMES, template_genome
from symbpot.manybody import ManyBodyPotential
from symbpot.potential import load_potential

from conftest import random_rotation, rattled_cells

P = Program.from_sympy
CUTOFF = Cutoff(5.0, "smooth", 1.0)


def sutton_chen(refs=None):
    """Sutton-Chen Cu-like EAM (n = 9, m = 6), written in a few lines."""
    return ManyBodyPotential(("Cu",), [P(0.0124 * 1000 * (2.5 / R) ** 9)], [P((2.5 / R) ** 6)],
                             [P(-1.5 * sympy.sqrt(R))], CUTOFF, refs or {"Cu": -3.0})


def two_species_eam():
    return ManyBodyPotential(
        ("Cu", "Ni"),
        [P(1000 * R**-9), P(800 * R**-9 + 0.1), P(500 * R**-8)],
        [P(R**-6), P(2 * R**-6), P(sympy.exp(-R))],
        [P(-20 * sympy.sqrt(R)), P(-10 * sympy.sqrt(R) + 0.01 * R**2)],
        CUTOFF, {"Cu": -1.0, "Ni": -2.0})


def two_species_pair():
    return ManyBodyPotential(("Cu", "Ni"), [P(1000 * R**-9 - 3 * R**-3), P(800 * R**-9 - 2 * R**-3),
                                            P(sympy.exp(-2 * R) * 50 - 4 * R**-4)],
                             None, None, CUTOFF, {"Cu": -1.0, "Ni": -2.0}, form="pair")


POTENTIALS = {"eam1": sutton_chen, "eam2": two_species_eam, "pair2": two_species_pair}


def rattled(n_ni=0, seed=0):
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 2, 1))
    atoms.rattle(0.1, seed=seed)
    if n_ni:
        atoms.symbols[list(range(1, 2 * n_ni, 2))] = "Ni"
    return atoms


@pytest.mark.parametrize("name", sorted(POTENTIALS))
def test_forces_are_minus_the_energy_gradient(name):
    pot = POTENTIALS[name]()
    atoms = rattled(n_ni=0 if name == "eam1" else 4)
    atoms.calc = pot.calculator()
    forces = atoms.get_forces()
    numeric = calculate_numerical_forces(atoms, eps=1e-5)
    assert np.abs(forces - numeric).max() < 1e-6
    assert np.abs(forces.sum(axis=0)).max() < 1e-10


@pytest.mark.parametrize("name", sorted(POTENTIALS))
def test_stress_is_the_strain_derivative(name):
    pot = POTENTIALS[name]()
    atoms = rattled(n_ni=0 if name == "eam1" else 4, seed=3)
    atoms.set_cell(atoms.cell * [1.02, 0.99, 1.0], scale_atoms=True)
    atoms.calc = pot.calculator()
    stress = atoms.get_stress()
    numeric = calculate_numerical_stress(atoms, eps=1e-6)
    assert np.abs(stress - numeric).max() < 1e-7


@pytest.mark.parametrize("name", sorted(POTENTIALS))
def test_invariance_and_additivity(name):
    pot = POTENTIALS[name]()
    atoms = rattled(n_ni=0 if name == "eam1" else 4, seed=5)
    atoms.calc = pot.calculator()
    e0, f0 = atoms.get_potential_energy(), atoms.get_forces()
    moved = atoms.copy()
    moved.translate([0.3, -1.1, 2.0])
    moved.wrap()
    moved.calc = pot.calculator()
    assert moved.get_potential_energy() == pytest.approx(e0, abs=1e-9)
    order = np.random.default_rng(1).permutation(len(atoms))
    perm = atoms[order]
    perm.calc = pot.calculator()
    assert perm.get_potential_energy() == pytest.approx(e0, abs=1e-9)
    assert np.allclose(perm.get_forces(), f0[order], atol=1e-9)
    rot = random_rotation(2)
    turned = atoms.copy()
    turned.set_cell(atoms.cell @ rot.T, scale_atoms=False)
    turned.positions = atoms.positions @ rot.T
    turned.calc = pot.calculator()
    assert turned.get_potential_energy() == pytest.approx(e0, abs=1e-9)
    assert np.allclose(turned.get_forces(), f0 @ rot.T, atol=1e-9)
    # two clusters far apart: energies add
    cluster = Atoms("Cu3Ni" if name != "eam1" else "Cu4",
                    positions=[[0, 0, 0], [2.5, 0, 0], [0, 2.6, 0], [1.2, 1.2, 2.0]])
    far = cluster.copy()
    far.translate([20, 0, 0])
    both = cluster + far
    energies = []
    for a in (cluster, far, both):
        a.calc = pot.calculator()
        energies.append(a.get_potential_energy())
    assert energies[2] == pytest.approx(energies[0] + energies[1], abs=1e-10)


def labelled(pot, n=24, species=("Cu",), seed=0):
    frames = []
    for atoms in rattled_cells(n, seed, species):
        atoms.calc = pot.calculator()
        atoms.get_potential_energy()
        atoms.get_forces()
        atoms.get_stress()
        frames.append(atoms)
    return Dataset.from_frames(frames, cutoff=5.0)


@pytest.mark.parametrize("name", sorted(POTENTIALS))
def test_grid_loss_matches_exact_loss(name):
    pot = POTENTIALS[name]()
    ds = labelled(pot, n=9, species=pot.species)
    eam = pot.form == "eam"
    loss = ManyBodyLoss(ds, CUTOFF, pot.species, eam, grid_size=400, force_weight=0.01, stress_weight=1e-4)
    terms = ManyBodyTerms([[p] for p in pot.pair], list(pot.density) if eam else None,
                          [[p] for p in pot.embedding] if eam else None)
    grid = loss.score_one(terms)
    exact = exact_fit(terms, loss.exact, pot.species, atom_species_index(loss.dataset, pot.species))
    assert grid.loss < 1e-12 and exact.loss < 1e-16  # the true form: coefficients 1, exact references
    np.testing.assert_allclose(exact.coefficients, 1.0, rtol=1e-9)
    np.testing.assert_allclose(grid.coefficients, 1.0, rtol=1e-4)
    np.testing.assert_allclose(exact.reference, [pot.reference_energies[s] for s in pot.species], atol=1e-8)
    # a wrong form: grid and exact losses agree
    wrong = ManyBodyTerms([[P(R**-7)] for _ in pot.pair], [P(R**-5)] * len(pot.pair) if eam else None,
                          [[P(R**2), P(R)] for _ in pot.species] if eam else None)
    g, e = loss.score_one(wrong).loss, exact_fit(wrong, loss.exact, pot.species,
                                                 atom_species_index(loss.dataset, pot.species)).loss
    assert g == pytest.approx(e, rel=1e-4)


def test_half_list_counts_each_pair_once():
    ds = labelled(sutton_chen(), n=3)
    half = half_list(ds)
    assert 2 * len(half) == ds.n_pairs
    key = {(int(i), int(j), *np.round(d, 6)) for i, j, d in zip(ds.pair_i, ds.pair_j, ds.pair_vector)}
    for p in half:
        assert (int(ds.pair_j[p]), int(ds.pair_i[p]), *np.round(-ds.pair_vector[p], 6)) in key


def test_invalid_candidates_get_infinite_loss():
    ds = labelled(sutton_chen(), n=6)
    loss = ManyBodyLoss(ds, CUTOFF, ("Cu",), True, force_weight=0.01)
    bad_f = ManyBodyTerms([[P(R**-9)]], [P(-R**-6)], [[P(sympy.sqrt(R))]])  # sqrt of negative density
    pole = ManyBodyTerms([[P(1 / (R - 2.7))]], [P(R**-6)], [[P(sympy.sqrt(R))]])
    # finite columns whose squares overflow (a huge embedding term): no warning, infinite loss
    huge = ManyBodyTerms([[P(R**-9)]], [P(R**-6)], [[P(1e200 * R)]])
    for terms in (bad_f, pole, huge):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert loss.score_one(terms).loss == np.inf
            res, _ = loss.residuals(terms)
        assert np.all(np.isfinite(res))


def test_projected_solve_equals_a_dense_least_squares():
    """The loss's solve (reference columns projected out once, QR of the candidate's columns)
    gives the loss, coefficients and reference energies of lstsq on all columns together."""
    ds = labelled(sutton_chen(), n=6)
    loss = ManyBodyLoss(ds, CUTOFF, ("Cu",), True, force_weight=0.01, stress_weight=1e-3)
    columns = loss.design(ManyBodyTerms([[P(R**-9), P(R**-4)]], [P(R**-6)], [[P(-sympy.sqrt(R)), P(R**2)]]))
    design = np.hstack([columns, loss.reference_columns])
    full, *_ = np.linalg.lstsq(design, loss.target, rcond=None)
    dense = float(np.sum((design @ full - loss.target) ** 2))
    sol = loss._solve(columns, keep_residuals=True)
    assert sol.loss == pytest.approx(dense, rel=1e-9) and sol.loss < 0.01 * loss.baseline
    np.testing.assert_allclose(np.concatenate([sol.coefficients, sol.reference]), full, rtol=1e-6)
    assert float(sol.residuals @ sol.residuals) == pytest.approx(dense, rel=1e-9)
    # a column inside the references' span (a constant F: N_atoms x c) changes nothing
    both = np.column_stack([columns, 3.0 * loss.reference_columns[:, 0]])
    same = loss._solve(both)
    assert same.loss == pytest.approx(dense, rel=1e-9)
    assert abs(same.coefficients[-1]) < 1e-8 and same.reference == pytest.approx(sol.reference, rel=1e-8)


def test_grid_densities_equal_the_exact_ones():
    """ManyBodyLoss.densities (Hermite grid, half pair list) against predict_manybody's rho."""
    ds = labelled(sutton_chen(), n=6)
    loss = ManyBodyLoss(ds, CUTOFF, ("Cu",), True, force_weight=0.01)
    g = P(sympy.exp(-R) * (1 + R))
    rho = loss.densities([g])
    exact = predict_manybody([P(R**-9)], [g], [P(-sympy.sqrt(R))], CUTOFF, ds, loss.atom_species)[3]
    assert rho.shape == exact.shape and np.all(exact > 0)
    np.testing.assert_allclose(rho, exact, rtol=1e-6)
    with pytest.raises(ValueError, match="not finite"):
        loss.densities([P(1 / (R - 3))])


def test_embedding_terms_that_explode_above_the_data_are_rejected():
    """|f| may grow at most 1.2**20-fold over the 20 % of densities above the data's largest:
    rho**24 (or exp(40 rho)) fits any training set but gives nonsense just above it."""
    ds = labelled(sutton_chen(), n=6)
    loss = ManyBodyLoss(ds, CUTOFF, ("Cu",), True, force_weight=0.01)
    pair, density = [[P(R**-9)]], [P(R**-6)]
    for f in (R**16, R**8 - R**2, sympy.exp(10 * R), -sympy.sqrt(R)):
        assert np.isfinite(loss.score_one(ManyBodyTerms(pair, density, [[P(-sympy.sqrt(R)), P(f)]])).loss), f
    rho_max = float(loss.densities(density).max())
    for f in (R**24, sympy.exp(40 * R / rho_max), R**2 + R**40 / rho_max**38):
        assert loss.score_one(ManyBodyTerms(pair, density, [[P(-sympy.sqrt(R)), P(f)]])).loss == np.inf, f


def test_sutton_chen_template_recovers_the_potential_exactly():
    truth = sutton_chen()
    ds = labelled(truth)
    est = SymbolicPotential(form="sutton-chen", force_weight=0.01, stress_weight=1e-4).fit(ds)
    best = est.get_best()
    assert best.metrics["train"]["energy_rmse_meV_per_atom"] < 1e-6
    test = labelled(truth, n=9, seed=7)
    pred = best.predict(test)[0]
    assert np.max(np.abs(pred - test.energies) / test.n_atoms) < 1e-7


def test_finnis_sinclair_template_recovers_a_finnis_sinclair_potential():
    """FS with its knots at the cutoff (c = d = 5 Å, so no step is needed): LM finds d, beta and A."""
    phi = (R - 5) ** 2 * (1.2 - 0.55 * R + 0.07 * R**2)
    g = (R - 5) ** 2 + 0.3 * (R - 5) ** 3 / 5
    truth = ManyBodyPotential(("Cu",), [P(phi)], [P(g)], [P(-1.1 * sympy.sqrt(R))], CUTOFF, {"Cu": -3.0})
    ds, test = labelled(truth, n=24), labelled(truth, n=12, seed=1)
    best = SymbolicPotential(form="finnis-sinclair", force_weight=0.0, time_limit=None, generations=0,
                             seed=0).fit(ds).get_best()
    pred = best.predict(test)[0]
    assert np.sqrt(np.mean(((pred - test.energies) / test.n_atoms) ** 2)) < 1e-6  # eV/atom; spread ~1.3 eV


def test_eam_search_recovers_sutton_chen_on_held_out_structures():
    """--form eam, seeded with Lennard-Jones (not the truth): evolution finds the many-body form.

    One population of 60 finds it within 40 generations for some seeds only (measured
    2026-12-07: seeds 2 and 3 yes, 0 and 1 no, and 0 not with 80 generations either; on the
    previous machine seed 0 did), so the search runs four islands (seeds 0-3, migration every
    10 generations, two worker processes), as a real run would. Seeds 0, 1 and 4 of this
    set-up all recovered it exactly."""
    truth = sutton_chen()
    ds = labelled(truth, n=30)
    est = SymbolicPotential(form="eam", seed_forms=("lj",), generations=40, time_limit=None, population=60,
                            force_weight=0.01, target_rmse=1e-3, seed=0, islands=4, workers=2,
                            migration_interval=10).fit(ds)
    best = est.get_best()
    test = labelled(truth, n=12, seed=11)
    pred = best.predict(test)[0]
    assert np.mean(np.abs(pred - test.energies) / test.n_atoms) < 1e-4  # 0.1 meV/atom


def test_pair_templates_fit_their_own_data():
    lj = P(4 * 0.4 * ((2.3 / R) ** 12 - (2.3 / R) ** 6))
    truth = ManyBodyPotential(("Cu",), [lj], None, None, CUTOFF, {"Cu": -0.5}, form="pair")
    ds = labelled(truth, n=12)
    for form in ("lj", "morse", "buckingham"):
        est = SymbolicPotential(form=form, force_weight=0.01, template_starts=4).fit(ds)
        rmse = est.get_best().metrics["train"]["energy_rmse_meV_per_atom"]
        if form == "lj":
            assert rmse < 1e-6
        assert np.isfinite(rmse)


def test_templates_build_genomes_for_every_layout():
    for name in TEMPLATE_NAMES:
        for n_species in (1, 2):
            trees = template_genome(name, n_species, True, 5.0)
            assert len(trees) == 2 * n_species * (n_species + 1) // 2 + n_species


def test_two_species_eam_search_runs_end_to_end(tmp_path):
    truth = two_species_eam()
    ds = labelled(truth, n=12, species=("Cu", "Ni"))
    est = SymbolicPotential(form="eam", seed_forms=("sutton-chen",), generations=3, population=20,
                            force_weight=0.01).fit(ds)
    best = est.get_best()
    assert best.species == ("Cu", "Ni") and best.form == "eam"
    best.to_json(tmp_path / "best.json")
    again = load_potential(tmp_path / "best.json")
    assert np.allclose(again.predict(ds)[0], best.predict(ds)[0], rtol=1e-12)


def test_eam_beats_pair_on_emt_copper():
    """EMT is many-body: EAM's test energy RMSE is at least 3x lower than the best pair form's."""
    from ase.calculators.emt import EMT

    def emt_data(n, seed):
        rng = np.random.default_rng(seed)
        frames = []
        for k in range(n):
            kind, a = [("fcc", 3.6), ("bcc", 2.87), ("sc", 2.4), ("fcc", 3.6)][k % 4]
            atoms = bulk("Cu", kind, a=a * (1 + 0.05 * rng.normal()), cubic=True).repeat(2)
            if k % 4 == 3:
                del atoms[0]  # a vacancy: coordination changes
            atoms.rattle(0.06, seed=k + 1000 * seed)
            atoms.calc = EMT()
            atoms.get_potential_energy()
            atoms.get_forces()
            frames.append(atoms)
        return Dataset.from_frames(frames, cutoff=5.0)

    train, test = emt_data(32, 0), emt_data(16, 1)
    # best is chosen on held-out structures: without that, an EAM that fits the training set
    # to 0.8 meV/atom with 72 nodes was picked once and extrapolated badly (42 meV/atom)
    common = dict(force_weight=0.0, time_limit=None, generations=25, population=80, seed=0, validation_fraction=0.2)
    pair = SymbolicPotential(form="pair", **common).fit(train).get_best()
    eam = SymbolicPotential(form="eam", seed_forms=("sutton-chen",), **common).fit(train).get_best()

    def rmse(pot):
        return np.sqrt(np.mean(((pot.predict(test)[0] - test.energies) / test.n_atoms) ** 2))

    assert 3 * rmse(eam) <= rmse(pair)


def test_cli_eam_run_resume_export_and_validate(tmp_path):
    truth = sutton_chen()
    ds = labelled(truth, n=10)
    from ase.io import write

    data = tmp_path / "data.extxyz"
    write(data, ds.frames)
    run = tmp_path / "run"
    assert main(["evolve", str(data), "--cutoff", "5", "--form", "eam", "--generations", "2", "--population", "16",
                 "--force-weight", "0.01", "--out", str(run), "--quiet", "--no-report"]) == 0
    best = json.loads((run / "best.json").read_text())
    assert best["form"] == "eam" and "F_Cu" in best["functions"]
    assert main(["evolve", "--resume", str(run), "--generations", "2", "--quiet", "--no-report"]) == 0
    history = (run / "history.csv").read_text().splitlines()
    assert int(history[-1].split(",")[0]) >= 4
    assert main(["validate", str(run), str(data)]) == 0


def test_cli_rejects_unknown_form_and_seed_form(tmp_path, capsys):
    for args in (["--form", "tersoff"], ["--seed-forms", "lj,nonsense"]):
        assert main(["evolve", "--demo", "lj", "--generations", "1", "--out", str(tmp_path / "x"), *args]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "Traceback" not in err[0]
        assert not (tmp_path / "x").exists()


def test_batched_search_reports_the_whole_set_front():
    truth = sutton_chen()
    ds = labelled(truth, n=16)
    est = SymbolicPotential(form="eam", seed_forms=("lj",), generations=4, population=24, force_weight=0.01,
                            batch_fraction=0.25).fit(ds)
    search = est.search_
    assert search.full_evaluations > 0 and search.full_hall is search.final_hall()
    full = ManyBodyLoss(ds, CUTOFF, ("Cu",), True, force_weight=0.01)
    for cand in search.final_hall().front():  # front losses are whole-set losses, not the batch's
        assert cand.loss == pytest.approx(full.score_one(cand.terms).loss, rel=1e-9)
    with pytest.raises(Exception, match="batch fraction"):
        SymbolicPotential(form="eam", batch_fraction=1.5, generations=1).fit(ds)


def test_search_dimer_energy_equals_the_potentials():
    """The hall of fame's core check (search side) sees the dimer energy of the same potential."""
    from symbpot.gp.engine import combine_terms
    from symbpot.gp.manybody_search import ManyBodySearch

    truth = sutton_chen()
    ds = labelled(truth, n=12)
    est = SymbolicPotential(form="eam", seed_forms=("sutton-chen",), generations=3, time_limit=None,
                            population=16, seed=0).fit(ds)
    search = est.search_
    r_min = search.loss_model.r_min
    r = np.linspace(0.5 * r_min, r_min, 64)
    front = search.final_hall().front()
    assert front
    for cand in front:
        u, du = ManyBodySearch.dimer_energy(cand, r, search.loss_model)
        n = len(cand.terms.pair[0])
        pot = ManyBodyPotential(("Cu",), [combine_terms(cand.terms.pair[0], cand.coefficients[:n])],
                                list(cand.terms.density),
                                [combine_terms(cand.terms.embedding[0], cand.coefficients[n:])], CUTOFF,
                                {"Cu": 0.0})
        u2, du2 = pot.dimer_energy(r)
        assert np.allclose(u, u2, rtol=1e-9, atol=1e-12) and np.allclose(du, du2, rtol=1e-9, atol=1e-12)
        # the front holds members with a repulsive core only (with the search's coefficients;
        # the exact refit of the final potential can move a borderline member across)
        assert np.all(u2 > 0) and np.all(du2 < 0)


def _potential_of(cand, species):
    """The ManyBodyPotential of a scored search candidate (the search's coefficients)."""
    from symbpot.gp.engine import combine_terms

    coef, pos, pair, embed = np.asarray(cand.coefficients), 0, [], []
    for programs in cand.terms.pair:
        pair.append(combine_terms(programs, coef[pos:pos + len(programs)]))
        pos += len(programs)
    for programs in cand.terms.embedding:
        embed.append(combine_terms(programs, coef[pos:pos + len(programs)]))
        pos += len(programs)
    return ManyBodyPotential(species, pair, list(cand.terms.density), embed, CUTOFF, {s: 0.0 for s in species})


@pytest.mark.parametrize("a,b", [(0, 0), (0, 1), (1, 0), (1, 1)])
def test_dimer_energy_is_the_energy_of_two_atoms(a, b):
    """dimer_energy(r, a, b) is what the calculator gives for an isolated a-b pair, less the references."""
    pot = two_species_eam()
    r = np.array([1.9, 2.3, 2.9, 4.4])
    u, du = pot.dimer_energy(r, a, b)
    symbols = [pot.species[a], pot.species[b]]
    for k, d in enumerate(r):
        atoms = Atoms(symbols, positions=[[1, 1, 1], [1 + d, 1, 1]], cell=[20, 20, 20], pbc=False)
        atoms.calc = pot.calculator()
        want = atoms.get_potential_energy() - pot.reference_energies[symbols[0]] - pot.reference_energies[symbols[1]]
        assert u[k] == pytest.approx(want, rel=1e-10, abs=1e-12)
        # U' is minus the force on the second atom along the bond
        assert du[k] == pytest.approx(-atoms.get_forces()[1, 0], rel=1e-8, abs=1e-10)


def test_repulsive_core_checks_every_species_pair():
    """An alloy whose A-B dimer collapses is not physical, even if A-A and B-B are."""
    from symbpot.estimator import repulsive_core
    from symbpot.fitness.manybody import core_radii

    good = two_species_eam()
    radii = {(0, 0): 1.2, (0, 1): 1.25, (1, 1): 1.3}  # its dimers turn attractive near 1.6 Å
    assert repulsive_core(good, radii) and repulsive_core(good, 1.2)
    assert not repulsive_core(good, 2.0)
    bad = two_species_eam()
    bad.pair[1] = P(-800 * R**-9)  # Cu-Ni: attractive without bound at short range
    assert bad.dimer_energy(np.array([1.0]), 0, 0)[0][0] > 0  # Cu-Cu and Ni-Ni still repulsive
    assert not repulsive_core(bad, radii) and not repulsive_core(bad, 1.2)
    # the radii are the shortest distance of each species pair in the data
    ds = labelled(good, n=3, species=good.species)
    got = core_radii(ds, good.species)
    assert set(got) == {(0, 0), (0, 1), (1, 1)}
    assert min(got.values()) == pytest.approx(ds.pair_distance.min())


def test_search_core_check_sees_every_species_pair():
    """Search-side dimer energies of a two-species search equal the potential's for AA, AB and BB;
    and the front holds members whose three dimers all have a repulsive core."""
    from symbpot.gp.manybody_search import ManyBodySearch

    truth = two_species_eam()
    ds = labelled(truth, n=9, species=truth.species)
    est = SymbolicPotential(form="eam", seed_forms=("sutton-chen",), generations=3, population=20, seed=1,
                            time_limit=None).fit(ds)
    search = est.search_
    checks = search.dimer_checks(search.loss_model)
    assert [args for _, args in checks] == [(0, 0), (0, 1), (1, 1)]
    front = search.final_hall().front()
    assert front
    for cand in front:
        pot = _potential_of(cand, truth.species)
        for r, (a, b) in checks:
            u, du = ManyBodySearch.dimer_energy(cand, r, search.loss_model, a, b)
            u2, du2 = pot.dimer_energy(r, a, b)
            assert np.allclose(u, u2, rtol=1e-9, atol=1e-12) and np.allclose(du, du2, rtol=1e-9, atol=1e-12)
            assert np.all(u > 0) and np.all(du < 0)
