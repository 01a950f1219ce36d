"""Spotify objects -> raw rows, quarantine reasons, search matching and the poll merge."""

from __future__ import annotations

import copy
import datetime as dt
import logging
from pathlib import Path

import polars as pl
import pytest

from extract.spotify.backlog import PollState
from extract.spotify.matching import best_match, normalize, normalize_title, search_query
from extract.spotify.parse import parse_artists, parse_plays, parse_tracks, played_tracks
from extract.spotify.recent import merge_poll
from extract.spotify.retry import retry_after_seconds
from tests.support.spotify_replay import browndsi_tracks, load_json
from warehouse.loader import conform
from warehouse.raw_tables import SPOTIFY_ARTISTS, SPOTIFY_PLAYS, SPOTIFY_TRACKS

FETCHED_AT = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def track(shared_data: Path) -> dict:
    return load_json(shared_data, "zmb3_spotify_go/find_track.txt")


def _reason(parsed) -> str:
    (reason,) = parsed.rejected["_reason"].to_list()
    return reason


def test_all_recorded_track_objects_conform_to_the_raw_table(shared_data: Path) -> None:
    objects = browndsi_tracks(shared_data)
    parsed = parse_tracks([(obj["id"], obj) for obj in objects], FETCHED_AT)
    assert parsed.rejected.height == 0
    assert parsed.rows.height == len({obj["id"] for obj in objects}) == 1492
    conform(parsed.rows, SPOTIFY_TRACKS)  # the loader would accept it as is
    assert parsed.rows["release_date"].null_count() == parsed.rows.height  # not recorded


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda t: t.pop("name"), "missing_field: name"),
        (lambda t: t.update(name="   "), "missing_field: name is empty"),
        (lambda t: t.update(artists=[]), "missing_field: artists"),
        (lambda t: t.update(duration_ms="3:45"), "bad_value: duration_ms is str"),
        (lambda t: t.update(explicit="no"), "bad_value: explicit is str"),
        (lambda t: t.update(album="Hot Fuss"), "bad_value: album"),
    ],
)
def test_invalid_track_objects_are_quarantined_with_a_reason(
    track: dict, change, reason: str
) -> None:
    broken = copy.deepcopy(track)
    change(broken)
    parsed = parse_tracks([(track["id"], broken)], FETCHED_AT)
    assert parsed.rows.height == 0
    assert _reason(parsed).startswith(reason)
    assert parsed.rejected["requested"].to_list() == [track["id"]]
    assert track["name"] in parsed.rejected["payload"][0]  # the object is kept for inspection


def test_fields_spotify_stopped_sending_are_null_not_zero(track: dict) -> None:
    """Development Mode apps lost popularity (and artists' followers) in Feb 2026."""
    trimmed = {k: v for k, v in track.items() if k not in ("popularity", "external_ids")}
    row = parse_tracks([(track["id"], trimmed)], FETCHED_AT).rows.row(0, named=True)
    assert row["popularity"] is None and row["isrc"] is None and row["track_name"]


def test_track_rows_keep_the_requested_id_when_spotify_relinks(track: dict) -> None:
    asked = "0" * 21 + "1"
    row = parse_tracks([(asked, track)], FETCHED_AT).rows.row(0, named=True)
    assert row["track_id"] == asked


def test_artists_without_genres_keep_null_and_bad_genres_are_rejected(shared_data: Path) -> None:
    bowie = load_json(shared_data, "spotify_web_api_java/GetSeveralArtistsRequest.json")["artists"][
        0
    ]
    bare = {k: v for k, v in bowie.items() if k not in ("genres", "popularity", "followers")}
    odd = {**bowie, "id": "2" * 22, "genres": "glam rock"}
    parsed = parse_artists([(bowie["id"], bare), (odd["id"], odd), ("3" * 22, None)], FETCHED_AT)
    row = parsed.rows.row(0, named=True)
    assert (row["genres"], row["popularity"], row["followers"]) == (None, None, None)
    conform(parsed.rows, SPOTIFY_ARTISTS)
    reasons = parsed.rejected["_reason"].to_list()
    assert reasons[0].startswith("bad_value: genres") and reasons[1].startswith("unknown_id")


def test_recently_played_items_become_plays_oldest_first(shared_data: Path) -> None:
    answer = load_json(shared_data, "zmb3_spotify_go/player_recently_played.txt")
    parsed = parse_plays(answer["items"], "dsoprea")
    assert parsed.rows.height == 20 and parsed.rejected.height == 0
    conform(parsed.rows, SPOTIFY_PLAYS)
    assert parsed.rows["ended_at"].is_sorted()
    assert parsed.rows["ended_at"].max() == dt.datetime(
        2017, 5, 27, 20, 7, 54, 721000, tzinfo=dt.UTC
    )
    assert parsed.rows["ms_played"].null_count() == 20
    assert set(played_tracks(answer["items"])) == set(parsed.rows["track_id"].to_list())


def test_invalid_plays_are_quarantined(shared_data: Path) -> None:
    items = load_json(shared_data, "zmb3_spotify_go/player_recently_played.txt")["items"][:3]
    broken = [copy.deepcopy(item) for item in items]
    broken[0]["played_at"] = "yesterday"
    broken[1]["track"] = None
    parsed = parse_plays(broken, "dsoprea")
    assert parsed.rows.height == 1
    assert [r.split(":")[0] for r in parsed.rejected["_reason"]] == ["bad_value", "missing_field"]


def test_normalization_folds_case_accents_punctuation_and_release_suffixes() -> None:
    assert normalize("Beyoncé & JAY-Z") == "beyonce and jay z"
    assert normalize_title("Mr. Brightside - Remastered 2011") == "mr brightside"
    assert normalize_title("Song (feat. Someone)") == normalize_title("Song")
    assert normalize_title("Song - Live") != normalize_title("Song")
    assert normalize_title("Song (Part 2)") != normalize_title("Song (Part 1)")


def test_best_match_wants_both_artist_and_title(shared_data: Path) -> None:
    results = load_json(shared_data, "spotify_web_api_java/SearchTracksRequest.json")["tracks"][
        "items"
    ]
    match = best_match("MUSE", "Time Is Running Out", results)
    assert match and match[0]["id"] == "2takcwOaAZWiXQijPHIx7B" and match[1] == "Muse"
    assert best_match("Muse", "Keep Me Around", results) is None  # The Wood Brothers' song
    assert best_match("PARTYNEXTDOOR", "Muse", results)[0]["id"] == "41ipOYFGT2MW4dvOPkoK1f"
    assert search_query('Guns N" Roses', "Don't Cry") == 'track:"Don\'t Cry" artist:"Guns N  Roses"'


def _plays(*moments: dt.datetime, user: str = "wizzler") -> pl.DataFrame:
    rows = [
        {"user_name": user, "ended_at": moment, "track_name": f"t{i}", "track_id": str(i)}
        for i, moment in enumerate(moments)
    ]
    return (
        pl.DataFrame(rows)
        .with_columns(
            [
                pl.lit(None, dtype).alias(name)
                for name, dtype in SPOTIFY_PLAYS.polars_schema.items()
                if name not in rows[0]
            ]
        )
        .select(SPOTIFY_PLAYS.column_names)
        .cast(SPOTIFY_PLAYS.polars_schema)
    )


def _at(hour: int) -> dt.datetime:
    return dt.datetime(2026, 6, 1, hour, tzinfo=dt.UTC)


def test_a_poll_keeps_new_plays_and_everything_its_batch_had() -> None:
    state = PollState(watermark=_at(2), batch_rows=_plays(_at(3)), later_plays=frozenset({_at(9)}))
    fetched = _plays(_at(1), _at(2), _at(3), _at(4), _at(9))
    outcome = merge_poll(fetched, state)
    # 1 and 2: loaded by earlier dates; 3: already in this batch; 9: a later date's
    assert outcome.rows["ended_at"].to_list() == [_at(3), _at(4)]
    assert outcome.new == 1 and not outcome.may_have_gap
    again = merge_poll(fetched, PollState(_at(2), outcome.rows, frozenset({_at(9)})))
    assert again.rows.equals(outcome.rows) and again.new == 0


def test_a_full_poll_newer_than_the_watermark_warns_of_a_gap(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fetched = _plays(*(_at(10) + dt.timedelta(minutes=m) for m in range(50)))
    empty = fetched.clear()
    with caplog.at_level(logging.WARNING, logger="extract.spotify"):
        outcome = merge_poll(fetched, PollState(_at(1), empty, frozenset()))
    assert outcome.may_have_gap and outcome.new == 50
    assert "may be missing" in caplog.text
    assert not merge_poll(fetched, PollState(None, empty, frozenset())).may_have_gap


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    assert retry_after_seconds({"Retry-After": "7"}) == 7.0
    assert retry_after_seconds({}) is None and retry_after_seconds({"Retry-After": "soon"}) is None
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=120)
    http_date = later.strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert 100 < retry_after_seconds({"Retry-After": http_date}) <= 120
