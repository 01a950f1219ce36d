"""Find the Spotify track for a play that has only an artist and a title.

Last.fm scrobbles (and old Spotify exports) name tracks but carry no Spotify id. We ask the
search endpoint with field filters and accept a result only when both the artist and the
title agree after normalization; otherwise the pair is recorded as searched-and-not-found
(track_id NULL). A wrong match would silently merge two tracks' play histories, which costs
the model more than a missing one, so the rule is deliberately strict.

Normalization folds case and accents and drops punctuation; on titles it also ignores
suffixes that name a release rather than a recording ("- Remastered 2011", "(feat. X)",
"- Radio Edit", "[Mono]"), so "Mr. Brightside" matches "Mr Brightside - Remastered". Suffixes
that name another recording ("- Live", "(Remix)", "(Part 2)") are kept: those are other
tracks for a listener who replays them.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Any

_RELEASE_WORDS = (
    r"\b(?:remaster(?:ed)?|feat|ft|featuring|with|version|edit|mono|stereo|"
    r"explicit|clean|bonus|deluxe)\b"
)
_RELEASE_SUFFIX = re.compile(
    rf"\s+-\s+[^-]*?(?:{_RELEASE_WORDS})[^-]*$|\s*[(\[][^)\]]*?(?:{_RELEASE_WORDS})[^)\]]*[)\]]",
    re.IGNORECASE,
)
_NOT_WORD = re.compile(r"[^\w\s]|_")
_SPACES = re.compile(r"\s+")


def normalize(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.casefold())
    folded = "".join(char for char in folded if not unicodedata.combining(char))
    folded = folded.replace("&", " and ")
    return _SPACES.sub(" ", _NOT_WORD.sub(" ", folded)).strip()


def normalize_title(title: str) -> str:
    return normalize(_RELEASE_SUFFIX.sub("", title)) or normalize(title)


def search_query(artist: str, title: str) -> str:
    """Spotify search syntax with field filters; quotes inside names would end the phrase."""
    clean_title = title.replace('"', " ").strip()
    clean_artist = artist.replace('"', " ").strip()
    return f'track:"{clean_title}" artist:"{clean_artist}"'


def best_match(
    artist: str, title: str, results: list[dict[str, Any]]
) -> tuple[dict[str, Any], str] | None:
    """The first result (Spotify's relevance order) whose title and one of whose artists
    agree with the query, with the agreeing artist's name; None when none agrees."""
    want_artist, want_title = normalize(artist), normalize_title(title)
    for track in results:
        name = track.get("name")
        track_id = track.get("id")
        if not isinstance(name, str) or not isinstance(track_id, str):
            continue
        if normalize_title(name) != want_title:
            continue
        for candidate in track.get("artists") or []:
            candidate_name = candidate.get("name") if isinstance(candidate, dict) else None
            if isinstance(candidate_name, str) and normalize(candidate_name) == want_artist:
                return track, candidate_name
    return None


def match_row(
    artist: str, title: str, results: list[dict[str, Any]], fetched_at: dt.datetime
) -> dict[str, Any]:
    """A raw.spotify_track_matches row; track_id and matched_* are NULL when not found."""
    match = best_match(artist, title, results)
    track, matched_artist = match if match else ({}, None)
    return {
        "query_artist": artist,
        "query_title": title,
        "track_id": track.get("id"),
        "matched_artist": matched_artist,
        "matched_title": track.get("name"),
        "fetched_at": fetched_at,
    }
