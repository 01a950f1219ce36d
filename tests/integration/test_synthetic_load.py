"""Loading the synthetic world: counts match, reruns reproduce, new worlds replace old ones."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import psycopg
import pytest

from extract.synthetic import SyntheticConfig, generate_world
from extract.synthetic_load import SOURCE, TABLES, generate_and_load

pytestmark = pytest.mark.integration

CONFIG = SyntheticConfig(seed=3, n_users=40, n_tracks=400, days=30, end_date=dt.date(2026, 2, 1))


def table_checksums(conn: psycopg.Connection) -> dict[str, tuple[int, str]]:
    """Row count and an order-independent checksum of the data columns of each raw table."""
    result = {}
    for table in TABLES:
        columns = ", ".join(f'"{name}"' for name in table.column_names)  # names from code
        row = conn.execute(
            f"select count(*), md5(string_agg(md5(row({columns})::text), '' order by "  # noqa: S608
            f"md5(row({columns})::text))) from raw.{table.name} where _source = %s",
            [SOURCE],
        ).fetchone()
        result[table.name] = (row[0], row[1])
    return result


def test_rerunning_the_same_date_reproduces_the_raw_tables(module_conn: psycopg.Connection) -> None:
    conn = module_conn
    world = generate_world(CONFIG)
    counts = generate_and_load(conn, CONFIG)
    first = table_checksums(conn)
    assert counts == {
        "synthetic_users": world.users.height,
        "synthetic_artists": world.artists.height,
        "synthetic_tracks": world.tracks.height,
        "synthetic_plays": world.plays.height,
    }
    assert {name: rows for name, (rows, _) in first.items()} == counts

    generate_and_load(conn, CONFIG)
    generate_and_load(conn, CONFIG)
    assert table_checksums(conn) == first


def test_a_later_world_replaces_the_earlier_one(module_conn: psycopg.Connection) -> None:
    conn = module_conn
    generate_and_load(conn, CONFIG)
    later = dataclasses.replace(CONFIG, end_date=CONFIG.end_date + dt.timedelta(days=5))
    counts = generate_and_load(conn, later)
    dates = conn.execute(
        "select distinct _logical_date from raw.synthetic_plays where _source = %s", [SOURCE]
    ).fetchall()
    assert dates == [(later.end_date,)]
    assert table_checksums(conn)["synthetic_plays"][0] == counts["synthetic_plays"]


def test_landing_then_loading_matches_loading_directly(
    module_conn: psycopg.Connection, tmp_path, monkeypatch
) -> None:
    from extract.synthetic_load import land_world, load_landed_world

    monkeypatch.setenv("ENCORE_HOME", str(tmp_path))
    generate_and_load(module_conn, CONFIG)
    direct = table_checksums(module_conn)
    folder = land_world(CONFIG)
    current = tmp_path / "landing" / SOURCE / CONFIG.end_date.isoformat()
    assert current.resolve() == Path(folder)  # the run's folder is the date's current one
    load_landed_world(module_conn, folder, logical_date=CONFIG.end_date)
    assert table_checksums(module_conn) == direct
