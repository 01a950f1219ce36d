"""Judge fetched scrobbles: rows for raw.lastfm_scrobbles, rows for quarantine, counts.

Nothing is dropped silently. A bad row (no or unparseable timestamp, before 2002 — Last.fm
answers uts=0 for some very old scrobbles —, in the future, no artist or title, text that
arrived as byte-swapped UTF-16) goes to the rejected frame with its reasons. Rows that are
fine but not this batch's are counted and logged: the now-playing item (not a scrobble
yet; it is scrobbled when the track ends), rows outside the window (already loaded, or
the next batch's) and exact repeats within the fetch (page shifts while paging).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

import polars as pl

from extract.lastfm.parse import ScrobbleItem
from extract.lastfm.window import Window
from warehouse.raw_tables import LASTFM_SCROBBLES

EARLIEST_PLAY = dt.datetime(2002, 1, 1, tzinfo=dt.UTC)
SOURCE_REF = "user.getRecentTracks"

REJECTED_COLUMNS = (
    "user_name",
    "uts",
    "artist_name",
    "artist_mbid",
    "track_name",
    "track_mbid",
    "album_name",
    "album_mbid",
    "source_ref",
    "_reason",
)


@dataclass
class CheckedScrobbles:
    accepted: pl.DataFrame
    rejected: pl.DataFrame
    counts: dict[str, int] = field(default_factory=dict)


def looks_byte_swapped(text: str | None) -> bool:
    """UTF-16 read with the wrong byte order: every character is U+xx00 ("Kap" -> "䬀愀瀀").

    Spaces are ignored (they arrive as U+2000-range spaces), and it takes three characters
    at least, so a genuine one- or two-character CJK title cannot match.
    """
    chars = [char for char in text or "" if not char.isspace()]
    return len(chars) >= 3 and all(ord(char) > 0xFF and ord(char) & 0xFF == 0 for char in chars)


def _played_at(uts: str | None) -> tuple[dt.datetime | None, str | None]:
    if uts is None or not uts.strip():
        return None, "missing timestamp"
    try:
        return dt.datetime.fromtimestamp(int(uts), dt.UTC), None
    except (ValueError, OverflowError, OSError):
        return None, f"unparseable timestamp {uts!r}"


def problems(item: ScrobbleItem, now: dt.datetime) -> tuple[dt.datetime | None, list[str]]:
    """The item's play time and everything wrong with it (empty list: a good row)."""
    played_at, error = _played_at(item.uts)
    reasons = [error] if error else []
    if played_at is not None and played_at < EARLIEST_PLAY:
        reasons.append("timestamp before 2002-01-01")
    if played_at is not None and played_at > now:
        reasons.append("timestamp in the future")
    if not item.artist_name.strip():
        reasons.append("empty artist name")
    if not item.track_name.strip():
        reasons.append("empty track name")
    if any(
        looks_byte_swapped(text) for text in (item.artist_name, item.track_name, item.album_name)
    ):
        reasons.append("text is byte-swapped UTF-16 (mojibake)")
    return played_at, reasons


def _record(user_name: str, item: ScrobbleItem, played_at: dt.datetime | None) -> dict[str, object]:
    return {
        "user_name": user_name,
        "played_at": played_at,
        "artist_name": item.artist_name,
        "artist_mbid": item.artist_mbid,
        "track_name": item.track_name,
        "track_mbid": item.track_mbid,
        "album_name": item.album_name,
        "album_mbid": item.album_mbid,
        "source_ref": SOURCE_REF,
    }


def check_scrobbles(
    user_name: str, items: Iterable[ScrobbleItem], window: Window, now: dt.datetime
) -> CheckedScrobbles:
    """Split one user's fetched items into accepted and rejected rows, with counts."""
    accepted: list[dict[str, object]] = []
    rejected: list[dict[str, object]] = []
    seen: set[tuple[object, ...]] = set()
    counts = {"fetched": 0, "now_playing": 0, "outside_window": 0, "duplicates": 0}
    for item in items:
        counts["fetched"] += 1
        if item.now_playing:
            counts["now_playing"] += 1
            continue
        played_at, reasons = problems(item, now)
        if reasons:
            record = _record(user_name, item, None)
            del record["played_at"]
            rejected.append({**record, "uts": item.uts, "_reason": "; ".join(reasons)})
            continue
        assert played_at is not None
        if not window.contains(played_at):
            counts["outside_window"] += 1
            continue
        key = (played_at, item.artist_name, item.track_name, item.album_name)
        if key in seen:
            counts["duplicates"] += 1
            continue
        seen.add(key)
        accepted.append(_record(user_name, item, played_at))
    counts["accepted"], counts["rejected"] = len(accepted), len(rejected)
    return CheckedScrobbles(scrobbles_frame(accepted), rejected_frame(rejected), counts)


def scrobbles_frame(rows: list[dict[str, object]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=LASTFM_SCROBBLES.polars_schema, orient="row")


def rejected_frame(rows: list[dict[str, object]]) -> pl.DataFrame:
    return pl.DataFrame(
        [{name: row.get(name) for name in REJECTED_COLUMNS} for row in rows],
        schema=dict.fromkeys(REJECTED_COLUMNS, pl.String),
        orient="row",
    )
