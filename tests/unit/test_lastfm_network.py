"""pylast, unmodified, talks to a local http server when LASTFM_API_URL says so."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pylast
import pytest

from extract.lastfm.network import build_network
from tests.support.lastfm_fake import API_KEY, API_SECRET, FakeLastfm, running_fake


@pytest.fixture(scope="module")
def fake_service(shared_data: Path) -> Iterator[FakeLastfm]:
    with running_fake(shared_data) as fake:
        yield fake


@pytest.fixture
def fake(fake_service: FakeLastfm) -> FakeLastfm:
    fake_service.reset()
    return fake_service


def test_pylast_public_methods_reach_the_local_server_over_plain_http(
    fake: FakeLastfm, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An environment proxy must not capture the local origin.
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    network = build_network(API_KEY, API_SECRET, fake.api_url)
    user = network.get_user("RJ")
    assert user.get_playcount() == 149018  # the recorded user.getInfo answer
    assert user.get_country().get_name() == "United Kingdom"
    (asked, *_) = fake.calls("user.getInfo")
    assert asked["api_key"] == API_KEY and asked["user"] == "RJ"
    assert fake.server.requests[0].path == "/2.0/"


def test_api_errors_come_back_as_pylast_errors(fake: FakeLastfm) -> None:
    network = build_network(API_KEY, API_SECRET, fake.api_url)
    with pytest.raises(pylast.WSError) as error:
        network.get_user("nobody-recorded").get_playcount()
    assert error.value.status == "6"


def test_plain_http_is_only_for_loopback() -> None:
    for url in ("http://127.0.0.1:8080/2.0/", "http://localhost:1/", "http://[::1]:8080"):
        build_network("k", "s", url)
    with pytest.raises(ValueError, match="loopback"):
        build_network("k", "s", "http://lastfm-mirror.example/2.0/")
    with pytest.raises(ValueError, match="http"):
        build_network("k", "s", "ftp://127.0.0.1/")


def test_ws_server_follows_the_url() -> None:
    assert build_network("k", "s").ws_server == ("ws.audioscrobbler.com", "/2.0/")
    mirror = build_network("k", "s", "https://mirror.example:8443/api/2.0")
    assert mirror.ws_server == ("mirror.example:8443", "/api/2.0/")
    assert mirror.proxy is None  # https needs no transport of ours
    assert build_network("k", "s", "http://127.0.0.1:8080").ws_server == ("127.0.0.1:8080", "/2.0/")
