"""Build spotipy clients for the two ways Encore authenticates.

- The app (client credentials): catalog lookups (tracks, artists, search).
- The listener (authorization code, refreshed): recently-played. The listener authorized
  the app once, elsewhere; a batch job can never open a browser, so the auth manager here
  only ever refreshes `SPOTIFY_REFRESH_TOKEN` and refuses the interactive flow.

Choices made on purpose:
- spotipy's own retries are OFF (a session without a retrying adapter). spotipy's default
  adapter retries 429 inside urllib3, which sleeps for whatever Retry-After says, unbounded,
  and when its retries run out raises a 429 without the headers. Encore's bounded backoff
  (`extract.spotify.retry`) sees every answer instead, and that is what the tests exercise.
- Tokens are cached in memory only (`MemoryCacheHandler`), never in spotipy's `.cache` file.
- spotipy logs request headers, bearer tokens and Basic client credentials included, at
  DEBUG; its loggers are held at INFO so a debug run cannot print a secret.
- spotipy 2.26 has no `prefix=` or `token_url=` constructor parameters: the API base is the
  client's `prefix` attribute and the token URL the auth manager's `OAUTH_TOKEN_URL` class
  attribute; both are set on the instances, never on the classes.
"""

from __future__ import annotations

import logging

import requests
import spotipy
from requests.adapters import HTTPAdapter
from spotipy.cache_handler import MemoryCacheHandler
from spotipy.exceptions import SpotifyOauthError
from spotipy.oauth2 import SpotifyAuthBase, SpotifyClientCredentials, SpotifyOAuth

from extract.spotify.config import SpotifyConfig

RECENTLY_PLAYED_SCOPE = "user-read-recently-played"
# Required by SpotifyOAuth's constructor, never visited: the job only refreshes tokens.
_UNUSED_REDIRECT_URI = "http://127.0.0.1:8888/callback"


def quiet_spotipy_debug_logs() -> None:
    """Keep spotipy's header-dumping DEBUG records (tokens, credentials) out of any log."""
    spotipy_log = logging.getLogger("spotipy")
    if spotipy_log.getEffectiveLevel() < logging.INFO:
        spotipy_log.setLevel(logging.INFO)


def plain_session() -> requests.Session:
    """A session that never retries by itself: every 429/5xx reaches Encore's backoff."""
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class RefreshTokenAuth(SpotifyOAuth):
    """spotipy's authorization-code manager, seeded with a refresh token, never interactive.

    The cached token starts expired, so spotipy's own `get_access_token` path validates the
    cache and calls `refresh_access_token`, posting `grant_type=refresh_token` to the token
    URL. Should anything lead it to the interactive flow instead, it fails with a clear error
    rather than waiting on a prompt in a worker.
    """

    def __init__(self, config: SpotifyConfig, session: requests.Session) -> None:
        if not config.refresh_token:
            raise ValueError("RefreshTokenAuth needs SPOTIFY_REFRESH_TOKEN")
        seed = {
            "access_token": None,
            "token_type": "Bearer",
            "expires_at": 0,
            "refresh_token": config.refresh_token,
            "scope": RECENTLY_PLAYED_SCOPE,
        }
        super().__init__(
            client_id=config.client_id,
            client_secret=config.client_secret,
            redirect_uri=_UNUSED_REDIRECT_URI,
            scope=RECENTLY_PLAYED_SCOPE,
            requests_session=session,
            requests_timeout=config.requests_timeout,
            open_browser=False,
            cache_handler=MemoryCacheHandler(token_info=seed),
        )
        self.OAUTH_TOKEN_URL = config.token_url

    def get_auth_response(self, open_browser: bool | None = None) -> str:
        raise SpotifyOauthError(
            "the Spotify listener must be authorized outside the pipeline: set "
            "SPOTIFY_REFRESH_TOKEN to a refresh token with the "
            f"'{RECENTLY_PLAYED_SCOPE}' scope"
        )


def _client(
    config: SpotifyConfig, auth: SpotifyAuthBase, session: requests.Session
) -> spotipy.Spotify:
    client = spotipy.Spotify(
        auth_manager=auth,
        requests_session=session,
        requests_timeout=config.requests_timeout,
        retries=0,
        status_retries=0,
    )
    client.prefix = config.api_url if config.api_url.endswith("/") else config.api_url + "/"
    return client


def app_client(config: SpotifyConfig) -> spotipy.Spotify:
    """Catalog client authenticated as the app (client-credentials flow)."""
    quiet_spotipy_debug_logs()
    session = plain_session()
    auth = SpotifyClientCredentials(
        client_id=config.client_id,
        client_secret=config.client_secret,
        requests_session=session,
        requests_timeout=config.requests_timeout,
        cache_handler=MemoryCacheHandler(),
    )
    auth.OAUTH_TOKEN_URL = config.token_url
    return _client(config, auth, session)


def user_client(config: SpotifyConfig) -> spotipy.Spotify:
    """Client acting for the listener who issued `SPOTIFY_REFRESH_TOKEN`."""
    quiet_spotipy_debug_logs()
    session = plain_session()
    return _client(config, RefreshTokenAuth(config, session), session)
