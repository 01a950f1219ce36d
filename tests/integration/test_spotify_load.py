"""The Spotify source end to end on a real PostgreSQL: plan from raw tables, call spotipy
against recorded answers, land, load. Reruns replace their batch; later runs fetch only
what is new; a rerun of a poll forgets nothing."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import psycopg
import pytest

from extract.spotify import __main__ as cli
from extract.spotify.pipeline import FetchLimits, land_spotify, load_landed_spotify, run_spotify
from extract.spotify.retry import RetryPolicy
from tests.support.replay_server import ReplayServer, Response, replay_server
from tests.support.spotify_replay import SpotifyCatalog, SpotifyReplay, browndsi_tracks, load_json
from warehouse.loader import load_batch
from warehouse.raw_tables import LASTFM_SCROBBLES, SPOTIFY_PLAYS

pytestmark = pytest.mark.integration

DAY = dt.date(2026, 6, 1)
NEXT_DAY = dt.date(2026, 6, 2)
FETCHED_AT = dt.datetime(2026, 6, 1, 6, tzinfo=dt.UTC)
UNKNOWN_ID = "0000000000000000000000"
KNIGHTS, HYSTERIA = "7ouMYWpwJ422jRcDASZB7P", "7xyYsOvq5Ec3P4fr6mM9fD"
# Recorded tracks whose artists (Eminem, Pitbull) have recorded artist objects too.
ON_FIRE, TIMBER = "6HLZaECJKDjNE0jiGBeqxz", "1zHlj4dQ8ZAtrayhuDDmkY"
SPOTIFY_TABLES = ("spotify_track_matches", "spotify_tracks", "spotify_artists", "spotify_plays")


def _frame(table, rows: list[dict]) -> pl.DataFrame:
    full = [{name: row.get(name) for name in table.column_names} for row in rows]
    return pl.DataFrame(full, schema=table.polars_schema, orient="row")


@pytest.fixture(scope="module")
def played_ids(shared_data: Path) -> list[str]:
    recorded = dict.fromkeys(t["id"] for t in browndsi_tracks(shared_data))
    return [ON_FIRE, TIMBER, *(t for t in recorded if t not in (ON_FIRE, TIMBER))][:121]


@pytest.fixture(scope="module")
def seeded(module_warehouse_url: str, played_ids: list[str]) -> str:
    """Plays from another source (an export, Last.fm) that the Spotify extract enriches."""
    t0 = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
    exported = [
        {
            "user_name": "u1",
            "ended_at": t0 + dt.timedelta(minutes=i),
            "track_id": tid,
            "ms_played": 200_000,
        }
        for i, tid in enumerate(played_ids[:120])
    ]
    exported += [
        {
            "user_name": "u1",
            "ended_at": t0 - dt.timedelta(hours=1),
            "track_id": f"spotify:track:{played_ids[120]}",
        },  # a URI, as exports write them
        {"user_name": "u1", "ended_at": t0 - dt.timedelta(hours=2), "track_id": UNKNOWN_ID},
        {"user_name": "u1", "ended_at": t0 - dt.timedelta(hours=3), "track_id": "local:file"},
        {
            "user_name": "u1",
            "ended_at": t0 - dt.timedelta(hours=4),
            "track_id": None,
            "artist_name": "Muse",
            "track_name": "Knights Of Cydonia",
        },
    ]
    scrobbles = [
        {
            "user_name": "lfm",
            "played_at": t0 + dt.timedelta(hours=h),
            "artist_name": a,
            "track_name": t,
        }
        for h, (a, t) in enumerate(
            [("Muse", "Hysteria")] * 3
            + [("The Killers", "Mr. Brightside"), ("Muse", "Knights Of Cydonia")]
        )
    ]
    with psycopg.connect(module_warehouse_url) as conn:
        load_batch(
            conn,
            _frame(SPOTIFY_PLAYS, exported),
            SPOTIFY_PLAYS,
            source="spotify_export",
            logical_date=dt.date(2026, 5, 1),
        )
        load_batch(
            conn,
            _frame(LASTFM_SCROBBLES, scrobbles),
            LASTFM_SCROBBLES,
            source="lastfm",
            logical_date=dt.date(2026, 5, 1),
        )
    return module_warehouse_url


@pytest.fixture(scope="module")
def server() -> Iterator[ReplayServer]:
    with replay_server() as running:
        yield running


@pytest.fixture(scope="module")
def catalog(shared_data: Path) -> SpotifyCatalog:
    return SpotifyCatalog.recorded(shared_data)


@pytest.fixture
def replay(
    server: ReplayServer,
    shared_data: Path,
    catalog: SpotifyCatalog,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> SpotifyReplay:
    monkeypatch.setenv("ENCORE_HOME", str(tmp_path))  # the landing zone goes here
    return SpotifyReplay.fresh(server, shared_data, catalog)


@pytest.fixture
def conn(seeded: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(seeded) as connection:
        yield connection


def _run(conn: psycopg.Connection, replay: SpotifyReplay, day: dt.date) -> dict[str, int]:
    return run_spotify(
        conn,
        day,
        config=replay.config(),
        now=lambda: FETCHED_AT,
        retry=RetryPolicy(max_attempts=2, sleep=lambda seconds: None),
    )


def _snapshot(conn: psycopg.Connection) -> dict[str, list[tuple]]:
    """Every spotify row, batch metadata but the batch id and load time included."""
    tables = {}
    for name in SPOTIFY_TABLES:
        columns = [
            c
            for (c,) in conn.execute(
                "select column_name from information_schema.columns where table_schema = 'raw' "
                "and table_name = %s and column_name not in ('_batch_id', '_loaded_at') "
                "order by ordinal_position",
                [name],
            )
        ]
        select = ", ".join(f'"{c}"::text' for c in columns)
        tables[name] = conn.execute(
            f"select {select} from raw.{name} where _source = 'spotify' order by 1, 2, 3, 4, 5"  # noqa: S608
        ).fetchall()
    tables["rejected"] = conn.execute(
        "select table_name, _logical_date::text, _reason, record::text from raw_rejected.rows "
        "where _source = 'spotify' order by 1, 2, 3, 4"
    ).fetchall()
    return tables


def _count(conn: psycopg.Connection, table: str, day: dt.date) -> int:
    return conn.execute(
        f"select count(*) from raw.{table} where _source = 'spotify' "  # noqa: S608
        "and _logical_date = %s",
        [day],
    ).fetchone()[0]


def test_a_run_fetches_what_the_warehouse_lacks_and_a_rerun_replaces_it(
    conn: psycopg.Connection, replay: SpotifyReplay, played_ids: list[str]
) -> None:
    counts = _run(conn, replay, DAY)

    matches = dict(
        ((a, t), tid)
        for a, t, tid in conn.execute(
            "select query_artist, query_title, track_id from raw.spotify_track_matches"
        )
    )
    assert matches == {
        ("Muse", "Hysteria"): HYSTERIA,
        ("Muse", "Knights Of Cydonia"): KNIGHTS,
        ("The Killers", "Mr. Brightside"): None,
    }
    fetched = {tid for (tid,) in conn.execute("select track_id from raw.spotify_tracks")}
    carried = {item["track"]["id"] for item in replay.recently_played_answer["items"]}
    assert fetched == set(played_ids) | {KNIGHTS, HYSTERIA} | carried
    # 121 played ids, the unknown one and 2 matches: 50 + 50 + 24; the 2 tracks
    # recently-played carried needed no request
    assert [len(r.query["ids"].split(",")) for r in replay.requests_to("/v1/tracks")] == [
        50,
        50,
        24,
    ]
    assert counts["spotify_plays"] == 2
    plays = conn.execute(
        "select user_name, ended_at, ms_played from raw.spotify_plays "
        "where _source = 'spotify' order by ended_at"
    ).fetchall()
    assert [(u, ms) for u, _, ms in plays] == [("wizzler", None)] * 2
    assert plays[1][1] == dt.datetime(2023, 9, 22, 15, 43, 33, 750000, tzinfo=dt.UTC)

    artists = dict(conn.execute("select artist_name, genres from raw.spotify_artists"))
    assert artists["Eminem"] == ["detroit hip hop", "g funk", "hip hop", "rap"]
    assert artists["Pitbull"] == []  # recorded without genres: an empty list, not NULL
    reasons = dict(
        conn.execute(
            "select record ->> 'requested', _reason from raw_rejected.rows "
            "where table_name = 'spotify_tracks' and _source = 'spotify'"
        ).fetchall()
    )
    assert reasons[UNKNOWN_ID].startswith("unknown_id") and reasons["local:file"].startswith(
        "invalid_id"
    )
    unknown_artists = conn.execute(
        "select count(*) from raw_rejected.rows where table_name = 'spotify_artists'"
    ).fetchone()
    assert unknown_artists[0] > 0  # recorded fixtures know only some artists: null entries

    before = _snapshot(conn)
    assert _run(conn, replay, DAY) == counts
    assert _snapshot(conn) == before


def test_the_next_day_fetches_only_what_is_new(
    conn: psycopg.Connection, replay: SpotifyReplay
) -> None:
    _run(conn, replay, DAY)
    replay.server.requests.clear()
    counts = _run(conn, replay, NEXT_DAY)
    assert counts == {
        "spotify_track_matches": 0,
        "spotify_tracks": 0,
        "spotify_artists": 0,
        "spotify_plays": 0,
    }  # the 2 polled plays were loaded for DAY
    asked = {r.path for r in replay.server.requests}
    assert asked == {"/api/token", "/v1/me/", "/v1/me/player/recently-played"}


def test_a_rerun_of_a_poll_keeps_what_it_saw_before(
    conn: psycopg.Connection, replay: SpotifyReplay, shared_data: Path
) -> None:
    _run(conn, replay, DAY)
    first_poll = {item["track"]["id"] for item in replay.recently_played_answer["items"]}
    replay.recently_played_answer = load_json(
        shared_data, "zmb3_spotify_go/player_recently_played.txt"
    )
    counts = _run(conn, replay, DAY)
    assert counts["spotify_plays"] == 2 + 20 == _count(conn, "spotify_plays", DAY)
    second_poll = {item["track"]["id"] for item in replay.recently_played_answer["items"]}
    day_tracks = {
        tid
        for (tid,) in conn.execute(
            "select track_id from raw.spotify_tracks where _logical_date = %s", [DAY]
        )
    }
    assert first_poll | second_poll <= day_tracks  # the kept plays keep their tracks


def test_landing_then_loading_are_separate_steps(
    conn: psycopg.Connection, replay: SpotifyReplay
) -> None:
    day = dt.date(2026, 6, 3)
    conn.commit()
    folder = land_spotify(
        conn,
        day,
        config=replay.config(refresh_token=None),
        limits=FetchLimits(max_searches=0),
        now=lambda: FETCHED_AT,
    )
    assert folder is not None
    landed = sorted(path.name for path in Path(folder).glob("*.parquet"))
    assert landed == [
        "spotify_artists.parquet",
        "spotify_track_matches.parquet",
        "spotify_tracks.parquet",
    ]  # no refresh token: plays left alone
    # no transaction left open across the API calls
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    requests_before = len(replay.server.requests)
    assert load_landed_spotify(conn, folder, logical_date=day) == load_landed_spotify(
        conn, folder, logical_date=day
    )
    assert len(replay.server.requests) == requests_before  # loading never calls Spotify
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE  # committed


def test_cli_runs_without_airflow(
    seeded: str,
    replay: SpotifyReplay,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("WAREHOUSE_URL", seeded)
    monkeypatch.setattr(cli.SpotifyConfig, "from_env", classmethod(lambda cls: replay.config()))
    replay.server.route("GET", "/v1/audio-features", lambda r: Response(500))  # never called
    assert cli.main(["--date", "2026-06-04"]) == 0
    out = capsys.readouterr().out
    assert "raw.spotify_plays: 0 rows" in out and "raw.spotify_tracks:" in out
    assert not replay.requests_to("/v1/audio-features")


def test_polls_of_one_day_accumulate_without_catalog_calls(
    conn: psycopg.Connection, replay: SpotifyReplay, shared_data: Path
) -> None:
    day = dt.date(2026, 6, 5)
    first = run_spotify(conn, day, config=replay.config(), catalog=False, now=lambda: FETCHED_AT)
    assert first == {"spotify_plays": 0}  # the 2 recorded plays belong to earlier dates
    answer = load_json(shared_data, "zmb3_spotify_go/player_recently_played.txt")
    newer = copy.deepcopy(answer["items"][:3])
    for minutes, item in enumerate(newer):
        item["played_at"] = f"2026-06-05T0{minutes}:00:00.000Z"
    replay.recently_played_answer = {**answer, "items": newer[:2]}
    assert run_spotify(conn, day, config=replay.config(), catalog=False) == {"spotify_plays": 2}
    replay.recently_played_answer = {**answer, "items": newer[1:]}  # 1 seen, 1 new
    assert run_spotify(conn, day, config=replay.config(), catalog=False) == {"spotify_plays": 3}
    assert not replay.requests_to("/v1/tracks") and not replay.requests_to("/v1/search")
    assert _count(conn, "spotify_tracks", day) == 0
