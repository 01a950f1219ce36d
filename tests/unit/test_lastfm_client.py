"""Pacing and bounded retries around pylast's requests, against the local fake."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from extract.lastfm.client import LastfmApiError, LastfmClient, RateLimiter, RetryPolicy
from extract.lastfm.network import build_network
from tests.support.lastfm_fake import API_KEY, API_SECRET, FakeLastfm, running_fake
from tests.support.lastfm_fixtures import error_envelope, json_to_xml, swift_json
from tests.support.replay_server import Response

RECENT = "user.getRecentTracks"
PARAMS = {"user": "bbc6music", "limit": 200, "page": 1}


@pytest.fixture(scope="module")
def fake_service(shared_data: Path) -> Iterator[FakeLastfm]:
    with running_fake(shared_data) as fake:
        yield fake


@pytest.fixture
def fake(fake_service: FakeLastfm) -> FakeLastfm:
    fake_service.reset()
    return fake_service


def client_for(url: str, sleeps: list[float], attempts: int = 4) -> LastfmClient:
    return LastfmClient(
        build_network(API_KEY, API_SECRET, url),
        min_interval=0.0,
        retry=RetryPolicy(max_attempts=attempts, backoff_seconds=0.5, max_backoff_seconds=1.5),
        sleep=sleeps.append,
    )


def test_rate_limited_calls_back_off_then_succeed(fake: FakeLastfm) -> None:
    fake.script(RECENT, fake.error(29), fake.error(29, http_status=429))
    sleeps: list[float] = []
    doc = client_for(fake.api_url, sleeps).call(RECENT, PARAMS)
    assert doc.getElementsByTagName("recenttracks")[0].getAttribute("user") == "bbc6music"
    assert len(fake.calls(RECENT)) == 3
    assert sleeps == [0.5, 1.0]  # exponential backoff


def test_each_retry_is_logged_with_its_wait(
    fake: FakeLastfm, caplog: pytest.LogCaptureFixture
) -> None:
    fake.script(RECENT, Response(503, "<html><body>busy</body></html>"))
    caplog.set_level(logging.WARNING, logger="extract.lastfm.client")
    client_for(fake.api_url, []).call(RECENT, PARAMS)
    (record,) = [r for r in caplog.records if r.name == "extract.lastfm.client"]
    assert record.getMessage().startswith("Last.fm user.getRecentTracks: error 503 (")
    assert record.getMessage().endswith("); retry 1/3 in 0.5 s")


@pytest.mark.parametrize("answer", ["8", "11", "16", "500", "502", "503", "504"])
def test_transient_errors_and_5xx_are_retried(fake: FakeLastfm, answer: str) -> None:
    failure = (
        Response(int(answer), "<html><body>upstream trouble</body></html>")
        if len(answer) == 3
        else fake.error(int(answer))
    )
    fake.script(RECENT, failure)
    sleeps: list[float] = []
    client_for(fake.api_url, sleeps).call(RECENT, PARAMS)
    assert len(fake.calls(RECENT)) == 2 and sleeps == [0.5]


def test_retries_are_bounded_and_end_in_a_clear_error(fake: FakeLastfm) -> None:
    fake.script(RECENT, *[fake.error(29)] * 10)
    sleeps: list[float] = []
    with pytest.raises(LastfmApiError) as error:
        client_for(fake.api_url, sleeps, attempts=4).call(RECENT, PARAMS)
    assert error.value.code == "29" and error.value.attempts == 4 and error.value.transient
    assert str(error.value) == (
        "Last.fm user.getRecentTracks failed after 4 attempt(s): "
        "error 29: Rate Limit Exceeded - Your IP has made too many "
        "requests in a short period"
    )
    assert len(fake.calls(RECENT)) == 4
    assert sleeps == [0.5, 1.0, 1.5]  # capped at max_backoff_seconds
    assert API_KEY not in str(error.value)


def test_refusals_are_not_retried(fake: FakeLastfm, shared_data: Path) -> None:
    # The recorded JSON "invalid API key" answer, as the XML pylast receives.
    invalid_key = json_to_xml(
        swift_json(shared_data, "errorInvalidAPIKey.json"), fake.error_template
    )
    fake.script(RECENT, Response(403, invalid_key))
    sleeps: list[float] = []
    with pytest.raises(LastfmApiError, match="error 10: Invalid API key") as error:
        client_for(fake.api_url, sleeps).call(RECENT, PARAMS)
    assert error.value.attempts == 1 and not error.value.transient
    assert sleeps == [] and len(fake.calls(RECENT)) == 1


def test_unreachable_service_is_retried_then_reported() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleeps: list[float] = []
    with pytest.raises(LastfmApiError, match="network error") as error:
        client_for(f"http://127.0.0.1:{port}/2.0/", sleeps, attempts=2).call(RECENT, PARAMS)
    assert error.value.code is None and error.value.attempts == 2 and sleeps == [0.5]


def test_calls_are_paced_to_the_rate_limit() -> None:
    now = [100.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(round(seconds, 6))
        now[0] += seconds

    limiter = RateLimiter(0.2, clock=lambda: now[0], sleep=sleep)
    limiter.wait()  # first call: no wait
    now[0] += 0.05
    limiter.wait()  # 0.05 s later: waits the remaining 0.15 s
    now[0] += 1.0
    limiter.wait()  # long after: no wait
    limiter.wait()
    assert sleeps == [0.15, 0.2]


def test_error_envelope_keeps_the_recorded_shape(fake: FakeLastfm) -> None:
    body = error_envelope(fake.error_template, 17)
    assert (
        body.replace('code="17"', 'code="6"').replace(
            "Login: User required to be logged in", "no such page"
        )
        == fake.error_template
    )
