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


def _require_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise SymbpotError(PLOT_MESSAGE) from None


def _figure(width=6.4, height=4.8):
    """A matplotlib Figure on the Agg canvas (no pyplot: the user's backend is left alone)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

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
    rows = []
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            out = {}
            for key, value in row.items():
                try:
                    out[key] = float(value) if key != "expression" else value
                except (TypeError, ValueError):
                    out[key] = value
            rows.append(out)
    return rows


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

    paths = []
    for entry in config.get(key) or []:
        if not isinstance(entry, str) or entry.startswith("demo:"):
            continue
        for candidate in (entry, os.path.join(run_dir, entry)):
            if os.path.isfile(candidate):
                paths.append(candidate)
                break
    if not paths:
        return None, None
    try:
        return Dataset.from_file(paths, cutoff=cutoff, energy_key=config.get("energy_key") or "energy",
                                 index=config.get("index") or ":"), None
    except SymbpotError as exc:
        return None, str(exc)


def _front_potentials(rows, best, best_row, pair_function, top):
    """(label, Potential) of the ``top`` most accurate front members other than the best."""
    from .export.sympy_form import parse
    from .expr import Program
    from .potential import Potential

    others = [k for k in range(len(rows)) if k != best_row
              and rows[k]["expression"] != pair_function]
    others.sort(key=lambda k: (rows[k]["energy_rmse_meV_per_atom"], rows[k]["complexity"]))
    out, seen = [], set()
    for k in others:
        row = rows[k]
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
                              ("search loss (eV/atom)$^2$", "energy RMSE (meV/atom)")):
        y = np.array([r[key] for r in rows], dtype=float)
        ok = np.isfinite(y) & (y > 0)
        ax.step(cplx[ok], y[ok], where="post", color="0.6", lw=0.8)
        ax.plot(cplx[ok], y[ok], "o", color="C0", label="Pareto front")
        if best_row is not None and ok[best_row]:
            ax.plot(cplx[best_row], y[best_row], "*", ms=16, color="C3", label="best")
        ax.set(yscale="log", xlabel="complexity", ylabel=label)
        ax.legend()
    _save(fig, run_dir, "pareto.png", written)


def _plot_parity(parity, run_dir, written, kind):
    fig = _figure(5.2, 5)
    ax = fig.subplots()
    lo, hi = np.inf, -np.inf
    for (name, data), marker in zip(parity.items(), ("o", "^")):
        true, pred = data[f"{kind}_true"], data[f"{kind}_pred"]
        if not len(true):
            continue
        m = data["metrics"]
        if kind == "energy":
            stats = f"RMSE {m['energy_rmse_meV_per_atom']:.3g}, MAE {m['energy_mae_meV_per_atom']:.3g} meV/atom"
        else:
            stats = f"RMSE {m['force_rmse_eV_per_A']:.3g}, MAE {m['force_mae_eV_per_A']:.3g} eV/Å"
        ax.plot(true, pred, marker, ms=4, alpha=0.7, mfc="none", label=f"{name} ({stats})")
        finite = np.concatenate([true, pred])
        finite = finite[np.isfinite(finite)]
        if finite.size:
            lo, hi = min(lo, finite.min()), max(hi, finite.max())
    if np.isfinite(lo):
        pad = 0.05 * (hi - lo or 1.0)
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "k-", lw=0.8, label="y = x")
    unit = "eV/atom" if kind == "energy" else "eV/Å"
    what = "energy" if kind == "energy" else "force component"
    ax.set(xlabel=f"DFT {what} ({unit})", ylabel=f"predicted {what} ({unit})")
    ax.legend(fontsize=8)
    _save(fig, run_dir, f"parity_{'energy' if kind == 'energy' else 'forces'}.png", written)


def _plot_potential(best, others, datasets, run_dir, written):
    rc = best.cutoff.radius
    dmin = [d.min_distance for d in datasets if d is not None and d.n_pairs]
    r = np.linspace(0.9 * min(dmin) if dmin else 0.5 * rc, rc, 400, endpoint=False)
    fig = _figure(6.4, 4.6)
    ax = fig.subplots()
    with np.errstate(all="ignore"):
        u_best = np.asarray(best.pair_energy(r), dtype=float)
        for k, (label, pot) in enumerate(others):
            ax.plot(r, pot.pair_energy(r), "--", lw=1, color=f"C{k + 1}", label=label)
    ax.plot(r, u_best, "-", lw=2.2, color="C0", label="best")
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
    ax.set(yscale="log", xlabel="generation", ylabel="best loss (eV/atom)$^2$")
    _save(fig, run_dir, "history.png", written)


def _fmt(value, spec=".4g"):
    return format(value, spec) if isinstance(value, (int, float)) and not isinstance(value, bool) else "–"


METRIC_COLUMNS = (("energy_rmse_meV_per_atom", "energy RMSE (meV/atom)"),
                  ("energy_mae_meV_per_atom", "energy MAE (meV/atom)"),
                  ("force_rmse_eV_per_A", "force RMSE (eV/Å)"), ("force_mae_eV_per_A", "force MAE (eV/Å)"),
                  ("stress_rmse_GPa", "stress RMSE (GPa)"), ("stress_mae_GPa", "stress MAE (GPa)"))


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
        out.append(f"<tr><td class=x>{e(name)}</td><td>{_fmt(m.get('n_structures'), 'd')}</td>"
                   + "".join(f"<td>{_fmt(m.get(k))}</td>" for k, _ in METRIC_COLUMNS) + "</tr>")
    out.append("</table><h2>Pareto front</h2><table><tr><th>complexity</th><th>loss</th>"
               "<th>energy RMSE (meV/atom)</th><th>validation RMSE</th><th>V(r)</th></tr>")
    for k, row in enumerate(rows):
        try:
            expr = str(round_floats(parse(row["expression"]), 6))
        except Exception:  # noqa: BLE001 - show the raw text
            expr = str(row["expression"])
        cls = ' class="best"' if k == best_row else ""
        out.append(f"<tr{cls}><td>{_fmt(row['complexity'], '.0f')}</td><td>{_fmt(row['loss'], '.3e')}</td>"
                   f"<td>{_fmt(row['energy_rmse_meV_per_atom'])}</td>"
                   f"<td>{_fmt(row.get('validation_rmse_meV_per_atom'))}</td><td class=x>{e(expr)}</td></tr>")
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
    _require_matplotlib()
    best = Potential.from_json(os.path.join(run_dir, "best.json"))
    with open(os.path.join(run_dir, "best.json")) as fh:
        pair_function = json.load(fh).get("pair_function")
    rows = _read_csv(os.path.join(run_dir, "pareto.csv"))
    history = _read_csv(os.path.join(run_dir, "history.csv"))
    config = None
    if os.path.isfile(os.path.join(run_dir, "config.json")):
        with open(os.path.join(run_dir, "config.json")) as fh:
            config = json.load(fh)
    notes = []
    for role, key in (("train", "data"), ("test", "test_data")):
        if (train if role == "train" else test) is None and config is not None:
            data, error = _load_data(config, key, best.cutoff.radius, run_dir)
            if error:
                notes.append(f"{role} data could not be read: {error}")
            if role == "train":
                train = data
            else:
                test = data
    matches = [k for k, r in enumerate(rows) if r["expression"] == pair_function]
    same = [k for k in matches if best.complexity is not None and rows[k]["complexity"] == best.complexity]
    best_row = (same or matches or [None])[0]

    written: list[str] = []
    _plot_pareto(rows, best_row, run_dir, written)
    parity = {name: parity_data(best, d) for name, d in (("train", train), ("test", test)) if d is not None}
    if parity:
        _plot_parity(parity, run_dir, written, "energy")
        if any(len(p["force_true"]) for p in parity.values()):
            _plot_parity(parity, run_dir, written, "force")
    else:
        notes.append("No data could be loaded (none given, demo data or files missing): no parity plots.")
    _plot_potential(best, _front_potentials(rows, best, best_row, pair_function, top), [train, test], run_dir, written)
    if history:
        _plot_history(history, run_dir, written)

    metric_rows = [(f"{name} (search)", best.metrics[name]) for name in ("train", "validation")
                   if isinstance(best.metrics.get(name), dict)]
    metric_rows += [(f"{name} (this report)", p["metrics"]) for name, p in parity.items()]
    title = os.path.basename(os.path.abspath(run_dir))
    page = _html(title, best, rows, best_row, metric_rows, list(written), notes, config)
    path = os.path.join(run_dir, "report.html")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(page)
    written.append(path)
    return written
