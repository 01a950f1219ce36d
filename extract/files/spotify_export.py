"""Parse Spotify account-data exports into raw.spotify_plays.

Two formats, told apart by their keys (not the file name):
- Account data `StreamingHistory*.json` (`StreamingHistory_music_0.json` today):
  `endTime` ("2023-01-01 12:34", UTC), `artistName`, `trackName`, `msPlayed`; its podcast
  twin (`podcastName`, `episodeName`) has no track plays at all.
- Extended streaming history (`endsong_*.json`, `Streaming_History_Audio_*.json`): `ts`
  (ISO, UTC, when playback stopped), `ms_played`, `master_metadata_*` names,
  `spotify_track_uri`, `reason_start`/`reason_end`, `shuffle`, `skipped`, `platform`, and
  in older files `username`.
Podcast episodes, audiobook chapters and videos are not track plays: they are quarantined
with that reason, as are rows failing the shared checks. Short plays are loaded: "under
30 s is not a play" is dbt's rule. IP addresses and user agents are never copied, not
even into the quarantine.

The listener is the row's `username`; account data and the newer extended files name
nobody, so a history file that does not is attributed to the `username` of the export's
`Userdata.json` (`AccountNames`): the one in the same folder, else the only one in the
same zip.

The file is parsed with the json module and turned into columns once; the checks and
casts that follow are vectorized like every other source.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import polars as pl

from extract.files.casts import blank_to_null, failed, out_of_range, to_bool, to_int
from extract.files.checks import MAX_FIELD_CHARS, NUL, play_checks, split_rows, text_checks
from extract.files.errors import FileImportError
from extract.files.inputs import InputFile
from extract.files.parsed import ParsedFile, user_from_file_name
from extract.files.text import REPLACEMENT_CHAR, ROW_COLUMN, decode
from extract.files.times import parse_timestamp
from warehouse.raw_tables import SPOTIFY_PLAYS

log = logging.getLogger(__name__)

SOURCE = "spotify_export"
USERDATA_FILE = "userdata.json"  # the account export's `Userdata.json`, any letter case
ACCOUNT_DATA = "spotify_account_data"
EXTENDED = "spotify_extended_history"
# Keys read from the files; anything else (ip_addr, user_agent_decrypted, ...) is ignored.
KEYS = (
    "endTime",
    "artistName",
    "trackName",
    "msPlayed",
    "podcastName",
    "episodeName",
    "ts",
    "username",
    "platform",
    "ms_played",
    "master_metadata_track_name",
    "master_metadata_album_artist_name",
    "master_metadata_album_album_name",
    "spotify_track_uri",
    "episode_name",
    "episode_show_name",
    "spotify_episode_uri",
    "audiobook_title",
    "audiobook_uri",
    "audiobook_chapter_title",
    "reason_start",
    "reason_end",
    "shuffle",
    "skipped",
)
TRACK_URI = r"^spotify:track:([0-9A-Za-z]{22})$"
_NOT_AN_OBJECT = "_not_an_object"


def sniff_format(text: str) -> str | None:
    """The export format from the keys of the first record, or None (Userdata.json,
    Playlist1.json and the rest of an export's files are not listening history)."""
    head = text[:4096].lstrip()
    if not head.startswith("["):
        return None
    if '"ts"' in head or '"ms_played"' in head:
        return EXTENDED
    if '"endTime"' in head or '"msPlayed"' in head:
        return ACCOUNT_DATA
    return None


def _valid_unicode(text: str) -> str:
    """`text`, with lone surrogates (JSON escapes like "\\ud800", which no UTF-8 text can
    hold) replaced by U+FFFD, so the row is quarantined as invalid instead of crashing."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return text


def _as_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return _valid_unicode(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return _valid_unicode(json.dumps(value, ensure_ascii=False))


def records_frame(file: InputFile, text: str) -> pl.DataFrame:
    """The JSON array as text columns (one per known key) plus `_row` and a flag for
    elements that are not objects."""
    try:
        records = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FileImportError(file.name, f"invalid or truncated JSON ({exc})") from exc
    if not isinstance(records, list):
        raise FileImportError(file.name, "expected a JSON array of plays")
    columns: dict[str, list] = {
        key: [_as_text(r.get(key)) if isinstance(r, dict) else None for r in records]
        for key in KEYS
    }
    columns[_NOT_AN_OBJECT] = [not isinstance(r, dict) for r in records]
    columns[ROW_COLUMN] = list(range(1, len(records) + 1))
    schema = {**dict.fromkeys(KEYS, pl.String), _NOT_AN_OBJECT: pl.Boolean, ROW_COLUMN: pl.Int64}
    return pl.DataFrame(columns, schema=schema)


def _text(*keys: str) -> pl.Expr:
    return pl.coalesce([blank_to_null(pl.col(k)) for k in keys])


def is_userdata(file: InputFile) -> bool:
    """Whether the file is an account export's `Userdata.json` (by its name: it is the
    one file of an export whose content alone does not say what it is)."""
    return file.base_name.lower() == USERDATA_FILE


def _unusable_name(name: str) -> str | None:
    """Why a user name cannot be loaded as `user_name`, or None when it can."""
    if not name.strip():
        return "its username is blank"
    if REPLACEMENT_CHAR in _valid_unicode(name):
        return "its username is not valid UTF-8"
    if NUL in name:
        return "its username holds a NUL character"
    if len(name) > MAX_FIELD_CHARS:
        return f"its username is longer than {MAX_FIELD_CHARS} characters"
    return None


def userdata_username(file: InputFile) -> str | None:
    """The `username` a Userdata.json names, or None (with a warning saying why) when the
    file is not a JSON object holding a usable one: a broken Userdata.json never fails an
    import, its export is then attributed as if it had none."""
    try:
        data = json.loads(decode(file.data))
    except (json.JSONDecodeError, RecursionError) as exc:
        log.warning("%s: not JSON (%s); the user name is not taken from it", file.name, exc)
        return None
    name = data.get("username") if isinstance(data, dict) else None
    problem = _unusable_name(name) if isinstance(name, str) else "no username"
    if problem is None and isinstance(name, str):
        return name
    log.warning("%s: %s; the user name is not taken from it", file.name, problem)
    return None


def _single(names: Iterable[str | None]) -> str | None:
    """The one user all these Userdata.json name, or None when any is unusable or two
    differ (an export must not be attributed to a guess)."""
    distinct = set(names)
    return distinct.pop() if len(distinct) == 1 else None


@dataclass(frozen=True)
class AccountNames:
    """Whose history each Spotify export is, from the `Userdata.json` files of an import.

    A history file belongs to the user of the Userdata.json in its own folder; failing
    that, to the user of the zip holding it when that zip has exactly one Userdata.json
    (Spotify's zip keeps account data and the extended history in sibling folders). Files
    in a plain folder without a Userdata.json of their own belong to nobody here.
    """

    by_folder: Mapping[str, str] = field(default_factory=dict)
    by_archive: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, files: Iterable[InputFile]) -> AccountNames:
        """The user names the Userdata.json among `files` give, by folder and by zip."""
        folders: dict[str, list[str | None]] = defaultdict(list)
        archives: dict[str, list[str | None]] = defaultdict(list)
        for file in (f for f in files if is_userdata(f)):
            name = userdata_username(file)
            if name is not None:
                log.info("%s: Spotify account %s", file.name, name)
            folders[file.folder].append(name)
            if file.archive is not None:
                archives[file.archive].append(name)
        by_folder = {
            key: user for key, names in folders.items() if (user := _single(names)) is not None
        }
        by_archive = {
            key: user
            for key, names in archives.items()
            if len(names) == 1 and (user := _single(names)) is not None
        }
        return cls(by_folder, by_archive)

    def user_of(self, file: InputFile) -> str | None:
        """The user named by the Userdata.json of `file`'s export, or None."""
        if file.folder in self.by_folder:
            return self.by_folder[file.folder]
        if file.archive is not None:
            return self.by_archive.get(file.archive)
        return None


def _user(
    file: InputFile, user: str | None, frame: pl.DataFrame, account_user: str | None
) -> pl.Expr:
    """--user, else the row's `username`, else the file name's `NAME__` prefix, else the
    `username` of the export's Userdata.json (`account_user`).

    A file that names no user anywhere is an error; rows without a `username` in a file
    whose other rows have one are quarantined ("no user name") when there is no fallback."""
    if user:
        return pl.lit(user)
    fallback = user_from_file_name(file.name, require_prefix=True) or account_user
    named = _text("username").is_not_null()
    if fallback is None and frame.height and not frame.select(named.any()).item():
        raise FileImportError(
            file.name,
            "the file does not say whose history it is: pass --user NAME, name "
            "the file NAME__<original name>, or import it with the export's Userdata.json",
        )
    return pl.coalesce(_text("username"), pl.lit(fallback, dtype=pl.String))


def parse_spotify_export(
    file: InputFile,
    text: str,
    export_format: str,
    *,
    user: str | None,
    now: dt.datetime,
    account_user: str | None = None,
) -> ParsedFile:
    """Rows of raw.spotify_plays and quarantined rows of one streaming-history file;
    `account_user` is the export's Userdata.json user (`AccountNames.user_of`)."""
    frame = records_frame(file, text)
    ms_text = _text("ms_played", "msPlayed")
    prepared = frame.with_columns(
        _text("ts", "endTime").alias("_time_text"),
        parse_timestamp(_text("ts", "endTime")).alias("ended_at"),
        to_int(ms_text).alias("ms_played_int"),
        _text("master_metadata_track_name", "trackName").alias("track_name"),
        _text("master_metadata_album_artist_name", "artistName").alias("artist_name"),
        _text("master_metadata_album_album_name").alias("album_name"),
        _text("spotify_track_uri").str.extract(TRACK_URI, 1).alias("track_id"),
        _text("reason_start").alias("reason_start"),
        _text("reason_end").alias("reason_end"),
        to_bool(_text("shuffle")).alias("shuffle_bool"),
        to_bool(_text("skipped")).alias("skipped_bool"),
        _text("platform").alias("platform"),
        _user(file, user, frame, account_user).alias("user_name"),
        pl.lit(file.name).alias("source_ref"),
    )
    no_track = pl.col("track_name").is_null()
    checks = [
        (pl.col(_NOT_AN_OBJECT), "not a JSON object"),
        (
            no_track
            & _text(
                "episode_name", "spotify_episode_uri", "episodeName", "podcastName"
            ).is_not_null(),
            "podcast episode, not a track play",
        ),
        (
            no_track & _text("audiobook_title", "audiobook_uri").is_not_null(),
            "audiobook, not a track play",
        ),
        (
            no_track & pl.col("artist_name").is_null() & pl.col("_time_text").is_not_null(),
            "no track metadata (a video, or content no longer available)",
        ),
        *text_checks(
            [
                "_time_text",
                "track_name",
                "artist_name",
                "album_name",
                "platform",
                "reason_start",
                "reason_end",
                "username",
            ]
        ),
        *play_checks(
            time_text=pl.col("_time_text"),
            played_at=pl.col("ended_at"),
            artist=pl.col("artist_name"),
            track=pl.col("track_name"),
            now=now,
        ),
        (out_of_range(ms_text, integer=True), "ms_played out of range"),
        (
            failed(ms_text, pl.col("ms_played_int")) | (pl.col("ms_played_int") < 0),
            "unparseable ms_played",
        ),
        (ms_text.is_null(), "missing ms_played"),
        (failed(_text("shuffle"), pl.col("shuffle_bool")), "unparseable shuffle"),
        (failed(_text("skipped"), pl.col("skipped_bool")), "unparseable skipped"),
        (pl.col("user_name").is_null(), "no user name"),
    ]
    loaded = [
        pl.col(c)
        for c in SPOTIFY_PLAYS.column_names
        if c not in ("ms_played", "shuffle", "skipped")
    ]
    split = split_rows(
        prepared,
        checks=checks,
        loaded=[
            *loaded,
            pl.col("ms_played_int").alias("ms_played"),
            pl.col("shuffle_bool").alias("shuffle"),
            pl.col("skipped_bool").alias("skipped"),
        ],
        rejected=["source_ref", ROW_COLUMN, *KEYS],
    )
    rejected = split.rejected  # keep the keys this file has, not every format's
    rejected = rejected.select(
        c for c in rejected.columns if rejected[c].null_count() < rejected.height
    )
    return ParsedFile(
        name=file.name,
        source=SOURCE,
        table=SPOTIFY_PLAYS,
        layout=export_format,
        rows_in=frame.height,
        loaded=split.loaded,
        rejected=rejected,
    )
