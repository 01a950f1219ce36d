"""`python -m bench.list_blends MODEL_DIR [--cutoffs 1,2,3]`: NDCG@20 of the list model,
each recency rule, and the mean of the list model's probability with each rule's
calibrated probability, at past cut-offs of the warehouse of `WAREHOUSE_URL`.

An offline sketch for trying a blend before it becomes a contender in `ml.rankers`. The
list model's scores are cross-fitted by listener exactly as the backtest's
(`ml.list_model.cross_fitted_scores`, with the params saved in MODEL_DIR's sidecar). A
rule's calibration (`ml.rankers.Calibration`) is fitted two ways: `older`, on the cut-offs
older than the graded one only (none at the oldest: no number), and `folds`, per fold of
listeners on the older cut-offs and the graded cut-off's other folds (as the list model is
cross-fitted). The choice compares cut-offs 2 and 3 (`ml.rankers.CHOICE_CUTOFFS`); cut-off
1 is the month the backtest grades, so a blend chosen by looking at cut-off 1 is tuned on
it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import polars as pl
from rich.console import Console
from rich.table import Table

from ml import list_model, rankers
from warehouse import connections


def _calibrated(
    frame: pl.DataFrame, graded: pl.DataFrame, rule: str, how: str
) -> np.ndarray | None:
    """`rule`'s calibrated probability of the `graded` rows (cut-off c of `frame`)."""
    cutoff = graded[list_model.CUTOFF][0]
    older = frame.filter(pl.col(list_model.CUTOFF) > cutoff)
    if how == "older":
        if older.height == 0:
            return None
        fit = rankers.Calibration.fit(
            rankers.rule_scores(older, rule), older[list_model.LABEL].to_numpy()
        )
        return fit.apply(rankers.rule_scores(graded, rule))
    fold = list_model.folds_of(graded, 5)
    probability = np.zeros(graded.height)
    for k in np.unique(fold):
        rows = pl.concat([older, graded.filter(pl.Series(fold != k))])
        fit = rankers.Calibration.fit(
            rankers.rule_scores(rows, rule), rows[list_model.LABEL].to_numpy()
        )
        mine = fold == k
        probability[mine] = fit.apply(rankers.rule_scores(graded.filter(pl.Series(mine)), rule))
    return probability


def measure(frame: pl.DataFrame, params: dict, cutoffs: list[int]) -> dict[str, dict[int, float]]:
    """{ranking: {cut-off: NDCG@20}} for the list model, the rules and the blends."""
    table: dict[str, dict[int, float]] = {}
    for cutoff in cutoffs:
        graded = frame.filter(pl.col(list_model.CUTOFF) == cutoff)
        if graded.height == 0:
            continue
        scores = list_model.cross_fitted_for(graded, frame, params, grade_cutoff=cutoff)
        table.setdefault(rankers.LIST_MODEL, {})[cutoff] = rankers.ndcg(graded, scores)
        for rule in rankers.RULES:
            table.setdefault(rule, {})[cutoff] = rankers.ndcg(
                graded, rankers.rule_scores(graded, rule)
            )
            for how in ("older", "folds"):
                probability = _calibrated(frame, graded, rule, how)
                if probability is not None:
                    blended = 0.5 * scores + 0.5 * probability
                    name = f"mean(list model, {rule}), {how}"
                    table.setdefault(name, {})[cutoff] = rankers.ndcg(graded, blended)
    return table


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.list_blends", description=__doc__)
    parser.add_argument("model_dir", type=Path, help="a model folder with a list model")
    parser.add_argument("--cutoffs", default="1,2,3")
    args = parser.parse_args()
    sidecar = list_model.read_sidecar(args.model_dir) or {}
    if not sidecar.get("used"):
        parser.error(f"{args.model_dir} has no list model")
    cutoffs = [int(part) for part in args.cutoffs.split(",")]
    with connections.connect() as conn:
        frame = list_model.read_outcomes(conn)
    table = measure(frame, sidecar["metrics"]["params"], cutoffs)
    choice = [cutoff for cutoff in rankers.CHOICE_CUTOFFS if cutoff in cutoffs]
    out = Table(title="NDCG@20 by cut-off (cross-fitted list model)")
    out.add_column("ranking")
    for cutoff in cutoffs:
        out.add_column(f"cut-off {cutoff}", justify="right")
    out.add_column(f"mean of {', '.join(map(str, choice))}", justify="right")
    for name, by_cutoff in table.items():
        values = [by_cutoff[cutoff] for cutoff in choice if cutoff in by_cutoff]
        mean = float(np.mean(values)) if values and len(values) == len(choice) else None
        out.add_row(
            name,
            *(f"{by_cutoff[c]:.4f}" if c in by_cutoff else "" for c in cutoffs),
            f"{mean:.4f}" if mean is not None else "",
        )
    Console().print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
