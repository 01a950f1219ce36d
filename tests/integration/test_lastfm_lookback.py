"""Last.fm's lookback against the real warehouse: a scrobble submitted late is loaded
exactly once, re-read scrobbles are never loaded twice, and reruns land the same rows.

pylast talks to the local fake (diegodukao's recorded page, served as user `latecomer`
with one scrobble withheld until after the first run); the watermark and the scrobbles
earlier batches hold are read from the module's own PostgreSQL database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from extract.lastfm import extract_recent_tracks, extract_user, load_landed
from extract.lastfm.config import LastfmConfig
from extract.lastfm.extract import REPORT
from tests.support.lastfm_fake import FakeLastfm, fast_config, running_fake
from tests.support.lastfm_fixtures import TrackFragment
from warehouse.landing import read_landed

pytestmark = pytest.mark.integration

D1, D2, D3 = dt.date(2018, 5, 16), dt.date(2018, 5, 17), dt.date(2018, 5, 18)
USER = "latecomer"


@pytest.fixture(scope="module")
def fake(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeLastfm]:
    with running_fake(shared_data) as service, pytest.MonkeyPatch.context() as patch:
        patch.setenv("ENCORE_HOME", str(tmp_path_factory.mktemp("lastfm-lookback-home")))
        yield service


@pytest.fixture
def config(fake: FakeLastfm) -> LastfmConfig:
    fake.reset()
    return fast_config(fake.api_url, users=(USER,), track_info_max=0)  # lookback: 14 days


def played(fake: FakeLastfm) -> list[TrackFragment]:
    """diegodukao's 50 recorded scrobbles (2018-05-15/16 UTC), without now-playing."""
    _, history = fake.histories["diegodukao"]
    return [fragment for fragment in history if not fragment.now_playing]


def scrobbles(conn: psycopg.Connection, day: dt.date | None = None) -> list[tuple]:
    """The user's rows in raw (of one batch, or all), without load times and batch ids."""
    return conn.execute(
        "select _logical_date, played_at, artist_name, track_name, album_name, track_mbid "
        "from raw.lastfm_scrobbles where _source = 'lastfm' and user_name = %s "
        "and (%s::date is null or _logical_date = %s) order by 1, 2, 3, 4",
        [USER, day, day],
    ).fetchall()


def test_a_late_scrobble_is_loaded_exactly_once(
    module_conn: psycopg.Connection, fake: FakeLastfm, config: LastfmConfig
) -> None:
    conn = module_conn
    history = played(fake)
    d1_end = dt.datetime(2018, 5, 16, tzinfo=dt.UTC).timestamp()
    late = sorted(
        (f for f in history if f.uts is not None and f.uts < d1_end), key=lambda f: f.uts or 0
    )[3]
    late_at = dt.datetime.fromtimestamp(late.uts or 0, dt.UTC)
    fake.add_history(USER, [fragment for fragment in history if fragment is not late])

    load_landed(conn, extract_recent_tracks(D1, config=config, conn=conn), D1)
    d1 = scrobbles(conn, D1)
    watermark = max(row[1] for row in d1)
    assert late_at < watermark and late_at not in [row[1] for row in d1]

    fake.add_history(USER, history)  # the late scrobble reaches Last.fm after the D1 run
    fake.reset()
    folder = extract_recent_tracks(D2, config=config, conn=conn)
    counts = load_landed(conn, folder, D2)
    report = read_landed(Path(folder))[REPORT].row(0, named=True)
    assert (report["watermark"], report["window_from"]) == (
        watermark,
        watermark - dt.timedelta(days=14),
    )
    assert report["already_loaded"] == len(d1)  # D1's scrobbles, re-read and left out
    d2 = scrobbles(conn, D2)
    assert late_at in [row[1] for row in d2]
    assert counts["lastfm_scrobbles"] == len(d2) == len(history) - len(d1)

    # Every scrobble is in raw exactly once, the late one included.
    total, distinct = conn.execute(
        "select count(*), count(distinct (played_at, artist_name, track_name)) "
        "from raw.lastfm_scrobbles where _source = 'lastfm' and user_name = %s",
        [USER],
    ).fetchone()
    assert total == distinct == len(history) == 50

    # Rerunning D2 (either way in: one folder, or one task per user) lands the same rows.
    fake.reset()
    load_landed(conn, extract_recent_tracks(D2, config=config, conn=conn), D2)
    assert scrobbles(conn, D2) == d2
    load_landed(conn, [extract_user(USER, D2, config=config, conn=conn)], D2)
    assert scrobbles(conn, D2) == d2

    # The next day re-reads both batches' scrobbles and loads none of them again.
    fake.reset()
    assert (
        load_landed(conn, extract_recent_tracks(D3, config=config, conn=conn), D3)[
            "lastfm_scrobbles"
        ]
        == 0
    )
    assert scrobbles(conn, D1) == d1 and scrobbles(conn, D2) == d2
    assert len(scrobbles(conn)) == 50
