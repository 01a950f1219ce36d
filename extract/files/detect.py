"""Decide what a file is from its content: a Last.fm export, a Spotify streaming history,
the Kaggle tracks dataset, or something to skip.

Names lie (`scrobbles.csv` can be any of six layouts, a Spotify zip holds playlists and
account details next to the history), so only the bytes decide. Skipping is not an error:
an export folder or zip is full of files that are not listening history, and each skipped
file is reported with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from extract.files import kaggle, spotify_export
from extract.files.inputs import InputFile
from extract.files.lastfm_layouts import Layout, sniff_layout
from extract.files.text import decode, first_lines

LASTFM = "lastfm_export"
SPOTIFY = "spotify_export"
KAGGLE = "kaggle"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Detected:
    kind: str
    text: str
    layout: Layout | None = None  # Last.fm exports
    spotify_format: str | None = None  # Spotify exports
    why: str = ""  # for unknown files: why they are skipped


def detect(file: InputFile) -> Detected:
    found = _detect(file)
    binary = b"\x00" in file.data[:4096] and not file.data.startswith((b"\xff\xfe", b"\xfe\xff"))
    if found.kind == UNKNOWN and binary:
        return Detected(UNKNOWN, "", why="binary file")
    return found


def _detect(file: InputFile) -> Detected:
    """By content; NUL bytes alone do not make a file binary: an export with a NUL in one
    row is still an export (that row is quarantined), so only a file that is nothing else
    is skipped as binary."""
    text = decode(file.data)
    stripped = text[:4096].lstrip()
    if not stripped:
        return Detected(UNKNOWN, text, why="empty file")
    if stripped[0] in "[{":
        export_format = spotify_export.sniff_format(text)
        if export_format is None:
            return Detected(UNKNOWN, text, why="JSON, but not a streaming history")
        return Detected(SPOTIFY, text, spotify_format=export_format)
    header = first_lines(text, 1)[0]
    if kaggle.looks_like_kaggle(header.split(",")):
        return Detected(KAGGLE, text)
    layout = sniff_layout(text)
    if layout is not None:
        return Detected(LASTFM, text, layout=layout)
    return Detected(UNKNOWN, text, why=f"not a known export layout (first line: {header[:80]!r})")
