"""A self-contained HTML report of a finished run folder, with PNG pictures.

``write_report(run_dir)`` draws the Pareto front, parity plots of energies (and forces),
the functions of the best potential and of the most accurate other front members (the
pair energy U(r) of a pair potential; phi(r) and g(r) per species pair and F(rho) per
species of a many-body potential) and the search history, and writes ``report.html``
with every picture embedded, so the one file can be mailed. matplotlib (the ``plot``
extra) is needed.
"""
from __future__ import annotations

import base64
import csv
import html
import json
import os

import numpy as np

from .errors import SymbpotError

PLOT_MESSAGE = "matplotlib is needed for reports: pip install 'symbpot[plot]'"


def _figure(width=6.4, height=4.8):
    """A matplotlib Figure on the Agg canvas (no pyplot: the user's backend is left alone)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise SymbpotError(PLOT_MESSAGE) from None
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, run_dir, name, written):
    path = os.path.join(run_dir, name)
    fig.savefig(path, dpi=110)
    written.append(path)


def _read_csv(path):
    """Rows of a CSV file with numbers converted (``None`` if the file is absent)."""
    if not os.path.isfile(path):
        return None
    def number(key, value):
        try:
            return value if key == "expression" else float(value)
        except (TypeError, ValueError):
            return value

    with open(path, newline="") as fh:
        return [{k: number(k, v) for k, v in row.items()} for row in csv.DictReader(fh)]


def parity_data(potential, dataset) -> dict:
    """Predicted and reference targets of ``dataset`` for parity plots.

    Parameters
    ----------
    potential : Potential
    dataset : Dataset

    Returns
    -------
    dict
        ``energy_true``, ``energy_pred`` (eV/atom, reference energies included),
        ``force_true``, ``force_pred`` (eV/Å, flat components of the structures that
        have forces; empty otherwise) and ``metrics`` (energy MAE/RMSE in meV/atom,
        force MAE/RMSE in eV/Å and stress MAE/RMSE in GPa where the data has them).
    """
    from .fitness import direct
    from .fitness.exact import with_stress_offset

    energies, forces, stress = potential.predict(dataset)
    stress = with_stress_offset(stress, dataset, potential)
    mask = np.repeat(np.asarray(dataset.has_forces, dtype=bool), dataset.n_atoms)
    metrics = direct.energy_errors(energies, dataset)
    if hasattr(direct, "force_stress_errors"):
        metrics.update(direct.force_stress_errors(forces, stress, dataset))
    return {"energy_true": dataset.energies / dataset.n_atoms, "energy_pred": energies / dataset.n_atoms,
            "force_true": dataset.forces[mask].ravel(), "force_pred": forces[mask].ravel(),
            "metrics": metrics}


def _load_data(config, key, cutoff, run_dir):
    """A Dataset of the existing files listed under ``config[key]``, or None (and why)."""
    from .data import Dataset

    entries = config.get(key) or []
    entries = [entries] if isinstance(entries, str) else entries
    paths = [next((c for c in (e, os.path.join(run_dir, e)) if os.path.isfile(c)), None)
             for e in entries if isinstance(e, str) and not e.startswith("demo:")]
    paths = [p for p in paths if p is not None]
    if not paths:
        return None, None
    try:
        keys = {k: config.get(k) or None for k in ("forces_key", "stress_key", "group_key") if k in config}
        return Dataset.from_file(paths, cutoff=cutoff, energy_key=config.get("energy_key") or "energy",
                                 index=config.get("index") or ":", **keys), None
    except SymbpotError as exc:
        return None, str(exc)


def _is_many_body(potential) -> bool:
    """True for a :class:`symbpot.manybody.ManyBodyPotential` (functions per species (pair))."""
    return hasattr(potential, "functions")


def _split_functions(text: str) -> dict:
    """``{"phi_CuCu": "...", ...}`` of a many-body front row ``"phi_CuCu = ...; F_Cu = ..."``."""
    parts = [part.split(" = ", 1) for part in str(text).split("; ")]
    if not all(len(part) == 2 for part in parts):
        raise ValueError(f"not a list of functions: {text!r}")
    return {name.strip(): expr for name, expr in parts}


def _many_body_member(text: str, best):
    """The many-body potential of a front row: ``best``'s species, form and cutoff, the row's functions."""
    import sympy

    from .expr import Program
    from .expr.registry import R
    from .manybody import ManyBodyPotential

    texts = _split_functions(text)
    if set(texts) != set(best.functions()):
        raise ValueError("the row's functions are not those of the best potential")
    programs = {name: Program.from_sympy(sympy.sympify(expr, locals={"r": R, "rho": R}))
                for name, expr in texts.items()}
    pair = [programs[f"phi_{a}{b}"] for a, b in best.pair_types]
    density = embedding = None
    if best.form == "eam":
        density = [programs[f"g_{a}{b}"] for a, b in best.pair_types]
        embedding = [programs[f"F_{a}"] for a in best.species]
    return ManyBodyPotential(best.species, pair, density, embedding, best.cutoff, best.reference_energies,
                             form=best.form)


def _front_potentials(rows, best, best_row, best_expression, top):
    """(label, potential) of the ``top`` most accurate front members other than the best.

    Rows whose expression cannot be turned back into a potential are left out.
    """
    from .export.sympy_form import parse
    from .expr import Program
    from .potential import Potential

    if _is_many_body(best):
        def build(text):
            return _many_body_member(text, best)
    else:
        def build(text):
            return Potential(Program.from_sympy(parse(text)), best.cutoff, best.reference_energies)

    def accuracy(k):
        rmse = rows[k]["energy_rmse_meV_per_atom"]
        return (rmse if isinstance(rmse, float) and np.isfinite(rmse) else np.inf, rows[k]["complexity"])

    others = sorted((k for k in range(len(rows)) if k != best_row), key=accuracy)
    out, seen = [], {best_expression}
    for row in (rows[k] for k in others):
        if len(out) >= top or row["expression"] in seen:
            continue
        seen.add(row["expression"])
        try:
            potential = build(row["expression"])
        except Exception:  # noqa: BLE001 - an unparsable row is left out of the picture
            continue
        label = f"complexity {int(row['complexity'])}, RMSE {row['energy_rmse_meV_per_atom']:.3g} meV/atom"
        out.append((label, potential))
    return out


def _plot_pareto(rows, best_row, run_dir, written):
    fig = _figure(9, 3.8)
    cplx = np.array([r["complexity"] for r in rows], dtype=float)
    for ax, key, label in zip(fig.subplots(1, 2), ("loss", "energy_rmse_meV_per_atom"),
                              ("search loss", "energy RMSE (meV/atom)")):
        y = np.array([r[key] for r in rows], dtype=float)
        ok = np.isfinite(y) & (y > 0)
        ax.step(cplx[ok], y[ok], where="post", color="0.6", lw=0.8)
        ax.plot(cplx[ok], y[ok], "o", color="C0", label="Pareto front")
        if best_row is not None and ok[best_row]:
            ax.plot(cplx[best_row], y[best_row], "*", ms=16, color="C3", label="best")
        ax.set(yscale="log", xlabel="complexity", ylabel=label)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend()
    _save(fig, run_dir, "pareto.png", written)


PARITY = {"energy": ("energy", "eV/atom", "energy_{}_meV_per_atom", "meV/atom", "parity_energy.png"),
          "force": ("force component", "eV/Å", "force_{}_eV_per_A", "eV/Å", "parity_forces.png")}


def _plot_parity(parity, run_dir, written, kind):
    what, unit, key, error_unit, filename = PARITY[kind]
    fig = _figure(5.2, 5)
    ax = fig.subplots()
    values = []
    for (name, data), marker in zip(parity.items(), ("o", "^")):
        true, pred, m = data[f"{kind}_true"], data[f"{kind}_pred"], data["metrics"]
        if len(true):
            stats = f"RMSE {m[key.format('rmse')]:.3g}, MAE {m[key.format('mae')]:.3g} {error_unit}"
            ax.plot(true, pred, marker, ms=4, alpha=0.7, mfc="none", label=f"{name} ({stats})")
            values += [true, pred]
    values = np.concatenate(values) if values else np.zeros(0)
    values = values[np.isfinite(values)]
    if values.size:
        lo, hi = values.min(), values.max()
        lo, hi = lo - 0.05 * (hi - lo or 1.0), hi + 0.05 * (hi - lo or 1.0)
        ax.plot([lo, hi], [lo, hi], "k-", lw=0.8, label="y = x")
    ax.set(xlabel=f"DFT {what} ({unit})", ylabel=f"predicted {what} ({unit})")
    ax.legend(fontsize=8)
    _save(fig, run_dir, filename, written)


def _distances(best, datasets):
    """Distances for the radial curves: from just below the shortest pair in the data to the cutoff."""
    rc = best.cutoff.radius
    dmin = [d.min_distance for d in datasets if d is not None and d.n_pairs]
    return np.linspace(0.9 * min(dmin) if dmin else 0.5 * rc, rc, 400, endpoint=False)


def _energy_ylim(ax, u):
    """Limits that show the well of an energy curve, not the wall (purely repulsive: the tail)."""
    finite = u[np.isfinite(u)]
    if finite.size:
        u_min = float(finite.min())
        if u_min < 0:
            ax.set_ylim(1.5 * u_min, max(2 * abs(u_min), 1e-3))
        else:  # purely repulsive: show the tail, not the wall
            top = float(np.percentile(finite, 75))
            ax.set_ylim(u_min - 0.1 * (top - u_min + 1e-3), top + 1e-3)


def _plot_potential(best, others, datasets, run_dir, written):
    rc = best.cutoff.radius
    r = _distances(best, datasets)
    fig = _figure(6.4, 4.6)
    ax = fig.subplots()
    with np.errstate(all="ignore"):
        u_best = np.asarray(best.pair_energy(r), dtype=float)
        ax.plot(r, u_best, "-", lw=2.5, color="C0", label="best")
        for k, (label, pot) in enumerate(others):  # dashed on top, so that equal curves stay visible
            ax.plot(r, pot.pair_energy(r), "--", lw=1.2, color=f"C{k + 1}", label=label)
    ax.axhline(0, color="0.5", lw=0.6)
    ax.axvline(rc, color="0.5", lw=0.6, ls=":", label=f"cutoff {rc:g} Å")
    _energy_ylim(ax, u_best)
    ax.set(xlabel="r (Å)", ylabel="U(r) (eV)", title="pair energy with cutoff treatment")
    ax.legend(fontsize=8)
    _save(fig, run_dir, "potential.png", written)


# --- many-body potentials -------------------------------------------------------------------
RHO_MARGIN = 1.5  # F(rho) is drawn from 0 to this times the largest density found


def _data_densities(best, dataset) -> dict | None:
    """``{species: rho of its atoms}`` over ``dataset`` (None if it cannot be evaluated)."""
    from .fitness.manybody import atom_species_index, per_pair_values, type_matrix

    if dataset is None or not dataset.n_pairs or dataset.cutoff + 1e-12 < best.cutoff.radius:
        return None
    if set(dataset.species) - set(best.species):
        return None
    data = dataset.restrict_cutoff(best.cutoff.radius)
    index = atom_species_index(data, best.species)
    types = type_matrix(len(best.species))[index[data.pair_i], index[data.pair_j]]
    with np.errstate(all="ignore"):
        g = per_pair_values(best.density, best.cutoff, data.pair_distance, types)[0]
    rho = np.bincount(data.pair_i, weights=g, minlength=int(data.atom_offsets[-1]))
    return {a: rho[index == k] for k, a in enumerate(best.species)}


def _nearest_neighbour(symbol: str) -> float:
    """Nearest-neighbour distance (Å) of the element's ASE reference crystal (else twice its covalent radius)."""
    try:
        from ase.build import bulk
        from ase.neighborlist import neighbor_list

        return float(neighbor_list("d", bulk(symbol), 6.0).min())
    except Exception:  # noqa: BLE001 - no reference crystal (or not an element)
        from ase.data import atomic_numbers, covalent_radii

        return float(2 * covalent_radii[atomic_numbers[symbol]]) if symbol in atomic_numbers else 2.5


def _fcc_density(best, k: int) -> float:
    """rho of an atom of species ``k`` in its pure fcc lattice at the element's nearest-neighbour distance."""
    from ase.build import bulk
    from ase.neighborlist import neighbor_list

    from .fitness.manybody import type_matrix

    lattice = bulk("X", "fcc", a=_nearest_neighbour(best.species[k]) * np.sqrt(2))
    d = neighbor_list("d", lattice, best.cutoff.radius)
    with np.errstate(all="ignore"):
        return float(np.sum(best.density_value(d, int(type_matrix(len(best.species))[k, k]))))


def _density_ranges(best, datasets):
    """rho axes of the F(rho) panels: ``({species: rho grid}, {species: (lo, hi) in the data}, note)``.

    From 0 to 1.5 times the largest density of the data (training data first), else of the
    species' fcc lattice at the element's nearest-neighbour distance.
    """
    found = None
    for dataset in datasets:
        found = _data_densities(best, dataset)
        if found is not None:
            break
    grids, spans = {}, {}
    for k, a in enumerate(best.species):
        rho = found.get(a) if found is not None else None
        rho = rho[np.isfinite(rho)] if rho is not None else np.zeros(0)
        if rho.size:
            spans[a] = (float(rho.min()), float(rho.max()))
            lo, hi = spans[a]
        else:
            lo = hi = _fcc_density(best, k)
        lo, hi = min(0.0, RHO_MARGIN * lo), RHO_MARGIN * max(hi, 0.0)
        if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
            lo, hi = 0.0, 1.0
        grids[a] = np.linspace(lo, hi, 400)
    if found is not None:
        note = (f"F(rho) is drawn up to {RHO_MARGIN:g} times the largest density rho of an atom in the data "
                "(shaded: the range of rho in the data).")
    else:
        note = (f"F(rho) is drawn up to {RHO_MARGIN:g} times rho of an atom in the fcc lattice at the element's "
                "nearest-neighbour distance (no data to take the densities from).")
    return grids, spans, note


def _finite(values):
    values = np.array(values, dtype=float)
    values[~np.isfinite(values)] = np.nan
    return values


def _many_body_panels(best):
    """(name, kind, index, species) of every function: phi and g per species pair, F per species."""
    panels = [(f"phi_{a}{b}", "phi", t, a + b) for t, (a, b) in enumerate(best.pair_types)]
    if best.form == "eam":
        panels += [(f"g_{a}{b}", "g", t, a + b) for t, (a, b) in enumerate(best.pair_types)]
        panels += [(f"F_{a}", "F", k, a) for k, a in enumerate(best.species)]
    return panels


def _evaluate(potential, kind, index, x):
    with np.errstate(all="ignore"):
        if kind == "phi":
            return _finite(potential.pair_energy(x, types=np.full(len(x), index, dtype=np.int64)))
        if kind == "g":
            return _finite(potential.density_value(x, index))
        return _finite(potential.embedding_value(x, index))


def _plot_many_body(best, others, datasets, run_dir, written) -> str | None:
    """potential.png of a many-body potential: one panel per function; returns a note on the rho axis."""
    rc = best.cutoff.radius
    r = _distances(best, datasets)
    panels = _many_body_panels(best)
    grids, spans, note = _density_ranges(best, datasets) if best.form == "eam" else ({}, {}, None)
    kinds = [kind for kind in ("phi", "g", "F") if any(p[1] == kind for p in panels)]
    n_types = len(best.pair_types)
    if n_types == 1:  # one species: the functions side by side
        shape, place = (1, len(panels)), {p[0]: (0, k) for k, p in enumerate(panels)}
    else:  # one row per kind of function, one column per species pair (or species)
        shape = (len(kinds), n_types)
        place = {p[0]: (kinds.index(p[1]), p[2]) for p in panels}
    fig = _figure(4.0 * shape[1] + 0.6, 3.4 * shape[0] + 0.4)
    axes = np.atleast_2d(fig.subplots(*shape, squeeze=False))
    used = set()
    for name, kind, index, sub in panels:
        row, col = place[name]
        used.add((row, col))
        ax = axes[row, col]
        x = grids[sub] if kind == "F" else r
        y = _evaluate(best, kind, index, x)
        ax.plot(x, y, "-", lw=2.5, color="C0", label="best")
        for k, (label, pot) in enumerate(others):  # dashed on top, so that equal curves stay visible
            try:
                ax.plot(x, _evaluate(pot, kind, index, x), "--", lw=1.2, color=f"C{k + 1}", label=label)
            except Exception:  # noqa: BLE001 - a member that cannot be evaluated is left out
                continue
        ax.axhline(0, color="0.5", lw=0.6)
        if kind == "F":
            if sub in spans:
                ax.axvspan(*spans[sub], color="0.85", zorder=0, label="rho in the data")
            ax.set(xlabel="ρ", ylabel="F (eV)", title=rf"embedding $F_{{\mathrm{{{sub}}}}}(\rho)$")
        else:
            ax.axvline(rc, color="0.5", lw=0.6, ls=":", label=f"cutoff {rc:g} Å")
            if kind == "phi":
                _energy_ylim(ax, y)
                ax.set(ylabel="φ (eV)", title=rf"pair $\phi_{{\mathrm{{{sub}}}}}(r)$ with cutoff")
            else:
                ax.set(ylabel="g", title=rf"density $g_{{\mathrm{{{sub}}}}}(r)$ with cutoff")
            ax.set(xlabel="r (Å)")
    for row in range(shape[0]):
        for col in range(shape[1]):
            if (row, col) not in used:
                axes[row, col].set_axis_off()
    handles = {}
    for ax in axes.ravel():
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    axes[0, 0].legend(list(handles.values()), list(handles), fontsize=7)
    _save(fig, run_dir, "potential.png", written)
    return note


def _plot_history(history, run_dir, written):
    fig = _figure(6.4, 3.8)
    ax = fig.subplots()
    gen = np.array([h["generation"] for h in history], dtype=float)
    loss = np.array([h["best_loss"] for h in history], dtype=float)
    ok = np.isfinite(loss) & (loss > 0)
    ax.plot(gen[ok], loss[ok], "-o", ms=3)
    ax.set(yscale="log", xlabel="generation", ylabel="best search loss")
    _save(fig, run_dir, "history.png", written)


def _fmt(value, spec=".4g"):
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
    return format(value, spec) if ok else "–"


METRIC_COLUMNS = (("energy_rmse_meV_per_atom", "energy RMSE (meV/atom)"),
                  ("energy_mae_meV_per_atom", "energy MAE (meV/atom)"),
                  ("force_rmse_eV_per_A", "force RMSE (eV/Å)"), ("force_mae_eV_per_A", "force MAE (eV/Å)"),
                  ("stress_rmse_GPa", "stress RMSE (GPa)"), ("stress_mae_GPa", "stress MAE (GPa)"))


FRONT_COLUMNS = (("complexity", "complexity", ".0f"), ("loss", "search loss", ".3e"),
                 ("energy_rmse_meV_per_atom", "energy RMSE (meV/atom)", ".4g"),
                 ("force_rmse_eV_per_A", "force RMSE (eV/Å)", ".4g"),
                 ("validation_rmse_meV_per_atom", "validation energy RMSE (meV/atom)", ".4g"))


def _row_text(expression) -> str:
    """A front row's expression with floats rounded (each function of a many-body row)."""
    from .export.sympy_form import parse, round_floats

    try:
        return str(round_floats(parse(expression), 6))
    except Exception:  # noqa: BLE001 - a many-body row, or text to show as it is
        pass
    try:
        import sympy

        return "; ".join(f"{name} = {round_floats(sympy.sympify(text), 6)}"
                         for name, text in _split_functions(expression).items())
    except Exception:  # noqa: BLE001 - show the raw text
        return str(expression)


def _best_html(best) -> list[str]:
    """The closed form(s) of the best potential."""
    from .export.sympy_form import round_floats

    e = html.escape
    cutoff = f"cutoff {best.cutoff.radius:g} Å ({e(best.cutoff.style)})"
    if not _is_many_body(best):
        return ["<p>U(r) for r &lt; r<sub>c</sub> (eV, r in Å), " f"{cutoff}; LaTeX:</p>",
                f"<pre><code>{e(best.latex())}</code></pre>", "<p>sympy:</p>",
                f"<pre><code>{e(str(round_floats(best.sympy(), 6)))}</code></pre>"]
    if best.form == "eam":
        energy = ("E = &sum;<sub>i</sub> F<sub>s<sub>i</sub></sub>(&rho;<sub>i</sub>) + &frac12; "
                  "&sum;<sub>i&ne;j</sub> &phi;<sub>s<sub>i</sub>s<sub>j</sub></sub>(r<sub>ij</sub>), "
                  "&rho;<sub>i</sub> = &sum;<sub>j&ne;i</sub> g<sub>s<sub>i</sub>s<sub>j</sub></sub>(r<sub>ij</sub>)"
                  " (plus the reference energies)")
        scaled = "&phi; and g are multiplied by the cutoff function"
    else:
        energy = ("E = &frac12; &sum;<sub>i&ne;j</sub> &phi;<sub>s<sub>i</sub>s<sub>j</sub></sub>(r<sub>ij</sub>)"
                  " (plus the reference energies)")
        scaled = "&phi; is multiplied by the cutoff function"
    functions = best.functions()
    rows = "".join(f"<tr><td class=x>{e(name)}</td><td class=x>{e(str(round_floats(expr, 6)))}</td></tr>"
                   for name, expr in functions.items())
    return [f"<p>{e(best.form)} form of {e(', '.join(best.species))}: {energy}; eV, r in Å; {scaled} "
            f"({cutoff}). The functions, LaTeX:</p>",
            f"<pre><code>{e(best.latex())}</code></pre>",
            "<p>sympy (before the cutoff treatment):</p>",
            f"<table><tr><th>function</th><th>expression</th></tr>{rows}</table>"]


def _properties_html(run_dir) -> list[str]:
    """The ``properties.json`` of a run folder (from ``symbpot properties --json``), side by side with DFT."""
    path = os.path.join(run_dir, "properties.json")
    if not os.path.isfile(path):
        return []
    try:
        with open(path) as fh:
            data = json.load(fh)
        from .properties import format_properties

        text = format_properties(data["potential"], data.get("dft"))
    except Exception as exc:  # a report is still written without the section
        return [f"<h2>Properties</h2><p><em>properties.json could not be read ({html.escape(type(exc).__name__)})"
                "</em></p>"]
    return ["<h2>Properties (potential vs DFT)</h2>", f"<pre>{html.escape(text)}</pre>"]


def _html(title, best, rows, best_row, metric_rows, images, notes, config, extra=()):
    e = html.escape
    out = ["<!DOCTYPE html>", '<html><head><meta charset="utf-8">', f"<title>symbpot report: {e(title)}</title>",
           "<style>body{font-family:sans-serif;max-width:70em;margin:auto}table{border-collapse:collapse}"
           "td,th{border:1px solid #bbb;padding:2px 8px;text-align:right}td.x{text-align:left;font-family:monospace}"
           "tr.best{background:#fde8d8}img{max-width:100%}pre,code{background:#f4f4f4}</style></head><body>",
           f"<h1>symbpot report: {e(title)}</h1>", "<h2>Best potential</h2>", *_best_html(best),
           f"<p>reference energies (eV/atom): {e(json.dumps(best.reference_energies))}</p>",
           "<h2>Metrics</h2><table><tr><th>set</th><th>structures</th>"
           + "".join(f"<th>{e(t)}</th>" for _, t in METRIC_COLUMNS) + "</tr>"]
    for name, m in metric_rows:
        out.append(f"<tr><td class=x>{e(name)}</td><td>{_fmt(m.get('n_structures'), '.0f')}</td>"
                   + "".join(f"<td>{_fmt(m.get(k))}</td>" for k, _ in METRIC_COLUMNS) + "</tr>")
    columns = [(k, t, f) for k, t, f in FRONT_COLUMNS if any(_fmt(r.get(k)) != "–" for r in rows)]
    out.append("</table><h2>Pareto front</h2><table><tr>" + "".join(f"<th>{e(t)}</th>" for _, t, _ in columns)
               + f"<th>{'functions' if _is_many_body(best) else 'V(r)'}</th></tr>")
    for k, row in enumerate(rows):
        expr = _row_text(row["expression"])
        cls = ' class="best"' if k == best_row else ""
        out.append(f"<tr{cls}>" + "".join(f"<td>{_fmt(row.get(c), f)}</td>" for c, _, f in columns)
                   + f"<td class=x>{e(expr)}</td></tr>")
    out.append("</table>")
    out += list(extra)
    out.append("<h2>Pictures</h2>")
    out += [f"<p><em>{e(n)}</em></p>" for n in notes]
    for path in images:
        with open(path, "rb") as fh:
            data = base64.b64encode(fh.read()).decode("ascii")
        name = os.path.basename(path)
        out.append(f'<h3>{e(name)}</h3><img alt="{e(name)}" src="data:image/png;base64,{data}">')
    text = json.dumps(config, indent=2, default=str) if config is not None else "(no config.json)"
    out += ["<h2>Configuration</h2>", f"<pre>{e(text)}</pre>", "</body></html>"]
    return "\n".join(out) + "\n"


def write_report(run_dir, train=None, test=None, top: int = 4) -> list[str]:
    """Write PNG pictures and a self-contained ``report.html`` into a run folder.

    Parameters
    ----------
    run_dir : str or os.PathLike
        A finished run folder (with ``best.json`` and ``pareto.csv``).
    train, test : Dataset, optional
        Data for the parity plots; by default read from the files listed under
        ``"data"`` and ``"test_data"`` in ``config.json`` (``demo:`` entries skipped).
    top : int
        Number of most accurate other front members drawn with the best potential's
        curves (U(r) of a pair potential; phi, g and F of a many-body potential, where
        the front row's functions can be read back).

    Returns
    -------
    list of str
        Paths of the files written (PNGs, then ``report.html``).

    Raises
    ------
    SymbpotError
        The folder is not a finished run, or matplotlib is not installed.
    """
    from .potential import load_potential

    run_dir = os.fspath(run_dir)
    for name in ("best.json", "pareto.csv"):
        if not os.path.isfile(os.path.join(run_dir, name)):
            raise SymbpotError(f"{run_dir}: not a finished run folder (no {name})")
    _figure()  # fails with one clear message without matplotlib, before any work
    best = load_potential(os.path.join(run_dir, "best.json"))
    with open(os.path.join(run_dir, "best.json")) as fh:
        saved = json.load(fh)
    if _is_many_body(best):  # pareto.csv's spelling: "phi_CuCu = ...; F_Cu = ..."
        best_expression = "; ".join(f"{k} = {v}" for k, v in (saved.get("functions") or {}).items())
    else:
        best_expression = saved.get("pair_function")
    rows = _read_csv(os.path.join(run_dir, "pareto.csv"))
    history = _read_csv(os.path.join(run_dir, "history.csv"))
    config, notes, sets = None, [], {"train": train, "test": test}
    try:
        with open(os.path.join(run_dir, "config.json")) as fh:
            config = json.load(fh)
    except (OSError, ValueError) as exc:
        notes.append(f"config.json could not be read ({type(exc).__name__}).")
    for role, key in (("train", "data"), ("test", "test_data")):
        if sets[role] is None and config is not None:
            sets[role], error = _load_data(config, key, best.cutoff.radius, run_dir)
            if error:
                notes.append(f"{role} data could not be read: {error}")
    matches = [k for k, r in enumerate(rows) if r["expression"] == best_expression]
    same = [k for k in matches if best.complexity is not None and rows[k]["complexity"] == best.complexity]
    best_row = (same or matches or [None])[0]

    written: list[str] = []
    _plot_pareto(rows, best_row, run_dir, written)
    parity = {}
    for name, data in sets.items():
        try:
            parity.update({name: parity_data(best, data)} if data is not None else {})
        except SymbpotError as exc:  # e.g. a species without reference energy
            notes.append(f"{name} data cannot be predicted: {exc}")
    if parity:
        _plot_parity(parity, run_dir, written, "energy")
        if any(len(p["force_true"]) for p in parity.values()):
            _plot_parity(parity, run_dir, written, "force")
    else:
        notes.append("No data could be loaded (none given, demo data or files missing): no parity plots.")
    others = _front_potentials(rows, best, best_row, best_expression, top)
    if _is_many_body(best):
        note = _plot_many_body(best, others, list(sets.values()), run_dir, written)
        notes += [note] if note else []
    else:
        _plot_potential(best, others, list(sets.values()), run_dir, written)
    if history:
        _plot_history(history, run_dir, written)

    metric_rows = [(f"{name} (best.json)", best.metrics[name]) for name in ("train", "validation", "test")
                   if isinstance(best.metrics.get(name), dict)]
    metric_rows += [(f"{name} (this report)", p["metrics"]) for name, p in parity.items()]
    title = os.path.basename(os.path.abspath(run_dir))
    images = list(written)
    ev_plot = os.path.join(run_dir, "properties_ev.png")
    if os.path.isfile(ev_plot):
        images.append(ev_plot)
    page = _html(title, best, rows, best_row, metric_rows, images, notes, config, _properties_html(run_dir))
    path = os.path.join(run_dir, "report.html")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(page)
    written.append(path)
    return written
