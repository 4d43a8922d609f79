"""Levenberg-Marquardt refinement of a candidate's constants, in numpy.

Why not ``scipy.optimize.least_squares(method="lm")``: scipy's MINPACK (1.17) reads 8
bytes past the end of its Jacobian when it takes column norms (valgrind memcheck:
"Invalid read of size 8" in ``enorm`` called from ``qrfac``), so on an ill-conditioned
problem the steps it proposes can depend on whatever lies next to the Jacobian in memory.
Two runs with the same seed then parted (see ``runs/benchmarks/README.md``). This solver
is a plain numpy loop over at most a dozen constants; the residual evaluations dominate
its cost, as they did in scipy's.

The method is MINPACK's in outline: forward-difference Jacobian (scipy's step,
sqrt(eps) * max(1, |x|)), Marquardt's scaling of the parameters by the running maximum of
the Jacobian's column norms (scipy's ``x_scale="jac"``), each damped step solved through
the QR factors of the Jacobian, and the same three stopping tests (``ftol``, ``xtol``,
``gtol``). The damping parameter follows Nielsen's update instead of MINPACK's trust-region
radius. It also works with fewer residuals than constants (the damping keeps the step
defined). As in scipy's ``least_squares(method="lm")`` with a finite-difference Jacobian,
the budget ``max_nfev`` counts the evaluations at trial points, not the Jacobian's.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

_EPS = np.finfo(float).eps


@dataclass
class FitResult:
    """Outcome of :func:`levenberg_marquardt`."""

    x: np.ndarray
    cost: float      # half the sum of squared residuals at x
    nfev: int        # all residual evaluations, the Jacobian's included
    njev: int        # forward-difference Jacobians (n evaluations each)
    status: str      # why it stopped: ftol, xtol, gtol, max_nfev, jacobian, start


def levenberg_marquardt(fun: Callable[[np.ndarray], np.ndarray], x0, max_nfev: int,
                        ftol: float = 1e-8, xtol: float = 1e-8, gtol: float = 1e-8,
                        damping: float = 1e-3) -> FitResult:
    """Minimise ``0.5 * sum(fun(x)**2)`` from ``x0``.

    Parameters
    ----------
    fun
        Residual vector of a parameter vector. A non-finite residual marks a point as worse
        than any finite one (the step is rejected and the damping raised).
    x0
        Start point (finite).
    max_nfev
        Budget of residual evaluations at the start and trial points; each Jacobian costs n
        more, which are not counted (scipy's convention for ``lm``).
    ftol, xtol, gtol
        Stop when an accepted step that did at least a quarter of its predicted work lowers the
        cost by less than ``ftol`` relatively (both actually and as predicted), when the scaled step is below ``xtol`` relative to the scaled x, or
        when the cosine between the residuals and every Jacobian column is below ``gtol``.
    damping
        Initial damping, relative to the scaled squared column norms (which are 1).

    Returns
    -------
    FitResult
        ``x`` is the best point found; it is never worse than ``x0``.
    """
    x = np.array(x0, dtype=float)
    n = x.size
    f = np.asarray(fun(x), dtype=float)
    nfev = 1
    cost = 0.5 * float(f @ f)
    if not np.isfinite(cost):
        return FitResult(x, cost, nfev, 0, "start")
    scale = np.zeros(n)
    lam, nu = damping, 2.0
    status = "max_nfev"
    trials, njev = 1, 0
    while trials < max_nfev:
        jac = np.empty((f.size, n))
        steps = np.sqrt(_EPS) * np.where(x < 0, -1.0, 1.0) * np.maximum(1.0, np.abs(x))
        for j in range(n):
            xh = x.copy()
            xh[j] += steps[j]
            jac[:, j] = (np.asarray(fun(xh), dtype=float) - f) / (xh[j] - x[j])
        nfev += n
        njev += 1
        if not np.all(np.isfinite(jac)):
            status = "jacobian"
            break
        norms = np.sqrt(np.einsum("ij,ij->j", jac, jac))
        scale = np.maximum(scale, norms)
        scale[scale == 0] = 1.0
        gradient = jac.T @ f
        fnorm = np.sqrt(2.0 * cost)
        if fnorm == 0 or np.all(np.abs(gradient) <= gtol * np.where(norms > 0, norms, 1.0) * fnorm):
            status = "gtol"
            break
        q, r = np.linalg.qr(jac)          # jac = q r; r is min(m, n) x n
        qtf = q.T @ f
        rest = max(2.0 * cost - float(qtf @ qtf), 0.0)  # part of |f|^2 no step can remove
        while trials < max_nfev:
            a = np.vstack([r, np.diag(np.sqrt(lam) * scale)])
            b = np.concatenate([-qtf, np.zeros(n)])
            p = np.linalg.lstsq(a, b, rcond=None)[0]
            lin = r @ p + qtf
            predicted = cost - 0.5 * (float(lin @ lin) + rest)
            x_new = x + p
            f_new = np.asarray(fun(x_new), dtype=float)
            nfev += 1
            trials += 1
            cost_new = 0.5 * float(f_new @ f_new)
            scaled_step = float(np.linalg.norm(scale * p))
            small_step = scaled_step <= xtol * (float(np.linalg.norm(scale * x)) + xtol)
            if np.isfinite(cost_new) and cost_new < cost:
                rho = (cost - cost_new) / predicted if predicted > 0 else 0.0
                small_gain = cost - cost_new <= ftol * cost and predicted <= ftol * cost and rho > 0.25
                x, f, cost = x_new, f_new, cost_new
                if small_gain or small_step:
                    return FitResult(x, cost, nfev, njev, "ftol" if small_gain else "xtol")
                lam *= max(1.0 / 3.0, 1.0 - (2.0 * rho - 1.0) ** 3)
                nu = 2.0
                break
            if small_step:
                return FitResult(x, cost, nfev, njev, "xtol")
            lam *= nu
            nu *= 2.0
    return FitResult(x, cost, nfev, njev, status)
