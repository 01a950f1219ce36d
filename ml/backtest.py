"""`python -m ml backtest`: replay the pipeline as of a past cut-off and grade its lists.

1. Cut-off T = the data's end (the last play in marts.fct_plays) minus `horizon_days` (30).
2. A scratch database on the same server gets the raw tables with only the plays before T
   (`synthetic_plays`, `lastfm_scrobbles` by `played_at`, `spotify_plays` by `ended_at`;
   catalogue tables whole), then `dbt build` (models and seeds, no tests) in-process.
3. A model is trained there (ml.train, same split and params) and scores the candidates of
   `marts.fct_candidate_features` (as of the last play before T); each user's list is the
   top k (20) by score, ties by track key, as ml.publish ranks them. The same candidates are
   also ranked by the baselines: the logistic regression trained with the model, popularity
   (`track_prior_plays`), the track repeat rate and the user's own plays of the track in the
   30 days before T ("the user's most played tracks of the last 30 days"; ties by
   popularity).
4. Relevant tracks of a user (docs/model.md): tracks the user played in (T, T + horizon]
   that they had already played before T, a repeat, taken from the full data's
   marts.fct_plays. recall@k / NDCG@k / precision@k (ml.ranking) are averaged over the users
   who have a list and at least one relevant track. Relevant tracks that were never
   candidates count (candidate coverage = the share that were: recall's ceiling). The
   DESIGN.md variant (tracks played at least twice in the horizon, new or not) is reported
   too, under `rankings_two_plays`.
5. The scratch database is dropped (also on failure). The result goes to
   `<backtests dir>/<model version>/` (the scratch model's folder: backtest.json,
   backtest.png and its report with a backtest section) and a row of `ml.backtests`.

Real exports end in different years: with one global T only the users active just before
it would be graded. `align_users` shifts each user's plays by a whole number of weeks (hour
and weekday unchanged) so that every history ends in the data's last week, before anything
else happens; cross-user features then mix users as if they listened at the same time.
Track identities are resolved by each build on its own data; a name whose resolution
changes between the two (rare) makes a repeat look like a new track.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import polars as pl
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from config import process_env
from ml import list_model, ranking
from ml.baselines import baseline_scores
from ml.db import CANDIDATE_FEATURES, feature_query, read_frame
from ml.features import to_matrix
from ml.report import backtest_section, plot_backtest, write_report
from ml.runs import finite
from ml.train import Trained, fit_and_register

log = logging.getLogger(__name__)

SCRATCH_PREFIX = "encore_backtest_"
RECENT_DAYS = 30
# raw table -> (user column, time column) of the tables that hold plays.
PLAY_TABLES = {
    "synthetic_plays": ("user_id", "played_at"),
    "lastfm_scrobbles": ("user_name", "played_at"),
    "spotify_plays": ("user_name", "ended_at"),
}
_BACKTESTS_DDL = """
create table if not exists ml.backtests (
    backtest_id uuid primary key,
    created_at timestamptz not null default now(),
    model_version text not null,
    cutoff timestamptz not null,
    horizon_days integer not null,
    k integer not null,
    align_users boolean not null,
    metrics jsonb not null,
    report_path text
)
"""


@dataclass(frozen=True)
class _Server:
    host: str
    port: int
    user: str
    password: str

    def url(self, database: str) -> str:
        auth = quote(self.user, safe="") + (f":{quote(self.password, safe='')}"
                                            if self.password else "")
        return f"postgresql://{auth}@{self.host}:{self.port}/{database}"


def backtest(
    conn: psycopg.Connection,
    *,
    backtests_dir: Path,
    horizon_days: int = 30,
    k: int = ranking.DEFAULT_K,
    validation_days: int = 30,
    align_users: bool = False,
    params: dict[str, Any] | None = None,
    keep_scratch: bool = False,
    record: bool = True,
) -> dict[str, Any]:
    """Run the backtest described in the module docstring; return its result (also written
    to `backtests_dir/<model version>/backtest.json` and, with `record`, ml.backtests)."""
    started = time.perf_counter()
    timings: dict[str, Any] = {}
    with conn.transaction():
        shifts = _user_shifts(conn, align_users)
        data_end = _data_end(conn, shifts)
    cutoff = data_end - timedelta(days=horizon_days)
    log.info("backtest: data ends %s, cut-off %s, %d users%s", data_end, cutoff, len(shifts),
             " (aligned)" if align_users else "")
    with scratch_warehouse(conn, cutoff, shifts, backtests_dir, keep=keep_scratch,
                           timings=timings) as url, psycopg.connect(url) as scratch_conn:
        step = time.perf_counter()
        trained = fit_and_register(scratch_conn, artifacts_dir=backtests_dir,
                                   validation_days=validation_days, params=params)
        timings["train_seconds"] = time.perf_counter() - step
        try:
            candidates = read_candidates_with_history(scratch_conn)
        except ValueError as none:
            raise ValueError(f"{none}: no user played in the 30 days before it (use "
                             "--align-users for histories that end in different years)"
                             ) from none
        recent = _read_recent(scratch_conn, cutoff)
    with conn.transaction():
        relevant, relevant_two = relevant_pairs(conn, cutoff, horizon_days, shifts)
    step = time.perf_counter()
    list_scores = _list_model_scores(candidates, trained, relevant, relevant_two)
    timings["list_model_seconds"] = time.perf_counter() - step
    rankings_input = _rankings_input(candidates, recent, trained).join(
        list_scores, on=["user_id", "track_key"], how="left")
    result = _grade(rankings_input, relevant, relevant_two, k)
    result |= {
        "model_version": trained.run.model_version,
        "data_end": data_end.isoformat(),
        "cutoff": cutoff.isoformat(),
        "horizon_days": horizon_days,
        "k": k,
        "align_users": align_users,
        "validation_days": validation_days,
        "raw_rows_copied": timings.pop("raw_rows_copied"),
        "candidates": candidates.height,
        "training": {key: trained.run.metrics.get(key) for key in
                     ("auc", "user_auc", "log_loss", "baseline_auc", "baseline_user_auc")},
        "scratch_database": timings.pop("scratch_database"),
        "scratch_dropped": not keep_scratch,
    }
    timings["total_seconds"] = time.perf_counter() - started
    result["timings"] = {key: round(value, 1) for key, value in timings.items()}
    _write(conn, result, trained, record=record)
    log.info("backtest %s: %s", trained.run.model_version, json.dumps(
        {name: {m: round(v, 4) for m, v in row.items() if isinstance(v, float)}
         for name, row in result["rankings"].items()}))
    return result


@contextmanager
def scratch_warehouse(
    conn: psycopg.Connection, cutoff: datetime, shifts: dict[str, timedelta], work_dir: Path,
    *, keep: bool = False, timings: dict[str, Any] | None = None,
) -> Iterator[str]:
    """A scratch database on `conn`'s server holding the warehouse as of `cutoff` (raw plays
    before it, shifted by `shifts`; the catalogue whole; the same dbt build); yields its URL
    and drops it afterwards, also on failure (unless `keep`)."""
    timings = {} if timings is None else timings
    started = time.perf_counter()
    server = _server(conn)
    scratch = f"{SCRATCH_PREFIX}{os.getpid()}_{uuid.uuid4().hex[:8]}"
    timings["scratch_database"] = scratch
    _admin(server, sql.SQL("create database {}").format(sql.Identifier(scratch)))
    try:
        url = server.url(scratch)
        with psycopg.connect(url) as scratch_conn:
            from warehouse.bootstrap import bootstrap

            bootstrap(scratch_conn)
            timings["raw_rows_copied"] = _copy_raw(conn, scratch_conn, cutoff, shifts)
        timings["copy_seconds"] = time.perf_counter() - started
        _dbt_build(url, work_dir / ".dbt")
        timings["dbt_seconds"] = time.perf_counter() - started - timings["copy_seconds"]
        yield url
    finally:
        if keep:
            log.warning("scratch database %s kept", scratch)
        else:
            _admin(server, sql.SQL("drop database if exists {} with (force)").format(
                sql.Identifier(scratch)))


def read_candidates_with_history(conn: psycopg.Connection) -> pl.DataFrame:
    """The warehouse's candidates with their features (ml.db) and list_model's history
    features and source flags."""
    keys = {"user_id": pl.String(), "track_key": pl.String(), "candidate_source": pl.String()}
    query, schema = feature_query(CANDIDATE_FEATURES, keys)
    query = sql.SQL("{} order by user_id, track_key").format(query)
    with conn.transaction():
        candidates = read_frame(conn, query, schema)
        history = list_model.read_history(conn)
    if candidates.height == 0:
        raise ValueError("no candidates as of the cut-off")
    return candidates.join(history, on=["user_id", "track_key"], how="left")


def _list_model_scores(candidates: pl.DataFrame, trained: Trained, relevant: pl.DataFrame,
                       relevant_two: pl.DataFrame) -> pl.DataFrame:
    """The list model's score of each candidate, cross-fitted by user (ml.list_model): a
    user's list is ranked by a model that never saw that user's labels."""
    frame = list_model.training_frame(candidates, trained.booster, trained.best_iteration,
                                      trained.vocabulary, relevant, relevant_two)
    scores = list_model.cross_fitted_scores(frame, trained.vocabulary)
    return frame.select("user_id", "track_key").with_columns(
        list_model=pl.Series(scores, dtype=pl.Float64))


# --------------------------------------------------------------------------- the data


def _user_shifts(conn: psycopg.Connection, align: bool) -> dict[str, timedelta]:
    """Per user, how far their plays move (whole weeks; all zero without `align`)."""
    rows = conn.execute(
        "select user_id, max(played_at) from marts.fct_plays group by user_id").fetchall()
    if not rows:
        raise ValueError("marts.fct_plays is empty: build the marts before a backtest")
    end = max(last for _, last in rows)
    week = timedelta(days=7)
    return {user: ((end - last) // week) * week if align else timedelta(0)
            for user, last in rows}


def _shift_join(alias: str, user_col: str, shifts: dict[str, timedelta]) -> sql.Composed:
    """`left join (user, shift) s on s.u = <alias>.<user_col>` over the given shifts."""
    users = list(shifts)
    return sql.SQL(
        "left join (select unnest({users}::text[]) as u, unnest({shifts}::interval[]) as shift)"
        " s on s.u = {alias}.{user}"
    ).format(users=sql.Literal(users), shifts=sql.Literal([shifts[u] for u in users]),
             alias=sql.Identifier(alias), user=sql.Identifier(user_col))


def _shifted(alias: str, column: str) -> sql.Composed:
    return sql.SQL("({}.{} + coalesce(s.shift, interval '0'))").format(
        sql.Identifier(alias), sql.Identifier(column))


def _data_end(conn: psycopg.Connection, shifts: dict[str, timedelta]) -> datetime:
    query = sql.SQL("select max({t}) from marts.fct_plays p {join}").format(
        t=_shifted("p", "played_at"), join=_shift_join("p", "user_id", shifts))
    return conn.execute(query).fetchone()[0]  # type: ignore[index]


def _copy_raw(
    source: psycopg.Connection, target: psycopg.Connection, cutoff: datetime,
    shifts: dict[str, timedelta],
) -> dict[str, int]:
    """Copy every raw table that exists in the source (plays before `cutoff` only, shifted)."""
    from warehouse.raw_tables import BATCH_COLUMNS, RAW_SCHEMA, RAW_TABLES

    copied: dict[str, int] = {}
    for name, table in RAW_TABLES.items():
        exists = source.execute("select to_regclass(%s)", [f"{RAW_SCHEMA}.{name}"]).fetchone()
        if exists is None or exists[0] is None:
            continue
        columns = [*table.column_names, *(c for c, _ in BATCH_COLUMNS)]
        if name in PLAY_TABLES:
            user_col, time_col = PLAY_TABLES[name]
            select = sql.SQL("select {cols} from {raw}.{table} r {join} where {t} < {cutoff}")
            cols = sql.SQL(", ").join(
                sql.SQL("{} as {}").format(_shifted("r", c), sql.Identifier(c)) if c == time_col
                else sql.SQL("r.{}").format(sql.Identifier(c)) for c in columns)
            query = select.format(cols=cols, raw=sql.Identifier(RAW_SCHEMA),
                                  table=sql.Identifier(name),
                                  join=_shift_join("r", user_col, shifts),
                                  t=_shifted("r", time_col), cutoff=sql.Literal(cutoff))
        else:
            query = sql.SQL("select {cols} from {raw}.{table}").format(
                cols=sql.SQL(", ").join(map(sql.Identifier, columns)),
                raw=sql.Identifier(RAW_SCHEMA), table=sql.Identifier(name))
        copy_in = sql.SQL("copy {}.{} ({}) from stdin (format binary)").format(
            sql.Identifier(RAW_SCHEMA), sql.Identifier(name),
            sql.SQL(", ").join(map(sql.Identifier, columns)))
        with source.cursor() as out_cur, target.cursor() as in_cur:
            with (out_cur.copy(sql.SQL("copy ({}) to stdout (format binary)").format(query))
                  as out, in_cur.copy(copy_in) as into):
                for chunk in out:
                    into.write(chunk)
            target.commit()
        count = target.execute(sql.SQL("select count(*) from {}.{}").format(
            sql.Identifier(RAW_SCHEMA), sql.Identifier(name))).fetchone()[0]  # type: ignore[index]
        copied[name] = int(count)
    source.commit()
    target.commit()
    return copied


def _read_recent(conn: psycopg.Connection, cutoff: datetime) -> pl.DataFrame:
    """Each user's plays per track in the `RECENT_DAYS` days before the cut-off."""
    with conn.transaction():
        return read_frame(
            conn,
            sql.SQL("select user_id, track_key, count(*)::double precision as recent_plays "
                    "from marts.fct_plays where played_at >= %s and played_at < %s "
                    "group by user_id, track_key"),
            {"user_id": pl.String(), "track_key": pl.String(), "recent_plays": pl.Float64()},
            [cutoff - timedelta(days=RECENT_DAYS), cutoff],
        )


def _rankings_input(
    candidates: pl.DataFrame, recent: pl.DataFrame, trained: Trained
) -> pl.DataFrame:
    """user_id, track_key and one score column per ranking."""
    model = trained.booster.predict(to_matrix(candidates, trained.vocabulary),
                                    num_iteration=trained.best_iteration)
    others = baseline_scores(candidates, trained.positive_rate, trained.logistic)
    frame = candidates.select("user_id", "track_key", "track_prior_plays").with_columns(
        model=pl.Series(model, dtype=pl.Float64),
        logistic_regression=pl.Series(others["logistic_regression"], dtype=pl.Float64),
        popularity=pl.Series(others["popularity"], dtype=pl.Float64),
        track_repeat_rate=pl.Series(others["track_repeat_rate"], dtype=pl.Float64),
    ).join(recent, on=["user_id", "track_key"], how="left")
    popularity = pl.col("track_prior_plays").fill_null(0.0)
    return frame.with_columns(
        # recent plays first, popularity (scaled into [0, 1)) breaks ties
        user_recent_plays=pl.col("recent_plays").fill_null(0.0)
        + popularity / (popularity.max() + 1.0),
    ).drop("recent_plays", "track_prior_plays")


def relevant_pairs(
    conn: psycopg.Connection, cutoff: datetime, horizon_days: int,
    shifts: dict[str, timedelta],
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(repeats: tracks played in (T, T + horizon] and before T; DESIGN.md's variant: tracks
    played at least twice in (T, T + horizon]) from the full data."""
    query = sql.SQL("""
        select p.user_id, p.track_key,
               count(*) filter (where {t} > {cut} and {t} <= {end}) as after_plays,
               count(*) filter (where {t} < {cut}) as before_plays
        from marts.fct_plays p {join}
        group by p.user_id, p.track_key
        having count(*) filter (where {t} > {cut} and {t} <= {end}) > 0
    """).format(t=_shifted("p", "played_at"), cut=sql.Literal(cutoff),
                end=sql.Literal(cutoff + timedelta(days=horizon_days)),
                join=_shift_join("p", "user_id", shifts))
    frame = read_frame(conn, query, {"user_id": pl.String(), "track_key": pl.String(),
                                     "after_plays": pl.Int64(), "before_plays": pl.Int64()})
    repeats = frame.filter(pl.col("before_plays") > 0).select("user_id", "track_key")
    two_plays = frame.filter(pl.col("after_plays") >= 2).select("user_id", "track_key")
    return repeats, two_plays


def _grade(
    scores: pl.DataFrame, relevant: pl.DataFrame, relevant_two: pl.DataFrame, k: int
) -> dict[str, Any]:
    listed = scores.select("user_id").unique()
    relevant = relevant.join(listed, on="user_id", how="semi")
    relevant_two = relevant_two.join(listed, on="user_id", how="semi")
    covered = relevant.join(scores.select("user_id", "track_key"),
                            on=["user_id", "track_key"], how="semi").height
    names = ("model", "list_model", "logistic_regression", "popularity", "track_repeat_rate",
             "user_recent_plays")
    rankings, rankings_two = {}, {}
    for name in names:
        ranked = ranking.rank_lists(scores, name, k=k)
        rankings[name] = ranking.list_metrics(ranked, relevant, k=k)
        rankings_two[name] = ranking.list_metrics(ranked, relevant_two, k=k)
    return {
        "users_with_lists": listed.height,
        "users_evaluated": rankings["model"]["users"],
        "relevant_pairs": relevant.height,
        "candidate_coverage": covered / relevant.height if relevant.height else None,
        "rankings": rankings,
        "rankings_two_plays": rankings_two,
        "users_evaluated_two_plays": rankings_two["model"]["users"],
    }


# --------------------------------------------------------------------------- plumbing


def _write(conn: psycopg.Connection, result: dict[str, Any], trained: Trained, *,
           record: bool) -> None:
    folder = Path(trained.run.artifact_path)
    result["plot"] = str(plot_backtest(result, folder / "backtest.png"))
    result["report_path"] = str(write_report(folder, metrics=trained.run.metrics,
                                             backtest=result).resolve())
    (folder / "backtest.json").write_text(
        json.dumps(finite(result), indent=2, default=str), encoding="utf-8")
    (folder / "backtest.md").write_text("\n".join(backtest_section(result)), encoding="utf-8")
    if not record:
        return
    with conn.transaction():
        conn.execute(_BACKTESTS_DDL)
        conn.execute(
            "insert into ml.backtests (backtest_id, model_version, cutoff, horizon_days, k, "
            "align_users, metrics, report_path) values (%s, %s, %s, %s, %s, %s, %s, %s)",
            [uuid.uuid4(), result["model_version"], result["cutoff"], result["horizon_days"],
             result["k"], result["align_users"], Jsonb(finite(result)), result["report_path"]])


def _server(conn: psycopg.Connection) -> _Server:
    info = conn.info
    return _Server(host=info.host, port=int(info.port), user=info.user,
                   password=info.password or "")


def _admin(server: _Server, statement: sql.Composable) -> None:
    with psycopg.connect(server.url("postgres"), autocommit=True) as admin:
        admin.execute(statement)


def _dbt_build(url: str, scratch: Path) -> None:
    """`dbt build` (models and seeds, no tests) against `url`, in-process; target/ and logs/
    in `scratch` so the project's own manifest (which Airflow reads) is left alone."""
    from dbt.cli.main import dbtRunner

    from warehouse.connections import dbt_env
    from warehouse.paths import dbt_project_dir

    project = str(dbt_project_dir())
    with process_env({"WAREHOUSE_URL": url, "DBT_TARGET": "postgres",
                       "DBT_SEND_ANONYMOUS_USAGE_STATS": "False"}), process_env(dbt_env()):
        result = dbtRunner().invoke([
            "build", "--project-dir", project, "--profiles-dir", project,
            "--target", "postgres", "--target-path", str(scratch / "target"),
            "--log-path", str(scratch / "logs"),
            "--exclude-resource-type", "test", "--exclude-resource-type", "unit_test",
            "--quiet",
        ])
    if not result.success:
        raise RuntimeError(f"dbt build of the backtest warehouse failed: {result.exception}")
