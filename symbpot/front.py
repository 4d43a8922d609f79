"""The Pareto front as a small table (no pandas dependency)."""
from __future__ import annotations

import csv
import io

from .export.sympy_form import expression_size, round_floats

COLUMNS = ("complexity", "loss", "energy_rmse_meV_per_atom", "energy_mae_meV_per_atom", "train_loss",
           "validation_loss", "validation_rmse_meV_per_atom", "force_rmse_eV_per_A", "size", "expression")


def closed_form(potential) -> tuple[int, str]:
    """``(size, text)`` of a potential's simplified closed form.

    ``size`` counts the nodes of the simplified expression tree (symbols and numbers
    one each); for many-body potentials it is the sum over all functions (phi, g, F per
    species or species pair), before the cutoff function.
    """
    if hasattr(potential, "functions"):  # many-body: every function, "; "-separated
        funcs = potential.functions()
        return (sum(expression_size(f) for f in funcs.values()),
                "; ".join(f"{k} = {v}" for k, v in funcs.items()))
    v = potential.pair_function()
    return expression_size(v), str(v)


class FrontTable:
    """Rows (dicts) of the Pareto front, by increasing complexity.

    Columns: ``complexity`` (tree nodes weighted by the registry, plus one per outer
    coefficient), ``loss`` (the search's loss on the grid), ``train_loss`` and
    ``validation_loss`` (the same loss computed exactly; NaN without validation data),
    training energy RMSE and MAE in meV/atom and force RMSE in eV/Å (exact; NaN without
    forces), validation energy RMSE, ``size`` (nodes of the simplified closed form) and
    ``expression`` (the simplified V(r), sympy syntax).
    """

    def __init__(self, rows: list[dict]):
        self.rows = rows

    @classmethod
    def from_potentials(cls, potentials, losses) -> "FrontTable":
        rows = []
        for pot, loss in zip(potentials, losses):
            size, text = closed_form(pot)
            train = pot.metrics["train"]
            val = pot.metrics.get("validation", {})
            nan = float("nan")
            rows.append({
                "complexity": pot.complexity,
                "loss": float(loss),
                "train_loss": pot.metrics.get("loss", {}).get("train", nan),
                "validation_loss": pot.metrics.get("loss", {}).get("validation", nan),
                "energy_rmse_meV_per_atom": train["energy_rmse_meV_per_atom"],
                "energy_mae_meV_per_atom": train["energy_mae_meV_per_atom"],
                "force_rmse_eV_per_A": train.get("force_rmse_eV_per_A", nan),
                "validation_rmse_meV_per_atom": val.get("energy_rmse_meV_per_atom", float("nan")),
                "size": size,
                "expression": text,
            })
        return cls(rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, k):
        return self.rows[k]

    def __iter__(self):
        return iter(self.rows)

    def column(self, name: str) -> list:
        return [row[name] for row in self.rows]

    def to_csv(self, path=None) -> str:
        """Write (or return) the table as CSV."""
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in self.rows:
            writer.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in row.items()})
        text = buf.getvalue()
        if path is not None:
            with open(path, "w") as fh:
                fh.write(text)
        return text

    def __repr__(self) -> str:
        lines = [f"{'cplx':>4} {'loss':>10} {'RMSE meV/at':>12} {'val RMSE':>10}  expression"]
        for row in self.rows:
            expr = _rounded(row["expression"])
            lines.append(f"{row['complexity']:>4} {row['loss']:>10.3e} {row['energy_rmse_meV_per_atom']:>12.5g} "
                         f"{row['validation_rmse_meV_per_atom']:>10.4g}  {expr}")
        return "\n".join(lines)


def split_functions(text: str) -> dict:
    """``{"phi_CuCu": "...", ...}`` of a many-body front row ``"phi_CuCu = ...; F_Cu = ..."``."""
    parts = [part.split(" = ", 1) for part in str(text).split("; ")]
    if not all(len(part) == 2 for part in parts):
        raise ValueError(f"not a list of functions: {text!r}")
    return {name.strip(): expr for name, expr in parts}


def _rounded(text: str, digits: int = 5) -> str:
    """An expression as written in the table (one V(r), or ``name = expr; ...`` for the
    functions of a many-body potential) with its numbers shown to ``digits`` digits."""
    from .export.sympy_form import parse

    if " = " not in text:
        return str(round_floats(parse(text), digits))
    return "; ".join(f"{name} = {round_floats(parse(expr), digits)}" for name, expr in split_functions(text).items())
