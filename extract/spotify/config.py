"""Spotify credentials and endpoints, read once from the environment.

Secrets live in this object and in the spotipy auth managers built from it, nowhere else:
they are excluded from `repr` so a logged or printed config never shows them, and the code
reports a missing variable by its name only.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

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
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SpotifyConfig | None:
        """The config from `SPOTIFY_*` variables, or None when the app keys are absent."""
        env = os.environ if environ is None else environ
        client_id = (env.get(CLIENT_ID_VAR) or "").strip()
        client_secret = (env.get(CLIENT_SECRET_VAR) or "").strip()
        if not client_id or not client_secret:
            return None
        refresh_token = (env.get(REFRESH_TOKEN_VAR) or "").strip() or None
        return cls(client_id=client_id, client_secret=client_secret,
                   refresh_token=refresh_token)


def missing_keys(environ: Mapping[str, str] | None = None) -> list[str]:
    """Names (never values) of the app-key variables that are unset or empty."""
    env = os.environ if environ is None else environ
    return [name for name in (CLIENT_ID_VAR, CLIENT_SECRET_VAR)
            if not (env.get(name) or "").strip()]


def log_skipped(environ: Mapping[str, str] | None = None) -> None:
    """The one line a run without keys leaves: skipping is normal, not an error."""
    log.info("spotify: skipped, %s not set (the pipeline runs without Spotify)",
             " and ".join(missing_keys(environ)) or "keys")
