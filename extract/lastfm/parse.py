"""Last.fm XML documents (as parsed by pylast) -> plain Python records.

Only direct children are read (`<track><name>` is the title, never the nested artist's
name), and values are kept as delivered: judging them (empty names, odd timestamps) is
`checks`' job, so a bad item becomes a quarantined row instead of a crash. Last.fm's
"no value" markers (empty MBIDs, country "None", age 0) become None.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from xml.dom import minidom


class UnexpectedDocument(ValueError):
    """The answer lacks the element the method always returns."""


@dataclass(frozen=True)
class ScrobbleItem:
    """One `<track>` of user.getRecentTracks; `uts` is the raw `<date uts>` text, if any."""

    now_playing: bool
    uts: str | None
    artist_name: str
    artist_mbid: str | None
    track_name: str
    track_mbid: str | None
    album_name: str | None
    album_mbid: str | None


@dataclass(frozen=True)
class RecentTracksPage:
    user: str | None
    page: int
    total_pages: int
    items: list[ScrobbleItem]


def _children(node: minidom.Element, tag: str) -> list[minidom.Element]:
    return [
        child
        for child in node.childNodes
        if child.nodeType == child.ELEMENT_NODE and child.tagName == tag
    ]


def _child(node: minidom.Element, tag: str) -> minidom.Element | None:
    found = _children(node, tag)
    return found[0] if found else None


def _text(node: minidom.Element | None) -> str:
    if node is None:
        return ""
    return "".join(
        child.data
        for child in node.childNodes
        if child.nodeType in (child.TEXT_NODE, child.CDATA_SECTION_NODE)
    ).strip()


def _optional(value: str | None) -> str | None:
    """Empty or blank -> None (Last.fm sends `mbid=""` for "unknown")."""
    if value is None:
        return None
    return value.strip() or None


def _root(doc: minidom.Document, tag: str) -> minidom.Element:
    root = doc.documentElement
    assert root is not None  # a parsed document has a root element (else parsing raised)
    found = _child(root, tag)
    if found is None:
        raise UnexpectedDocument(f"expected <{tag}> in the answer, got {root.toxml()[:200]!r}")
    return found


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def scrobble_item(node: minidom.Element) -> ScrobbleItem:
    artist, album, date = _child(node, "artist"), _child(node, "album"), _child(node, "date")
    return ScrobbleItem(
        now_playing=node.getAttribute("nowplaying").lower() == "true",
        uts=date.getAttribute("uts") if date is not None else None,
        artist_name=_text(artist),
        artist_mbid=_optional(artist.getAttribute("mbid")) if artist is not None else None,
        track_name=_text(_child(node, "name")),
        track_mbid=_optional(_text(_child(node, "mbid"))),
        album_name=_optional(_text(album)),
        album_mbid=_optional(album.getAttribute("mbid")) if album is not None else None,
    )


def recent_tracks_page(doc: minidom.Document) -> RecentTracksPage:
    """A user.getRecentTracks page: its items (now-playing included) and page counts."""
    root = _root(doc, "recenttracks")
    total = root.getAttribute("totalPages") or root.getAttribute("totalpages")
    if _int(total) is None:
        raise UnexpectedDocument("<recenttracks> has no totalPages attribute")
    return RecentTracksPage(
        user=root.getAttribute("user") or None,
        page=_int(root.getAttribute("page")) or 1,
        total_pages=int(total),
        items=[scrobble_item(node) for node in _children(root, "track")],
    )


def track_info(doc: minidom.Document) -> dict[str, object]:
    """track.getInfo -> mbid, duration, listeners, playcount, top tags (JSON list of names)."""
    track = _root(doc, "track")
    tags = _child(track, "toptags")
    tag_nodes = _children(tags, "tag") if tags is not None else []
    names = [_text(_child(tag, "name")) for tag in tag_nodes]
    duration = _int(_text(_child(track, "duration")))
    return {
        "track_mbid": _optional(_text(_child(track, "mbid"))),
        "duration_ms": duration or None,  # 0 means unknown
        "listeners": _int(_text(_child(track, "listeners"))),
        "playcount": _int(_text(_child(track, "playcount"))),
        "top_tags": json.dumps([name for name in names if name], ensure_ascii=False),
    }


def user_info(doc: minidom.Document) -> dict[str, object]:
    """user.getInfo -> country, age, gender, registration time, play count."""
    user = _root(doc, "user")
    country = _text(_child(user, "country"))
    registered = _child(user, "registered")
    unixtime = None
    if registered is not None:
        unixtime = _int(registered.getAttribute("unixtime") or _text(registered))
    return {
        "country": None if country in ("", "None") else country,
        "age": _int(_text(_child(user, "age"))) or None,  # 0 means not given
        "gender": _optional(_text(_child(user, "gender"))),
        "registered_at": dt.datetime.fromtimestamp(unixtime, dt.UTC) if unixtime else None,
        "playcount": _int(_text(_child(user, "playcount"))),
    }
