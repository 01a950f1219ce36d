"""Keys from the environment, never shown; without keys the source is skipped, quietly."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

import pytest

from config import Settings
from extract.spotify import __main__ as cli
from extract.spotify.config import SpotifyConfig
from extract.spotify.pipeline import land_spotify, load_landed_spotify
from extract.spotify.retry import RetryPolicy

KEYS = {
    "SPOTIFY_CLIENT_ID": "id-value",
    "SPOTIFY_CLIENT_SECRET": "secret-value",
    "SPOTIFY_REFRESH_TOKEN": "refresh-value",
}


def test_config_reads_the_environment_and_hides_secrets(
    settings_env: Callable[..., Settings],
) -> None:
    settings = settings_env(**KEYS)
    config = SpotifyConfig.from_env(settings)
    assert config is not None and config.has_user
    shown = repr(config) + str(config) + repr(settings) + str(settings)
    assert not any(value in shown for value in KEYS.values())
    no_user = SpotifyConfig.from_env(settings_env(**{**KEYS, "SPOTIFY_REFRESH_TOKEN": ""}))
    assert no_user is not None and not no_user.has_user


@pytest.mark.parametrize("unset", ["SPOTIFY_CLIENT_ID", "SPOTIFY_CLIENT_SECRET"])
def test_without_app_keys_there_is_no_config(
    unset: str, settings_env: Callable[..., Settings]
) -> None:
    assert SpotifyConfig.from_env(settings_env(**{**KEYS, unset: " "})) is None


def _no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in KEYS:
        monkeypatch.delenv(name, raising=False)


def test_without_keys_the_source_is_skipped_with_one_line(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _no_keys(monkeypatch)
    caplog.set_level(logging.DEBUG, logger="extract.spotify")
    folder = land_spotify(None, dt.date(2026, 6, 1))  # type: ignore[arg-type]  # no DB needed
    assert folder is None
    assert load_landed_spotify(None, folder, logical_date=dt.date(2026, 6, 1)) == {}  # type: ignore[arg-type]
    (record,) = caplog.records
    assert record.levelno == logging.INFO
    assert record.getMessage() == (
        "spotify: skipped, SPOTIFY_CLIENT_ID and "
        "SPOTIFY_CLIENT_SECRET not set (the pipeline runs without "
        "Spotify)"
    )


def test_cli_without_keys_exits_0_before_touching_the_warehouse(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _no_keys(monkeypatch)
    import warehouse.connections

    def no_warehouse() -> str:
        raise AssertionError("the warehouse must not be started when Spotify is skipped")

    monkeypatch.setattr(warehouse.connections, "ensure_warehouse", no_warehouse)
    caplog.set_level(logging.INFO, logger="extract.spotify")
    assert cli.main(["--date", "2026-06-01"]) == 0
    assert [r.getMessage().split(",")[0] for r in caplog.records] == ["spotify: skipped"]


def test_cli_arguments() -> None:
    args = cli.parse_args(["--date", "2026-06-01", "--max-searches", "7"])
    assert args.date == dt.date(2026, 6, 1) and args.max_searches == 7
    with pytest.raises(SystemExit):
        cli.parse_args(["--date", "June 1st"])


def test_retry_policy_needs_an_attempt() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        RetryPolicy(max_attempts=0)
