"""Recognise a Last.fm scrobble export's layout from its header or, without one, its shape.

There is no official Last.fm export, so every tool writes its own columns: `utc_time,
artist,album,track`; `uts,utc_time,artist,artist_mbid,...`; R's `"","date","artist",...`;
pandas' `,artist,album,track,timestamp,datetime`; lastfm-to-csv's headerless `artist,album,
track,date`; the Last.fm-1K dataset's headerless TSV. Rather than one parser per tool, a
header is read by meaning: each column name maps to a role (artist, track, album, the
MusicBrainz ids, a user, a time), extra columns are ignored, and the time comes from the
most precise time column present (unix `uts`/`timestamp` first, `date` last). A file
without a header is recognised by its shape. The file name is never consulted.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

import polars as pl

from extract.files.times import parse_timestamp

ROLE_NAMES: dict[str, tuple[str, ...]] = {
    "artist": ("artist", "artist_name", "artistname"),
    "track": ("track", "track_name", "trackname", "title", "song", "song_name"),
    "album": ("album", "album_name", "albumname"),
    "artist_mbid": ("artist_mbid", "musicbrainz_artist_id", "artist_musicbrainz_id"),
    "track_mbid": ("track_mbid", "musicbrainz_track_id", "track_musicbrainz_id"),
    "album_mbid": ("album_mbid", "musicbrainz_album_id", "album_musicbrainz_id"),
    "user": ("user", "username", "user_name", "userid", "user_id"),
}
# Time columns, most precise first; a row takes the first one that parses.
TIME_NAMES = (
    "uts",
    "timestamp",
    "played_at",
    "scrobbled_at",
    "utc_time",
    "datetime",
    "date_time",
    "time",
    "date",
)
LASTFM_1K_COLUMNS = ("user", "time", "artist_mbid", "artist", "track_mbid", "track")
HEADERLESS_4_COLUMNS = ("artist", "album", "track", "time")
_SNIFF_ROWS = 200


@dataclass(frozen=True)
class Layout:
    """How to read one export: which positional column holds which role."""

    name: str
    separator: str
    quoting: bool
    has_header: bool
    roles: dict[str, int] = field(default_factory=dict)
    time_columns: tuple[int, ...] = ()


def normalize_header(name: str | None) -> str:
    return re.sub(r"[\s\-]+", "_", (name or "").strip().strip("\ufeff").strip().lower())


def layout_from_header(header: list[str], separator: str) -> Layout | None:
    """A layout when the first row names at least an artist, a track and a time column."""
    names = [normalize_header(h) for h in header]
    roles: dict[str, int] = {}
    for role, aliases in ROLE_NAMES.items():
        for position, name in enumerate(names):
            if name in aliases and role not in roles:
                roles[role] = position
    times = tuple(names.index(t) for t in TIME_NAMES if t in names)
    if "artist" not in roles or "track" not in roles or not times:
        return None
    return Layout(
        f"header:{names[times[0]]}",
        separator,
        quoting=True,
        has_header=True,
        roles=roles,
        time_columns=times,
    )


def _share_parsing_as_time(values: list[str]) -> float:
    present = [v for v in values if v.strip()]
    if not present:
        return 0.0
    parsed = pl.Series(present).to_frame("v").select(parse_timestamp(pl.col("v")).is_not_null())
    share = parsed.to_series().mean()  # of a boolean column: a float (None when all null)
    assert share is None or isinstance(share, float)
    return share or 0.0


def _mostly(rows: list[list[str]], width: int, time_column: int) -> bool:
    """Whether nearly all sampled rows have `width` fields and a time in `time_column`."""
    fitting = [row for row in rows if len(row) == width]
    return (
        len(fitting) >= 0.9 * len(rows)
        and _share_parsing_as_time([row[time_column] for row in fitting]) > 0.9
    )


def layout_without_header(rows: list[list[str]], separator: str) -> Layout | None:
    """Known headerless shapes: the Last.fm-1K TSV and lastfm-to-csv's 4 columns."""
    if not rows:
        return None
    if separator == "\t" and _mostly(rows, 6, 1):
        return Layout(
            "lastfm_1k_tsv",
            "\t",
            quoting=False,
            has_header=False,
            roles={r: i for i, r in enumerate(LASTFM_1K_COLUMNS) if r != "time"},
            time_columns=(1,),
        )
    if separator == "," and _mostly(rows, 4, 3):
        return Layout(
            "headerless:artist,album,track,date",
            ",",
            quoting=True,
            has_header=False,
            roles={r: i for i, r in enumerate(HEADERLESS_4_COLUMNS) if r != "time"},
            time_columns=(3,),
        )
    return None


def sniff_layout(text: str) -> Layout | None:
    """The layout of a Last.fm export, or None when `text` is not one we know."""
    head = text[: 1 << 16]
    lines = head.splitlines()
    if len(text) > len(head):
        lines = lines[:-1]  # the last sampled line may be cut in the middle
    lines = lines[: _SNIFF_ROWS + 1]
    if not lines:
        return None
    separator = "\t" if lines[0].count("\t") > lines[0].count(",") else ","
    reader = csv.reader(
        io.StringIO("\n".join(lines)),
        delimiter=separator,
        quoting=csv.QUOTE_MINIMAL if separator == "," else csv.QUOTE_NONE,
    )
    rows = [row for row in reader if row]
    if not rows:
        return None
    return layout_from_header(rows[0], separator) or layout_without_header(rows, separator)
