"""End-to-end search through the Python API: LJ recovery, determinism, splits, cutoffs."""
import numpy as np
import pytest
import sympy

from symbpot import Potential, SymbolicPotential
from symbpot.export import expression_size, parse
from symbpot.expr import R

from conftest import EPSILON, LJ_CUTOFF, SIGMA

A_TRUE = 4 * EPSILON * SIGMA**12
B_TRUE = 4 * EPSILON * SIGMA**6


def lj_coefficients(potential):
    """Fit a r^-12 - b r^-6 + c to the found V on a dense grid; return a, b, c and the misfit."""
    r = np.linspace(0.9 * SIGMA, LJ_CUTOFF, 400)
    v = potential.pair.evaluate(r)
    design = np.column_stack([r**-12, -(r**-6), np.ones_like(r)])
    (a, b, c), *_ = np.linalg.lstsq(design, v, rcond=None)
    misfit = np.max(np.abs(design @ [a, b, c] - v)) / np.max(np.abs(v))
    return a, b, c, misfit


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_recovers_lennard_jones(lj_dataset, seed):
    model = SymbolicPotential(cutoff_style="hard", seed=seed, time_limit=120, target_rmse=1e-4).fit(lj_dataset)
    best = model.get_best()
    a, b, c, misfit = lj_coefficients(best)
    assert misfit < 1e-7
    assert abs(a / A_TRUE - 1) < 1e-3
    assert abs(b / B_TRUE - 1) < 1e-3
    assert best.metrics["energy_rmse_meV_per_atom"] < 1e-3
    lj_size = expression_size(parse("43643.28/r**12 - 267.2/r**6 + 0.1"))
    assert expression_size(best.pair_function()) <= lj_size


def test_same_seed_same_front(lj_dataset):
    runs = [SymbolicPotential(cutoff_style="hard", seed=5, time_limit=None, generations=6,
                              population=60).fit(lj_dataset) for _ in range(2)]
    assert runs[0].equations_.to_csv() == runs[1].equations_.to_csv()
    other = SymbolicPotential(cutoff_style="hard", seed=6, time_limit=None, generations=6,
                              population=60).fit(lj_dataset)
    assert other.equations_.to_csv() != runs[0].equations_.to_csv()


def test_history_and_front_are_consistent(lj_dataset):
    model = SymbolicPotential(cutoff_style="hard", seed=3, time_limit=None, generations=5,
                              population=40).fit(lj_dataset)
    gens = [row["generation"] for row in model.history_]
    assert gens == list(range(6))
    losses = [row["best_loss"] for row in model.history_]
    assert all(b <= a for a, b in zip(losses, losses[1:]))  # the hall of fame never gets worse
    table = model.equations_
    complexities = table.column("complexity")
    assert complexities == sorted(complexities) and len(set(complexities)) == len(complexities)
    front_losses = table.column("loss")
    assert all(b < a for a, b in zip(front_losses, front_losses[1:]))
    # every front expression parses and reproduces its potential
    for row, pot in zip(table, model.front_):
        expr = parse(row["expression"])
        r = np.linspace(2.2, 5.0, 7)
        f = sympy.lambdify(R, expr)
        assert np.allclose(np.broadcast_to(f(r), r.shape), pot.pair.evaluate(r), rtol=1e-9, atol=1e-12)


def test_smooth_cutoff_and_validation(lj_dataset, tmp_path):
    model = SymbolicPotential(cutoff_style="smooth", cutoff_width=1.0, seed=0, time_limit=None, generations=8,
                              population=60, validation_fraction=0.25).fit(lj_dataset)
    best = model.get_best()
    assert best.metrics["judged_on"] == "validation"
    assert best.metrics["validation"]["n_structures"] == round(0.25 * len(lj_dataset))
    u, du = best.pair_energy(np.array([LJ_CUTOFF - 1e-9, LJ_CUTOFF]), order=1)
    assert abs(u[0]) < 1e-12 and abs(du[0]) < 1e-6 and u[1] == 0
    assert isinstance(best.sympy(), sympy.Piecewise)
    path = tmp_path / "best.json"
    best.to_json(path)
    again = Potential.from_json(path)
    atoms = lj_dataset.frames[0]
    assert again.energy(atoms) == pytest.approx(best.energy(atoms), rel=1e-13, abs=1e-12)
    # the closed form written to best.json is the same function as the program
    import json

    expr = parse(json.loads(path.read_text())["expression"])
    r = np.linspace(2.2, LJ_CUTOFF - 1e-6, 50)
    values = np.array([float(expr.subs(R, x)) for x in r[::7]])
    assert np.allclose(values, best.pair_energy(r[::7]), rtol=1e-9, atol=1e-12)


def test_best_rule_prefers_simplest_within_tolerance(lj_dataset):
    model = SymbolicPotential(cutoff_style="hard", seed=0, time_limit=120, target_rmse=1e-4).fit(lj_dataset)
    rmse = np.array([p.metrics["energy_rmse_meV_per_atom"] for p in model.front_])
    k = model.best_index_
    assert rmse[k] <= rmse.min() * 1.05 + 1e-3
    assert np.all(rmse[:k] > rmse.min() * 1.05 + 1e-3)


def test_max_nodes_limits_the_closed_form_of_best(lj_dataset):
    import warnings

    from symbpot.front import closed_form

    model = SymbolicPotential(cutoff_style="hard", seed=0, generations=25, population=60).fit(lj_dataset)
    sizes = np.array([closed_form(p)[0] for p in model.front_])
    rmse = np.array([p.metrics["energy_rmse_meV_per_atom"] for p in model.front_])
    free = model.best_index_
    assert sizes.min() < sizes[free], "the test needs a front member smaller than the unrestricted best"
    limit = int(sizes[free]) - 1
    model.max_nodes = limit
    k = model._best_index()
    allowed = sizes <= limit
    assert sizes[k] <= limit
    best_allowed = rmse[allowed].min()
    assert rmse[k] <= best_allowed * 1.05 + 1e-3
    # every simpler allowed member is outside the tolerance (the simplest within it is chosen)
    assert np.all(rmse[:k][allowed[:k]] > best_allowed * 1.05 + 1e-3)
    # no member small enough: fall back to the whole front, with a warning
    model.max_nodes = int(sizes.min()) - 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert model._best_index() == free
    assert any("at most" in str(w.message) for w in caught)


@pytest.mark.parametrize("bad", [0, -3, 2.5])
def test_max_nodes_must_be_a_positive_integer(lj_dataset, bad):
    from symbpot import ConfigError

    with pytest.raises(ConfigError, match="max nodes"):
        SymbolicPotential(max_nodes=bad).check(lj_dataset)


def test_hall_of_fame_keeps_a_physical_member_of_every_complexity():
    from symbpot.gp.engine import Candidate, HallOfFame

    def cand(name, loss, complexity):
        return Candidate(None, name, loss, complexity, [], np.zeros(0))

    physical = {"a", "c", "e"}
    hall = HallOfFame(checker=lambda c: c.key in physical)
    for c in (cand("b", 1.0, 3), cand("a", 2.0, 3), cand("d", 0.5, 5), cand("c", 0.8, 5), cand("x", 0.1, 5),
              cand("e", 0.05, 9)):
        hall.update(c)
    # a physical member takes the place from an unphysical one whatever the losses; among
    # physical members the lower loss wins; unphysical ones never displace a physical one
    assert {k: c.key for k, c in hall.best.items()} == {3: "a", 5: "c", 9: "e"}
    assert [c.key for c in hall.front()] == ["a", "c", "e"]
    # without any physical member the front is the plain one
    plain = HallOfFame(checker=lambda c: False)
    for c in (cand("b", 1.0, 3), cand("d", 0.5, 5), cand("x", 0.7, 7)):
        plain.update(c)
    assert [c.key for c in plain.front()] == ["b", "d"]


def test_every_front_member_of_a_pair_search_has_a_repulsive_core(lj_dataset):
    model = SymbolicPotential(cutoff_style="smooth", seed=3, generations=15, population=60).fit(lj_dataset)
    assert len(model.front_) >= 2
    assert all(p.metrics["repulsive_core"] for p in model.front_)
