"""Broken input never crashes with a polars stack trace: its rows are quarantined with a
reason, or the import stops with one line naming the file."""

from __future__ import annotations

import datetime as dt
import gzip
import zipfile
from pathlib import Path

import pytest

from extract.files import FileImportError, parse_path
from extract.files.__main__ import main

NOW = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
HEADER = "uts,utc_time,artist,artist_mbid,album,album_mbid,track,track_mbid\n"


def good_line(uts: int = 1_700_000_000, artist: str = "Artist", track: str = "Track") -> str:
    return f'"{uts}","14 Nov 2023, 22:13","{artist}","","Album","","{track}",""\n'


def write(path: Path, content: bytes | str) -> Path:
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def test_a_truncated_gzip_is_an_error_naming_the_file(tmp_path: Path, capsys) -> None:
    whole = gzip.compress((HEADER + good_line() * 2000).encode())
    path = write(tmp_path / "alice__scrobbles.csv.gz", whole[: len(whole) // 2])
    with pytest.raises(FileImportError, match=r"^alice__scrobbles\.csv\.gz: truncated"):
        parse_path(tmp_path, now=NOW)
    assert main(["import", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: alice__scrobbles.csv.gz: truncated or corrupt gzip")
    assert "Traceback" not in err and "polars" not in err


def test_a_corrupt_zip_and_truncated_json_are_errors_naming_the_file(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "export.zip", "w") as archive:
        archive.writestr("endsong_0.json", '[{"ts": "2023-01-01T00:00:00Z"}]' * 50)
    data = (tmp_path / "export.zip").read_bytes()
    write(tmp_path / "export.zip", data[: len(data) - 30])
    with pytest.raises(FileImportError, match=r"^export\.zip"):
        parse_path(tmp_path / "export.zip", now=NOW)
    write(tmp_path / "bob__endsong_1.json", '[{"ts": "2023-01-01T00:00:00Z", "ms_played": 1')
    with pytest.raises(FileImportError, match=r"^bob__endsong_1\.json: invalid or truncated"):
        parse_path(tmp_path / "bob__endsong_1.json", now=NOW)


def test_bad_rows_are_quarantined_with_reasons(tmp_path: Path) -> None:
    lines = [
        good_line(),
        good_line(uts=1_700_000_060) * 2,  # an exact duplicate pair: both kept
        '"abc","yesterday","Artist","","Album","","Wrong types",""\n',
        good_line(uts=0, track="Epoch zero"),
        good_line(uts=4_102_444_800, track="In 2100"),
        good_line(uts=978_307_200, track="Before Last.fm"),
        good_line(artist=""),
        good_line(track="   "),
        good_line(track="x" * 10_000),  # 10 kB of junk
        good_line(track="Too, many").replace('"Too, many"', "Too, many"),  # an extra field
        '"","","Artist","","Album","","Now playing",""\n',
    ]
    path = write(tmp_path / "alice__broken.csv", HEADER + "".join(lines))
    [file] = parse_path(path, now=NOW).files
    assert file.rows_in == 12 == file.loaded.height + file.rejected.height
    assert file.loaded.height == 3
    assert file.reasons == {
        "empty artist": 1,
        "empty track": 1,
        "field longer than 2048 characters": 1,
        "more than 8 fields": 1,
        "no timestamp (now playing)": 1,
        "timestamp before 2002-01-01": 2,
        "timestamp in the future": 1,
        "unparseable timestamp": 1,
    }
    wrong = file.rejected.filter(file.rejected["_reason"] == "unparseable timestamp").row(
        0, named=True
    )
    assert (wrong["uts"], wrong["utc_time"], wrong["track"]) == ("abc", "yesterday", "Wrong types")


def test_bytes_that_are_not_utf8_quarantine_their_row_only(tmp_path: Path) -> None:
    latin1 = good_line(artist="Beyoncé").encode("latin-1")  # a Latin-1 line in a UTF-8 file
    double = good_line(artist="BeyoncÃ©", uts=1_700_000_120).encode("utf-8")
    path = write(
        tmp_path / "alice__mixed.csv", HEADER.encode() + good_line().encode() + latin1 + double
    )
    [file] = parse_path(path, now=NOW).files
    assert file.reasons == {"invalid UTF-8 bytes": 1}
    # Double-encoded text is valid UTF-8 and is exactly what Last.fm's API returns for such a
    # scrobble: it loads unchanged (repairing names is a transformation, not parsing).
    assert file.loaded["artist_name"].to_list() == ["Artist", "BeyoncÃ©"]


def test_utf16_exports_are_read(tmp_path: Path) -> None:
    path = write(
        tmp_path / "alice__excel.csv", (HEADER + good_line(artist="Sigur Rós")).encode("utf-16")
    )
    [file] = parse_path(path, now=NOW).files
    assert file.loaded["artist_name"].to_list() == ["Sigur Rós"]


def test_unknown_files_are_skipped_and_the_command_says_so(tmp_path: Path, capsys) -> None:
    write(tmp_path / "notes.txt", "just some notes\nnothing to see\n")
    write(tmp_path / "cover.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00")
    write(tmp_path / "empty.csv", "")
    parsed = parse_path(tmp_path, now=NOW)
    assert parsed.files == []
    assert {s.name: s.why for s in parsed.skipped} == {
        "cover.jpg": "binary file",
        "empty.csv": "empty file",
        "notes.txt": "not a known export layout (first line: 'just some notes')",
    }
    assert main(["import", str(tmp_path), "--dry-run"]) == 1
    out = capsys.readouterr()
    assert "nothing to import" in out.err and "notes.txt  skipped" in out.out


def test_dry_run_reports_per_file(tmp_path: Path, capsys) -> None:
    write(tmp_path / "alice__scrobbles.csv", HEADER + good_line() + good_line(artist=""))
    assert main(["import", str(tmp_path), "--dry-run", "--user", "alice"]) == 0
    out = capsys.readouterr().out
    assert (
        "alice__scrobbles.csv  [header:uts]  2 rows -> 1 loaded, 1 quarantined (empty artist: 1)"
    ) in out


def test_nul_bytes_and_cut_off_rows_quarantine_their_row_only(tmp_path: Path) -> None:
    """A NUL early in a file does not make it "binary" (that skipped the whole file), and
    the row a file was cut off in is quarantined as such; the other rows load."""
    data = HEADER + good_line(artist="Nul\x00Byte") + good_line() + good_line()[:25]
    [file] = parse_path(write(tmp_path / "alice__cut.csv", data), now=NOW).files
    assert file.reasons == {
        "NUL character in a field": 1,
        "truncated row (the file ends in the middle of it)": 1,
    }
    assert file.loaded.height == 1


def test_lone_surrogates_in_json_are_quarantined_not_a_crash(tmp_path: Path) -> None:
    body = (
        '[{"ts": "2023-01-01T00:00:00Z", "username": "bob", "ms_played": 1000, '
        '"master_metadata_track_name": "Bad \\ud800", '
        '"master_metadata_album_artist_name": "A"}]'
    )
    [file] = parse_path(write(tmp_path / "endsong_0.json", body), now=NOW).files
    assert file.reasons == {"invalid UTF-8 bytes": 1}
