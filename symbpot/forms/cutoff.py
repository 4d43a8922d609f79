"""Cutoff treatments of a pair function V(r): hard, shifted, smooth.

The pair energy actually used is U(r) for r < rc and 0 beyond, with

* ``hard``:   U = V (truncation, as plain Lennard-Jones sums do);
* ``shift``:  U = V - V(rc) (value continuous at rc, force not);
* ``smooth``: U = V * S(r), where S = 1 for r <= rc - w and
  S = t^3 (10 - 15 t + 6 t^2), t = (rc - r) / w, inside the window: U, U' and U''
  all go to zero at rc. S is part of the emitted closed form.

Every treatment is linear in V, which keeps the fitness linear in the outer
coefficients of a candidate.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy

from ..errors import ConfigError
from ..expr.registry import R

STYLES = ("hard", "shift", "smooth")
DEFAULT_WIDTH = 1.0  # Å


@dataclass(frozen=True)
class Cutoff:
    """A cutoff radius with its treatment.

    Parameters
    ----------
    radius : float
        Cutoff radius rc in Å.
    style : {"hard", "shift", "smooth"}
    width : float
        Width w in Å of the smoothing window (``smooth`` only); at most rc.
    """

    radius: float
    style: str = "smooth"
    width: float = DEFAULT_WIDTH

    def __post_init__(self):
        if self.style not in STYLES:
            raise ConfigError(f"unknown cutoff style {self.style!r} (choose from {', '.join(STYLES)})")
        if not (np.isfinite(self.radius) and self.radius > 0):
            raise ConfigError(f"cutoff must be a positive number of Å, got {self.radius!r}")
        if self.style == "smooth" and not (0 < self.width <= self.radius):
            raise ConfigError(f"cutoff width must be in (0, {self.radius}] Å, got {self.width!r}")

    @property
    def needs_value_at_cutoff(self) -> bool:
        return self.style == "shift"

    def switch(self, r):
        """S(r), dS/dr and d2S/dr2 (ones and zeros unless the style is smooth)."""
        r = np.asarray(r, dtype=float)
        s = np.ones_like(r)
        s1 = np.zeros_like(r)
        s2 = np.zeros_like(r)
        if self.style == "smooth":
            w = self.width
            inside = r > self.radius - w
            t = np.clip((self.radius - r[inside]) / w, 0.0, 1.0)
            s[inside] = t**3 * (10 - 15 * t + 6 * t**2)
            s1[inside] = -(30 * t**2 * (1 - t) ** 2) / w
            s2[inside] = (60 * t - 180 * t**2 + 120 * t**3) / w**2
        return s, s1, s2

    def apply(self, r, v, d1, d2=None, v_at_cutoff=None):
        """U, U' (and U'' if ``d2`` is given) from V, V', V'' at the distances ``r``.

        ``v`` etc. may be 2-d (programs x points) with ``r`` along the last axis;
        ``v_at_cutoff`` (one value per program) is required for ``shift``.
        """
        if self.style == "hard":
            return (v, d1) if d2 is None else (v, d1, d2)
        if self.style == "shift":
            if v_at_cutoff is None:
                raise ValueError("shift cutoff needs V(rc)")
            u = v - np.asarray(v_at_cutoff)[..., None] if np.ndim(v) > 1 else v - v_at_cutoff
            return (u, d1) if d2 is None else (u, d1, d2)
        s, s1, s2 = self.switch(r)
        u = v * s
        u1 = d1 * s + v * s1
        if d2 is None:
            return u, u1
        return u, u1, d2 * s + 2 * d1 * s1 + v * s2

    def sympy(self, v: sympy.Expr, symbol: sympy.Symbol = R) -> sympy.Expr:
        """The full pair energy for r < rc as a closed form in ``symbol``."""
        rc = sympy.Float(self.radius, 15)
        if self.style == "hard":
            return v
        if self.style == "shift":
            return v - v.subs(symbol, rc)
        w = sympy.Float(self.width, 15)
        t = (rc - symbol) / w
        switch = t**3 * (10 - 15 * t + 6 * t**2)
        return sympy.Piecewise((v, symbol <= rc - w), (v * switch, True))

    def to_dict(self) -> dict:
        return {"cutoff": self.radius, "cutoff_style": self.style, "cutoff_width": self.width}
