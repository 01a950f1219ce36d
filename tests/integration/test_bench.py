"""The benchmark harness runs end to end at a tiny scale.

It asserts behaviour only (every stage, baseline and lookup row is in the table and the
Markdown, the benchmark database is gone afterwards), never speed: speed lives in
`make bench`'s numbers, not in timed tests.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from bench.database import PREFIX
from bench.report import BEGIN, END, PIPELINE
from config import subprocess_env, tool_env
from warehouse.paths import PROJECT_ROOT

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCALE = "20k"


def _admin_url() -> str:
    override = tool_env("ENCORE_TEST_WAREHOUSE_URL")
    if override:
        return override
    from warehouse import embedded

    return embedded.start().url


def test_bench_runs_end_to_end_and_drops_its_database(tmp_path: Path) -> None:
    admin_url = _admin_url()
    output = tmp_path / "benchmarks.md"
    env = subprocess_env(
        {"WAREHOUSE_URL": admin_url, "ENCORE_HOME": str(tmp_path / "home"), "COLUMNS": "200"}
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--scales",
            SCALE,
            "--lookup-seconds",
            "2",
            "--load-clients",
            "50",
            "--load-seconds",
            "3",
            "--output",
            str(output),
            "--json",
            str(tmp_path / "bench.json"),
        ],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]

    table = done.stdout
    for stage in PIPELINE:
        assert f"│ {SCALE:<5} │ {stage} " in table, f"{stage} missing:\n{table}"
    assert "bare COPY (vs load)" in table and "load " in table
    assert "bare COPY as CSV" in table
    assert "reload (vs load)" in table and "× the load's time" in table
    # load and its bare COPY: three runs each, the median one reported
    (measured,) = json.loads((tmp_path / "bench.json").read_text())
    for run in (measured["stages"]["load"], measured["copy"]):
        assert len(run["details"]["runs_seconds"]) == 3
        assert run["seconds"] == pytest.approx(sorted(run["details"]["runs_seconds"])[1], abs=1e-3)
    assert "Booster.predict (vs score)" in table and "score " in table
    for clients in ("1 client", "16 clients", "64 clients"):
        assert f"top-20 lookup, {clients}" in table
        assert f"pgbench -S, {clients}" in table
    assert table.count("× -S") == 3
    assert "daily run (vs full run)" in table and "of the full run" in table
    pooled = shutil.which("pgbouncer", path="/usr/sbin:/usr/bin") is not None
    targets = ("api", "sql (pgbouncer)") if pooled else ("api",)
    for target in targets:
        assert f"{target}, 50 paced" in table, table
        assert f"{target}, 16 saturated" in table, table
    assert "0 err, 0 >2 s" in table

    text = output.read_text()
    assert BEGIN in text and END in text
    rows = [line for line in text.splitlines() if line.startswith(f"| {SCALE} |")]
    measures = [row.split("|")[2].strip() for row in rows]
    assert measures[: len(PIPELINE)] == list(PIPELINE)
    # stages, total, the reload, the daily run, 3 baselines (COPY binary and CSV, predict),
    # 6 lookups, paced and saturated clients
    assert len(rows) == len(PIPELINE) + 6 + 6 + 2 * len(targets)
    daily = next(row for row in rows if "daily run" in row)
    assert int(daily.split("|")[4].strip().replace(",", "")) > 0  # new plays loaded
    for row in rows[: len(PIPELINE)]:
        cells = [cell.strip() for cell in row.split("|")[1:-1]]
        assert int(cells[3].replace(",", "")) > 0, row  # rows
        assert float(cells[5].replace(",", "")) > 0, row  # peak RSS

    # The Markdown's generated part is replaced in place; text around it stays.
    output.write_text(text.replace(END, END + "\n\nKept by hand.\n"))
    from bench.report import write_markdown

    write_markdown(output, "regenerated\n")
    rewritten = output.read_text()
    assert "Kept by hand." in rewritten and "regenerated" in rewritten
    assert "| 20k | generate" not in rewritten

    maintenance = admin_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(maintenance, autocommit=True) as conn:
        left = conn.execute(
            "select datname from pg_database where datname like %s", [f"{PREFIX}%"]
        ).fetchall()
    assert (f"{PREFIX}{SCALE}",) not in left
