"""Parse everything an import points at, file by file, into frames per raw table.

This is the pure part of an import (no database, no landing): collect the files, detect
each one's kind, parse it, and gather the rows per source. It is also where any failure
inside a parser becomes a `FileImportError` naming the file, so a broken file never
surfaces as a polars stack trace.
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from extract.files import detect as kinds
from extract.files.checks import REASON
from extract.files.errors import FileImportError
from extract.files.inputs import InputFile, collect_inputs
from extract.files.kaggle import parse_kaggle
from extract.files.lastfm_export import parse_lastfm_export
from extract.files.parsed import ParsedFile
from extract.files.spotify_export import AccountNames, parse_spotify_export
from observability.progress import progress
from warehouse.raw_tables import RawTable

log = logging.getLogger(__name__)

LISTENING_KINDS = (kinds.LASTFM, kinds.SPOTIFY)


@dataclass(frozen=True)
class SkippedFile:
    name: str
    why: str


@dataclass(frozen=True)
class SourceRows:
    """All rows of one source in an import: one batch."""

    source: str
    table: RawTable
    loaded: pl.DataFrame
    rejected: pl.DataFrame


@dataclass
class ParsedImport:
    files: list[ParsedFile] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)

    def by_source(self) -> dict[str, SourceRows]:
        """The files' rows concatenated per source, in file order."""
        result = {}
        for source in dict.fromkeys(f.source for f in self.files):
            parsed = [f for f in self.files if f.source == source]
            rejected = [f.rejected for f in parsed if f.rejected.height]
            result[source] = SourceRows(
                source,
                parsed[0].table,
                pl.concat([f.loaded for f in parsed]),
                pl.concat(rejected, how="diagonal")
                if rejected
                else pl.DataFrame(schema={REASON: pl.String}),
            )
        return result


def parse_file(
    file: InputFile,
    *,
    user: str | None,
    now: dt.datetime,
    accept: tuple[str, ...] = LISTENING_KINDS,
    account_user: str | None = None,
) -> ParsedFile | SkippedFile:
    """One file parsed, or the reason it is skipped; FileImportError when it is broken.

    `account_user` is who the file's Spotify export says it belongs to (Userdata.json)."""
    found = kinds.detect(file)
    if found.kind == kinds.UNKNOWN:
        return SkippedFile(file.name, found.why)
    if found.kind not in accept:
        hint = (
            " (load it with `python -m extract.files kaggle`)" if found.kind == kinds.KAGGLE else ""
        )
        return SkippedFile(file.name, f"a {found.kind} file{hint}")
    try:
        if found.kind == kinds.LASTFM:
            assert found.layout is not None
            return parse_lastfm_export(file, found.text, found.layout, user=user, now=now)
        if found.kind == kinds.SPOTIFY:
            assert found.spotify_format is not None
            return parse_spotify_export(
                file,
                found.text,
                found.spotify_format,
                user=user,
                now=now,
                account_user=account_user,
            )
        return parse_kaggle(file)
    except (pl.exceptions.PolarsError, csv.Error) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FileImportError(file.name, f"cannot be parsed as {found.kind}: {first_line}") from exc


def parse_inputs(
    files: list[InputFile],
    *,
    user: str | None = None,
    now: dt.datetime | None = None,
    accept: tuple[str, ...] = LISTENING_KINDS,
) -> ParsedImport:
    """Parse `files` (one import) in order; a Spotify history naming no listener is
    attributed with its export's Userdata.json (read only without `user`)."""
    now = now or dt.datetime.now(dt.UTC)
    accounts = AccountNames() if user else AccountNames.of(files)
    result = ParsedImport()
    with progress("parse files", total=len(files), unit="files") as bar:
        for file in files:
            outcome = parse_file(
                file, user=user, now=now, accept=accept, account_user=accounts.user_of(file)
            )
            bar.advance()
            if isinstance(outcome, SkippedFile):
                log.info("skipped %s: %s", outcome.name, outcome.why)
                result.skipped.append(outcome)
                continue
            log.info(
                "%s: %s, %d rows: %d loaded, %d quarantined %s",
                outcome.name,
                outcome.layout,
                outcome.rows_in,
                outcome.loaded.height,
                outcome.rejected.height,
                outcome.reasons or "",
            )
            result.files.append(outcome)
    return result


def parse_path(
    path: Path,
    *,
    user: str | None = None,
    now: dt.datetime | None = None,
    accept: tuple[str, ...] = LISTENING_KINDS,
) -> ParsedImport:
    """Parse a file, folder or zip of exports; raises FileImportError for a broken file."""
    return parse_inputs(collect_inputs(path), user=user, now=now, accept=accept)
