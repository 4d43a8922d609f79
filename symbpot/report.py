"""A self-contained HTML report of a finished run folder, with PNG pictures.

``write_report(run_dir)`` draws the Pareto front, parity plots of energies (and forces),
the pair energy U(r) of the best and the most accurate other front members and the
search history, and writes ``report.html`` with every picture embedded, so the one
file can be mailed. matplotlib (the ``plot`` extra) is needed.
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

    energies, forces, stress = potential.predict(dataset)
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


def _front_potentials(rows, best, best_row, pair_function, top):
    """(label, Potential) of the ``top`` most accurate front members other than the best."""
    from .export.sympy_form import parse
    from .expr import Program
    from .potential import Potential

    def accuracy(k):
        rmse = rows[k]["energy_rmse_meV_per_atom"]
        return (rmse if isinstance(rmse, float) and np.isfinite(rmse) else np.inf, rows[k]["complexity"])

    others = sorted((k for k in range(len(rows)) if k != best_row), key=accuracy)
    out, seen = [], {pair_function}
    for row in (rows[k] for k in others):
        if len(out) >= top or row["expression"] in seen:
            continue
        seen.add(row["expression"])
        try:
            program = Program.from_sympy(parse(row["expression"]))
        except Exception:  # noqa: BLE001 - an unparsable row is left out of the picture
            continue
        label = f"complexity {int(row['complexity'])}, RMSE {row['energy_rmse_meV_per_atom']:.3g} meV/atom"
        out.append((label, Potential(program, best.cutoff, best.reference_energies)))
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


def _plot_potential(best, others, datasets, run_dir, written):
    rc = best.cutoff.radius
    dmin = [d.min_distance for d in datasets if d is not None and d.n_pairs]
    r = np.linspace(0.9 * min(dmin) if dmin else 0.5 * rc, rc, 400, endpoint=False)
    fig = _figure(6.4, 4.6)
    ax = fig.subplots()
    with np.errstate(all="ignore"):
        u_best = np.asarray(best.pair_energy(r), dtype=float)
        ax.plot(r, u_best, "-", lw=2.5, color="C0", label="best")
        for k, (label, pot) in enumerate(others):  # dashed on top, so that equal curves stay visible
            ax.plot(r, pot.pair_energy(r), "--", lw=1.2, color=f"C{k + 1}", label=label)
    ax.axhline(0, color="0.5", lw=0.6)
    ax.axvline(rc, color="0.5", lw=0.6, ls=":", label=f"cutoff {rc:g} Å")
    finite = u_best[np.isfinite(u_best)]
    if finite.size:
        u_min = float(finite.min())
        if u_min < 0:
            ax.set_ylim(1.5 * u_min, max(2 * abs(u_min), 1e-3))
        else:  # purely repulsive: show the tail, not the wall
            top = float(np.percentile(finite, 75))
            ax.set_ylim(u_min - 0.1 * (top - u_min + 1e-3), top + 1e-3)
    ax.set(xlabel="r (Å)", ylabel="U(r) (eV)", title="pair energy with cutoff treatment")
    ax.legend(fontsize=8)
    _save(fig, run_dir, "potential.png", written)


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


def _html(title, best, rows, best_row, metric_rows, images, notes, config):
    from .export.sympy_form import parse, round_floats

    e = html.escape
    out = ["<!DOCTYPE html>", '<html><head><meta charset="utf-8">', f"<title>symbpot report: {e(title)}</title>",
           "<style>body{font-family:sans-serif;max-width:70em;margin:auto}table{border-collapse:collapse}"
           "td,th{border:1px solid #bbb;padding:2px 8px;text-align:right}td.x{text-align:left;font-family:monospace}"
           "tr.best{background:#fde8d8}img{max-width:100%}pre,code{background:#f4f4f4}</style></head><body>",
           f"<h1>symbpot report: {e(title)}</h1>", "<h2>Best potential</h2>",
           "<p>U(r) for r &lt; r<sub>c</sub> (eV, r in Å), cutoff "
           f"{best.cutoff.radius:g} Å ({e(best.cutoff.style)}); LaTeX:</p>",
           f"<pre><code>{e(best.latex())}</code></pre>", "<p>sympy:</p>",
           f"<pre><code>{e(str(round_floats(best.sympy(), 6)))}</code></pre>",
           f"<p>reference energies (eV/atom): {e(json.dumps(best.reference_energies))}</p>",
           "<h2>Metrics</h2><table><tr><th>set</th><th>structures</th>"
           + "".join(f"<th>{e(t)}</th>" for _, t in METRIC_COLUMNS) + "</tr>"]
    for name, m in metric_rows:
        out.append(f"<tr><td class=x>{e(name)}</td><td>{_fmt(m.get('n_structures'), '.0f')}</td>"
                   + "".join(f"<td>{_fmt(m.get(k))}</td>" for k, _ in METRIC_COLUMNS) + "</tr>")
    columns = [(k, t, f) for k, t, f in FRONT_COLUMNS if any(_fmt(r.get(k)) != "–" for r in rows)]
    out.append("</table><h2>Pareto front</h2><table><tr>" + "".join(f"<th>{e(t)}</th>" for _, t, _ in columns)
               + "<th>V(r)</th></tr>")
    for k, row in enumerate(rows):
        try:
            expr = str(round_floats(parse(row["expression"]), 6))
        except Exception:  # noqa: BLE001 - show the raw text
            expr = str(row["expression"])
        cls = ' class="best"' if k == best_row else ""
        out.append(f"<tr{cls}>" + "".join(f"<td>{_fmt(row.get(c), f)}</td>" for c, _, f in columns)
                   + f"<td class=x>{e(expr)}</td></tr>")
    out.append("</table><h2>Pictures</h2>")
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
        Number of most accurate other front members drawn with the best U(r).

    Returns
    -------
    list of str
        Paths of the files written (PNGs, then ``report.html``).

    Raises
    ------
    SymbpotError
        The folder is not a finished run, or matplotlib is not installed.
    """
    from .potential import Potential

    run_dir = os.fspath(run_dir)
    for name in ("best.json", "pareto.csv"):
        if not os.path.isfile(os.path.join(run_dir, name)):
            raise SymbpotError(f"{run_dir}: not a finished run folder (no {name})")
    _figure()  # fails with one clear message without matplotlib, before any work
    best = Potential.from_json(os.path.join(run_dir, "best.json"))
    with open(os.path.join(run_dir, "best.json")) as fh:
        pair_function = json.load(fh).get("pair_function")
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
    matches = [k for k, r in enumerate(rows) if r["expression"] == pair_function]
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
    others = _front_potentials(rows, best, best_row, pair_function, top)
    _plot_potential(best, others, list(sets.values()), run_dir, written)
    if history:
        _plot_history(history, run_dir, written)

    metric_rows = [(f"{name} (best.json)", best.metrics[name]) for name in ("train", "validation", "test")
                   if isinstance(best.metrics.get(name), dict)]
    metric_rows += [(f"{name} (this report)", p["metrics"]) for name, p in parity.items()]
    title = os.path.basename(os.path.abspath(run_dir))
    page = _html(title, best, rows, best_row, metric_rows, list(written), notes, config)
    path = os.path.join(run_dir, "report.html")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(page)
    written.append(path)
    return written
