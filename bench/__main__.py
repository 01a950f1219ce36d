"""`python -m bench [--scales 1m,10m] [--clients 1,16,64] [--lookup-seconds 10]
[--load-clients 1000] [--load-seconds 60] [--keep]`: run the pipeline at each scale in a
database of its own and print one table."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from rich.console import Console

from bench import concurrency, database, lookups
from bench.load import LoadRun
from bench.report import (
    PIPELINE,
    ScaleResult,
    load_results,
    markdown,
    print_table,
    write_markdown,
)
from bench.runner import StageFailed, StageRun, run_stage
from bench.scales import Scale, parse_scales
from warehouse.paths import PROJECT_ROOT, state_dir

DEFAULT_SCALES = "1m,10m"  # about 40 min on 2 cores; 10m needs ~45 GB of free disk
DEFAULT_OUTPUT = PROJECT_ROOT / "docs" / "benchmarks.md"
# The order the stages run in; copy and predict are the baselines, run right after the
# stage they are compared with (the same rows are in the database then).
ORDER = ("generate", "load", "copy", "dbt", "train", "score", "predict", "publish")
# Load and its bare COPY take half a second at 1M, where one run's swing is about 10 %: they
# run alternately this many times, each into empty tables, and the median run of each is
# reported (every run's seconds in its details).
PAIRED = ("load", "copy")
PAIR_RUNS = 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--scales",
        default=DEFAULT_SCALES,
        help=f"comma-separated play counts, e.g. 100k,1m,10m (default {DEFAULT_SCALES})",
    )
    parser.add_argument(
        "--clients", default="1,16,64", help="pgbench client counts (default 1,16,64)"
    )
    parser.add_argument(
        "--lookup-seconds", type=int, default=10, help="pgbench -T for each run (default 10)"
    )
    parser.add_argument(
        "--load-clients",
        type=int,
        default=1000,
        help="paced concurrent clients through the API and PgBouncer (default 1000; 0: none)",
    )
    parser.add_argument(
        "--load-seconds", type=float, default=60.0, help="each paced run (default 60)"
    )
    parser.add_argument(
        "--load-closed-clients",
        type=int,
        default=16,
        help="clients of the saturation runs, as fast as they can (default 16)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help="Markdown file to write (default docs/benchmarks.md)",
    )
    parser.add_argument("--no-write", action="store_true", help="print only, write no file")
    parser.add_argument("--json", type=Path, help="also write the raw measurements here")
    parser.add_argument(
        "--from-json",
        type=Path,
        nargs="+",
        metavar="FILE",
        help="run nothing: print (and write) the table of earlier --json files",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the benchmark databases and work folders"
    )
    return parser


def run_scale(
    scale: Scale,
    *,
    server_url: str,
    client_counts: list[int],
    lookup_seconds: int,
    keep: bool,
    console: Console,
    load: tuple[int, float, int] = (0, 0.0, 0),
) -> ScaleResult:
    """Every stage, both baselines and the lookups at one scale, in `encore_bench_<scale>`."""
    workdir = state_dir() / "bench" / scale.label
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    load_before = os.getloadavg()
    console.print(
        f"[bold]{scale.label}[/]: {scale.users:,} users, {scale.tracks:,} tracks, "
        f"{scale.days} days → database {scale.database}"
    )
    url = database.create(server_url, scale.database)
    try:
        spec = {**asdict(scale), "end_date": scale.end_date.isoformat()}
        runs: dict[str, StageRun] = {}
        for stage in ORDER:
            if stage == PAIRED[0]:
                runs.update(_paired_runs(url, workdir, spec))
            elif stage not in PAIRED:
                runs[stage] = run_stage(stage, database_url=url, workdir=workdir, scale=spec)
            run = runs[stage]
            console.print(
                f"  {stage:<9} {run.seconds:8.2f} s  {run.rows:>12,} rows  "
                f"{run.rows_per_second:>12,.0f} rows/s  {run.peak_rss_mib:7,.0f} MiB"
            )
        lookup_runs, notes = lookups.measure(
            url, client_counts=client_counts, seconds=lookup_seconds
        )
        for lookup in lookup_runs:
            console.print(
                f"  {lookup.script:<14} c={lookup.clients:<3} {lookup.tps:10,.0f} TPS  "
                f"p50 {lookup.p50_ms:.3f} ms  p99 {lookup.p99_ms:.3f} ms"
            )
        load_runs: list[LoadRun] = []
        if load[0] > 0:
            load_runs, load_notes = concurrency.measure(
                url, workdir, clients=load[0], seconds=load[1], closed=load[2]
            )
            notes += load_notes
            for load_run in load_runs:
                console.print(
                    f"  {load_run.target:<16} {load_run.mode} c={load_run.clients:<5} "
                    f"{load_run.achieved_rps:8,.0f} req/s  p50 {load_run.p50_ms:.1f} ms  "
                    f"p99 {load_run.p99_ms:.1f} ms  errors {load_run.errors}  "
                    f"clients' CPU {load_run.generator_cpu_cores:.2f} cores"
                )
        # the next night, after the lookups (they measure the full run's publish)
        runs["daily"] = run_stage("daily", database_url=url, workdir=workdir, scale=spec)
        console.print(
            f"  {'daily':<9} {runs['daily'].seconds:8.2f} s  "
            f"{runs['daily'].rows:>12,} new plays  {runs['daily'].details}"
        )
    finally:
        if not keep:
            database.drop(server_url, scale.database)
            shutil.rmtree(workdir, ignore_errors=True)
    return ScaleResult(
        scale=scale,
        stages={name: runs[name] for name in PIPELINE},
        copy=runs["copy"],
        predict=runs["predict"],
        daily=runs["daily"],
        lookups=lookup_runs,
        load=load_runs,
        load_before=load_before,
        load_after=os.getloadavg(),
        notes=notes,
    )


def _paired_runs(url: str, workdir: Path, spec: dict[str, Any]) -> dict[str, StageRun]:
    """`PAIRED`'s stages alternately, `PAIR_RUNS` times; each one's median run, with every
    run's seconds in its details (`runs_seconds`)."""
    runs: dict[str, list[StageRun]] = {stage: [] for stage in PAIRED}
    for _ in range(PAIR_RUNS):
        for stage in PAIRED:
            runs[stage].append(run_stage(stage, database_url=url, workdir=workdir, scale=spec))
    medians = {}
    for stage, stage_runs in runs.items():
        median = sorted(stage_runs, key=lambda run: run.seconds)[len(stage_runs) // 2]
        seconds = [round(run.seconds, 4) for run in stage_runs]
        medians[stage] = replace(median, details={**median.details, "runs_seconds": seconds})
    return medians


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    console = Console(stderr=True)
    try:
        scales = parse_scales(args.scales)
        client_counts = sorted({int(count) for count in args.clients.split(",")})
    except ValueError as error:
        console.print(f"error: {error}")
        return 2
    server_url = database.server_url()
    server = {
        name: database.server_setting(server_url, name)
        for name in ("server_version", "shared_buffers", "max_connections")
    }
    if args.from_json:
        results = [result for path in args.from_json for result in load_results(path)]
        _save(results, args, server)
        print_table(results, Console(width=None if sys.stdout.isatty() else 200))
        return 0
    results = []
    try:
        for scale in scales:
            results.append(
                run_scale(
                    scale,
                    server_url=server_url,
                    client_counts=client_counts,
                    lookup_seconds=args.lookup_seconds,
                    keep=args.keep,
                    console=console,
                    load=(args.load_clients, args.load_seconds, args.load_closed_clients),
                )
            )
            _save(results, args, server)  # after each scale: an interruption keeps the rest
    except StageFailed as error:
        console.print(f"[red]{error}[/]")
        return 1
    # Wide enough for the whole table when the output is a file or a pipe.
    print_table(results, Console(width=None if sys.stdout.isatty() else 200))
    if not args.no_write:
        console.print(f"written to {args.output}")
    return 0


def _save(results: list[ScaleResult], args: argparse.Namespace, server: dict[str, str]) -> None:
    """Write the Markdown (unless --no-write) and the raw JSON (if asked) for `results`."""
    if args.json and not args.from_json:
        args.json.write_text(
            json.dumps([asdict(result) for result in results], default=str, indent=2)
        )
    if not args.no_write:
        write_markdown(
            args.output,
            markdown(
                results,
                server=server,
                lookup_seconds=args.lookup_seconds,
                from_json=bool(args.from_json),
            ),
        )


if __name__ == "__main__":
    sys.exit(main())
