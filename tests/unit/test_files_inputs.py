"""Folders, zips and gzip in any nesting become one sorted list of named files, and a
file's kind comes from its content, never its name."""

from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path

from extract.files import detect
from extract.files.inputs import InputFile, collect_inputs

CSV = b'utc_time,artist,album,track\n"24 Jan 2023, 09:42",A,B,C\n'


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_folders_zips_and_gzip_nest(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "b.csv.gz").write_bytes(gzip.compress(CSV))
    (tmp_path / "sub" / "a.csv").write_bytes(CSV)
    (tmp_path / ".hidden.csv").write_bytes(CSV)
    (tmp_path / "inner.zip").write_bytes(
        zip_bytes(
            {
                "x/one.csv": CSV,
                "two.csv.gz": gzip.compress(CSV),
                "__MACOSX/._one.csv": b"\0\1",
                "nested.zip": zip_bytes({"three.csv": CSV}),
            }
        )
    )
    files = collect_inputs(tmp_path)
    assert [f.name for f in files] == [
        "b.csv.gz",
        "inner.zip/nested.zip/three.csv",
        "inner.zip/two.csv.gz",
        "inner.zip/x/one.csv",
        "sub/a.csv",
    ]
    assert all(f.data == CSV for f in files)


def test_a_zip_given_directly_names_members_by_their_path(tmp_path: Path) -> None:
    (tmp_path / "export.zip").write_bytes(zip_bytes({"Spotify/a.csv": CSV}))
    assert [f.name for f in collect_inputs(tmp_path / "export.zip")] == ["Spotify/a.csv"]
    # a gzipped zip too (magic bytes, not names)
    (tmp_path / "export.bin").write_bytes(gzip.compress(zip_bytes({"a.csv": CSV})))
    assert [f.name for f in collect_inputs(tmp_path / "export.bin")] == ["a.csv"]


def test_kind_comes_from_content_not_name() -> None:
    assert detect.detect(InputFile("StreamingHistory0.json", CSV)).kind == detect.LASTFM
    spotify = (
        b'[{"endTime": "2023-01-01 12:34", "artistName": "A", "trackName": "B", "msPlayed": 1}]'
    )
    assert detect.detect(InputFile("scrobbles.csv", spotify)).kind == detect.SPOTIFY
    kaggle = b"\xef\xbb\xbf,track_id,artists,track_genre,danceability\n"
    assert detect.detect(InputFile("listens.csv", kaggle)).kind == detect.KAGGLE
    headerless = b"Biome,UNITY,Unity,\nBiome,Kora,Let Me,20 Nov 2020 09:35\n"
    found = detect.detect(InputFile("x", headerless))
    assert (found.kind, found.layout.name) == (detect.LASTFM, "headerless:artist,album,track,date")
    assert detect.detect(InputFile("x", b"a,b,c,d\n1,2,3,4\n")).kind == detect.UNKNOWN
