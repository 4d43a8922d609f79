"""The numpy Levenberg-Marquardt solver used to refine constants (symbpot.fitness.refine)."""
import numpy as np
import pytest
from scipy.optimize import least_squares

from symbpot.fitness.refine import levenberg_marquardt

T = np.linspace(0.0, 4.0, 300)


def decay_and_wave(p):
    return p[0] * np.exp(-p[1] * T) + p[2] * np.sin(p[3] * T) + p[4]


def rosenbrock(x):
    return np.array([10.0 * (x[1] - x[0] ** 2), 1.0 - x[0]])


def test_recovers_the_parameters_of_noise_free_data():
    truth = np.array([2.0, 1.3, 0.5, 2.2, 0.1])
    y = decay_and_wave(truth)
    sol = levenberg_marquardt(lambda p: decay_and_wave(p) - y, [1.0, 1.0, 1.0, 2.0, 0.0], max_nfev=300)
    np.testing.assert_allclose(sol.x, truth, rtol=1e-7, atol=1e-9)
    assert sol.cost < 1e-20
    assert sol.status in ("ftol", "xtol", "gtol")


def test_noisy_fit_is_as_good_as_scipys_minpack():
    y = decay_and_wave([2.0, 1.3, 0.5, 2.2, 0.1]) + 1e-3 * np.random.default_rng(1).normal(size=T.size)
    fun = lambda p: decay_and_wave(p) - y  # noqa: E731
    x0 = [1.0, 1.0, 1.0, 2.0, 0.0]
    ours = levenberg_marquardt(fun, x0, max_nfev=180)
    ref = least_squares(fun, x0, method="lm", x_scale="jac", max_nfev=180)
    assert ours.cost <= ref.cost * (1 + 1e-9)
    np.testing.assert_allclose(ours.x, ref.x, rtol=1e-5)


def test_rosenbrock_valley():
    sol = levenberg_marquardt(rosenbrock, [-1.2, 1.0], max_nfev=200)
    np.testing.assert_allclose(sol.x, [1.0, 1.0], atol=1e-10)


def test_the_budget_counts_trial_points_and_the_result_is_never_worse_than_the_start():
    x0 = np.array([-1.2, 1.0])
    start = 0.5 * np.sum(rosenbrock(x0) ** 2)
    calls = []

    def counted(x):
        calls.append(x.copy())
        return rosenbrock(x)

    sol = levenberg_marquardt(counted, x0, max_nfev=10)
    assert sol.status == "max_nfev"
    assert len(calls) == sol.nfev
    assert sol.nfev - 2 * sol.njev == 10  # the Jacobians' evaluations are not counted (as in scipy)
    assert sol.cost <= start
    assert sol.cost == pytest.approx(0.5 * np.sum(rosenbrock(sol.x) ** 2), rel=0, abs=0)


def test_fewer_residuals_than_constants():
    sol = levenberg_marquardt(lambda x: np.array([x[0] + 2.0 * x[1] - 3.0]), [0.0, 0.0], max_nfev=40)
    assert sol.cost < 1e-25


def test_steps_into_non_finite_residuals_are_rejected():
    # log(x) is nan for x < 0: a full Gauss-Newton step from 0.1 towards e^2 is fine, but from 50
    # it overshoots below zero; the solver must back off and still reach x = e^2.
    for x0 in (0.1, 50.0):
        with np.errstate(invalid="ignore"):
            sol = levenberg_marquardt(lambda x: np.array([np.log(x[0]) - 2.0]), [x0], max_nfev=200)
        assert sol.x[0] == pytest.approx(np.exp(2.0), rel=1e-8)
        assert np.isfinite(sol.cost)


def test_a_non_finite_start_or_jacobian_returns_the_start():
    sol = levenberg_marquardt(lambda x: np.array([np.inf, x[0]]), [1.0], max_nfev=50)
    assert sol.status == "start" and sol.x.tolist() == [1.0]
    # a residual that turns nan just above the start: the forward-difference column is nan
    sol = levenberg_marquardt(lambda x: np.array([1.0 if x[0] <= 1.0 else np.nan]), [1.0], max_nfev=50)
    assert sol.status == "jacobian" and sol.x.tolist() == [1.0]


def test_a_constant_without_effect_is_left_alone():
    # the second constant does not enter the residuals (a zero Jacobian column)
    sol = levenberg_marquardt(lambda x: np.array([x[0] - 1.0, 2.0 * x[0] - 2.0]), [5.0, 7.0], max_nfev=60)
    assert sol.x[0] == pytest.approx(1.0, abs=1e-12)
    assert sol.x[1] == 7.0


def test_same_input_same_bits():
    y = decay_and_wave([2.0, 1.3, 0.5, 2.2, 0.1]) + 1e-3 * np.random.default_rng(2).normal(size=T.size)
    runs = [levenberg_marquardt(lambda p: decay_and_wave(p) - y, [1.0, 1.0, 1.0, 2.0, 0.0], max_nfev=120)
            for _ in range(3)]
    assert all(r.x.tobytes() == runs[0].x.tobytes() and r.nfev == runs[0].nfev for r in runs)
