"""Importing exports into a real PostgreSQL: counts, idempotent reruns, zips, snapshots."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import psycopg
import pytest

from extract.files import import_path, load_kaggle
from extract.files.__main__ import main
from tests.unit.test_files_spotify import write_spotify_export_zip
from warehouse.raw_tables import KAGGLE_TRACKS, LASTFM_SCROBBLES, SPOTIFY_PLAYS, RawTable

pytestmark = pytest.mark.integration

DAY = dt.date(2026, 3, 1)
NOW = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
# Rows per real file (PROVENANCE.md) = loaded + quarantined (see test_files_lastfm.py).
ROWS_IN = 191_884
QUARANTINED = 1 + 303 + 643


@pytest.fixture(autouse=True)
def landing_in_tmp(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ENCORE_HOME", str(tmp_path))


def checksum(conn: psycopg.Connection, table: RawTable, source: str) -> tuple[int, str]:
    """Row count and an order-independent checksum of a source's data columns."""
    columns = ", ".join(f'"{name}"' for name in table.column_names)  # names from code
    return conn.execute(
        f"select count(*), md5(coalesce(string_agg(md5(row({columns})::text), '' order by "  # noqa: S608
        f"md5(row({columns})::text)), '')) from raw.{table.name} where _source = %s",
        [source],
    ).fetchone()


def rejected(conn: psycopg.Connection, source: str) -> dict[str, int]:
    return dict(
        conn.execute(
            "select _reason, count(*) from raw_rejected.rows where _source = %s group by 1",
            [source],
        ).fetchall()
    )


def test_real_listens_load_then_rerun_identically(
    module_conn: psycopg.Connection, shared_data: Path
) -> None:
    conn = module_conn
    folder = shared_data / "listens" / "raw"
    result = import_path(conn, folder, logical_date=DAY, now=NOW)
    load = result.loads["lastfm_export"]
    assert load.rows_loaded + load.rows_rejected == ROWS_IN
    assert load.rows_rejected == QUARANTINED
    first = checksum(conn, LASTFM_SCROBBLES, "lastfm_export")
    assert first[0] == ROWS_IN - QUARANTINED
    assert rejected(conn, "lastfm_export") == {
        "no timestamp (now playing)": 303,
        "timestamp before 2002-01-01": 643,
        "empty artist": 1,
    }
    users = conn.execute(
        "select count(distinct user_name), count(distinct source_ref) from "
        "raw.lastfm_scrobbles where _source = 'lastfm_export'"
    ).fetchone()
    assert users == (10, 10)

    again = import_path(conn, folder, logical_date=DAY, now=NOW)
    assert again.loads["lastfm_export"].rows_replaced == first[0]
    assert checksum(conn, LASTFM_SCROBBLES, "lastfm_export") == first
    assert sum(rejected(conn, "lastfm_export").values()) == QUARANTINED
    batches = conn.execute(
        "select count(distinct _batch_id) from raw.lastfm_scrobbles where _source = 'lastfm_export'"
    ).fetchone()[0]
    assert batches == 1


def test_zip_import_from_the_command_line(
    module_conn: psycopg.Connection,
    module_warehouse_url: str,
    shared_data: Path,
    tmp_path: Path,
    monkeypatch,
    capsys,
) -> None:
    """One zip holding a Last.fm export and a whole Spotify export: one batch per source."""
    spotify = write_spotify_export_zip(tmp_path / "my_spotify_data.zip")
    archive = tmp_path / "everything.zip"
    lastfm = shared_data / "listens" / "raw" / "lastfm_u09__89rael+infovis.csv.gz"
    with zipfile.ZipFile(archive, "w") as out:
        out.write(lastfm, f"lastfm/{lastfm.name}")
        out.write(spotify, "spotify/my_spotify_data.zip")
    monkeypatch.setenv("WAREHOUSE_URL", module_warehouse_url)
    day = DAY + dt.timedelta(days=1)
    assert main(["import", str(archive), "--user", "erin", "--date", day.isoformat()]) == 0
    out = capsys.readouterr().out
    assert "raw.spotify_plays _source=spotify_export" in out
    rows = module_conn.execute(
        "select _source, user_name, count(*) from raw.lastfm_scrobbles where _logical_date = %s "
        "group by 1, 2 union all select _source, user_name, count(*) from raw.spotify_plays "
        "where _logical_date = %s group by 1, 2 order by 1",
        [day, day],
    ).fetchall()
    assert rows == [("lastfm_export", "erin", 250), ("spotify_export", "erin", 7)]
    refs = module_conn.execute(
        "select distinct source_ref from raw.spotify_plays order by 1"
    ).fetchall()
    assert refs == [
        ("spotify/my_spotify_data.zip/Spotify Account Data/StreamingHistory_music_0.json",),
        ("spotify/my_spotify_data.zip/Spotify Extended Streaming History/endsong_0.json",),
    ]
    assert rejected(module_conn, "spotify_export") == {
        "podcast episode, not a track play": 2,
        "timestamp before 2002-01-01": 1,
    }
    first = checksum(module_conn, SPOTIFY_PLAYS, "spotify_export")
    assert main(["import", str(archive), "--user", "erin", "--date", day.isoformat()]) == 0
    assert checksum(module_conn, SPOTIFY_PLAYS, "spotify_export") == first


def test_kaggle_is_a_snapshot(module_conn: psycopg.Connection, shared_data: Path) -> None:
    conn = module_conn
    load_kaggle(
        conn,
        shared_data / "kaggle_spotify_tracks_head499.csv",
        logical_date=DAY - dt.timedelta(days=7),
    )
    result = load_kaggle(conn, shared_data / "kaggle_spotify_tracks.csv", logical_date=DAY)
    assert result.loads["kaggle"].rows_replaced == 499
    count, _ = checksum(conn, KAGGLE_TRACKS, "kaggle")
    assert count == 10_000
    dates = conn.execute("select distinct _logical_date from raw.kaggle_tracks").fetchall()
    assert dates == [(DAY,)]
    null_row = conn.execute(
        "select artists, album_name, track_name, explicit from "
        "raw.kaggle_tracks where source_row = 65900"
    ).fetchone()
    assert null_row == (None, None, None, False)
