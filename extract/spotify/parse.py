"""Turn Spotify objects into raw.spotify_* rows, and everything else into quarantine rows.

Only the fields the raw tables declare are taken. An object that lacks a required field
(an id, a name, a play time) or carries a value of the wrong type is not loaded: it becomes a
rejected row with its reason, so the load reports it in raw_rejected.rows instead of failing
or dropping it. Optional fields that Spotify stopped sending to some apps (popularity,
followers, genres) are NULL, which means "unknown", never 0 or an empty list.

Reasons start with a stable code (`unknown_id`, `missing_field`, `bad_value`) that the
incremental planner relies on: an id quarantined once is not asked for again.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import polars as pl

from extract.spotify.api import Lookup
from warehouse.raw_tables import SPOTIFY_ARTISTS, SPOTIFY_PLAYS, SPOTIFY_TRACKS, RawTable

REJECTED_SCHEMA: dict[str, pl.DataType] = {
    "requested": pl.String(),
    "payload": pl.String(),
    "_reason": pl.String(),
}
RECENTLY_PLAYED_REF = "api:me/player/recently-played"
_INT32_MAX = 2**31 - 1


class Invalid(ValueError):
    """An object that cannot become a raw row; the message is the quarantine reason."""


@dataclass(frozen=True)
class Parsed:
    """Rows for one raw table and the rejected inputs (`requested`, `payload`, `_reason`)."""

    rows: pl.DataFrame
    rejected: pl.DataFrame


def frame(table: RawTable, rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=table.polars_schema, orient="row")


def rejected_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=REJECTED_SCHEMA, orient="row")


def reject(requested: str | None, payload: object, reason: str) -> dict[str, Any]:
    text = None if payload is None else json.dumps(payload, ensure_ascii=False, sort_keys=True)
    return {"requested": requested, "payload": text, "_reason": reason}


def _value(
    obj: dict[str, Any], key: str, kind: type[Any], *, required: bool = False, where: str = ""
) -> Any:
    value = obj.get(key)
    name = f"{where}{key}"
    if value is None:
        if required:
            raise Invalid(f"missing_field: {name}")
        return None
    if kind is int and isinstance(value, float) and value.is_integer():
        value = int(value)
    if (kind is int and isinstance(value, bool)) or not isinstance(value, kind):
        raise Invalid(f"bad_value: {name} is {type(value).__name__}, expected {kind.__name__}")
    if kind is int and not 0 <= value <= _INT32_MAX:
        raise Invalid(f"bad_value: {name} = {value} is out of range")
    if kind is str and required and not value.strip():
        raise Invalid(f"missing_field: {name} is empty")
    return value


def _object(obj: dict[str, Any], key: str, *, required: bool = False) -> dict[str, Any]:
    value = obj.get(key)
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise Invalid(f"{'missing_field' if value is None else 'bad_value'}: {key}")
    return value


def _artists(track: dict[str, Any]) -> list[dict[str, Any]]:
    artists = track.get("artists")
    if not isinstance(artists, list) or not artists:
        raise Invalid("missing_field: artists")
    if not all(isinstance(artist, dict) for artist in artists):
        raise Invalid("bad_value: artists holds a non-object")
    return artists


def _json_list(values: list[Any]) -> str:
    return json.dumps(values, ensure_ascii=False)


def track_row(
    track: dict[str, Any], fetched_at: dt.datetime, track_id: str | None = None
) -> dict[str, Any]:
    """A raw.spotify_tracks row. `track_id` is the id that was asked for: the plays refer
    to it, even when Spotify answers with a relinked track of another id."""
    if not isinstance(track, dict):
        raise Invalid("bad_value: not a track object")
    found_id = _value(track, "id", str, required=True)
    artists = _artists(track)
    album = _object(track, "album")
    external_ids = _object(track, "external_ids")
    return {
        "track_id": track_id or found_id,
        "track_name": _value(track, "name", str, required=True),
        "artist_ids": _json_list([artist.get("id") for artist in artists]),
        "artist_names": _json_list([artist.get("name") for artist in artists]),
        "album_id": _value(album, "id", str, where="album."),
        "album_name": _value(album, "name", str, where="album."),
        "release_date": _value(album, "release_date", str, where="album."),
        "duration_ms": _value(track, "duration_ms", int),
        "explicit": _value(track, "explicit", bool),
        "popularity": _value(track, "popularity", int),
        "isrc": _value(external_ids, "isrc", str, where="external_ids."),
        "fetched_at": fetched_at,
    }


def artist_row(
    artist: dict[str, Any], fetched_at: dt.datetime, artist_id: str | None = None
) -> dict[str, Any]:
    """A raw.spotify_artists row; genres stay NULL (unknown) when Spotify omits them."""
    if not isinstance(artist, dict):
        raise Invalid("bad_value: not an artist object")
    found_id = _value(artist, "id", str, required=True)
    genres = artist.get("genres")
    if genres is not None and not (
        isinstance(genres, list) and all(isinstance(g, str) for g in genres)
    ):
        raise Invalid("bad_value: genres is not a list of strings")
    followers = _object(artist, "followers")
    return {
        "artist_id": artist_id or found_id,
        "artist_name": _value(artist, "name", str, required=True),
        "genres": None if genres is None else _json_list(genres),
        "popularity": _value(artist, "popularity", int),
        "followers": _value(followers, "total", int, where="followers."),
        "fetched_at": fetched_at,
    }


def parse_played_at(value: object) -> dt.datetime:
    if not isinstance(value, str):
        raise Invalid("missing_field: played_at" if value is None else "bad_value: played_at")
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise Invalid(f"bad_value: played_at {value!r}") from exc
    if moment.tzinfo is None:
        raise Invalid(f"bad_value: played_at {value!r} has no time zone")
    return moment.astimezone(dt.UTC)


def play_row(item: dict[str, Any], user_name: str) -> dict[str, Any]:
    """A raw.spotify_plays row from a recently-played item.

    `ended_at` is the API's `played_at`; the API does not say how long the track played,
    so `ms_played` (and the export-only columns) are NULL.
    """
    if not isinstance(item, dict):
        raise Invalid("bad_value: not a play history object")
    ended_at = parse_played_at(item.get("played_at"))
    track = _object(item, "track", required=True)
    artists = track.get("artists") if isinstance(track.get("artists"), list) else []
    first_artist = artists[0] if artists and isinstance(artists[0], dict) else {}
    return {
        "user_name": user_name,
        "ended_at": ended_at,
        "ms_played": None,
        "track_name": _value(track, "name", str, required=True),
        "artist_name": _value(first_artist, "name", str, where="artists[0]."),
        "album_name": _value(_object(track, "album"), "name", str, where="album."),
        "track_id": _value(track, "id", str),  # NULL for the listener's local files
        "reason_start": None,
        "reason_end": None,
        "shuffle": None,
        "skipped": None,
        "platform": None,
        "source_ref": RECENTLY_PLAYED_REF,
    }


def parse_tracks(lookups: Iterable[Lookup], fetched_at: dt.datetime) -> Parsed:
    """Rows for found tracks; unknown ids (null entries) and invalid objects quarantined."""
    return _parse_lookups(lookups, fetched_at, track_row, SPOTIFY_TRACKS, "track")


def parse_artists(lookups: Iterable[Lookup], fetched_at: dt.datetime) -> Parsed:
    return _parse_lookups(lookups, fetched_at, artist_row, SPOTIFY_ARTISTS, "artist")


def _parse_lookups(
    lookups: Iterable[Lookup], fetched_at: dt.datetime, to_row: Any, table: RawTable, kind: str
) -> Parsed:
    rows: dict[str, dict[str, Any]] = {}
    rejected: list[dict[str, Any]] = []
    for requested, entry in lookups:
        if requested in rows:
            continue
        if entry is None:
            rejected.append(
                reject(
                    requested, None, f"unknown_id: Spotify has no {kind} {requested} (null entry)"
                )
            )
            continue
        try:
            rows[requested] = to_row(entry, fetched_at, requested)
        except Invalid as exc:
            rejected.append(reject(requested, entry, str(exc)))
    return Parsed(frame(table, list(rows.values())), rejected_frame(rejected))


def parse_plays(items: Iterable[dict[str, Any]], user_name: str) -> Parsed:
    """Rows for recently-played items, oldest first, one per end time."""
    rows: dict[dt.datetime, dict[str, Any]] = {}
    rejected: list[dict[str, Any]] = []
    for item in items:
        try:
            row = play_row(item, user_name)
        except Invalid as exc:
            played_at = item.get("played_at") if isinstance(item, dict) else None
            rejected.append(reject(str(played_at) if played_at else None, item, str(exc)))
            continue
        rows.setdefault(row["ended_at"], row)
    ordered = sorted(rows.values(), key=lambda row: row["ended_at"])
    return Parsed(frame(SPOTIFY_PLAYS, ordered), rejected_frame(rejected))


def played_tracks(items: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The full track objects recently-played carries, by id: no lookup needed for them."""
    tracks: dict[str, dict[str, Any]] = {}
    for item in items:
        track = item.get("track") if isinstance(item, dict) else None
        if isinstance(track, dict) and isinstance(track.get("id"), str):
            tracks.setdefault(track["id"], track)
    return tracks
