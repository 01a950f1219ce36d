"""The nightly retrain policy: `should_train` decides whether tonight's run trains, and
every decision is a row of `ml.policy_decisions`. The rules, the drift measure (PSI against
the candidates a model first went live on, `ml.feature_profiles`) and why that reference:
docs/operations.md, "The retrain policy"."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import psycopg
from psycopg.types.json import Jsonb

from ml import list_model
from ml.artifacts import model_saved
from ml.db import CANDIDATE_FEATURES, MARTS
from ml.features import FEATURES
from ml.runs import SUCCEEDED
from warehouse import seam
from warehouse.bulk import Select

log = logging.getLogger(__name__)

DEFAULT_MAX_AGE_DAYS = 7
DEFAULT_DRIFT_THRESHOLD = 0.2
BINS = 10
MIN_SHARE = 1e-4  # floor of a bin's share in the PSI (an empty bin would be log(0))
ROLLED_BACK = "rolled_back"  # status of succeeded runs newer than a restored model
DRIFT_FEATURES: tuple[str, ...] = (
    "user_prior_plays",
    "user_prior_repeat_rate",
    "track_prior_plays",
    "track_plays_28d",
    "track_prior_repeat_rate",
    "artist_prior_plays",
    "user_artist_prior_plays",
    "user_genre_share",
    "genre",
)
"""Features whose drift triggers a retrain: the model's strongest inputs, one per family.
Context columns (hour, weekday, session) are built differently for candidates and first
plays by definition (docs/data_contracts.md), so they would always look drifted."""

DDL = """
create table if not exists ml.feature_profiles (
    model_version text primary key,
    profiled_at timestamptz not null default now(),
    as_of timestamptz,
    rows bigint not null,
    profile jsonb not null
);
create table if not exists ml.policy_decisions (
    decision_id bigint generated always as identity primary key,
    decided_at timestamptz not null default now(),
    action text not null check (action in ('train', 'skip', 'restore')),
    reason text not null,
    model_version text,
    max_age_days double precision,
    drift_threshold double precision,
    dag_run_id text,
    details jsonb not null default '{}'
)
"""


@dataclass(frozen=True)
class Decision:
    train: bool
    reason: str
    details: dict[str, Any] = field(default_factory=dict)
    decision_id: int | None = None


def ensure_tables(conn: psycopg.Connection) -> None:
    """Create ml.policy_decisions and ml.feature_profiles if missing (the catalog is read
    first: no DDL runs when they exist)."""
    row = conn.execute(
        "select to_regclass('ml.policy_decisions') is null "
        "or to_regclass('ml.feature_profiles') is null"
    ).fetchone()
    assert row is not None
    if row[0]:
        conn.execute("select pg_advisory_xact_lock(hashtext('encore.policy.ddl'))")
        conn.execute(DDL)


# ------------------------------------------------------------------------- PSI and profiles


def profile(
    frame: pl.DataFrame, features: Sequence[str] = DRIFT_FEATURES, bins: int = BINS
) -> dict[str, Any]:
    """Binned distributions of `features` in `frame`: numeric columns by their quantile
    edges (deciles by default), categoricals by value; NULL counted apart. JSON-ready, so a
    training run can store it in its sidecar as `feature_profile`."""
    result: dict[str, Any] = {"rows": frame.height, "features": {}}
    for name in features:
        if name not in frame.columns:
            continue
        column = frame.get_column(name)
        if column.dtype == pl.String or column.dtype == pl.Categorical:
            values = column.cast(pl.String)
            counts = values.drop_nulls().value_counts()
            result["features"][name] = {
                "kind": "categorical",
                "counts": {str(v): int(c) for v, c in counts.iter_rows()},
                "nulls": int(values.null_count()),
            }
            continue
        values = column.cast(pl.Float64).fill_nan(None)
        present = values.drop_nulls().to_numpy()
        if present.size:
            edges = np.unique(np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1]))
        else:
            edges = np.array([], dtype=np.float64)
        result["features"][name] = {
            "kind": "numeric",
            "edges": edges.tolist(),
            "counts": _bin_counts(present, edges),
            "nulls": int(values.null_count()),
        }
    return result


def _bin_counts(values: np.ndarray, edges: np.ndarray | Sequence[float]) -> list[int]:
    """Counts per bin: (-inf, e0], (e0, e1], ..., (e_last, inf)."""
    index = np.searchsorted(np.asarray(edges, dtype=np.float64), values, side="left")
    return np.bincount(index, minlength=len(edges) + 1).astype(int).tolist()


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    """Population stability index of two binned distributions (counts or shares, same bins):
    sum((a - e) * ln(a / e)) over the bins' shares, each share floored at MIN_SHARE.
    Rule of thumb: < 0.1 stable, 0.1-0.2 moderate, > 0.2 shifted."""
    e = np.asarray(expected, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    if e.shape != a.shape:
        raise ValueError("psi needs the same bins on both sides")
    if e.sum() <= 0 or a.sum() <= 0:
        return 0.0 if e.sum() == a.sum() else math.inf
    e = np.maximum(e / e.sum(), MIN_SHARE)
    a = np.maximum(a / a.sum(), MIN_SHARE)
    return float(np.sum((a - e) * np.log(a / e)))


def feature_psi(reference: Mapping[str, Any], frame: pl.DataFrame) -> dict[str, float]:
    """PSI of each profiled feature of `reference` (a `profile` result) against `frame`,
    binned with the reference's own edges or categories."""
    result: dict[str, float] = {}
    for name, ref in reference["features"].items():
        if name not in frame.columns:
            continue
        column = frame.get_column(name)
        if ref["kind"] == "categorical":
            values = column.cast(pl.String)
            known = list(ref["counts"])
            counts = dict(values.drop_nulls().value_counts().iter_rows())
            expected = [ref["counts"][k] for k in known] + [0, ref["nulls"]]
            actual = [int(counts.get(k, 0)) for k in known]
            actual += [
                int(sum(c for k, c in counts.items() if k not in ref["counts"])),
                int(values.null_count()),
            ]
        else:
            values = column.cast(pl.Float64).fill_nan(None)
            present = values.drop_nulls().to_numpy()
            expected = [*list(ref["counts"]), ref["nulls"]]
            actual = [*_bin_counts(present, ref["edges"]), int(values.null_count())]
        result[name] = round(psi(expected, actual), 6)
    return result


# ------------------------------------------------------------------------------ decisions


def latest_run(conn: psycopg.Connection) -> dict[str, Any] | None:
    """The newest succeeded model run (the one scoring uses when nothing is trained)."""
    with conn.cursor() as cur:
        cur.execute(
            "select model_version, trained_at, train_from, train_until, artifact_path, "
            "features from ml.model_runs where status = %s "
            "order by trained_at desc, model_version desc limit 1",
            [SUCCEEDED],
        )
        row = cur.fetchone()
        if row is None:
            return None
        assert cur.description is not None  # set by a query that returns rows
        names = [column.name for column in cur.description]
    return dict(zip(names, row, strict=True))


def has_profile(conn: psycopg.Connection, model_version: str) -> bool:
    """Whether `model_version` has its drift reference already."""
    ensure_tables(conn)
    exists = conn.execute(
        "select 1 from ml.feature_profiles where model_version = %s", [model_version]
    ).fetchone()
    return exists is not None


def record_profile(conn: psycopg.Connection, model_version: str) -> bool:
    """Store the current candidates' key-feature profile as `model_version`'s drift
    reference, unless it has one already (called by ml.score at a model's first scoring,
    which profiles the rows it reads itself when it reads them all: `store_profile`).
    Returns whether a profile was written."""
    if has_profile(conn, model_version):
        return False
    frame = candidate_frame(conn)
    if frame.height == 0:
        return False
    clock = seam.data(conn).read_sql(
        "select max(as_of) as as_of from marts.fct_candidate_features",
        None,
        {"as_of": pl.Datetime("us", "UTC")},
    )
    return store_profile(conn, model_version, frame, clock.item())


def store_profile(
    conn: psycopg.Connection, model_version: str, frame: pl.DataFrame, as_of: Any
) -> bool:
    """Store `frame`'s profile (every candidate's DRIFT_FEATURES, as `candidate_frame`
    reads them) as `model_version`'s drift reference, as of the candidates' latest `as_of`
    (unless it has one: the first profile stays). False for no candidates."""
    if frame.height == 0:
        return False
    conn.execute(
        "insert into ml.feature_profiles (model_version, as_of, rows, profile) "
        "values (%s, %s, %s, %s) on conflict (model_version) do nothing",
        [model_version, as_of, frame.height, Jsonb(_jsonable(profile(frame)))],
    )
    return True


def reference_profile(
    conn: psycopg.Connection, model_version: str
) -> tuple[dict[str, Any], Any] | None:
    """The model's drift reference (profile, candidates' as_of) or None."""
    row = conn.execute("select to_regclass('ml.feature_profiles')").fetchone()
    assert row is not None
    if row[0] is None:
        return None
    row = conn.execute(
        "select profile, as_of from ml.feature_profiles where model_version = %s", [model_version]
    ).fetchone()
    return None if row is None else (row[0], row[1])


TEXT_FEATURES = ("genre", "country", "age_band")  # read as text; the others as double


def drift_columns(
    conn: psycopg.Connection, features: Sequence[str] = DRIFT_FEATURES
) -> dict[str, pl.DataType]:
    """The `features` the candidates' mart has, with the types their profile reads."""
    available = set(seam.data(conn).columns(MARTS, CANDIDATE_FEATURES))
    return {
        name: pl.String() if name in TEXT_FEATURES else pl.Float64()
        for name in features
        if name in available
    }


def candidate_frame(
    conn: psycopg.Connection, features: Sequence[str] = DRIFT_FEATURES
) -> pl.DataFrame:
    """Tonight's candidates' key features (from where dbt builds: `warehouse.seam.data`)."""
    columns = drift_columns(conn, features)
    if not columns:
        return pl.DataFrame()
    return seam.data(conn).read_frame(Select(MARTS, CANDIDATE_FEATURES, columns))


def should_train(
    conn: psycopg.Connection,
    *,
    max_age_days: float = DEFAULT_MAX_AGE_DAYS,
    drift_threshold: float = DEFAULT_DRIFT_THRESHOLD,
    force: bool = False,
    now: datetime | None = None,
    dag_run_id: str | None = None,
    record: bool = True,
    artifacts_dir: Path | None = None,
) -> Decision:
    """Decide whether to train tonight (see the module's docstring) and record the decision
    in ml.policy_decisions (unless `record` is false). With `artifacts_dir` (where scoring
    loads models from), a latest model whose files are not there is retrained."""
    now = now or datetime.now(UTC)
    details: dict[str, Any] = {
        "max_age_days": max_age_days,
        "drift_threshold": drift_threshold,
        "forced": force,
    }
    with conn.transaction():
        run = latest_run(conn)
    if run is not None:
        age = now - run["trained_at"]
        details |= {
            "model_version": run["model_version"],
            "trained_at": run["trained_at"].isoformat(),
            "age_days": round(age / timedelta(days=1), 3),
        }
    if force:
        decision = Decision(True, "forced", details)
    elif run is None:
        decision = Decision(True, "no succeeded model yet", details)
    elif artifacts_dir is not None and not model_saved(artifacts_dir, run["model_version"]):
        # e.g. a new machine or volume under the same warehouse: scoring could not load it
        decision = Decision(
            True, f"model {run['model_version']} has no files under {artifacts_dir}", details
        )
    elif run.get("features") is not None and list(run["features"]) != list(FEATURES):
        # A release changed the feature list: the old model can't score the new marts.
        decision = Decision(
            True,
            f"model {run['model_version']} was trained on a different "
            "feature list than the current one (ml/features.py)",
            details,
        )
    elif _list_model_outdated(run):
        # ... or the list model's: its lists would fall back to the repeat model's.
        decision = Decision(
            True,
            f"the list model of {run['model_version']} was trained on a different "
            "feature list than the current one (ml/list_model.py)",
            details,
        )
    elif age > timedelta(days=max_age_days):
        decision = Decision(
            True,
            f"model {run['model_version']} is "
            f"{details['age_days']:.1f} days old (max {max_age_days:g})",
            details,
        )
    else:
        decision = _drift_decision(conn, run, drift_threshold, details)
    if record:
        decision = record_decision(
            conn,
            "train" if decision.train else "skip",
            decision.reason,
            model_version=details.get("model_version"),
            details=decision.details,
            dag_run_id=dag_run_id,
            max_age_days=max_age_days,
            drift_threshold=drift_threshold,
            train=decision.train,
        )
    log.info("%s: %s", "train" if decision.train else "skip training", decision.reason)
    return decision


def _list_model_outdated(run: Mapping[str, Any]) -> bool:
    """The run has a list model in use whose features are not today's list model's."""
    sidecar = (
        list_model.read_sidecar(Path(run["artifact_path"])) if run.get("artifact_path") else None
    )
    return bool(
        sidecar and sidecar.get("used") and sidecar.get("features") != list(list_model.ALL_FEATURES)
    )


def _drift_decision(
    conn: psycopg.Connection, run: Mapping[str, Any], threshold: float, details: dict[str, Any]
) -> Decision:
    with conn.transaction():
        reference = reference_profile(conn, run["model_version"])
        if reference is None:
            return Decision(
                False,
                f"model {run['model_version']} is {details['age_days']:.1f} "
                "days old; no drift reference yet (recorded at its first "
                "scoring)",
                details,
            )
        candidates = candidate_frame(conn)
    profile_, as_of = reference
    if candidates.height == 0:
        return Decision(False, "no candidates to compare (nothing to score either)", details)
    scores = feature_psi(profile_, candidates)
    if not scores:
        return Decision(False, "no key feature to compare", details)
    worst = max(scores, key=lambda name: scores[name])
    details = details | {
        "reference_as_of": as_of,
        "reference_rows": profile_["rows"],
        "candidate_rows": candidates.height,
        "psi": scores,
        "max_psi_feature": worst,
        "max_psi": scores[worst],
    }
    if scores[worst] > threshold:
        return Decision(
            True,
            f"features drifted: PSI of {worst} is {scores[worst]:.3f} (> {threshold:g})",
            details,
        )
    return Decision(
        False,
        f"model {run['model_version']} is {details['age_days']:.1f} days "
        f"old and no feature drifted (max PSI {scores[worst]:.3f}, "
        f"{worst})",
        details,
    )


def record_decision(
    conn: psycopg.Connection,
    action: str,
    reason: str,
    *,
    model_version: str | None,
    details: Mapping[str, Any],
    dag_run_id: str | None = None,
    max_age_days: float | None = None,
    drift_threshold: float | None = None,
    train: bool = False,
) -> Decision:
    """Insert one ml.policy_decisions row (committed unless the caller holds a transaction)."""
    with conn.transaction():
        ensure_tables(conn)
        row = conn.execute(
            "insert into ml.policy_decisions (action, reason, model_version, max_age_days, "
            "drift_threshold, dag_run_id, details) values (%s, %s, %s, %s, %s, %s, %s) "
            "returning decision_id",
            [
                action,
                reason,
                model_version,
                max_age_days,
                drift_threshold,
                dag_run_id,
                Jsonb(_jsonable(details)),
            ],
        ).fetchone()
        assert row is not None  # insert ... returning one row
        (decision_id,) = row
    return Decision(train, reason, dict(details), decision_id)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return value
