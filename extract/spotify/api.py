"""The Spotify Web API calls Encore makes: batched, retried, answering plain objects.

Every call goes through spotipy's own methods (so its URL building, auth headers and error
mapping are the ones in production) and through `call_with_retry` (429/5xx).

Three answers are interpreted here rather than raised:
- A null entry in a tracks/artists answer means Spotify does not know that id: the lookup
  answers `(id, None)` and the caller quarantines it.
- Audio features answer 403 to apps created after 27 Nov 2024: "not available", logged once
  per client, an empty answer, and no further calls.
- Get Several Tracks/Artists (`GET /tracks?ids=`, `GET /artists?ids=`) were removed for
  Development Mode apps in Feb 2026 (existing apps from 9 Mar 2026); extended-quota apps keep
  them. On a 403 from a batch endpoint the client switches, once and logged once, to one
  request per id (`GET /tracks/{id}`), where a 404 means an unknown id.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterator, Sequence
from itertools import islice
from typing import Any

import spotipy
from spotipy.exceptions import SpotifyException

from extract.spotify.retry import RetryPolicy, call_with_retry
from observability.progress import progress

log = logging.getLogger(__name__)

BATCH_SIZE = 50  # the API's maximum ids per tracks/artists request
AUDIO_FEATURES_BATCH_SIZE = 100
SEARCH_LIMIT = 10  # the maximum for Development Mode apps since Feb 2026
RECENTLY_PLAYED_LIMIT = 50  # the API keeps no more than the last 50 plays

Lookup = tuple[str, dict[str, Any] | None]  # (requested id, object, or None if unknown)


class SpotifyForbidden(RuntimeError):
    """Spotify refused an endpoint this job cannot do without (a 403 on a single lookup)."""


class UnexpectedAnswer(RuntimeError):
    """An answer whose shape is not the documented one (the API changed under us)."""


def batched(items: Sequence[str], size: int) -> Iterator[list[str]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _pair_lookups(requested: list[str], entries: object, kind: str) -> list[Lookup]:
    """Match a batch answer to the ids asked: by position (the documented order) when the
    lengths agree, else by id; ids without an object are unknown (None)."""
    if not isinstance(entries, list):
        raise UnexpectedAnswer(f"GET /{kind}: expected a '{kind}' list in the answer")
    if len(entries) == len(requested):
        return [
            (rid, entry if isinstance(entry, dict) else None)
            for rid, entry in zip(requested, entries, strict=True)
        ]
    by_id = {entry.get("id"): entry for entry in entries if isinstance(entry, dict)}
    return [(rid, by_id.get(rid)) for rid in requested]


class SpotifyApi:
    """One spotipy client plus the retry policy and what was learned about this app's access
    (batch endpoints removed, audio features closed) during the run."""

    def __init__(self, client: spotipy.Spotify, retry: RetryPolicy | None = None) -> None:
        self._client = client
        self._retry = retry or RetryPolicy()
        self._batch_endpoints = {"tracks": True, "artists": True}
        self.audio_features_available: bool | None = None

    def _call(self, what: str, method: Callable[..., Any], *args: Any) -> Any:
        with warnings.catch_warnings():
            # spotipy flags Spotify-deprecated endpoints (audio features) on every call.
            warnings.simplefilter("ignore", DeprecationWarning)
            return call_with_retry(lambda: method(*args), what, self._retry)

    # Catalog lookups -------------------------------------------------------------------

    def tracks(self, ids: Sequence[str]) -> list[Lookup]:
        """Track objects for `ids`, 50 per request, in order; unknown ids map to None."""
        return self._lookup("tracks", ids, self._client.tracks, self._client.track)

    def artists(self, ids: Sequence[str]) -> list[Lookup]:
        """Artist objects (genres, popularity, followers) for `ids`, 50 per request."""
        return self._lookup("artists", ids, self._client.artists, self._client.artist)

    def _lookup(
        self, kind: str, ids: Sequence[str], several: Callable[..., Any], one: Callable[..., Any]
    ) -> list[Lookup]:
        found: list[Lookup] = []
        with progress(f"Spotify {kind}", total=len(ids), unit=kind) as bar:
            for batch in batched(list(ids), BATCH_SIZE):
                found.extend(self._lookup_batch(kind, batch, several, one))
                bar.advance(len(batch))
        return found

    def _lookup_batch(
        self, kind: str, batch: list[str], several: Callable[..., Any], one: Callable[..., Any]
    ) -> list[Lookup]:
        """One request for up to 50 ids, or one per id once the batch endpoint is gone."""
        if self._batch_endpoints[kind]:
            try:
                answer = self._call(f"GET /{kind}?ids= ({len(batch)} ids)", several, batch)
            except SpotifyException as exc:
                if exc.http_status != 403:
                    raise
                self._batch_endpoints[kind] = False
                log.warning(
                    "spotify: GET /%s?ids= answered 403 (removed for Development "
                    "Mode apps since Feb 2026); asking one id per request",
                    kind,
                )
            else:
                return _pair_lookups(batch, (answer or {}).get(kind), kind)
        return self._one_by_one(kind, batch, one)

    def _one_by_one(self, kind: str, batch: list[str], one: Callable[..., Any]) -> list[Lookup]:
        found: list[Lookup] = []
        for item_id in batch:
            try:
                entry = self._call(f"GET /{kind}/{item_id}", one, item_id)
            except SpotifyException as exc:
                if exc.http_status == 403:
                    raise SpotifyForbidden(
                        f"GET /{kind}/{{id}}: Spotify answered 403 to this "
                        "app; check its access in the developer dashboard"
                    ) from exc
                if exc.http_status not in (400, 404):
                    raise
                entry = None
            found.append((item_id, entry if isinstance(entry, dict) else None))
        return found

    def search_tracks(self, query: str, limit: int = SEARCH_LIMIT) -> list[dict[str, Any]]:
        """Track search results in Spotify's relevance order (null entries dropped)."""
        answer = self._call(
            f"GET /search ({query!r})", self._client.search, query, limit, 0, "track"
        )
        items = ((answer or {}).get("tracks") or {}).get("items") or []
        return [item for item in items if isinstance(item, dict)]

    # The listener ----------------------------------------------------------------------

    def me(self) -> dict[str, Any]:
        """The authorized listener's profile (its `id` names the user in raw.spotify_plays)."""
        answer = self._call("GET /me", self._client.current_user)
        if not isinstance(answer, dict) or not answer.get("id"):
            raise UnexpectedAnswer("GET /me: no user id in the answer")
        return answer

    def recently_played(self) -> list[dict[str, Any]]:
        """The listener's last plays, newest first: at most 50, all the API keeps."""
        answer = self._call(
            "GET /me/player/recently-played",
            self._client.current_user_recently_played,
            RECENTLY_PLAYED_LIMIT,
        )
        items = (answer or {}).get("items")
        if not isinstance(items, list):
            raise UnexpectedAnswer("GET /me/player/recently-played: no 'items' list")
        return items

    # Closed to new apps --------------------------------------------------------------

    def audio_features(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        """Audio features for `ids`, or nothing when this app may not read them (403).

        Encore takes audio features from the Kaggle dataset; this is for apps that were
        granted the endpoint before Nov 2024.
        """
        if self.audio_features_available is False:
            return []
        features: list[dict[str, Any]] = []
        for batch in batched(list(ids), AUDIO_FEATURES_BATCH_SIZE):
            try:
                answer = self._call(
                    f"GET /audio-features ({len(batch)} ids)", self._client.audio_features, batch
                )
            except SpotifyException as exc:
                if exc.http_status != 403:
                    raise
                self.audio_features_available = False
                log.info(
                    "spotify: audio features not available to this app (403: closed to "
                    "apps created after 27 Nov 2024); they come from the Kaggle dataset"
                )
                return []
            self.audio_features_available = True
            features.extend(entry for entry in answer or [] if isinstance(entry, dict))
        return features
