"""Extracting users' windows through pylast against the local fake (no warehouse needed)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from config import Settings, SettingsError
from extract.lastfm import extract_recent_tracks, extract_track_info, extract_user, lastfm_users
from extract.lastfm.__main__ import main as cli_main
from extract.lastfm.client import LastfmApiError, RetryPolicy
from extract.lastfm.config import LastfmConfig
from extract.lastfm.extract import REPORT, make_client, track_info_frames, user_frames
from extract.lastfm.load import load_landed
from extract.lastfm.window import ScrobbleKey
from tests.support.lastfm_fake import API_KEY, API_SECRET, FakeLastfm, fast_config, running_fake
from tests.support.replay_server import Response

RECENT = "user.getRecentTracks"
LATER = dt.date(2030, 1, 1)  # a window end after every recorded scrobble
DIEGO_SCROBBLES = 50  # lamusga's page: 50 scrobbles plus the now-playing item


@pytest.fixture(scope="module")
def fake_service(shared_data: Path) -> Iterator[FakeLastfm]:
    with running_fake(shared_data) as fake:
        yield fake


@pytest.fixture
def fake(fake_service: FakeLastfm) -> FakeLastfm:
    fake_service.reset()
    return fake_service


def run_user(
    fake: FakeLastfm,
    user: str,
    *,
    watermark: dt.datetime | None = None,
    logical_date: dt.date = LATER,
    **overrides: object,
) -> dict[str, pl.DataFrame]:
    config = fast_config(fake.api_url, **overrides)
    return user_frames(make_client(config), config, user, logical_date, watermark)


def report(frames: dict[str, pl.DataFrame]) -> dict[str, object]:
    (row,) = frames[REPORT].to_dicts()
    return row


def test_pages_are_followed_with_an_explicit_page_size(fake: FakeLastfm) -> None:
    frames = run_user(fake, "diegodukao", page_size=7)
    calls = fake.calls(RECENT)
    assert [call["page"] for call in calls] == [str(page) for page in range(1, 9)]
    assert {call["limit"] for call in calls} == {"7"}
    assert frames["lastfm_scrobbles"].height == DIEGO_SCROBBLES
    assert frames["lastfm_scrobbles"]["played_at"].n_unique() == DIEGO_SCROBBLES
    assert report(frames)["pages"] == 8


def test_the_default_page_size_is_sent_not_left_to_pylast(fake: FakeLastfm) -> None:
    run_user(fake, "diegodukao", page_size=LastfmConfig().page_size)
    assert [(call["limit"], call["page"]) for call in fake.calls(RECENT)] == [("200", "1")]


def test_now_playing_is_dropped_and_mbids_kept(fake: FakeLastfm) -> None:
    frames = run_user(fake, "RJ")
    scrobbles = frames["lastfm_scrobbles"]
    assert report(frames)["now_playing"] == 1
    assert "Aretha Franklin" not in scrobbles["artist_name"].to_list()  # now playing
    assert scrobbles.select("artist_name", "track_mbid", "album_name", "album_mbid").row(0) == (
        "Johnny Cash",
        "8e85d1cb-a82e-47ed-b412-325360adec71",
        "The Best Of",
        "ede12196-5b0c-4ccf-9caf-950574a69e5e",
    )
    assert scrobbles["played_at"].to_list() == [dt.datetime(2011, 7, 21, 15, 12, 50, tzinfo=dt.UTC)]


def test_the_watermark_is_sent_as_from_and_enforced(fake: FakeLastfm) -> None:
    """Without a lookback (LASTFM_LOOKBACK_DAYS=0) a run starts at the watermark."""
    watermark = dt.datetime.fromtimestamp(1526428800 + 3600, dt.UTC)  # 2018-05-16 01:00 UTC
    frames = run_user(
        fake, "diegodukao", watermark=watermark, logical_date=dt.date(2018, 5, 17), lookback_days=0
    )
    (call,) = fake.calls(RECENT)
    assert call["from"] == str(int(watermark.timestamp()))
    assert call["to"] == str(int(dt.datetime(2018, 5, 17, tzinfo=dt.UTC).timestamp()))
    played = frames["lastfm_scrobbles"]["played_at"]
    assert played.len() > 0 and played.min() > watermark


# diegodukao's recorded page: 50 scrobbles on 2018-05-15 and 05-16 UTC; the batch for D1
# holds 05-15's, the batch for D2 05-16's.
D1, D2 = dt.date(2018, 5, 16), dt.date(2018, 5, 17)


def loaded_keys(*batches: pl.DataFrame) -> frozenset[ScrobbleKey]:
    """What `window.loaded_scrobbles` answers for a user whose earlier batches are these
    (all their rows lie within 14 days of the watermark here)."""
    return frozenset(
        row
        for batch in batches
        for row in batch.select("played_at", "artist_name", "track_name", "album_name").iter_rows()
    )


def test_the_lookback_loads_a_late_scrobble_exactly_once(fake: FakeLastfm) -> None:
    """A scrobble submitted late (played on 05-15, before D1's watermark, but sent to
    Last.fm only after the D1 run) is fetched by the D2 run's lookback and loaded by it;
    what D2 re-reads of D1's batch is not loaded again, and a rerun of D2 lands the same
    rows.

    The extract leaves re-read scrobbles out, so raw never holds them twice. Should the
    same scrobble still reach raw in two batches (rerunning the *older* date D1 after D2
    picked up the late one: D1's window then sees it too), dbt collapses it downstream:
    int_plays_deduplicated keeps one play per user and track within
    `dedup_window_seconds` (30 s, inclusive), and exact repeats are 0 s apart.
    """
    _, history = fake.histories["diegodukao"]
    played = [fragment for fragment in history if not fragment.now_playing]
    d1_end = dt.datetime(2018, 5, 16, tzinfo=dt.UTC).timestamp()
    late = sorted(
        (f for f in played if f.uts is not None and f.uts < d1_end), key=lambda f: f.uts or 0
    )[5]
    late_at = dt.datetime.fromtimestamp(late.uts or 0, dt.UTC)
    fake.add_history("latecomer", [fragment for fragment in played if fragment is not late])
    config = fast_config(fake.api_url)  # LASTFM_LOOKBACK_DAYS: the default, 14 days
    assert config.lookback_days == 14
    client = make_client(config)

    first = user_frames(client, config, "latecomer", D1, None)["lastfm_scrobbles"]
    watermark = first["played_at"].max()
    assert isinstance(watermark, dt.datetime) and late_at < watermark
    assert late_at not in first["played_at"].to_list()

    fake.add_history("latecomer", played)  # the late scrobble reaches Last.fm
    fake.reset()
    frames = user_frames(client, config, "latecomer", D2, watermark, loaded=loaded_keys(first))
    (call,) = fake.calls(RECENT)
    assert call["from"] == str(int((watermark - dt.timedelta(days=14)).timestamp()))
    second = frames["lastfm_scrobbles"]
    assert late_at in second["played_at"].to_list()
    assert report(frames)["already_loaded"] == first.height  # re-read, not landed again
    assert report(frames)["watermark"] == watermark
    assert report(frames)["window_from"] == watermark - dt.timedelta(days=14)
    counts = report(frames)
    assert counts["fetched"] == sum(
        counts[k]
        for k in (
            "accepted",
            "rejected",
            "now_playing",
            "outside_window",
            "duplicates",
            "already_loaded",
        )
    )

    both = pl.concat([first, second])  # the user's plays in raw after both batches
    assert both.height == len(played) == DIEGO_SCROBBLES  # every scrobble exactly once
    assert both.select("played_at", "artist_name", "track_name").n_unique() == both.height

    fake.reset()  # a rerun of D2 asks for the same window and lands the same rows
    again = user_frames(client, config, "latecomer", D2, watermark, loaded=loaded_keys(first))
    assert_frame_equal(again["lastfm_scrobbles"], second)
    assert [c["from"] for c in fake.calls(RECENT)] == [call["from"]]

    fake.reset()  # without the lookback the late scrobble is never fetched
    off = dataclasses.replace(config, lookback_days=0)
    missed = user_frames(client, off, "latecomer", D2, watermark)["lastfm_scrobbles"]
    assert late_at not in missed["played_at"].to_list()
    assert missed.height == second.height - 1


def test_the_lookback_moves_the_window_start(fake: FakeLastfm) -> None:
    """`from` is the watermark minus LASTFM_LOOKBACK_DAYS; a scrobble after it that no
    earlier batch holds is landed (here none is known, so all of them)."""
    watermark = dt.datetime(2018, 5, 16, 1, tzinfo=dt.UTC)
    frames = run_user(fake, "diegodukao", watermark=watermark, logical_date=D2, lookback_days=1)
    (call,) = fake.calls(RECENT)
    assert call["from"] == str(int(dt.datetime(2018, 5, 15, 1, tzinfo=dt.UTC).timestamp()))
    played = frames["lastfm_scrobbles"]["played_at"]
    assert played.len() == DIEGO_SCROBBLES  # all of 05-15 01:00 .. 05-16: nothing known
    assert played.min() > watermark - dt.timedelta(days=1)
    assert report(frames)["already_loaded"] == 0


def test_the_first_run_reaches_back_initial_days(fake: FakeLastfm) -> None:
    run_user(fake, "diegodukao", initial_days=90, logical_date=dt.date(2018, 5, 17))
    (call,) = fake.calls(RECENT)
    assert call["from"] == str(int(dt.datetime(2018, 2, 16, tzinfo=dt.UTC).timestamp()))


def test_a_rate_limit_mid_pagination_is_retried(fake: FakeLastfm) -> None:
    fake.script(
        RECENT,
        Response(503, "Service Unavailable"),
        fake.error(29),
        fake.error(16),
        user="diegodukao",
    )
    frames = run_user(
        fake, "diegodukao", page_size=25, retry=RetryPolicy(max_attempts=4, backoff_seconds=0.0)
    )
    assert len(fake.calls(RECENT)) == 3 + 2  # three refusals, then pages 1 and 2
    assert frames["lastfm_scrobbles"].height == DIEGO_SCROBBLES


def test_persistent_failure_stops_the_run_with_a_clear_error(fake: FakeLastfm) -> None:
    fake.script(RECENT, *[Response(502, "Bad Gateway")] * 5, user="diegodukao")
    with pytest.raises(
        LastfmApiError,
        match=r"user.getRecentTracks failed after 3 attempt\(s\): "
        r"error 502",
    ):
        run_user(fake, "diegodukao")
    assert len(fake.calls(RECENT)) == 3


def test_private_and_unknown_users_are_skipped_and_reported(
    fake: FakeLastfm, caplog: pytest.LogCaptureFixture
) -> None:
    fake.script(RECENT, fake.error(17), user="hidden")
    with caplog.at_level(logging.WARNING, logger="extract.lastfm"):
        hidden = run_user(fake, "hidden")
        unknown = run_user(fake, "no-such-user")
    assert (report(hidden)["status"], report(hidden)["detail"]) == (
        "private",
        "Login: User required to be logged in",
    )
    assert report(unknown)["status"] == "not_found"
    assert hidden["lastfm_scrobbles"].height == hidden["lastfm_user_info"].height == 0
    assert "Last.fm user hidden skipped (private)" in caplog.text
    assert fake.calls("user.getInfo") == []  # nothing more is asked about a skipped user


def test_malformed_rows_are_quarantined(fake: FakeLastfm) -> None:
    rj = run_user(fake, "RJ")["lastfm_scrobbles__rejected"]
    assert rj.select("track_name", "_reason").rows() == [("I Believe in You", "missing timestamp")]
    garbled = run_user(fake, "mojibake")
    assert garbled["lastfm_scrobbles"].height == 0
    assert garbled["lastfm_scrobbles__rejected"]["_reason"].to_list() == [
        "text is byte-swapped UTF-16 (mojibake)"
    ]


def test_user_info_lands_with_the_scrobbles(fake: FakeLastfm) -> None:
    info = run_user(fake, "RJ")["lastfm_user_info"]
    assert info.select("user_name", "country", "playcount").rows() == [
        ("RJ", "United Kingdom", 149018)
    ]


def test_track_info_for_new_tracks_most_played_first(fake: FakeLastfm) -> None:
    config = fast_config(fake.api_url)
    scrobbles = run_user(fake, "test-account")["lastfm_scrobbles"]
    client = make_client(config)
    info = track_info_frames(client, config, scrobbles, known=set())["lastfm_track_info"]
    asked = [(call["artist"], call["track"]) for call in fake.calls("track.getInfo")]
    assert asked == [("Test Artist", "Test Title"), ("Test Artist", "test title 2")]
    assert info.select("artist_name", "track_name", "duration_ms", "listeners").rows() == [
        ("Test Artist", "Test Title", 25000, 93)
    ]  # the second one is not found (error 6)

    fake.reset()
    capped = dataclasses.replace(config, track_info_max=1)
    track_info_frames(client, capped, scrobbles, known={("test artist", "test title")})
    assert [call["track"] for call in fake.calls("track.getInfo")] == ["test title 2"]


def test_track_info_stops_early_when_the_service_is_down(fake: FakeLastfm) -> None:
    config = fast_config(fake.api_url)
    scrobbles = run_user(fake, "diegodukao")["lastfm_scrobbles"]
    fake.reset()
    fake.script("track.getInfo", *[Response(503, "down")] * 10)
    info = track_info_frames(make_client(config), config, scrobbles, known=set())
    assert info["lastfm_track_info"].height == 0
    assert len(fake.calls("track.getInfo")) == 3  # one lookup's retries, then it gives up


def test_without_a_key_the_source_is_skipped_with_one_log_line(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("LASTFM_API_KEY", "LASTFM_API_SECRET", "LASTFM_USERS"):
        monkeypatch.delenv(name, raising=False)
    off = LastfmConfig.from_env()
    with caplog.at_level(logging.INFO, logger="extract.lastfm"):
        assert extract_recent_tracks(LATER, ["RJ"], config=off) is None
    assert [record.getMessage() for record in caplog.records] == [
        "Last.fm source skipped: LASTFM_API_KEY is not set"
    ]
    assert extract_user("RJ", LATER, config=off) is None
    assert extract_track_info(LATER, [], config=off) is None
    assert lastfm_users(off) == []
    assert load_landed(None, None, LATER) == {}  # type: ignore[arg-type]  # no warehouse touched
    assert cli_main(["--date", "2030-01-01"]) == 0


def test_secrets_never_reach_logs_or_reprs(
    fake: FakeLastfm, caplog: pytest.LogCaptureFixture
) -> None:
    fake.script(RECENT, fake.error(29), Response(500, "oops"), user="RJ")
    fake.script(RECENT, fake.error(17), user="hidden")
    with caplog.at_level(logging.DEBUG):
        run_user(fake, "RJ")
        run_user(fake, "hidden")
    assert "retry" in caplog.text and "skipped" in caplog.text
    config = fast_config(fake.api_url)
    for text in (caplog.text, repr(config), str(config)):
        assert API_KEY not in text and API_SECRET not in text


def test_settings_come_from_the_environment(settings_env: Callable[..., Settings]) -> None:
    config = LastfmConfig.from_env(
        settings_env(
            LASTFM_API_KEY=" k ",
            LASTFM_USERS="RJ, bbc6music,,rj ,",
            LASTFM_INITIAL_DAYS="all",
            LASTFM_API_URL="http://127.0.0.1:9/2.0/",
            LASTFM_MAX_ATTEMPTS="7",
            LASTFM_BACKOFF_SECONDS="0",
        )
    )
    assert config.enabled and config.api_key == "k"
    assert config.users == ("RJ", "bbc6music")
    assert config.initial_days is None and config.page_size == 200
    assert config.retry == RetryPolicy(max_attempts=7, backoff_seconds=0.0)
    defaults = LastfmConfig.from_env(settings_env())
    assert not defaults.enabled and defaults.initial_days == 90
    assert defaults.lookback_days == 14  # Last.fm accepts scrobbles up to 14 days late
    assert LastfmConfig.from_env(settings_env(LASTFM_LOOKBACK_DAYS="0")).lookback_days == 0
    assert LastfmConfig.from_env(settings_env(LASTFM_LOOKBACK_DAYS="3")).lookback_days == 3
    with pytest.raises(SettingsError, match="LASTFM_LOOKBACK_DAYS='-1' from the environment"):
        settings_env(LASTFM_LOOKBACK_DAYS="-1")
    with pytest.raises(ValueError, match="lookback_days"):
        LastfmConfig(lookback_days=-1)
    assert defaults.min_interval_seconds == 0.2  # at most 5 calls per second
    with pytest.raises(SettingsError, match="LASTFM_PAGE_SIZE='500' from the environment"):
        settings_env(LASTFM_PAGE_SIZE="500")
