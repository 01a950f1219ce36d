"""What a pipeline run left in the warehouse, for people: `python -m warehouse report`.

Row counts per stage, the latest model against its baseline, the Airflow task timings of the
latest run, a few users' recommendations read back through the serving view, and how to
query them yourself. Read-only: it never changes the warehouse.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from psycopg import sql
from rich.console import Console
from rich.table import Table

from warehouse import connections

# (stage, schema, table, optional (filter, label)) in pipeline order; all from code only.
STAGE_TABLES: tuple[tuple[str, str, str, tuple[str, str] | None], ...] = (
    ("raw", "raw", "synthetic_users", None),
    ("raw", "raw", "synthetic_tracks", None),
    ("raw", "raw", "synthetic_plays", None),
    ("raw", "raw", "lastfm_scrobbles", None),
    ("raw", "raw", "spotify_plays", None),
    ("raw", "raw", "spotify_tracks", None),
    ("raw", "raw", "kaggle_tracks", None),
    ("raw", "raw_rejected", "rows", None),
    ("marts", "marts", "fct_plays", None),
    ("marts", "marts", "fct_sessions", None),
    ("marts", "marts", "fct_first_plays", None),
    ("marts", "marts", "fct_first_plays", ("repeat_30d is not null", "labelled")),
    ("marts", "marts", "fct_candidate_features", None),
    (
        "ml",
        "ml",
        "scores",
        (
            "model_version = (select model_version from serving.recommendations limit 1)",
            "published model",
        ),
    ),
    ("serving", "serving", "recommendations", None),
)

SAMPLE_QUERY = """select rank, track_name, artist_name, genre,
       round(score::numeric, 3) as score, reason
from serving.user_recommendations
where user_id = '{user_id}'
order by rank;"""


def _count(conn: psycopg.Connection, schema: str, table: str, where: str | None) -> int | None:
    exists = conn.execute("select to_regclass(%s)", [f"{schema}.{table}"]).fetchone()
    if not exists or exists[0] is None:
        return None
    query = sql.SQL("select count(*) from {}.{}").format(
        sql.Identifier(schema), sql.Identifier(table)
    )
    if where:
        query = query + sql.SQL(" where ") + sql.SQL(where)  # constant filters from code only
    row = conn.execute(query).fetchone()
    return int(row[0]) if row else 0


def stage_counts(conn: psycopg.Connection) -> Table:
    table = Table(title="Rows per stage")
    for column in ("stage", "table", "rows"):
        table.add_column(column, justify="right" if column == "rows" else "left")
    for stage, schema, name, condition in STAGE_TABLES:
        where, note = condition or (None, None)
        rows = _count(conn, schema, name, where)
        label = f"{schema}.{name}" + (f" ({note})" if note else "")
        table.add_row(stage, label, "missing" if rows is None else f"{rows:,}")
    return table


def model_summary(conn: psycopg.Connection) -> list[Table]:
    """The latest model beside the strongest baseline on the same rows: the repeat model on
    its validation pairs, the published ranking in the backtest of its lists."""
    row = conn.execute(
        "select model_version, train_rows, valid_rows, positive_rate, auc, user_auc, "
        "log_loss, metrics from ml.model_runs "
        "where status = 'succeeded' order by trained_at desc limit 1"
    ).fetchone()
    if row is None:
        return []
    version, train_rows, valid_rows, positive_rate, auc, user_auc, loss, metrics = row
    metrics = metrics or {}
    baselines = metrics.get("baselines", {})
    tables = []
    table = Table(title=f"Repeat model {version} on the validation pairs")
    for column in ("metric", "repeat model", "strongest baseline", "difference"):
        table.add_column(column, justify="right")
    for label, key, value in (
        ("AUC (pooled)", "auc", auc),
        ("AUC (mean per user)", "user_auc", user_auc),
    ):
        name, best = strongest(baselines, key)
        if value is None or best is None:
            continue
        table.add_row(label, f"{value:.4f}", f"{best:.4f} ({name})", f"{value - best:+.4f}")
    table.caption = (
        f"{train_rows:,} training pairs, {valid_rows:,} validation pairs, "
        f"positive rate {positive_rate:.1%}; log loss {loss:.4f}"
    )
    tables.append(table)
    graded = metrics.get("backtest")
    if graded:
        lists = Table(title="Published lists, backtest at each listener's clock - 30 days")
        for column in ("NDCG@20", "published", "user's recent plays", "strongest other"):
            lists.add_column(column, justify="right")
        strongest_name = graded.get("strongest_baseline")
        lists.add_row(
            str(graded.get("published_ranking")),
            f"{graded['published_ndcg_at_20']:.4f}",
            f"{graded['recent_plays_ndcg_at_20']:.4f}",
            f"{graded['strongest_baseline_ndcg_at_20']:.4f} ({strongest_name})"
            if strongest_name
            else "-",
        )
        lists.caption = (
            f"{graded['users_evaluated']} listeners graded; published vs recent "
            f"plays {graded['published_vs_recent_plays']:+.1%}"
        )
        tables.append(lists)
    ranking_choice = metrics.get("ranking") or {}
    list_info = metrics.get("list_model") or {}
    if list_info.get("used") is False:
        tables[0].caption = f"{tables[0].caption}; list model not used: {list_info.get('reason')}"
    if ranking_choice:
        tables[0].caption = f"{tables[0].caption}; lists ranked by {ranking_choice.get('ranker')}"
    return tables


def strongest(baselines: dict, key: str) -> tuple[str | None, float | None]:
    """The baseline with the highest `key` (AUC metrics: higher is better)."""
    scored = {name: row.get(key) for name, row in baselines.items() if row.get(key) is not None}
    if not scored:
        return None, None
    name = max(scored, key=lambda n: scored[n])
    return name, float(scored[name])


def coverage_summary(conn: psycopg.Connection) -> Table | None:
    """Who has a list: listeners in the warehouse, those active at their own clock (a play
    in the 30 days before it: the stated rule), and the current publish's coverage."""
    exists = conn.execute(
        "select to_regclass('serving.publishes'), to_regclass('marts.fct_candidate_features')"
    ).fetchone()
    if exists is None or None in exists:
        return None
    has_coverage = conn.execute(
        "select count(*) from information_schema.columns where table_schema = 'serving' "
        "and table_name = 'publishes' and column_name = 'coverage'"
    ).fetchone()
    covered: dict[str, Any] = {}
    if has_coverage and has_coverage[0]:  # publishes made before coverage was recorded: none
        row = conn.execute("select coverage from serving.publishes where is_current").fetchone()
        covered = (row or [None])[0] or {}
    listeners = conn.execute("select count(distinct user_id) from marts.fct_plays").fetchone()
    active = conn.execute(
        "select count(distinct user_id) from marts.fct_candidate_features"
    ).fetchone()
    assert listeners is not None and active is not None  # counts: one row each
    table = Table(title="Who has a list (each listener as of their own clock)")
    for column in ("listeners", "count"):
        table.add_column(column, justify="right" if column == "count" else "left")
    total, with_candidates = int(listeners[0]), int(active[0])
    table.add_row("in the warehouse", f"{total:,}")
    table.add_row(
        "left out: no play in the 30 days before their clock", f"{total - with_candidates:,}"
    )
    table.add_row("active at their clock", f"{with_candidates:,}")
    if covered:
        table.add_row("published", f"{covered['listeners_published']:,}")
        for gap in covered.get("left_out", []):
            table.add_row(f"left out: {gap['reason']}", f"{gap['listeners']:,}")
    return table


# The pipeline's DAGs, in the order they run (dags/encore_*.py).
PIPELINE_DAGS = ("encore_ingest", "encore_transform", "encore_recommend")


def task_timings(dag_id: str = "encore_recommend") -> Table | None:
    """Durations of the latest run's tasks, from Airflow's metadata database."""
    logging.getLogger("airflow").setLevel(logging.WARNING)
    try:
        from airflow.models import DagRun, TaskInstance
        from airflow.utils.session import create_session
    except ImportError:
        return None
    with create_session() as session:
        run = (
            session.query(DagRun)
            .filter(DagRun.dag_id == dag_id)
            .order_by(DagRun.start_date.desc())
            .first()
        )
        if run is None:
            return None
        instances = (
            session.query(TaskInstance)
            .filter(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run.run_id)
            .order_by(TaskInstance.start_date)
            .all()
        )
        table = Table(title=f"Airflow {dag_id} run {run.run_id}: {run.state}")
        for column in ("task", "state", "seconds"):
            table.add_column(column, justify="right" if column == "seconds" else "left")
        for ti in instances:
            task = ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"
            table.add_row(task, str(ti.state), f"{ti.duration or 0:.1f}")
        # The run's own start is its logical date under `dags test`: span the tasks instead.
        starts = [ti.start_date for ti in instances if ti.start_date]
        ends = [ti.end_date for ti in instances if ti.end_date]
        if starts and ends:
            table.caption = f"whole run: {(max(ends) - min(starts)).total_seconds():.0f} s"
        return table


def sample_recommendations(conn: psycopg.Connection, users: int = 3, top: int = 5) -> list[Table]:
    user_ids = [
        row[0]
        for row in conn.execute(
            "select user_id from serving.recommendations group by user_id "
            "order by user_id limit %s",
            [users],
        ).fetchall()
    ]
    tables = []
    for user_id in user_ids:
        table = Table(title=f"Top {top} for {user_id}")
        for column in ("rank", "track", "artist", "genre", "score", "why"):
            table.add_column(column)
        for rank, track, artist, genre, score, reason in conn.execute(
            "select rank, track_name, artist_name, genre, score, reason "
            "from serving.user_recommendations where user_id = %s and rank <= %s "
            "order by rank",
            [user_id, top],
        ):
            table.add_row(
                str(rank), track or "?", artist or "?", genre or "?", f"{score:.3f}", reason
            )
        tables.append(table)
    return tables


def print_report(console: Console | None = None) -> None:
    console = console or Console()
    if not console.is_terminal:
        console.width = max(console.width, 120)  # logs and pipes: don't wrap at 80
    with connections.connect() as conn:
        console.print(stage_counts(conn))
        for dag_id in PIPELINE_DAGS:
            if timings := task_timings(dag_id):
                console.print(timings)
        for summary in model_summary(conn):
            console.print(summary)
        if covered := coverage_summary(conn):
            console.print(covered)
        samples = sample_recommendations(conn)
        for table in samples:
            console.print(table)
    url = connections.redacted(connections.warehouse_url())
    console.print(f"\n[bold]Query it yourself[/bold] (any PostgreSQL client): {url}")
    example_user = str(samples[0].title).rsplit(" ", 1)[-1] if samples else "syn_u00001"
    query = SAMPLE_QUERY.format(user_id=example_user.replace("'", "''"))
    console.print(f"psql '{url}' <<'SQL'\n{query}\nSQL", markup=False, highlight=False)


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    print_report()
