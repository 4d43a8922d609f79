"""A self-contained HTML report of a finished run folder, with PNG pictures.

``write_report(run_dir)`` draws the Pareto front, parity plots of energies (and forces),
the functions of the best potential and of the most accurate other front members (the
pair energy U(r) of a pair potential; phi(r) and g(r) per species pair and F(rho) per
species of a many-body potential), the search history and, for island runs, what each
island and worker did (``islands.csv``), and writes ``report.html``
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
from .front import split_functions
from .report_plots import (_figure, _plot_history, _plot_islands, _plot_many_body, _plot_parity, _plot_pareto,
                           _plot_potential)


def _read_csv(path):
    """Rows of a CSV file with numbers converted (``None`` if the file is absent)."""
    if not os.path.isfile(path):
        return None
    def number(key, value):
        try:
            return value if key in ("expression", "front") else float(value)
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


def _many_body_member(text: str, best):
    """The many-body potential of a front row: ``best``'s species, form and cutoff, the row's functions."""
    import sympy

    from .expr import Program
    from .expr.registry import R
    from .manybody import ManyBodyPotential

    texts = split_functions(text)
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
                         for name, text in split_functions(expression).items())
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


def island_summary(tasks) -> dict:
    """Per-island and per-worker statistics of an island run's ``islands.csv`` rows.

    A task's busy interval is ``[received_s - seconds, received_s]`` (the parent's clock;
    the transfer of the result is not counted); a worker's busy fraction is its summed task
    time over the run's span, from the first task's start to the last task's receipt.
    """
    tasks = [t for t in tasks if isinstance(t.get("seconds"), float) and isinstance(t.get("received_s"), float)]
    if not tasks:
        return {"islands": [], "workers": [], "span_s": 0.0}
    start = min(t["received_s"] - t["seconds"] for t in tasks)
    span = max(t["received_s"] for t in tasks) - start
    islands, workers = {}, {}
    for t in sorted(tasks, key=lambda t: t["received_s"]):
        i = islands.setdefault(int(t["island"]), {"island": int(t["island"]), "tasks": 0, "evaluations": 0,
                                                  "task_s": 0.0, "generation": 0, "best_loss": None})
        i["tasks"] += 1
        i["evaluations"] += int(t.get("evaluations") or 0)
        i["task_s"] += t["seconds"]
        i["generation"] = max(i["generation"], int(t.get("generation") or 0))
        if isinstance(t.get("best_loss"), float):
            i["best_loss"] = t["best_loss"]  # the island's front after its latest task
        w = workers.setdefault(t.get("pid"), {"worker": t.get("pid"), "tasks": 0, "task_s": 0.0})
        w["tasks"] += 1
        w["task_s"] += t["seconds"]
    for w in workers.values():
        w["busy_fraction"] = w["task_s"] / span if span > 0 else None
    return {"islands": [islands[k] for k in sorted(islands)], "workers": list(workers.values()), "span_s": span}


def _islands_html(tasks) -> list[str]:
    """The islands section: per island and per worker (from ``islands.csv``)."""
    if not tasks:
        return []
    e, summary = html.escape, island_summary(tasks)
    out = ["<h2>Islands</h2>",
           f"<p>{len(tasks)} island tasks on {len(summary['workers'])} worker process(es) over "
           f"{summary['span_s']:.1f} s (<code>islands.csv</code>: a row per task; picture <code>islands.png</code>)."
           "</p><table><tr><th>island</th><th>tasks</th><th>generations</th><th>evaluations</th>"
           "<th>task time (s)</th><th>best loss of its front</th></tr>"]
    for i in summary["islands"]:
        out.append(f"<tr><td>{i['island']}</td><td>{i['tasks']}</td><td>{i['generation']}</td>"
                   f"<td>{i['evaluations']}</td><td>{i['task_s']:.1f}</td><td>{_fmt(i['best_loss'])}</td></tr>")
    out.append("</table><table><tr><th>worker (pid)</th><th>tasks</th><th>task time (s)</th>"
               "<th>busy (% of the span)</th></tr>")
    for w in summary["workers"]:
        busy = "–" if w["busy_fraction"] is None else f"{100 * w['busy_fraction']:.0f}"
        out.append(f"<tr><td>{e(str(w['worker']))}</td><td>{w['tasks']}</td><td>{w['task_s']:.1f}</td>"
                   f"<td>{busy}</td></tr>")
    out.append("</table>")
    return out


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
    tasks = _read_csv(os.path.join(run_dir, "islands.csv"))
    if tasks:
        _plot_islands(tasks, run_dir, written)

    metric_rows = [(f"{name} (best.json)", best.metrics[name]) for name in ("train", "validation", "test")
                   if isinstance(best.metrics.get(name), dict)]
    metric_rows += [(f"{name} (this report)", p["metrics"]) for name, p in parity.items()]
    title = os.path.basename(os.path.abspath(run_dir))
    images = list(written)
    ev_plot = os.path.join(run_dir, "properties_ev.png")
    if os.path.isfile(ev_plot):
        images.append(ev_plot)
    page = _html(title, best, rows, best_row, metric_rows, images, notes, config,
                 _properties_html(run_dir) + _islands_html(tasks))
    path = os.path.join(run_dir, "report.html")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(page)
    written.append(path)
    return written
