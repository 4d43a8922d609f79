"""Physics-informed templates: fixed trees whose constants are fitted.

Every template is written with the search's own operators, so that it can be fitted
alone (``form="lj"`` etc.: Levenberg-Marquardt on its inner constants from several
starts, outer coefficients and reference energies by linear least squares) or seed the
GP population (``seed_forms``). Outer coefficients (one per term) are free, so

* ``lj``: a r^-12 + b r^-6 (Lennard-Jones: a = 4 eps sigma^12, b = -4 eps sigma^6);
* ``morse``: a exp(-2 alpha r) + b exp(-alpha r) (Morse: a = D e^{2 alpha r0}, b = -2 D e^{alpha r0});
* ``buckingham``: a exp(-r / rho) + b r^-6;
* ``finnis-sinclair`` (EAM): phi = (r - c)^2 (a0 + a1 r + a2 r^2), g = (r - d)^2 + beta (r - d)^3,
  F = -A sqrt(rho) (Finnis and Sinclair 1984; each term has its own c);
* ``sutton-chen`` (EAM): phi = eps (a/r)^9, g = (a/r)^6, F = -c eps sqrt(rho) (Sutton and
  Chen 1990, n = 9, m = 6 as for Cu).

With several species each species pair gets its own copy of the pair (and density)
tree and each species its own embedding tree; constants start equal and are fitted
separately. Every function is multiplied by the run's cutoff function.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError
from ..expr.program import CONST, VAR


def _r():
    return [(VAR, 0.0)]


def _c(value: float):
    return [(CONST, float(value))]


def _op(name: str, *children):
    out = [(name, 0.0)]
    for child in children:
        out.extend(child)
    return out


def _sum(*terms):
    out = [("add", 0.0)] * (len(terms) - 1)
    for t in terms:
        out.extend(t)
    return out


def _inv_pow(n: int):
    """r^-n for n in (6, 9, 12) with the search's operators (inv, square, cube)."""
    inner = {6: _op("cube", _op("square", _r())), 9: _op("cube", _op("cube", _r())),
             12: _op("cube", _op("square", _op("square", _r())))}[n]
    return _op("inv", inner)


@dataclass(frozen=True)
class Template:
    name: str
    many_body: bool
    pair: tuple
    density: tuple | None = None
    embedding: tuple | None = None
    reference: str = ""


def _make_templates(rc: float = 5.0) -> dict:
    alpha = 1.4
    out = {
        "lj": Template("lj", False, tuple(_sum(_inv_pow(12), _inv_pow(6))), reference="Lennard-Jones 1924"),
        "morse": Template("morse", False, tuple(_sum(_op("square", _op("exp", _op("mul", _c(-alpha), _r()))),
                                                      _op("exp", _op("mul", _c(-alpha), _r())))),
                          reference="Morse 1929"),
        "buckingham": Template("buckingham", False, tuple(_sum(_op("exp", _op("mul", _c(-3.0), _r())), _inv_pow(6))),
                               reference="Buckingham 1938"),
        "finnis-sinclair": Template(
            "finnis-sinclair", True,
            tuple(_sum(_op("square", _op("sub", _r(), _c(rc))),
                       _op("mul", _op("square", _op("sub", _r(), _c(rc))), _r()),
                       _op("mul", _op("square", _op("sub", _r(), _c(rc))), _op("square", _r())))),
            tuple(_sum(_op("square", _op("sub", _r(), _c(rc))),
                       _op("mul", _c(0.1), _op("cube", _op("sub", _r(), _c(rc)))))),
            tuple(_op("sqrt", _r())), reference="Finnis and Sinclair 1984"),
        "sutton-chen": Template("sutton-chen", True, tuple(_inv_pow(9)), tuple(_inv_pow(6)), tuple(_op("sqrt", _r())),
                                reference="Sutton and Chen 1990"),
    }
    return out


TEMPLATE_NAMES = tuple(_make_templates())


def template(name: str, cutoff: float = 5.0) -> Template:
    templates = _make_templates(cutoff)
    if name not in templates:
        raise ConfigError(f"unknown template {name!r} (choose from {', '.join(templates)})")
    return templates[name]


def template_genome(name: str, n_species: int, embedding: bool, cutoff: float, fill=None) -> list:
    """Prefix-node lists of every tree of a genome built from template ``name``.

    For an EAM genome seeded by a pair template, the density and embedding trees are the
    Sutton-Chen ones (g = r^-6, F = sqrt(rho)).
    """
    t = template(name, cutoff)
    n_types = n_species * (n_species + 1) // 2
    trees = [list(t.pair) for _ in range(n_types)]
    if embedding:
        sc = template("sutton-chen", cutoff)
        density = t.density if t.many_body else sc.density
        embed = t.embedding if t.many_body else sc.embedding
        trees += [list(density) for _ in range(n_types)] + [list(embed) for _ in range(n_species)]
    elif t.many_body:
        raise ConfigError(f"template {name!r} is a many-body form; it cannot seed a pair search")
    return trees


def parse_seed_forms(text) -> tuple:
    """``"lj,morse"`` -> ("lj", "morse"), checked against the known templates."""
    if not text:
        return ()
    names = tuple(s.strip() for s in (text.split(",") if isinstance(text, str) else text) if s.strip())
    for n in names:
        template(n)
    return names
