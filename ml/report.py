"""The report of one model run: Markdown with PNG plots, in the run's model folder.

`.encore/artifacts/<model_version>/report.md` plus `roc.png` (model vs baselines),
`calibration.png` (reliability of the probabilities), `feature_importance.png` (LightGBM
gain) and `metrics.png` (model vs baselines), built from the folder alone: the sidecar
(`model.json`: params, split, metrics, importances) and the validation predictions that
training saved (`valid_predictions.parquet`). `python -m ml report [--version]` rebuilds it;
a backtest (ml.backtest) adds its list metrics to the report of the model it trained.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: files only

import matplotlib.pyplot as plt
import numpy as np
import polars as pl
from sklearn.metrics import roc_curve

from ml.artifacts import SIDECAR_FILE
from ml.runs import latest_version, run_metrics, set_report_path

REPORT_FILE = "report.md"
PLOTS = ("roc.png", "calibration.png", "feature_importance.png", "metrics.png")
PREDICTIONS_FILE = "valid_predictions.parquet"
LABELS = {
    "model": "LightGBM (this run)",
    "logistic_regression": "logistic regression",
    "track_repeat_rate": "track repeat rate",
    "user_repeat_rate": "user repeat rate",
    "popularity": "popularity (track prior plays)",
    "user_artist_plays": "user-artist prior plays",
    "user_recent_plays": "user's plays of the track, last 30 days",
    "user_artist_repeat_rate": "user-artist repeat rate (smoothed)",
    "recent_plays": "the user's recent plays (last 30 days)",
    "recency_weighted": "recency-weighted plays (30 + 90 days)",
    "recency_weighted_30d": "recency-weighted plays (30 days)",
    "recency_weighted_90d": "recency-weighted plays (90 days)",
    "list_model": "list model (cross-fitted)",
    "repeat_model": "repeat model",
    "published": "published ranking",
}
_PROBABILITIES = ("model", "logistic_regression", "track_repeat_rate", "user_repeat_rate")
_DPI = 90
MAX_BAR_LISTENERS = 60


def write_report(
    folder: Path,
    *,
    metrics: Mapping[str, Any] | None = None,
    backtest: Mapping[str, Any] | None = None,
) -> Path:
    """Write report.md and its plots into the model folder `folder`; return report.md.

    `metrics` defaults to the sidecar's (pass ml.model_runs' to include later additions);
    `backtest` adds a section with a backtest's list metrics (ml.backtest's result).
    """
    folder = Path(folder)
    sidecar = json.loads((folder / SIDECAR_FILE).read_text(encoding="utf-8"))
    metrics = dict(metrics or sidecar["metrics"])
    predictions = pl.read_parquet(folder / PREDICTIONS_FILE)
    k = int(metrics.get("k", 20))
    rows = metric_rows(metrics)

    _plot_roc(predictions, folder / "roc.png")
    _plot_calibration(predictions, folder / "calibration.png")
    _plot_importance(sidecar.get("feature_importance_gain", {}), folder / "feature_importance.png")
    _plot_metrics(rows, k, folder / "metrics.png")

    split = sidecar.get("split", {})
    params = sidecar.get("params", {})
    lines = [
        f"# Model run `{sidecar['model_version']}`",
        "",
        f"Trained {sidecar.get('trained_at', '?')}; label `repeat_30d` (the user plays the "
        f"track again within 30 days of its first play). Definitions: docs/model.md.",
        "",
        "## Data window",
        "",
        "| | from | until | rows | users |",
        "|---|---|---|---|---|",
        f"| training | {split.get('train_from')} | {split.get('train_until')} | "
        f"{_int(split.get('train_rows'))} | {_int(split.get('train_users'))} |",
        f"| validation | {split.get('valid_from')} | {split.get('valid_until')} | "
        f"{_int(split.get('valid_rows'))} | {_int(split.get('valid_users'))} |",
        "",
        f"Split per user: each user's last {split.get('validation_days')} days of labelled "
        f"first plays validate; training keeps pairs whose {split.get('label_window_days')}-day "
        "label window closed before that user's cut-off. Positive rate: training "
        f"{_num(sidecar.get('positive_rate'))}, validation "
        f"{_num(metrics.get('valid_positive_rate'))}.",
        "",
        "## Metrics on the validation rows",
        "",
        f"| scorer | AUC | per-user AUC | log loss | recall@{k} | NDCG@{k} |",
        "|---|---|---|---|---|---|",
        *(
            f"| {LABELS.get(name, name)} | {_num(row['auc'])} | {_num(row['user_auc'])} | "
            f"{_num(row['log_loss'])} | {_num(row[f'recall_at_{k}'])} | "
            f"{_num(row[f'ndcg_at_{k}'])} |"
            for name, row in rows.items()
        ),
        "",
        f"Per-user AUC: mean over the {_int(metrics.get('user_auc_users'))} users with both "
        f"labels. recall@{k} / NDCG@{k}: each user's validation pairs ranked by the score, "
        f"relevant = label 1, mean over the {_int(metrics.get('list_users'))} users with a "
        "repeat. Log loss only for scores that are probabilities.",
        "",
        "![metrics against baselines](metrics.png)",
        "",
        "## ROC",
        "",
        "![ROC curves](roc.png)",
        "",
        "## Calibration",
        "",
        "Mean predicted probability against the observed repeat rate, in 15 equal-count bins "
        "of each scorer's predictions.",
        "",
        "![calibration](calibration.png)",
        "",
        "## Feature importance (gain)",
        "",
        "![feature importance](feature_importance.png)",
        "",
    ]
    if backtest:
        lines += backtest_section(backtest)
    lines += [
        "## Parameters",
        "",
        "```json",
        json.dumps(params, indent=1, sort_keys=True, default=str),
        "```",
        "",
    ]
    path = folder / REPORT_FILE
    tmp = folder / f".{REPORT_FILE}.tmp"
    tmp.write_text("\n".join(lines), encoding="utf-8")
    tmp.replace(path)
    return path


def metric_rows(metrics: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """{scorer: {auc, user_auc, log_loss, recall_at_k, ndcg_at_k}}: the model first, then
    each baseline (runs from before ml.baselines have only the track-repeat-rate one)."""
    k = int(metrics.get("k", 20))
    keys = ("auc", "user_auc", "log_loss", f"recall_at_{k}", f"ndcg_at_{k}")
    rows = {"model": {key: metrics.get(key) for key in keys}}
    others = metrics.get("baselines") or {
        "track_repeat_rate": {
            "auc": metrics.get("baseline_auc"),
            "user_auc": metrics.get("baseline_user_auc"),
            "log_loss": metrics.get("baseline_log_loss"),
        }
    }
    order = (
        "logistic_regression",
        "track_repeat_rate",
        "user_repeat_rate",
        "popularity",
        "user_artist_plays",
    )
    for name in sorted(others, key=lambda n: (order.index(n) if n in order else 99, n)):
        rows[name] = {key: others[name].get(key) for key in keys}
    return rows


def backtest_section(backtest: Mapping[str, Any]) -> list[str]:
    """Markdown lines for a backtest's result (ml.backtest)."""
    k = int(backtest.get("k", 20))
    span = backtest.get("cutoff_range") or [backtest.get("cutoff")] * 2
    lines = [
        "## Backtest of the published lists",
        "",
        f"Each listener's own cut-off T = their clock minus "
        f"{30 * int(backtest.get('cutoff_number', 1))} days (T from {span[0]} to {span[1]}); "
        f"horizon {backtest.get('horizon_days')} days after T; "
        f"{_int(backtest.get('users_with_lists'))} listeners with a list, "
        f"{_int(backtest.get('users_evaluated'))} of them with at least one relevant track. "
        "Relevant: tracks the listener played in the horizon that they had already played "
        "by T. Candidate coverage (share of relevant tracks that were candidates, the ceiling "
        f"of recall): {_num(backtest.get('candidate_coverage'))}. Published ranking: "
        f"{_label(backtest.get('published_ranking'))}; the strongest other: "
        f"{_label(backtest.get('strongest_baseline'))}.",
        "",
        f"| ranking | recall@{k} | NDCG@{k} | precision@{k} |",
        "|---|---|---|---|",
    ]
    for name, row in backtest.get("rankings", {}).items():
        lines.append(
            f"| {LABELS.get(name, name)} | {_num(row.get(f'recall_at_{k}'))} | "
            f"{_num(row.get(f'ndcg_at_{k}'))} | {_num(row.get(f'precision_at_{k}'))} |"
        )
    lines.append("")
    for key in ("plot", "listener_plot"):
        if backtest.get(key):
            lines += [f"![{key}]({Path(backtest[key]).name})", ""]
    return lines


def _label(name: Any) -> str:
    return LABELS.get(str(name), str(name))


def plot_listeners(backtest: Mapping[str, Any], path: Path) -> Path:
    """Per listener, NDCG@k of the published ranking beside the user's recent plays: a bar
    pair per listener, or one point per listener when there are more than MAX_BAR_LISTENERS
    (thousands of bars are unreadable, and took seconds to draw)."""
    k = int(backtest.get("k", 20))
    per = backtest.get("per_listener_ndcg", {})
    published, recent = per.get("published", {}), per.get("recent_plays", {})
    users = sorted(set(published) | set(recent))
    if len(users) > MAX_BAR_LISTENERS:
        return _plot_listener_points(users, published, recent, k, path)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.35 * len(users) + 2), 3.6))
    x = np.arange(len(users))
    ax.bar(
        x - 0.2,
        [_float(published.get(u)) for u in users],
        0.4,
        label=LABELS.get("published", "published"),
    )
    ax.bar(
        x + 0.2,
        [_float(recent.get(u)) for u in users],
        0.4,
        label=LABELS.get("recent_plays", "recent plays"),
    )
    ax.set_xticks(x, [u[:14] for u in users], rotation=60, ha="right", fontsize=6)
    ax.set(title=f"NDCG@{k} per listener at their own cut-off", ylim=(0, 1))
    ax.legend(fontsize=7)
    _save(fig, path)
    return path


def _plot_listener_points(
    users: list[str], published: Mapping[str, Any], recent: Mapping[str, Any], k: int, path: Path
) -> Path:
    x = np.array([_float(recent.get(u)) for u in users])
    y = np.array([_float(published.get(u)) for u in users])
    fig, ax = plt.subplots(figsize=(5.5, 5.0))
    ax.scatter(x, y, s=6, alpha=0.4)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    both = np.isfinite(x) & np.isfinite(y)
    above, below = int((y[both] > x[both]).sum()), int((y[both] < x[both]).sum())
    ax.set(
        xlabel=f"{LABELS.get('recent_plays', 'recent plays')}: NDCG@{k}",
        ylabel=f"{LABELS.get('published', 'published')}: NDCG@{k}",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    ax.set_title(
        f"NDCG@{k} per listener ({len(users):,})\n{above:,} above the diagonal, {below:,} below",
        fontsize=9,
    )
    _save(fig, path)
    return path


# --------------------------------------------------------------------------- plots


def _plot_roc(predictions: pl.DataFrame, path: Path) -> None:
    labels = predictions["label"].to_numpy()
    fig, ax = plt.subplots(figsize=(5.5, 5.0))
    if len(np.unique(labels)) == 2:
        for name in _scorers(predictions):
            fpr, tpr, _ = roc_curve(labels, predictions[name].to_numpy())
            ax.plot(
                fpr, tpr, label=LABELS.get(name, name), linewidth=2.0 if name == "model" else 1.0
            )
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.set(
        xlabel="false positive rate",
        ylabel="true positive rate",
        title="ROC, validation rows (pooled)",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    ax.legend(loc="lower right", fontsize=7)
    _save(fig, path)


def _plot_calibration(predictions: pl.DataFrame, path: Path, bins: int = 15) -> None:
    labels = predictions["label"].to_numpy().astype(float)
    fig, ax = plt.subplots(figsize=(5.5, 5.0))
    top = 0.0
    for name in (n for n in _PROBABILITIES if n in predictions.columns):
        scores = predictions[name].to_numpy()
        order = np.argsort(scores, kind="stable")
        groups = [g for g in np.array_split(order, bins) if g.size]
        mean_pred = np.array([scores[g].mean() for g in groups])
        observed = np.array([labels[g].mean() for g in groups])
        top = max(top, mean_pred.max(), observed.max())
        ax.plot(
            mean_pred,
            observed,
            marker="o",
            markersize=3,
            label=LABELS.get(name, name),
            linewidth=2.0 if name == "model" else 1.0,
        )
    top = min(1.0, top * 1.05 + 0.01)
    ax.plot([0, top], [0, top], color="grey", linestyle=":", linewidth=1)
    ax.set(
        xlabel="mean predicted probability",
        ylabel="observed repeat rate",
        title="Calibration, validation rows",
        xlim=(0, top),
        ylim=(0, top),
    )
    ax.legend(loc="upper left", fontsize=7)
    _save(fig, path)


def _plot_importance(gain: Mapping[str, float], path: Path) -> None:
    items = sorted(gain.items(), key=lambda kv: kv[1])
    total = sum(v for _, v in items) or 1.0
    fig, ax = plt.subplots(figsize=(6.0, max(3.0, 0.22 * len(items) + 0.8)))
    ax.barh([name for name, _ in items], [100.0 * v / total for _, v in items])
    ax.set(xlabel="share of total gain (%)", title="LightGBM feature importance (gain)")
    ax.tick_params(axis="y", labelsize=7)
    _save(fig, path)


def _plot_metrics(rows: Mapping[str, Mapping[str, Any]], k: int, path: Path) -> None:
    measures = (
        ("auc", "AUC"),
        ("user_auc", "per-user AUC"),
        (f"ndcg_at_{k}", f"NDCG@{k}"),
        (f"recall_at_{k}", f"recall@{k}"),
    )
    names = list(rows)
    fig, ax = plt.subplots(figsize=(7.5, 4.0))
    width = 0.8 / len(names)
    x = np.arange(len(measures))
    for i, name in enumerate(names):
        values = [_float(rows[name].get(key)) for key, _ in measures]
        ax.bar(x + i * width - 0.4 + width / 2, values, width, label=LABELS.get(name, name))
    ax.set_xticks(x, [label for _, label in measures])
    ax.set(ylim=(0, 1), title="Model against baselines (validation rows)")
    ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
    ax.legend(fontsize=7, ncols=2, loc="upper right")
    _save(fig, path)


def plot_backtest(backtest: Mapping[str, Any], path: Path) -> Path:
    """Bar chart of a backtest's recall@k and NDCG@k per ranking."""
    k = int(backtest.get("k", 20))
    rankings = backtest.get("rankings", {})
    names = list(rankings)
    fig, ax = plt.subplots(figsize=(7.0, 3.6))
    x = np.arange(2)
    width = 0.8 / max(1, len(names))
    for i, name in enumerate(names):
        values = [
            _float(rankings[name].get(f"recall_at_{k}")),
            _float(rankings[name].get(f"ndcg_at_{k}")),
        ]
        ax.bar(x + i * width - 0.4 + width / 2, values, width, label=LABELS.get(name, name))
    ax.set_xticks(x, [f"recall@{k}", f"NDCG@{k}"])
    ax.set(
        title=f"Backtest: top {k} of the candidates vs the next {backtest.get('horizon_days')}"
        " days' repeats",
        ylim=(0, 1),
    )
    ax.legend(fontsize=7)
    _save(fig, path)
    return path


def _scorers(predictions: pl.DataFrame) -> list[str]:
    return [c for c in predictions.columns if c not in ("user_id", "track_key", "label")]


def _save(fig: plt.Figure, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)
    plt.close(fig)


def _float(value: Any) -> float:
    return math.nan if value is None else float(value)


def _num(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{float(value):.4f}"


def _int(value: Any) -> str:
    return "?" if value is None else f"{int(value):,}"


def regenerate(conn: Any, artifacts_dir: Path, model_version: str | None = None) -> Path:
    """`python -m ml report`: rebuild a run's report (default: the latest succeeded run) from
    its model folder and its ml.model_runs metrics; record the path in the run's metrics."""
    with conn.transaction():
        version = model_version or latest_version(conn)
        stored = run_metrics(conn, version)
    folder = Path(artifacts_dir) / version
    if not (folder / PREDICTIONS_FILE).is_file():
        raise FileNotFoundError(
            f"{folder} has no {PREDICTIONS_FILE} (runs trained before the report existed "
            "cannot be reported; retrain)"
        )
    backtest_file = folder / "backtest.json"
    backtest = (
        json.loads(backtest_file.read_text(encoding="utf-8")) if backtest_file.is_file() else None
    )
    path = write_report(folder, metrics=stored or None, backtest=backtest)
    if stored is not None:
        set_report_path(conn, version, str(path.resolve()))
    return path
