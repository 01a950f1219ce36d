"""Quarantine that loses nothing: deliberately broken input through the real import path.

For every file format the importer accepts, a file mixes good rows with wrong types, nulls
and missing fields, impossible timestamps (uts 0, 1900, 1970, 2100, beyond any datetime),
exact duplicates, mojibake, bytes that are not UTF-8, 10 kB strings, NUL characters,
control characters and a cut-off last row. It is parsed, landed and COPYd into the real
PostgreSQL, and then, per batch:

    rows in the file == rows in raw.<table> + rows in raw_rejected.rows

with a specific reason on each quarantined row. Exact duplicates are *loaded* (raw keeps
what the file said; dbt collapses them into one play). Reruns for the same date leave
exactly the same rows; another date is a batch of its own. A truncated JSON file fails the
whole import with an error naming it and loads nothing (the previous batch stays). A load
killed in the middle of its COPY leaves the previous batch, and the rerun completes.
The Last.fm API path is checked the same way, on a page of broken items from the fake.
"""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import polars as pl
import psycopg
import pytest

from config import subprocess_env
from extract.files import FileImportError, import_path, load_kaggle
from extract.files.checks import TRUNCATED_ROW
from warehouse.loader import load_batch
from warehouse.paths import PROJECT_ROOT
from warehouse.raw_tables import KAGGLE_TRACKS, LASTFM_SCROBBLES, SPOTIFY_PLAYS, RawTable

pytestmark = pytest.mark.integration

NOW = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
DAY = dt.date(2026, 3, 1)
LONG = "x" * 10_240  # 10 kB
CONTROL = "Ctrl\x01\x07\x1b[0m\x7fChars"  # loads as it is: PostgreSQL text holds these
MOJIBAKE = "BeyoncÃ©"  # valid UTF-8 (double-encoded): loads unchanged
NUL_TEXT = "Nul\x00Byte"
FFFD = "\ufffd"


@pytest.fixture(autouse=True)
def landing_in_tmp(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ENCORE_HOME", str(tmp_path / "home"))


# -- what a batch holds --------------------------------------------------------------------


def batch_state(
    conn: psycopg.Connection, table: RawTable, source: str, day: dt.date
) -> tuple[int, Counter, set, str]:
    """Rows loaded, quarantine reasons, batch ids and a checksum of the (source, day) batch."""
    columns = ", ".join(f'"{name}"' for name in table.column_names)  # names from code
    loaded, ids, digest = conn.execute(
        f"select count(*), array_agg(distinct _batch_id), "  # noqa: S608
        f"md5(coalesce(string_agg(md5(row({columns})::text), '' order by "
        f"md5(row({columns})::text)), '')) from raw.{table.name} "
        "where _source = %s and _logical_date = %s",
        [source, day],
    ).fetchone()
    rows = conn.execute(
        "select _reason, _batch_id, record::text from raw_rejected.rows where table_name = %s "
        "and _source = %s and _logical_date = %s order by 1, 3",
        [table.name, source, day],
    ).fetchall()
    reasons = Counter(reason for reason, _, _ in rows)
    batch_ids = {i for i in ids or [] if i is not None} | {batch for _, batch, _ in rows}
    rejected_digest = str(hash(tuple((reason, record) for reason, _, record in rows)))
    return loaded, reasons, batch_ids, digest + rejected_digest


def record_with(conn: psycopg.Connection, source: str, day: dt.date, reason: str) -> dict:
    (record,) = conn.execute(
        "select record from raw_rejected.rows where _source = %s and _logical_date = %s "
        "and _reason = %s",
        [source, day, reason],
    ).fetchone()
    return record


def assert_accounted(
    conn: psycopg.Connection,
    path: Path,
    table: RawTable,
    source: str,
    *,
    rows_in: int,
    reasons: dict[str, int],
    day: dt.date,
    user: str | None = None,
) -> tuple[int, Counter, set, str]:
    """Import `path` for `day`, twice, and for another day: nothing lost, nothing doubled."""
    result = import_path(conn, path, logical_date=day, user=user, now=NOW)
    [parsed] = [f for f in result.parsed.files]
    assert parsed.rows_in == rows_in
    load = result.loads[source]
    state = batch_state(conn, table, source, day)
    loaded, found, batch_ids, _ = state
    assert dict(found) == reasons
    assert loaded + sum(found.values()) == rows_in, "every input row loaded or quarantined"
    assert (load.rows_loaded, load.rows_rejected) == (loaded, sum(found.values()))
    assert batch_ids == {load.batch_id}, "the rows and their rejects are one batch"

    again = import_path(conn, path, logical_date=day, user=user, now=NOW)
    assert again.loads[source].rows_replaced == loaded
    rerun = batch_state(conn, table, source, day)
    assert (rerun[0], rerun[1], rerun[3]) == (loaded, found, state[3]), "a rerun is identical"

    other = day + dt.timedelta(days=1)
    import_path(conn, path, logical_date=other, user=user, now=NOW)
    next_day = batch_state(conn, table, source, other)
    assert (next_day[0], next_day[1], next_day[3]) == (loaded, found, state[3])
    assert next_day[2].isdisjoint(rerun[2]), "another date is a batch of its own"
    assert batch_state(conn, table, source, day)[:2] == (loaded, found)
    return state


# -- Last.fm export CSV --------------------------------------------------------------------

LASTFM_HEADER = "uts,utc_time,artist,artist_mbid,album,album_mbid,track,track_mbid\n"


def scrobble(
    uts: object = 1_700_000_000,
    when: str = "14 Nov 2023, 22:13",
    artist: str = "Artist",
    track: str = "Track",
    album: str = "Album",
) -> str:
    return f'"{uts}","{when}","{artist}","","{album}","","{track}",""\n'


def test_lastfm_export_csv(module_conn: psycopg.Connection, tmp_path: Path) -> None:
    good = [scrobble(1_700_000_000 + 60 * i, track=f"Good {i}") for i in range(20)]
    lines = [
        *good,
        scrobble(1_700_100_000, track="Twice") * 2,  # an exact duplicate pair: both loaded
        scrobble("abc", "yesterday", track="Wrong types"),
        scrobble("", "", track="Now playing"),
        scrobble(0, "01 Jan 1970, 00:00", track="Epoch zero"),
        scrobble("-2208988800", "01 Jan 1900, 00:00", track="1900"),
        scrobble(4_102_444_800, "01 Jan 2100, 00:00", track="In 2100"),
        scrobble(10**20, "31 Dec 99999, 23:59", track="Beyond datetime"),
        scrobble(artist=""),
        scrobble(track="   "),
        '"1700000300","14 Nov 2023, 22:18","Missing fields"\n',  # too few: no track
        scrobble(track=LONG),
        scrobble(track=NUL_TEXT),
        scrobble(1_700_000_400, artist=MOJIBAKE),
        scrobble(1_700_000_500, track=CONTROL),
        scrobble(artist="Too, many").replace('"Too, many"', "Too, many"),  # a 9th field
    ]
    data = (LASTFM_HEADER + "".join(lines)).encode()
    data += scrobble(1_700_000_600, artist="Beyoncé").encode("latin-1")  # not UTF-8
    data += scrobble(1_700_000_700, track="Cut off")[:40].encode()  # truncated file
    path = tmp_path / "alice__scrobbles.csv"
    path.write_bytes(data)
    reasons = {
        "unparseable timestamp": 2,
        "no timestamp (now playing)": 1,
        "timestamp before 2002-01-01": 2,
        "timestamp in the future": 1,
        "empty artist": 1,
        "empty track": 2,
        "field longer than 2048 characters": 1,
        "NUL character in a field": 1,
        "more than 8 fields": 1,
        "invalid UTF-8 bytes": 1,
        TRUNCATED_ROW: 1,
    }
    rows_in = len(good) + 2 + 14 + 2
    state = assert_accounted(
        module_conn,
        path,
        LASTFM_SCROBBLES,
        "lastfm_export",
        rows_in=rows_in,
        reasons=reasons,
        day=DAY,
    )
    assert state[0] == len(good) + 2 + 2
    kept = dict(
        module_conn.execute(
            "select track_name, count(*) from raw.lastfm_scrobbles where _source = 'lastfm_export' "
            "and _logical_date = %s group by 1",
            [DAY],
        ).fetchall()
    )
    assert kept["Twice"] == 2 and kept[CONTROL] == 1
    assert (
        module_conn.execute(
            "select count(*) from raw.lastfm_scrobbles where artist_name = %s and "
            "_logical_date = %s",
            [MOJIBAKE, DAY],
        ).fetchone()[0]
        == 1
    )
    # The quarantine keeps what arrived: the whole 10 kB, the NUL shown as U+FFFD.
    assert (
        record_with(module_conn, "lastfm_export", DAY, "field longer than 2048 characters")["track"]
        == LONG
    )
    assert record_with(module_conn, "lastfm_export", DAY, "NUL character in a field")[
        "track"
    ] == NUL_TEXT.replace("\x00", FFFD)
    cut = record_with(module_conn, "lastfm_export", DAY, TRUNCATED_ROW)
    assert cut["_row"] == str(rows_in) and cut["artist"] == "Artis"  # as far as it goes


def test_lastfm_1k_tsv(module_conn: psycopg.Connection, tmp_path: Path) -> None:
    """The headerless, unquoted Last.fm-1K layout (its user column names the user)."""

    def row(
        when: str = "2009-05-04T23:08:57Z",
        artist: str = "Deep Dish",
        track: str = "Fuck Me Im Famous",
        user: str = "user_000001",
    ) -> str:
        return f"{user}\t{when}\t\t{artist}\t\t{track}\n"

    good = [row(f"2009-05-04T1{i % 10}:08:57Z", track=f"Good {i}") for i in range(40)]
    lines = [
        *good,
        row() * 2,
        row("not a time"),
        row("1900-01-01T00:00:00Z"),
        row("2100-01-01T00:00:00Z"),
        row(artist=""),
        row(track=LONG),
        row(track=NUL_TEXT),
        row(artist=MOJIBAKE),
        row(track=CONTROL),
        "user_000001\t2009-05-04T23:08:57Z\t\tOnly four\n",
    ]
    path = tmp_path / "userid-timestamp-artid-artname-traid-traname.tsv"
    path.write_text("".join(lines) + row(track="Cut")[:30])
    reasons = {
        "unparseable timestamp": 1,
        "timestamp before 2002-01-01": 1,
        "timestamp in the future": 1,
        "empty artist": 1,
        "empty track": 1,
        "field longer than 2048 characters": 1,
        "NUL character in a field": 1,
        TRUNCATED_ROW: 1,
    }
    state = assert_accounted(
        module_conn,
        path,
        LASTFM_SCROBBLES,
        "lastfm_export",
        rows_in=len(good) + 2 + 9 + 1,
        reasons=reasons,
        day=DAY + dt.timedelta(days=10),
    )
    assert state[0] == len(good) + 2 + 2


# -- Spotify exports -----------------------------------------------------------------------


def account_play(
    end: object = "2023-01-01 12:34",
    artist: object = "Artist",
    track: object = "Track",
    ms: object = 200_000,
) -> dict:
    return {"endTime": end, "artistName": artist, "trackName": track, "msPlayed": ms}


def test_spotify_account_data_json(module_conn: psycopg.Connection, tmp_path: Path) -> None:
    good = [account_play(f"2023-01-01 12:{i:02d}", track=f"Good {i}") for i in range(10)]
    records = [
        *good,
        account_play(),
        account_play(),  # duplicates: both loaded
        account_play(ms=5_000),  # a short play: loaded, dbt decides it is not a play
        account_play(end=1_672_576_440),  # a number where text belongs: still a time
        account_play(end="yesterday"),
        account_play(end=None),
        account_play(end=""),
        {"artistName": "No time", "trackName": "Track", "msPlayed": 1},  # missing field
        account_play(end="1970-01-01 00:00"),
        account_play(end="1900-01-01 00:00"),
        account_play(end="2100-01-01 00:00"),
        account_play(end="99999-01-01 00:00"),
        account_play(artist=None),
        account_play(track=""),
        account_play(ms="abc"),
        account_play(ms=10**20),
        account_play(ms=-1),
        account_play(ms=None),
        account_play(ms=12.5),
        account_play(track=LONG),
        account_play(track=NUL_TEXT),
        account_play(track="Lone \ud800 surrogate"),
        account_play(artist=MOJIBAKE),
        account_play(track=CONTROL),
        {
            "endTime": "2023-01-01 12:34",
            "podcastName": "Show",
            "episodeName": "Ep 1",
            "msPlayed": 1_000,
        },
        "not an object",
        None,
    ]
    path = tmp_path / "alice__StreamingHistory_music_0.json"
    path.write_text(
        json.dumps(records, ensure_ascii=False), encoding="utf-8", errors="surrogatepass"
    )
    reasons = {
        "unparseable timestamp": 2,
        "missing timestamp": 3,
        "timestamp before 2002-01-01": 2,
        "timestamp in the future": 1,
        "empty artist": 1,
        "empty track": 1,
        "unparseable ms_played": 3,
        "ms_played out of range": 1,
        "missing ms_played": 1,
        "field longer than 2048 characters": 1,
        "NUL character in a field": 1,
        "invalid UTF-8 bytes": 1,
        "podcast episode, not a track play": 1,
        "not a JSON object": 2,
    }
    state = assert_accounted(
        module_conn,
        path,
        SPOTIFY_PLAYS,
        "spotify_export",
        rows_in=len(records),
        reasons=reasons,
        day=DAY,
    )
    assert state[0] == len(good) + 6


def extended_play(ts: object = "2023-01-01T12:34:56Z", **fields: object) -> dict:
    record = {
        "ts": ts,
        "username": "bob",
        "platform": "Android OS",
        "ms_played": 200_000,
        "conn_country": "DE",
        "ip_addr": "192.0.2.1",
        "master_metadata_track_name": "Track",
        "master_metadata_album_artist_name": "Artist",
        "master_metadata_album_album_name": "Album",
        "spotify_track_uri": "spotify:track:4uLU6hMCjMI75M1A2tKUQC",
        "episode_name": None,
        "episode_show_name": None,
        "spotify_episode_uri": None,
        "reason_start": "trackdone",
        "reason_end": "trackdone",
        "shuffle": False,
        "skipped": None,
        "offline": False,
        "incognito_mode": False,
    }
    return {**record, **fields}


def test_spotify_extended_history_json(module_conn: psycopg.Connection, tmp_path: Path) -> None:
    good = [extended_play(f"2023-01-01T12:{i:02d}:00Z") for i in range(10)]
    records = [
        *good,
        extended_play(),
        extended_play(),
        extended_play(ms_played=0),
        extended_play(skipped=True, shuffle="true"),
        extended_play("garbage"),
        extended_play(None),
        extended_play(12345.5),
        {k: v for k, v in extended_play().items() if k != "ts"},
        extended_play("1970-01-01T00:00:00Z"),
        extended_play("1900-01-01T00:00:00Z"),
        extended_play("2100-01-01T00:00:00Z"),
        extended_play("+99999-01-01T00:00:00Z"),
        extended_play(master_metadata_album_artist_name=""),
        extended_play(
            master_metadata_track_name=None,
            master_metadata_album_artist_name=None,
            master_metadata_album_album_name=None,
            spotify_track_uri=None,
        ),
        extended_play(
            master_metadata_track_name=None,
            master_metadata_album_artist_name=None,
            spotify_track_uri=None,
            episode_name="Ep",
            episode_show_name="Show",
            spotify_episode_uri="spotify:episode:0",
        ),
        extended_play(ms_played="lots"),
        extended_play(ms_played=10**20),
        extended_play(ms_played=2**31),
        extended_play(shuffle="maybe"),
        extended_play(skipped=[1]),
        extended_play(username=None),
        extended_play(master_metadata_track_name=LONG),
        extended_play(reason_end="x" * 3000),
        extended_play(master_metadata_album_album_name=NUL_TEXT),
        extended_play(platform="a\x00b"),
        extended_play(master_metadata_track_name=MOJIBAKE),
        extended_play(master_metadata_track_name=CONTROL),
        extended_play(master_metadata_track_name="\udcff"),
        ["a", "list"],
    ]
    path = tmp_path / "endsong_0.json"
    path.write_text(
        json.dumps(records, ensure_ascii=False), encoding="utf-8", errors="surrogatepass"
    )
    reasons = {
        "unparseable timestamp": 2,
        "missing timestamp": 2,  # +99999: in the future
        "timestamp before 2002-01-01": 2,
        "timestamp in the future": 2,
        "empty artist": 1,
        "no track metadata (a video, or content no longer available)": 1,
        "podcast episode, not a track play": 1,
        "unparseable ms_played": 1,
        "ms_played out of range": 2,
        "unparseable shuffle": 1,
        "unparseable skipped": 1,
        "no user name": 1,
        "field longer than 2048 characters": 2,
        "NUL character in a field": 2,
        "invalid UTF-8 bytes": 1,
        "not a JSON object": 1,
    }
    state = assert_accounted(
        module_conn,
        path,
        SPOTIFY_PLAYS,
        "spotify_export",
        rows_in=len(records),
        reasons=reasons,
        day=DAY + dt.timedelta(days=20),
    )
    assert state[0] == len(good) + 6
    # IP addresses never reach raw or the quarantine.
    assert (
        module_conn.execute(
            "select count(*) from raw_rejected.rows where record::text like '%%192.0.2.1%%'"
        ).fetchone()[0]
        == 0
    )


# -- Kaggle tracks CSV ---------------------------------------------------------------------

KAGGLE_COLUMNS = [
    "",
    "track_id",
    "artists",
    "album_name",
    "track_name",
    "popularity",
    "duration_ms",
    "explicit",
    "danceability",
    "energy",
    "key",
    "loudness",
    "mode",
    "speechiness",
    "acousticness",
    "instrumentalness",
    "liveness",
    "valence",
    "tempo",
    "time_signature",
    "track_genre",
]


def kaggle_row(index: int, **values: str) -> str:
    row = {
        "": str(index),
        "track_id": f"{index:022d}",
        "artists": "Artist",
        "album_name": "Album",
        "track_name": f"Track {index}",
        "popularity": "73",
        "duration_ms": "230666",
        "explicit": "False",
        "danceability": "0.676",
        "energy": "0.461",
        "key": "1",
        "loudness": "-6.746",
        "mode": "0",
        "speechiness": "0.143",
        "acousticness": "0.0322",
        "instrumentalness": "1.01e-06",
        "liveness": "0.358",
        "valence": "0.715",
        "tempo": "87.917",
        "time_signature": "4",
        "track_genre": "acoustic",
        **values,
    }
    return ",".join(f'"{row[c]}"' for c in KAGGLE_COLUMNS) + "\n"


def test_kaggle_tracks_csv(module_conn: psycopg.Connection, tmp_path: Path) -> None:
    good = [kaggle_row(i) for i in range(10)]
    broken = [
        kaggle_row(10) * 2,  # duplicates: both loaded (one row per CSV row)
        kaggle_row(11, popularity="high"),
        kaggle_row(12, track_id=""),
        kaggle_row(13, explicit="maybe"),
        kaggle_row(14, tempo="inf"),
        kaggle_row(15, duration_ms=str(10**20)),
        kaggle_row(16, loudness="1e400"),
        kaggle_row(17, danceability="NaN"),
        kaggle_row(18, key="1.5"),
        kaggle_row(19, **{"": "x"}),
        kaggle_row(20, album_name=LONG),
        kaggle_row(21, track_name=NUL_TEXT),
        kaggle_row(22, artists=MOJIBAKE),
        kaggle_row(23, track_name=CONTROL),
        kaggle_row(24, energy=""),
        kaggle_row(25).rstrip("\n") + ',"extra"\n',
    ]
    data = (",".join(f'"{c}"' for c in KAGGLE_COLUMNS) + "\n" + "".join(good + broken)).encode()
    data += kaggle_row(26, artists="Beyoncé").encode("latin-1") + kaggle_row(27)[:60].encode()
    path = tmp_path / "dataset.csv"
    path.write_bytes(data)
    rows_in = len(good) + 2 + 15 + 2
    reasons = {
        "unparseable popularity": 1,
        "empty track_id": 1,
        "unparseable explicit": 1,
        "tempo out of range": 1,
        "duration_ms out of range": 1,
        "loudness out of range": 1,
        "danceability out of range": 1,
        "unparseable key": 1,
        "unparseable source_row": 1,
        "field longer than 2048 characters": 1,
        "NUL character in a field": 1,
        "more than 21 fields": 1,
        "invalid UTF-8 bytes": 1,
        TRUNCATED_ROW: 1,
    }
    result = load_kaggle(module_conn, path, logical_date=DAY)
    assert result.parsed.files[0].rows_in == rows_in
    loaded, found, ids, digest = batch_state(module_conn, KAGGLE_TRACKS, "kaggle", DAY)
    assert dict(found) == reasons and loaded == len(good) + 2 + 3
    assert loaded + sum(found.values()) == rows_in and ids == {result.loads["kaggle"].batch_id}
    load_kaggle(module_conn, path, logical_date=DAY)
    assert batch_state(module_conn, KAGGLE_TRACKS, "kaggle", DAY)[::3] == (loaded, digest)
    # A snapshot source: another date's load replaces every earlier batch, rejects included.
    later = DAY + dt.timedelta(days=1)
    load_kaggle(module_conn, path, logical_date=later)
    assert batch_state(module_conn, KAGGLE_TRACKS, "kaggle", DAY)[:2] == (0, Counter())
    assert batch_state(module_conn, KAGGLE_TRACKS, "kaggle", later)[::3] == (loaded, digest)


# -- whole-file failures -------------------------------------------------------------------


def test_truncated_json_fails_the_import_and_keeps_the_previous_batch(
    module_conn: psycopg.Connection, tmp_path: Path
) -> None:
    """A JSON file cut off anywhere is an error naming the file; nothing of the import is
    loaded (not even its good files), so the date's earlier batch stays whole."""
    folder = tmp_path / "export"
    folder.mkdir()
    day = DAY + dt.timedelta(days=30)
    good = [account_play(f"2023-01-01 12:{i:02d}", track=f"Good {i}") for i in range(5)]
    (folder / "carol__StreamingHistory_music_0.json").write_text(json.dumps(good))
    import_path(module_conn, folder, logical_date=day, now=NOW)
    before = batch_state(module_conn, SPOTIFY_PLAYS, "spotify_export", day)
    assert before[0] == 5
    whole = json.dumps([extended_play(username="carol")] * 20)
    for cut in (len(whole) // 2, len(whole) - 1):  # mid-record, and only the "]" missing
        (folder / "endsong_1.json").write_text(whole[:cut])
        with pytest.raises(FileImportError, match=r"^endsong_1\.json: invalid or truncated JSON"):
            import_path(module_conn, folder, logical_date=day, now=NOW)
        assert batch_state(module_conn, SPOTIFY_PLAYS, "spotify_export", day) == before


def test_a_lastfm_json_dump_is_reported_as_skipped(tmp_path: Path) -> None:
    """Last.fm has no JSON export the importer reads: such a file is listed as skipped
    with its reason (never silently ignored), and the import has nothing to load."""
    from extract.files import parse_path

    page = {
        "recenttracks": {
            "track": [{"artist": {"#text": "A"}, "name": "T", "date": {"uts": "1700000000"}}]
        }
    }
    (tmp_path / "alice__recenttracks.json").write_text(json.dumps(page))
    parsed = parse_path(tmp_path, now=NOW)
    assert parsed.files == []
    assert [(s.name, s.why) for s in parsed.skipped] == [
        ("alice__recenttracks.json", "JSON, but not a streaming history")
    ]


# -- a load killed half way ----------------------------------------------------------------

KILL_ROWS = 600_000
KILL_DAY = dt.date(2025, 1, 1)


def scrobbles_frame(rows: int, tag: str) -> pl.DataFrame:
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    index = pl.int_range(0, rows, eager=True)
    return (
        pl.DataFrame(
            {
                "user_name": "killed",
                "artist_name": "Artist " + (index % 997).cast(pl.String),
                "track_name": f"{tag} " + index.cast(pl.String),
                "source_ref": "kill-test",
            }
        )
        .with_columns(
            (pl.lit(start) + pl.duration(seconds=index)).alias("played_at"),
            *(
                pl.lit(None, dtype=pl.String).alias(c)
                for c in ("artist_mbid", "track_mbid", "album_name", "album_mbid")
            ),
        )
        .select(LASTFM_SCROBBLES.column_names)
    )


def _load_in_child(url: str, rows: int) -> None:  # pragma: no cover - runs in a subprocess
    with psycopg.connect(url) as conn:
        print(conn.info.backend_pid, flush=True)
        load_batch(
            conn,
            scrobbles_frame(rows, "new"),
            LASTFM_SCROBBLES,
            source="kill_test",
            logical_date=KILL_DAY,
            rejected=pl.DataFrame({"_reason": ["late"]}),
        )


@pytest.mark.parametrize("how", ["kill the loading process", "pg_terminate_backend"])
def test_a_load_killed_mid_copy_leaves_the_previous_batch(
    module_conn: psycopg.Connection, module_warehouse_url: str, how: str
) -> None:
    conn = module_conn
    conn.autocommit = True
    previous = scrobbles_frame(1_000, "old")
    rejected = pl.DataFrame({"track": ["bad"], "_reason": ["empty artist"]})
    load_batch(
        conn,
        previous,
        LASTFM_SCROBBLES,
        source="kill_test",
        logical_date=KILL_DAY,
        rejected=rejected,
    )
    before = batch_state(conn, LASTFM_SCROBBLES, "kill_test", KILL_DAY)
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from tests.integration.test_quarantine import "
            "_load_in_child as f; f(sys.argv[1], int(sys.argv[2]))",
            module_warehouse_url,
            str(KILL_ROWS),
        ],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env({"PYTHONPATH": str(PROJECT_ROOT)}),
    )
    try:
        backend = int(child.stdout.readline())
        deadline = time.monotonic() + 120
        copied = 0
        while copied == 0:  # wait until the COPY is under way, rows already sent
            assert child.poll() is None, child.stderr.read()
            assert time.monotonic() < deadline, "the COPY never started"
            found = conn.execute(
                "select tuples_processed from pg_stat_progress_copy where pid = %s", [backend]
            ).fetchone()
            copied = found[0] if found else 0
            time.sleep(0.01)
        if how == "pg_terminate_backend":
            assert conn.execute("select pg_terminate_backend(%s, 30000)", [backend]).fetchone()[0]
        else:
            child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode != 0
    assert 0 < copied < KILL_ROWS + 1, "killed in the middle of the COPY"
    deadline = time.monotonic() + 30
    while conn.execute(
        "select count(*) from pg_stat_activity where pid = %s", [backend]
    ).fetchone()[0]:
        assert time.monotonic() < deadline, "the killed backend did not end"
        time.sleep(0.05)
    assert batch_state(conn, LASTFM_SCROBBLES, "kill_test", KILL_DAY) == before

    rerun = load_batch(
        conn,
        scrobbles_frame(KILL_ROWS, "new"),
        LASTFM_SCROBBLES,
        source="kill_test",
        logical_date=KILL_DAY,
        rejected=pl.DataFrame({"_reason": ["late"]}),
    )
    assert (rerun.rows_loaded, rerun.rows_replaced, rerun.rows_rejected) == (
        KILL_ROWS,
        previous.height,
        1,
    )
    loaded, reasons, ids, _ = batch_state(conn, LASTFM_SCROBBLES, "kill_test", KILL_DAY)
    assert (loaded, reasons, ids) == (KILL_ROWS, Counter({"late": 1}), {rerun.batch_id})
    load_batch(
        conn,
        previous,
        LASTFM_SCROBBLES,
        source="kill_test",
        logical_date=KILL_DAY,
        rejected=rejected,
    )  # leave the small batch for the other variant


def test_a_nul_the_parsers_missed_fails_the_load_and_keeps_the_batch(
    module_conn: psycopg.Connection,
) -> None:
    """Defence in depth: a frame still holding a NUL fails (COPY rejects it) with a note
    naming the column, the date's batch untouched; a NUL in a quarantined record is stored
    as U+FFFD instead of failing the batch."""
    day = KILL_DAY + dt.timedelta(days=1)
    load_batch(
        module_conn,
        scrobbles_frame(3, "ok"),
        LASTFM_SCROBBLES,
        source="nul_test",
        logical_date=day,
        rejected=pl.DataFrame({"a": ["x\x00y"], "_reason": ["r"]}),
    )
    before = batch_state(module_conn, LASTFM_SCROBBLES, "nul_test", day)
    assert record_with(module_conn, "nul_test", day, "r") == {"a": "x" + FFFD + "y"}
    bad = scrobbles_frame(3, "bad").with_columns(pl.lit("a\x00b").alias("album_name"))
    with pytest.raises(psycopg.DataError) as failure:
        load_batch(module_conn, bad, LASTFM_SCROBBLES, source="nul_test", logical_date=day)
    assert "raw.lastfm_scrobbles: {'album_name': 3} values hold a NUL" in failure.value.__notes__[0]
    assert batch_state(module_conn, LASTFM_SCROBBLES, "nul_test", day) == before


# -- the Last.fm API path ------------------------------------------------------------------


def _track(
    uts: int | None, artist: str = "Artist", name: str = "Track", *, now_playing: bool = False
) -> str:
    opening = '<track nowplaying="true">' if now_playing else "<track>"
    date = f'<date uts="{uts}">x</date>' if uts is not None else ""
    return (
        f'{opening}<artist mbid="">{artist}</artist><name>{name}</name><mbid></mbid>'
        f'<album mbid="">Album</album><url>https://www.last.fm/</url>{date}</track>'
    )


def test_lastfm_api_page_with_broken_items(
    module_conn: psycopg.Connection, shared_data: Path, tmp_path: Path
) -> None:
    """Every item of a served page is loaded, quarantined, or counted as not a scrobble of
    this batch (the now-playing item, repeats of an item within the fetch)."""
    from extract.lastfm import extract_recent_tracks, load_landed
    from extract.lastfm.extract import REPORT
    from tests.support.lastfm_fake import XML_HEADERS, fast_config, running_fake
    from tests.support.replay_server import Response
    from warehouse.landing import read_landed

    day = dt.date(2024, 6, 1)
    t0 = int(dt.datetime(2024, 5, 1, tzinfo=dt.UTC).timestamp())
    items = [
        _track(None, name="Playing now", now_playing=True),
        *(_track(t0 + 60 * i, name=f"Good {i}") for i in range(5)),
        _track(t0 + 900, name="Twice"),
        _track(t0 + 900, name="Twice"),
        _track(None, name="No date"),
        _track(t0 + 1000, artist=""),
        _track(t0 + 1100, name=""),
        _track(0, name="Epoch zero"),
        _track(4_102_444_800, name="In 2100"),
        _track(t0 + 1200, artist=MOJIBAKE),
    ]
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<lfm status="ok">\n'
        '<recenttracks user="brokenpage" page="1" perPage="200" totalPages="1" '
        f'total="{len(items) - 1}">' + "".join(items) + "</recenttracks></lfm>\n"
    )
    with running_fake(shared_data) as fake:
        fake.script("user.getRecentTracks", Response(200, body, XML_HEADERS), user="brokenpage")
        config = fast_config(fake.api_url, users=("brokenpage",), track_info_max=0)
        folder = extract_recent_tracks(day, config=config, conn=module_conn)
        counts = load_landed(module_conn, folder, day)
    report = read_landed(Path(folder))[REPORT].row(0, named=True)
    assert report["fetched"] == len(items)
    assert report["fetched"] == sum(
        report[k] for k in ("accepted", "rejected", "now_playing", "outside_window", "duplicates")
    )
    assert (report["now_playing"], report["duplicates"], report["outside_window"]) == (1, 1, 0)
    loaded, reasons, _, _ = batch_state(module_conn, LASTFM_SCROBBLES, "lastfm", day)
    assert loaded == report["accepted"] == counts["lastfm_scrobbles"] == 5 + 1 + 1
    assert dict(reasons) == {
        "missing timestamp": 1,
        "empty artist name": 1,
        "empty track name": 1,
        "timestamp before 2002-01-01": 1,
        "timestamp in the future": 1,
    }
    assert sum(reasons.values()) == report["rejected"] == counts["rejected"]
