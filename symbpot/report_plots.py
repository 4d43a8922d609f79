"""The report's pictures: Pareto front, parity plots, the best potential's functions
(U(r), or phi, g and F of a many-body form), the search history and the islands' tasks
(see :mod:`symbpot.report`)."""
from __future__ import annotations

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


def _plot_islands(tasks, run_dir, written):
    """Island runs: each worker's tasks in time (coloured by island) and each island's best loss."""
    tasks = [t for t in tasks if isinstance(t.get("seconds"), float) and isinstance(t.get("received_s"), float)]
    if not tasks:
        return
    fig = _figure(10, 3.8)
    ax_time, ax_loss = fig.subplots(1, 2)
    workers = sorted({str(t["pid"]) for t in tasks})
    islands = sorted({int(t["island"]) for t in tasks})
    colours = {k: f"C{n % 10}" for n, k in enumerate(islands)}
    for t in tasks:
        y = workers.index(str(t["pid"]))
        ax_time.barh(y, t["seconds"], left=t["received_s"] - t["seconds"], height=0.7,
                     color=colours[int(t["island"])], edgecolor="k", linewidth=0.3)
    ax_time.set(yticks=range(len(workers)), yticklabels=[f"pid {w}" for w in workers],
                xlabel="seconds into the run", title="island tasks by worker (colour: island)")
    for k in islands:
        rows = sorted((t for t in tasks if int(t["island"]) == k and isinstance(t.get("best_loss"), float)
                       and t["best_loss"] > 0), key=lambda t: t["received_s"])
        if rows:
            ax_loss.plot([t["generation"] for t in rows], [t["best_loss"] for t in rows], "-o", ms=3,
                         color=colours[k], label=f"island {k}")
    ax_loss.set(yscale="log", xlabel="island generation", ylabel="best loss of the island's front")
    if len(islands) <= 12:
        ax_loss.legend(fontsize="small")
    _save(fig, run_dir, "islands.png", written)
