"""The benchmark's one table: on screen (rich) and as Markdown (docs/benchmarks.md).

Rows per scale: the six pipeline stages and their total; the two baselines with the stage
they are compared to (load ÷ bare COPY, score ÷ Booster.predict, as throughput ratios);
then the lookups at each client count, the top-20 script beside `pgbench -S`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.load import LoadRun
from bench.lookups import CUSTOM, SELECT_ONLY, LookupRun
from bench.runner import StageRun
from bench.scales import Scale
from warehouse.paths import PROJECT_ROOT

PIPELINE = ("generate", "load", "dbt", "train", "score", "publish")
ROWS_MEANING = {
    "generate": "plays generated",
    "load": "rows loaded into raw (users, artists, tracks, plays)",
    "dbt": "raw plays in (the marts built from them)",
    "train": "labelled pairs (train + validation) of the repeat model; the stage also fits "
    "the list model on the past cut-offs' candidates, chooses the ranking and "
    "backtests it, as the nightly job does",
    "score": "candidates scored",
    "publish": "recommendations published (top 20 per user)",
}
COLUMNS = (
    "scale",
    "measure",
    "seconds",
    "rows",
    "rows/s or TPS",
    "peak RSS MiB",
    "p50 ms",
    "p99 ms",
    "ratio",
)
BEGIN = "<!-- bench:begin (written by `make bench`; edit outside these markers) -->"
END = "<!-- bench:end -->"


@dataclass
class ScaleResult:
    """Everything measured at one scale."""

    scale: Scale
    stages: dict[str, StageRun]
    copy: StageRun
    predict: StageRun
    lookups: list[LookupRun]
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    notes: list[str] = field(default_factory=list)
    daily: StageRun | None = None  # absent from runs before the daily stage existed
    load: list[LoadRun] = field(default_factory=list)  # concurrent clients (bench.concurrency)


def load_results(path: Path) -> list[ScaleResult]:
    """The results a run saved with `--json`."""
    results = []
    for item in json.loads(path.read_text()):
        scale = Scale(
            **{**item["scale"], "end_date": dt.date.fromisoformat(item["scale"]["end_date"])}
        )
        results.append(
            ScaleResult(
                scale=scale,
                stages={name: StageRun(**run) for name, run in item["stages"].items()},
                copy=StageRun(**item["copy"]),
                predict=StageRun(**item["predict"]),
                lookups=[LookupRun(**run) for run in item["lookups"]],
                load_before=tuple(item["load_before"]),
                load_after=tuple(item["load_after"]),
                notes=list(item.get("notes") or []),
                daily=StageRun(**item["daily"]) if item.get("daily") else None,
                load=[LoadRun(**run) for run in item.get("load") or []],
            )
        )
    return results


def _num(value: float, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:,.{digits}f}"


def _secs(value: float) -> str:
    if value < 1:
        return f"{value:.3f}"
    return f"{value:,.2f}" if value < 10 else f"{value:,.1f}"


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("nan")


def _ratio_text(value: float) -> str:
    return f"{value:.2f}" if value >= 0.1 or math.isnan(value) else f"{value:.2g}"


def table_rows(results: list[ScaleResult]) -> list[list[str]]:
    """The table's cells, row by row (an empty list separates scales)."""
    rows: list[list[str]] = []
    for index, result in enumerate(results):
        if index:
            rows.append([])
        label = result.scale.label
        for name in PIPELINE:
            run = result.stages[name]
            rows.append(
                [
                    label,
                    name,
                    _secs(run.seconds),
                    _num(run.rows),
                    _num(run.rows_per_second),
                    _num(run.peak_rss_mib),
                    "",
                    "",
                    "",
                ]
            )
        total = sum(result.stages[name].seconds for name in PIPELINE)
        peak = max(result.stages[name].peak_rss_mib for name in PIPELINE)
        plays = result.stages["generate"].rows
        rows.append(
            [
                label,
                "pipeline (sum)",
                _secs(total),
                _num(plays),
                _num(plays / total if total else float("nan")),
                _num(peak),
                "",
                "",
                "",
            ]
        )
        load, score = result.stages["load"], result.stages["score"]
        load_ratio = _ratio_text(_ratio(load.rows_per_second, result.copy.rows_per_second))
        score_ratio = _ratio_text(_ratio(score.rows_per_second, result.predict.rows_per_second))
        rows.append(
            [
                label,
                "bare COPY (vs load)",
                _secs(result.copy.seconds),
                _num(result.copy.rows),
                _num(result.copy.rows_per_second),
                "",
                "",
                "",
                f"load {load_ratio}×",
            ]
        )
        reload_seconds = load.details.get("reload_seconds")
        if reload_seconds:  # runs before the reload was timed have none
            rows.append(
                [
                    label,
                    "reload (vs load)",
                    _secs(reload_seconds),
                    _num(load.rows),
                    _num(load.rows / reload_seconds),
                    "",
                    "",
                    "",
                    f"{reload_seconds / load.seconds:.2f}× the load's time",
                ]
            )
        csv_seconds = result.copy.details.get("csv_copy_seconds")
        if csv_seconds:  # runs before the binary loader timed one bare COPY, as CSV
            csv_rate = result.copy.rows / csv_seconds
            rows.append(
                [
                    label,
                    "bare COPY as CSV",
                    _secs(csv_seconds),
                    _num(result.copy.rows),
                    _num(csv_rate),
                    "",
                    "",
                    "",
                    f"load {_ratio_text(_ratio(load.rows_per_second, csv_rate))}×",
                ]
            )
        rows.append(
            [
                label,
                "Booster.predict (vs score)",
                _secs(result.predict.seconds),
                _num(result.predict.rows),
                _num(result.predict.rows_per_second),
                "",
                "",
                "",
                f"score {score_ratio}×",
            ]
        )
        if result.daily is not None:
            full = total - result.stages["generate"].seconds
            rows.append(
                [
                    label,
                    "daily run (vs full run)",
                    _secs(result.daily.seconds),
                    _num(result.daily.rows),
                    _num(result.daily.rows_per_second),
                    _num(result.daily.peak_rss_mib),
                    "",
                    "",
                    f"{_ratio(result.daily.seconds, full):.0%} of the full run",
                ]
            )
        select_only = {run.clients: run for run in result.lookups if run.script == SELECT_ONLY}
        for lookup in result.lookups:
            ratio = ""
            if lookup.script == CUSTOM and lookup.clients in select_only:
                ratio = f"TPS {_ratio(lookup.tps, select_only[lookup.clients].tps):.2f}× -S"
            clients = f"{lookup.clients} client" + ("s" if lookup.clients != 1 else "")
            rows.append(
                [
                    label,
                    f"{lookup.script}, {clients}",
                    "",
                    "",
                    _num(lookup.tps),
                    "",
                    f"{lookup.p50_ms:.3f}",
                    f"{lookup.p99_ms:.3f}",
                    ratio,
                ]
            )
        for load_run in result.load:
            pace = "paced" if load_run.mode == "paced" else "saturated"
            rows.append(
                [
                    label,
                    f"{load_run.target}, {load_run.clients} {pace}",
                    _secs(load_run.seconds),
                    _num(load_run.requests),
                    _num(load_run.achieved_rps),
                    "",
                    f"{load_run.p50_ms:.1f}",
                    f"{load_run.p99_ms:.1f}",
                    f"{load_run.errors} err, {load_run.over_2s} >2 s, max {load_run.max_ms:.0f} ms,"
                    f" gen {load_run.generator_cpu_cores:.2f} cores",
                ]
            )
    return rows


def print_table(results: list[ScaleResult], console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title="Encore benchmark")
    for column in COLUMNS:
        table.add_column(
            column,
            no_wrap=True,
            justify="left" if column in ("scale", "measure", "ratio") else "right",
        )
    for row in table_rows(results):
        if not row:
            table.add_section()
        else:
            table.add_row(*row)
    console.print(table)


def _commit() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False
        )
        return done.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return commit + (" (with uncommitted changes)" if git("status", "--porcelain") else "")


def _memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return float("nan")


def _load(values: tuple[float, float, float]) -> str:
    return " / ".join(f"{value:.2f}" for value in values)


def markdown(
    results: list[ScaleResult],
    *,
    server: dict[str, str],
    lookup_seconds: int,
    from_json: bool = False,
) -> str:
    """The generated part of docs/benchmarks.md: context, the table, what it covers;
    `from_json`: the results come from earlier runs' JSON (the notes say which runs)."""
    now = dt.datetime.now(dt.UTC)
    how = (
        f"Written {now:%Y-%m-%d %H:%M} UTC at commit `{_commit()}` by `python -m bench "
        "--from-json` from earlier runs (their notes name each run's commit)."
        if from_json
        else f"Run {now:%Y-%m-%d %H:%M} UTC at commit `{_commit()}` by `python -m bench`."
    )
    lines = [
        how,
        "",
        f"- Machine: {os.cpu_count()} cores, {_memory_gib():.1f} GiB RAM, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}.",
        f"- PostgreSQL: {server.get('server_version', '?')} (same server for every stage and "
        f"pgbench), shared_buffers {server.get('shared_buffers', '?')}, "
        f"max_connections {server.get('max_connections', '?')}.",
        "- Load average (1 / 5 / 15 min) before → after each scale: "
        + "; ".join(
            f"{result.scale.label}: {_load(result.load_before)} → {_load(result.load_after)}"
            for result in results
        )
        + ".",
        "- Scales (synthetic world, 120 days): "
        + "; ".join(
            f"{result.scale.label} = {result.scale.users:,} users, "
            f"{result.scale.tracks:,} tracks, {result.stages['generate'].rows:,} plays"
            for result in results
        )
        + ".",
        f"- Lookups: pgbench `-T {lookup_seconds}` per run, `-M prepared`, "
        "`-j` = min(clients, cores), as `recs_reader`.",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|"
        + "|".join(
            "---" if column in ("scale", "measure", "ratio") else "---:" for column in COLUMNS
        )
        + "|",
    ]
    for row in table_rows(results):
        if row:
            lines.append("| " + " | ".join(cell or " " for cell in row) + " |")
    notes = [note for result in results for note in result.notes]
    lines += [
        "",
        "What the columns cover:",
        "",
        "- **seconds**: the stage's own work, timed inside its process (interpreter start, "
        "imports and the Parquet hand-over between generate and load are left out; dbt's "
        "parse is done beforehand, untimed).",
        "- **rows**: "
        + "; ".join(f"{name}: {meaning}" for name, meaning in ROWS_MEANING.items())
        + ". rows/s = rows ÷ seconds.",
        "- **peak RSS**: the maximum resident memory of the stage's own process (each stage "
        "runs in a fresh interpreter; `wait4` reports it). It does not include the "
        "PostgreSQL server's processes, which do the SQL work of load, dbt, score and "
        "publish in their own memory (shared_buffers is shared and preallocated).",
        "- **bare COPY**: the same rows and columns (batch columns included), encoded "
        "beforehand in the loader's binary COPY format, COPYed in one transaction into plain "
        "tables without indexes; its seconds are the COPY alone. The ratio is load rows/s ÷ "
        "COPY rows/s (1.00× = as fast as a bare COPY). **bare COPY as CSV**: the same, with "
        "the rows rendered as CSV beforehand (the loader's format before it went binary): "
        "the server parses text, so this baseline is the slower one. Load and bare COPY "
        "run alternately three times, each into empty tables; the table shows each one's "
        "median run (all three in the JSON details, `runs_seconds`).",
        "- **reload**: the same world loaded again over the loaded one, as a rerun of the "
        "ingest does (each snapshot table emptied by TRUNCATE in the load's transaction, then "
        "the COPY); timed in the load stage's process after a checkpoint. The ratio is its "
        "seconds ÷ the load's.",
        "- **Booster.predict**: the repeat model's LightGBM predict in one call over the "
        "matrix of the same candidate rows (read and encoded beforehand, untimed). The ratio "
        "is score rows/s ÷ predict rows/s; scoring streams the rows out of PostgreSQL, "
        "encodes them, predicts with the ranking that publishes (the list model when "
        "chosen: its own predict time is in the run's JSON details), COPYs the scores back "
        "and explains each listener's top 20 (TreeSHAP).",
        "- **daily run**: the next night on top of the full run, without retraining (the "
        "policy retrains weekly or on drift): the world's last day of plays again a day "
        "later, loaded as the next logical date's batch, then dbt build, score and publish "
        "with the trained model; rows are the new plays. The ratio is its seconds ÷ the "
        "full run's (load, dbt, train, score, publish; generate left out).",
        "- **lookups**: TPS from pgbench's summary (without connection time); p50/p99 from "
        "its per-transaction log. The ratio is the top-20 script's TPS ÷ `pgbench -S` TPS at "
        "the same client count.",
        "- **api / sql (pgbouncer), N paced / saturated**: concurrent clients of "
        "`bench/load.py` asking for a random listener's top 20, each on a connection of "
        "its own held open: through "
        "`GET /recommendations/{user_id}` (`python -m api`, 2 worker processes) and as SQL "
        "clients through PgBouncer (`make pooler`, transaction mode, 20 server connections). "
        "Paced: each client asks about every 2 s (open loop; latency counted from when the "
        "request was due); as fast as possible: the saturation throughput. rows = requests, "
        "rows/s = achieved requests per second; the clients run in a process of their own on "
        "the same 2 cores (gen: their CPU use, in cores). err: failed requests; >2 s: "
        "requests answered more than 2 s after they were due.",
    ]
    if notes:
        lines += ["", "Notes from the run:", "", *[f"- {note}" for note in notes]]
    return "\n".join(lines) + "\n"


DEFAULT_DOC = """# Benchmarks

`make bench` (or `uv run python -m bench --scales 100k` for a quick run) generates the
synthetic world at each scale, runs the pipeline stage by stage in a database of its own
(`encore_bench_<scale>` on the warehouse's server, dropped afterwards), and measures top-20
lookups with pgbench. Speed and memory goals live here, never in timed tests.

{begin}
{body}{end}
"""


def write_markdown(path: Path, body: str) -> None:
    """Replace the generated part of `path` (between the markers), keeping the rest."""
    if path.exists() and BEGIN in (text := path.read_text()) and END in text:
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        path.write_text(f"{head}{BEGIN}\n{body}{END}{tail}")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(DEFAULT_DOC.format(begin=BEGIN, body=body, end=END))
