"""The three Last.fm calls the source makes, page by page, with their failure policy.

- user.getRecentTracks: every page of the window, `limit` always sent. A user who hides
  their history (error 17) or does not exist is skipped and reported, not fatal: one
  private account must not stop everyone else's extraction. Anything else that survives
  the client's retries fails the run loudly.
- user.getInfo and track.getInfo: metadata, useful but optional. A refused call is logged
  and skipped; when the service stays down, the track loop stops early rather than
  spending minutes on retries for extras.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sized
from dataclasses import dataclass, field

from extract.lastfm.client import (
    INVALID_PARAMETERS,
    LOGIN_REQUIRED,
    LastfmApiError,
    LastfmClient,
)
from extract.lastfm.parse import ScrobbleItem, UnexpectedDocument, recent_tracks_page
from extract.lastfm.parse import track_info as parse_track_info
from extract.lastfm.parse import user_info as parse_user_info
from extract.lastfm.window import Window
from observability.progress import progress

log = logging.getLogger(__name__)

OK, PRIVATE, NOT_FOUND = "ok", "private", "not_found"


@dataclass
class UserFetch:
    """One user's fetched items; `status` says whether the user was skipped and why."""

    user_name: str
    status: str = OK
    detail: str | None = None
    items: list[ScrobbleItem] = field(default_factory=list)
    pages: int = 0


def fetch_recent_tracks(
    client: LastfmClient, user: str, window: Window, page_size: int
) -> UserFetch:
    """All pages of the user's scrobbles in `window` (newest first, as Last.fm sends them).

    `user_name` is the spelling Last.fm answers with (`<recenttracks user=...>`).
    """
    result = UserFetch(user_name=user)
    page = 1
    with progress(f"Last.fm {user}: scrobbles", unit="pages") as bar:
        while True:
            params: dict[str, str | int] = {
                "user": user,
                "limit": page_size,
                "page": page,
                **window.params,
            }
            try:
                doc = client.call("user.getRecentTracks", params)
            except LastfmApiError as error:
                skipped = _skip_status(error)
                if skipped is None:
                    raise
                log.warning("Last.fm user %s skipped (%s): %s", user, skipped, error.details)
                return UserFetch(user_name=user, status=skipped, detail=error.details)
            try:
                parsed = recent_tracks_page(doc)
            except UnexpectedDocument as error:
                raise LastfmApiError("user.getRecentTracks", None, str(error), 1) from error
            if page == 1 and parsed.user:
                result.user_name = parsed.user
            result.items.extend(parsed.items)
            result.pages = page
            bar.update(total=max(parsed.total_pages, page))
            bar.advance()
            if page >= parsed.total_pages:
                return result
            page += 1


def _skip_status(error: LastfmApiError) -> str | None:
    if error.code == LOGIN_REQUIRED:
        return PRIVATE
    if error.code == INVALID_PARAMETERS and "not found" in error.details.lower():
        return NOT_FOUND
    return None


def fetch_user_info(client: LastfmClient, user: str) -> dict[str, object] | None:
    """user.getInfo's country, age, registration and play count; None when refused."""
    try:
        return parse_user_info(client.call("user.getInfo", {"user": user}))
    except (LastfmApiError, UnexpectedDocument) as error:
        log.warning("Last.fm user.getInfo for %s skipped: %s", user, error)
        return None


def fetch_track_info(
    client: LastfmClient, tracks: Iterable[tuple[str, str]]
) -> tuple[list[dict[str, object]], dict[str, int]]:
    """track.getInfo for each (artist, title): records keyed by the names asked for.

    The names asked for are the scrobbles' own (no autocorrect), so dbt joins them back
    exactly. Returns the records and counts of found / not found / failed lookups.
    """
    records: list[dict[str, object]] = []
    counts = {"found": 0, "not_found": 0, "failed": 0}
    total = len(tracks) if isinstance(tracks, Sized) else None
    with progress("Last.fm track.getInfo", total=total, unit="tracks") as bar:
        for artist, title in tracks:
            bar.advance()
            try:
                info = parse_track_info(
                    client.call("track.getInfo", {"artist": artist, "track": title})
                )
            except LastfmApiError as error:
                if error.code == INVALID_PARAMETERS:
                    counts["not_found"] += 1
                    continue
                counts["failed"] += 1
                if error.transient:
                    log.warning(
                        "Last.fm track.getInfo unavailable, stopping the metadata step early: %s",
                        error,
                    )
                    break
                log.warning("Last.fm track.getInfo for %r / %r skipped: %s", artist, title, error)
                continue
            except UnexpectedDocument as error:
                counts["failed"] += 1
                log.warning("Last.fm track.getInfo for %r / %r: %s", artist, title, error)
                continue
            counts["found"] += 1
            records.append({"artist_name": artist, "track_name": title, **info})
    return records, counts
