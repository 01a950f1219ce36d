"""Recorded Last.fm answers -> records, and the checks that sort good rows from bad."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pylast
import pytest

from extract.lastfm.checks import check_scrobbles, looks_byte_swapped
from extract.lastfm.parse import ScrobbleItem, recent_tracks_page, track_info, user_info
from extract.lastfm.window import Window, plan_window
from tests.support import lastfm_fixtures as fx

UTC = dt.UTC


def parsed(body: str):
    """What pylast's request code hands over: its own parse of the answer."""
    return pylast._parse_response(body)


def test_recent_tracks_keep_mbids_album_and_timestamps(shared_data: Path) -> None:
    page = recent_tracks_page(
        parsed(fx.cassette_body(shared_data, "TestPyLastUser.test_get_recent_tracks_from_to.yaml"))
    )
    assert (page.user, page.page, page.total_pages) == ("RJ", 1, 1)
    playing, cash = page.items
    assert playing.now_playing and playing.uts is None
    assert cash == ScrobbleItem(
        now_playing=False,
        uts="1311261170",
        artist_name="Johnny Cash",
        artist_mbid=None,
        track_name="Ring of Fire",
        track_mbid="8e85d1cb-a82e-47ed-b412-325360adec71",
        album_name="The Best Of",
        album_mbid="ede12196-5b0c-4ccf-9caf-950574a69e5e",
    )


def test_items_without_a_date_parse_instead_of_failing(shared_data: Path) -> None:
    page = recent_tracks_page(parsed(fx.ruby_xml(shared_data, "user_get_recent_tracks.xml")))
    assert page.total_pages == 3019
    playing, kylie = page.items
    assert playing.now_playing and playing.artist_mbid == "2f9ecbed-27be-40e6-abca-6de49d50299e"
    assert kylie.uts is None and kylie.track_name == "I Believe in You"
    assert kylie.album_name is None


def test_json_recordings_convert_to_the_same_items(shared_data: Path) -> None:
    recorded = fx.lamusga_recent_tracks(shared_data)
    page = recent_tracks_page(parsed(fx.json_to_xml(recorded)))
    tracks = recorded["recenttracks"]["track"]
    assert page.total_pages == int(recorded["recenttracks"]["@attr"]["totalPages"])
    assert [item.uts for item in page.items] == [t.get("date", {}).get("uts") for t in tracks]
    assert [item.artist_mbid or "" for item in page.items] == [t["artist"]["mbid"] for t in tracks]
    assert [item.track_name for item in page.items] == [t["name"] for t in tracks]
    assert [item.now_playing for item in page.items] == ["@attr" in t for t in tracks]


def test_track_info_reads_listeners_duration_and_tags(shared_data: Path) -> None:
    daft = track_info(
        parsed(fx.cassette_body(shared_data, "TestPyLastTrack.test_track_get_duration.yaml"))
    )
    assert daft == {
        "track_mbid": "defbfcb2-7a5c-4456-be28-b7e5ccf92cc2",
        "duration_ms": 232000,
        "listeners": 1485893,
        "playcount": 13830851,
        "top_tags": json.dumps(["electronic", "chillout", "poptron", "electronica", "Daft Punk"]),
    }
    static_x = track_info(
        parsed(fx.cassette_body(shared_data, "TestPyLastTrack.test_track_with_no_mbid.yaml"))
    )
    assert static_x["track_mbid"] is None and static_x["top_tags"] == "[]"


def test_user_info_maps_last_fm_blanks_to_null(shared_data: Path) -> None:
    rj = user_info(
        parsed(fx.cassette_body(shared_data, "TestPyLastUser.test_get_user_registration.yaml"))
    )
    assert rj == {
        "country": "United Kingdom",
        "age": None,
        "gender": "n",
        "registered_at": dt.datetime(2002, 11, 20, 11, 50, 40, tzinfo=UTC),
        "playcount": 149018,
    }
    nobody = user_info(
        parsed(fx.cassette_body(shared_data, "TestPyLastUser.test_get_countryless_user.yaml"))
    )
    assert nobody["country"] is None


def item(
    uts: str | None,
    artist: str = "Artist",
    track: str = "Track",
    *,
    now_playing: bool = False,
    album: str | None = None,
) -> ScrobbleItem:
    return ScrobbleItem(
        now_playing=now_playing,
        uts=uts,
        artist_name=artist,
        artist_mbid=None,
        track_name=track,
        track_mbid=None,
        album_name=album,
        album_mbid=None,
    )


NOW = dt.datetime(2026, 3, 1, tzinfo=UTC)
T0 = int(dt.datetime(2026, 2, 10, tzinfo=UTC).timestamp())


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (item(None), "missing timestamp"),
        (item("soon"), "unparseable timestamp 'soon'"),
        (item("0"), "timestamp before 2002-01-01"),  # Last.fm's uts=0 for very old scrobbles
        (item("1009843199"), "timestamp before 2002-01-01"),  # 2001-12-31 23:59:59
        (item(str(int(NOW.timestamp()) + 60)), "timestamp in the future"),
        (item(str(T0), artist=" "), "empty artist name"),
        (item(str(T0), track=""), "empty track name"),
        (item(str(T0), album="䔀愀爀洀椀氀欀"), "text is byte-swapped UTF-16 (mojibake)"),
        (item(None, artist="", track=""), "missing timestamp; empty artist name; empty track name"),
    ],
)
def test_bad_rows_are_rejected_with_their_reason(bad: ScrobbleItem, reason: str) -> None:
    checked = check_scrobbles("u", [bad, item(str(T0))], Window(until=NOW), NOW)
    assert checked.accepted.height == 1
    assert checked.rejected["_reason"].to_list() == [reason]
    assert checked.rejected["uts"].to_list() == [bad.uts]


def test_now_playing_window_edges_and_repeats_are_counted_not_kept() -> None:
    watermark = dt.datetime.fromtimestamp(T0, UTC)
    window = plan_window(dt.date(2026, 2, 20), watermark, initial_days=90)
    end = int(window.until.timestamp())
    items = [
        item(None, now_playing=True),
        item(str(T0)),  # the watermark itself: loaded by an earlier batch
        item(str(T0 + 1)),
        item(str(T0 + 1)),  # the same scrobble on two pages
        item(str(end - 1)),
        item(str(end)),
    ]  # the end is exclusive
    checked = check_scrobbles("u", items, window, NOW)
    assert checked.counts == {
        "fetched": 6,
        "now_playing": 1,
        "outside_window": 2,
        "duplicates": 1,
        "accepted": 2,
        "rejected": 0,
    }
    assert [int(t.timestamp()) for t in checked.accepted["played_at"]] == [T0 + 1, end - 1]
    assert checked.rejected.height == 0


def test_windows() -> None:
    day = dt.date(2026, 2, 20)
    end = dt.datetime(2026, 2, 20, tzinfo=UTC)
    assert plan_window(day, None, None).params == {"to": int(end.timestamp())}
    first = plan_window(day, None, 90)
    assert first.since == end - dt.timedelta(days=90) and first.contains(first.since)
    mark = dt.datetime(2026, 2, 19, 12, tzinfo=UTC)
    later = plan_window(day, mark, 90)
    assert later.params == {"from": int(mark.timestamp()), "to": int(end.timestamp())}
    assert not later.contains(mark) and later.contains(mark + dt.timedelta(seconds=1))


def test_byte_swapped_text_is_recognised(shared_data: Path) -> None:
    malformed = recent_tracks_page(
        parsed(fx.ruby_xml(shared_data, "user_get_recent_tracks_malformed.xml"))
    ).items[0]
    assert looks_byte_swapped(malformed.artist_name)  # "Kap Slap", byte-swapped
    assert looks_byte_swapped(malformed.track_name)
    for genuine in ("東京事変", "一", "Sigur Rós", "Ólafur Arnalds", "", None):
        assert not looks_byte_swapped(genuine)
