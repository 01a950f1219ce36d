"""Spotify credentials and endpoints, taken from Encore's settings (config/).

Secrets live in this object and in the spotipy auth managers built from it, nowhere else:
they are excluded from `repr` so a logged or printed config never shows them, and the code
reports a missing variable by its name only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from config import Settings, get_settings

log = logging.getLogger(__name__)

API_URL = "https://api.spotify.com/v1/"
TOKEN_URL = "https://accounts.spotify.com/api/token"

CLIENT_ID_VAR = "SPOTIFY_CLIENT_ID"
CLIENT_SECRET_VAR = "SPOTIFY_CLIENT_SECRET"
REFRESH_TOKEN_VAR = "SPOTIFY_REFRESH_TOKEN"


@dataclass(frozen=True)
class SpotifyConfig:
    """What the extract needs to talk to Spotify.

    `api_url` and `token_url` exist so tests can point spotipy's real code at a local
    replay server; production never changes them.
    """

    client_id: str = field(repr=False)
    client_secret: str = field(repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    api_url: str = API_URL
    token_url: str = TOKEN_URL
    requests_timeout: float = 10.0

    @property
    def has_user(self) -> bool:
        """Whether a listener authorized the app (needed for recently-played)."""
        return bool(self.refresh_token)

    @classmethod
    def from_env(cls, settings: Settings | None = None) -> SpotifyConfig | None:
        """The config from the `SPOTIFY_*` settings, or None when the app keys are absent."""
        settings = settings or get_settings()
        if settings.spotify_client_id is None or settings.spotify_client_secret is None:
            return None
        token = settings.spotify_refresh_token
        return cls(
            client_id=settings.spotify_client_id.get_secret_value(),
            client_secret=settings.spotify_client_secret.get_secret_value(),
            refresh_token=token.get_secret_value() if token else None,
        )


def missing_keys(settings: Settings | None = None) -> list[str]:
    """Names (never values) of the app-key variables that are unset or empty."""
    settings = settings or get_settings()
    return [
        name
        for name in (CLIENT_ID_VAR, CLIENT_SECRET_VAR)
        if getattr(settings, name.lower()) is None
    ]


def log_skipped(settings: Settings | None = None) -> None:
    """The one line a run without keys leaves: skipping is normal, not an error."""
    log.info(
        "spotify: skipped, %s not set (the pipeline runs without Spotify)",
        " and ".join(missing_keys(settings)) or "keys",
    )
