"""spotipy's real code against recorded Spotify answers on a local server: batching, null
entries, search, artists, both token flows, audio features closed (403), rate limits."""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from spotipy.exceptions import SpotifyOauthError

from extract.spotify.api import SpotifyApi
from extract.spotify.clients import app_client, user_client
from extract.spotify.parse import parse_artists, parse_plays, parse_tracks
from extract.spotify.pipeline import fetch_tracks, search_matches
from extract.spotify.retry import RetryPolicy, SpotifyUnavailable
from tests.support.replay_server import ReplayServer, Request, Response, replay_server
from tests.support.spotify_replay import (
    CLIENT_ID,
    CLIENT_SECRET,
    REFRESH_TOKEN,
    USER_ACCESS_TOKEN,
    SpotifyCatalog,
    SpotifyReplay,
    browndsi_tracks,
    load_json,
    spotify_error,
)

FETCHED_AT = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def catalog(shared_data: Path) -> SpotifyCatalog:
    return SpotifyCatalog.recorded(shared_data)


@pytest.fixture(scope="module")
def server() -> Iterator[ReplayServer]:
    # One server per module: stopping one waits out its 0.5 s poll interval.
    with replay_server() as running:
        yield running


@pytest.fixture
def replay(server: ReplayServer, shared_data: Path, catalog: SpotifyCatalog) -> SpotifyReplay:
    return SpotifyReplay.fresh(server, shared_data, catalog)


class Sleeps(list):
    """An injectable sleep that records instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def app(replay: SpotifyReplay, sleeps: Sleeps) -> SpotifyApi:
    return SpotifyApi(app_client(replay.config()), RetryPolicy(max_attempts=3, sleep=sleeps))


def _ids(request: Request) -> list[str]:
    return request.query["ids"].split(",")


def test_tracks_are_fetched_50_per_request(
    app: SpotifyApi, replay: SpotifyReplay, shared_data: Path
) -> None:
    ids = list(dict.fromkeys(t["id"] for t in browndsi_tracks(shared_data)))[:120]
    lookups = app.tracks(ids)
    batches = replay.requests_to("/v1/tracks")
    assert [len(_ids(r)) for r in batches] == [50, 50, 20]
    assert [i for r in batches for i in _ids(r)] == ids
    assert [rid for rid, _ in lookups] == ids and all(obj for _, obj in lookups)
    parsed = parse_tracks(lookups, FETCHED_AT)
    assert parsed.rows.height == 120 and parsed.rejected.height == 0
    assert parsed.rows["track_id"].to_list() == ids


def test_null_entries_are_unknown_ids_and_quarantined(
    app: SpotifyApi, replay: SpotifyReplay, shared_data: Path
) -> None:
    recorded = load_json(shared_data, "zmb3_spotify_go/find_tracks_notfound.txt")
    replay.server.route("GET", "/v1/tracks", lambda request: Response(200, recorded))
    unknown = "0000000000000000000000"
    parsed = fetch_tracks(app, ["0eGsygTp906u18L0Oimnem", unknown, "not a spotify id"], FETCHED_AT)
    assert parsed.rows["track_id"].to_list() == ["0eGsygTp906u18L0Oimnem"]
    assert parsed.rows["track_name"].to_list() == ["Mr. Brightside"]
    reasons = dict(zip(parsed.rejected["requested"], parsed.rejected["_reason"], strict=True))
    assert reasons[unknown].startswith("unknown_id")
    assert reasons["not a spotify id"].startswith("invalid_id")
    assert _ids(replay.requests_to("/v1/tracks")[0]) == ["0eGsygTp906u18L0Oimnem", unknown]


def test_recorded_tracks_answer_becomes_rows(shared_data: Path) -> None:
    answer = load_json(shared_data, "spotify_web_api_java/GetSeveralTracksRequest.json")
    lookups = [(track["id"], track) for track in answer["tracks"]]
    row = parse_tracks(lookups, FETCHED_AT).rows.row(0, named=True)
    assert row["track_name"] == "Mr. Brightside"
    assert json.loads(row["artist_names"]) == ["The Killers"]
    assert json.loads(row["artist_ids"]) == ["0C0XlULifJtAgn6ZNCW2eu"]
    assert row["isrc"] == "GBFFP0300052" and row["album_name"] == "Hot Fuss (Deluxe Version)"
    assert row["duration_ms"] > 0 and row["explicit"] is False and row["fetched_at"] == FETCHED_AT


def test_artists_with_genres_popularity_and_followers(
    app: SpotifyApi, replay: SpotifyReplay
) -> None:
    bowie, trex, unknown = "0oSGxfWSnnOXhD2fKuz2Gy", "3dBVyJ7JuOMt4GE9607Qin", "1" * 22
    parsed = parse_artists(app.artists([bowie, trex, unknown]), FETCHED_AT)
    rows = {row["artist_id"]: row for row in parsed.rows.iter_rows(named=True)}
    assert rows[bowie]["artist_name"] == "David Bowie"
    assert json.loads(rows[bowie]["genres"]) == ["art rock", "glam rock", "permanent wave"]
    assert rows[trex]["popularity"] == 58 and rows[trex]["followers"] == 52338
    assert parsed.rejected["requested"].to_list() == [unknown]
    assert len(replay.requests_to("/v1/artists")) == 1


def test_search_matches_only_when_artist_and_title_agree(
    app: SpotifyApi, replay: SpotifyReplay
) -> None:
    parsed = search_matches(
        app,
        [
            ("Muse", "Knights of Cydonia"),
            ("muse", "HYSTERIA"),
            ("Muse", "A Song Muse Never Recorded"),
        ],
        FETCHED_AT,
    )
    rows = parsed.rows.to_dicts()
    assert [row["track_id"] for row in rows] == [
        "7ouMYWpwJ422jRcDASZB7P",
        "7xyYsOvq5Ec3P4fr6mM9fD",
        None,
    ]
    assert rows[0]["matched_title"] == "Knights Of Cydonia" and rows[0]["matched_artist"] == "Muse"
    assert rows[2]["matched_title"] is None and rows[2]["query_title"].startswith("A Song")
    first = replay.requests_to("/v1/search")[0].query
    assert first["q"] == 'track:"Knights of Cydonia" artist:"Muse"'
    assert first["type"] == "track" and first["limit"] == "10"


def test_client_credentials_token_is_fetched_once_and_sent(
    app: SpotifyApi, replay: SpotifyReplay
) -> None:
    app.tracks(["0eGsygTp906u18L0Oimnem"])
    app.artists(["0oSGxfWSnnOXhD2fKuz2Gy"])
    (token,) = replay.requests_to("/api/token")
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    assert token.headers["authorization"] == f"Basic {basic}"
    assert token.form == {"grant_type": "client_credentials"}
    api_calls = replay.requests_to("/v1/")
    assert [r.headers["authorization"] for r in api_calls] == ["Bearer REDACTED"] * 2


def test_refresh_token_flow_for_the_listener(replay: SpotifyReplay, shared_data: Path) -> None:
    user = SpotifyApi(user_client(replay.config()))
    assert user.me()["id"] == "wizzler"
    items = user.recently_played()
    (token,) = replay.requests_to("/api/token")
    assert token.form == {"grant_type": "refresh_token", "refresh_token": REFRESH_TOKEN}
    assert {r.headers["authorization"] for r in replay.requests_to("/v1/me")} == {
        f"Bearer {USER_ACCESS_TOKEN}"
    }
    assert replay.requests_to("/v1/me/player/recently-played")[0].query["limit"] == "50"
    assert len(items) == 2


def test_a_refused_refresh_token_is_a_clear_error_not_a_prompt(replay: SpotifyReplay) -> None:
    user = SpotifyApi(user_client(replay.config(refresh_token="revoked")))
    with pytest.raises(SpotifyOauthError, match="invalid_grant"):
        user.me()


def test_recently_played_becomes_plays(replay: SpotifyReplay, shared_data: Path) -> None:
    user = SpotifyApi(user_client(replay.config()))
    parsed = parse_plays(user.recently_played(), user.me()["id"])
    rows = parsed.rows.to_dicts()
    assert parsed.rejected.height == 0 and len(rows) == 2
    assert [row["ended_at"].isoformat() for row in rows] == [
        "2023-09-22T15:23:14.294000+00:00",
        "2023-09-22T15:43:33.750000+00:00",
    ]
    assert all(row["user_name"] == "wizzler" and row["ms_played"] is None for row in rows)
    assert all(row["track_id"] and row["track_name"] and row["artist_name"] for row in rows)
    assert rows[0]["source_ref"] == "api:me/player/recently-played"


def test_audio_features_403_means_not_available_logged_once(
    app: SpotifyApi, replay: SpotifyReplay, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="extract.spotify")
    assert app.audio_features(["0eGsygTp906u18L0Oimnem"]) == []
    assert app.audio_features(["3n3Ppam7vgaVa1iaRUc9Lp"]) == []
    assert app.audio_features_available is False
    assert len(replay.requests_to("/v1/audio-features")) == 1
    ours = [r for r in caplog.records if r.name == "extract.spotify.api"]
    assert len(ours) == 1 and "not available" in ours[0].getMessage()


def test_audio_features_when_the_app_still_has_them(
    app: SpotifyApi, replay: SpotifyReplay, shared_data: Path
) -> None:
    recorded = load_json(
        shared_data, "spotify_web_api_java/GetAudioFeaturesForSeveralTracksRequest.json"
    )
    replay.audio_features = lambda request: Response(200, recorded)
    features = app.audio_features(["4JpKVNYnVcJ8tuMKjAj50A", "2NRANZE9UCmPAS5XVbXL40"])
    assert app.audio_features_available is True
    assert features[0]["danceability"] == 0.808


def _answer_in_turn(*answers: Response):
    remaining = list(answers)
    return lambda request: remaining.pop(0) if len(remaining) > 1 else remaining[0]


def test_429_retry_after_is_honoured_then_succeeds(
    app: SpotifyApi, replay: SpotifyReplay, sleeps: Sleeps
) -> None:
    normal = replay.server.routes[("GET", "/v1/tracks")]
    limited = spotify_error(429, "API rate limit exceeded", {"Retry-After": "2"})
    first = _answer_in_turn(limited, Response(200))  # 429 once, then the normal answer

    def handler(request: Request) -> Response:
        answer = first(request)
        return answer if answer.status == 429 else normal(request)

    replay.server.route("GET", "/v1/tracks", handler)
    lookups = app.tracks(["0eGsygTp906u18L0Oimnem"])
    assert lookups[0][1]["name"] == "Mr. Brightside"
    assert sleeps == [2.0]
    assert len(replay.requests_to("/v1/tracks")) == 2  # spotipy did not retry on its own


def test_retries_are_bounded_and_end_in_a_clear_error(
    app: SpotifyApi, replay: SpotifyReplay, sleeps: Sleeps
) -> None:
    replay.server.route(
        "GET",
        "/v1/tracks",
        lambda request: spotify_error(429, "API rate limit exceeded", {"Retry-After": "1"}),
    )
    with pytest.raises(SpotifyUnavailable, match=r"still failing \(429\) after 3 attempts"):
        app.tracks(["0eGsygTp906u18L0Oimnem"])
    assert sleeps == [1.0, 1.0]
    assert len(replay.requests_to("/v1/tracks")) == 3


def test_a_retry_after_beyond_the_bound_fails_without_sleeping(
    app: SpotifyApi, replay: SpotifyReplay, sleeps: Sleeps
) -> None:
    replay.server.route(
        "GET",
        "/v1/artists",
        lambda request: spotify_error(429, "Too many requests", {"Retry-After": "86400"}),
    )
    with pytest.raises(SpotifyUnavailable, match="asked to wait 86400 s"):
        app.artists(["0oSGxfWSnnOXhD2fKuz2Gy"])
    assert sleeps == [] and len(replay.requests_to("/v1/artists")) == 1


def test_server_errors_back_off_exponentially(
    app: SpotifyApi, replay: SpotifyReplay, sleeps: Sleeps
) -> None:
    normal = replay.server.routes[("GET", "/v1/search")]
    turns = _answer_in_turn(
        spotify_error(502, "Bad gateway"), spotify_error(503, "Busy"), Response(200)
    )
    replay.server.route(
        "GET", "/v1/search", lambda r: a if (a := turns(r)).status != 200 else normal(r)
    )
    assert app.search_tracks('track:"Hysteria" artist:"Muse"')
    assert sleeps == [1.0, 2.0]


def test_each_retry_is_logged_with_its_wait(
    app: SpotifyApi, replay: SpotifyReplay, caplog: pytest.LogCaptureFixture
) -> None:
    normal = replay.server.routes[("GET", "/v1/search")]
    turns = _answer_in_turn(
        spotify_error(429, "slow", {"Retry-After": "3"}), spotify_error(503, "Busy"), Response(200)
    )
    replay.server.route(
        "GET", "/v1/search", lambda r: a if (a := turns(r)).status != 200 else normal(r)
    )
    caplog.set_level(logging.WARNING, logger="extract.spotify.retry")
    assert app.search_tracks("Hysteria")
    assert [r.getMessage() for r in caplog.records if r.name == "extract.spotify.retry"] == [
        "spotify: GET /search ('Hysteria') answered 429 (attempt 1/3); retrying in 3.0 s",
        "spotify: GET /search ('Hysteria') answered 503 (attempt 2/3); retrying in 2.0 s",
    ]


def test_removed_batch_endpoint_falls_back_to_single_lookups(
    app: SpotifyApi, replay: SpotifyReplay, shared_data: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Development Mode apps lost GET /tracks?ids= in Feb 2026; GET /tracks/{id} remains."""
    normal = replay.server.routes[("GET", "/v1/tracks")]
    replay.server.route(
        "GET",
        "/v1/tracks",
        lambda r: spotify_error(403, "Forbidden") if "ids" in r.query else normal(r),
    )
    caplog.set_level(logging.WARNING, logger="extract.spotify")
    ids = [t["id"] for t in browndsi_tracks(shared_data)[:3]] + ["0000000000000000000000"]
    lookups = app.tracks(ids) + app.tracks(ids[:1])
    assert [obj is not None for _, obj in lookups] == [True, True, True, False, True]
    paths = [r.path for r in replay.requests_to("/v1/tracks")]
    assert paths[0] == "/v1/tracks/" and paths[1:] == [f"/v1/tracks/{i}" for i in ids + ids[:1]]
    assert sum("removed for Development Mode" in r.getMessage() for r in caplog.records) == 1


def test_secrets_never_reach_the_logs(
    replay: SpotifyReplay, sleeps: Sleeps, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    config = replay.config()
    policy = RetryPolicy(sleep=sleeps)
    replay.server.route(
        "GET",
        "/v1/audio-features",
        _answer_in_turn(
            spotify_error(429, "slow", {"Retry-After": "1"}), spotify_error(403, "Forbidden")
        ),
    )
    app = SpotifyApi(app_client(config), policy)
    app.tracks(["0eGsygTp906u18L0Oimnem"])
    app.audio_features(["0eGsygTp906u18L0Oimnem"])
    user = SpotifyApi(user_client(config), policy)
    user.recently_played()
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    logged = caplog.text + repr(config)
    assert caplog.records  # the run did log (requests, retries, the 403)
    for secret in (CLIENT_SECRET, REFRESH_TOKEN, USER_ACCESS_TOKEN, basic, "Bearer REDACTED"):
        assert secret not in logged
