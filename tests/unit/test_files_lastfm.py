"""The ten real Last.fm exports: every layout recognised from its content, every row
accounted for, and the same plays as the curated combined file.

PROVENANCE.md says how many rows each raw file has and what the combined file dropped
(now-playing rows, timestamps before 2002, exact duplicates). After our own validity rules
and an exact-duplicate collapse, each user's (timestamp, artist, track) set must equal the
combined file's, with one documented difference: u05 has a scrobble whose artist is a lone
no-break space, which we quarantine as an empty artist and the combined file kept.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import polars as pl
import pytest

from extract.files import ParsedImport, parse_path

NOW = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)

# file prefix -> (layout, rows in the file (PROVENANCE.md), quarantined by reason)
EXPECTED = {
    "lastfm_u01": ("header:utc_time", 11_387, {}),
    "lastfm_u02": ("header:played_at", 8_189, {}),
    "lastfm_u03": ("header:uts", 11_622, {}),
    "lastfm_u04": ("header:date", 16_545, {}),
    "lastfm_u05": ("header:timestamp", 42_752, {"empty artist": 1}),
    "lastfm_u06": ("header:uts", 6_001, {}),
    "lastfm_u07": (
        "headerless:artist,album,track,date",
        60_950,
        {"no timestamp (now playing)": 303},
    ),
    "lastfm_u08": ("header:timestamp", 17_503, {"timestamp before 2002-01-01": 643}),
    "lastfm_u09": ("header:timestamp", 250, {}),
    "lfm1k_user_000001": ("lastfm_1k_tsv", 16_685, {}),
}
ONLY_IN_COMBINED = {
    "lastfm_u05": {
        (dt.datetime(2012, 10, 16, 18, 5, 52, tzinfo=dt.UTC), "\xa0", "i loves you porgy")
    },
}


@pytest.fixture(scope="module")
def listens(shared_data: Path) -> Path:
    return shared_data / "listens"


@pytest.fixture(scope="module")
def parsed(listens: Path) -> tuple[ParsedImport, float]:
    started = time.perf_counter()
    result = parse_path(listens / "raw", now=NOW)
    return result, time.perf_counter() - started


def _prefix(name: str) -> str:
    return name.split("__", 1)[0]


def test_all_ten_layouts_parse_with_every_row_accounted_for(parsed) -> None:
    result, _ = parsed
    assert not result.skipped
    got = {_prefix(f.name): (f.layout, f.rows_in, f.reasons) for f in result.files}
    assert got == EXPECTED
    for file in result.files:
        assert file.loaded.height + file.rejected.height == file.rows_in
        assert file.loaded["source_ref"].unique().to_list() == [file.name]


def test_parsing_the_190k_rows_takes_seconds(parsed) -> None:
    _, seconds = parsed
    assert seconds < 10, f"parsing the real exports took {seconds:.1f} s"


def test_users_come_from_the_file_or_its_name(parsed) -> None:
    result, _ = parsed
    users = {_prefix(f.name): f.loaded["user_name"].unique().to_list() for f in result.files}
    assert users["lfm1k_user_000001"] == ["user_000001"]  # the TSV's own user column
    assert all(users[p] == [p] for p in EXPECTED if p.startswith("lastfm_u"))


def test_an_explicit_user_wins(listens: Path) -> None:
    [file] = parse_path(
        listens / "raw" / "lastfm_u09__89rael+infovis.csv.gz", user="me", now=NOW
    ).files
    assert file.loaded["user_name"].unique().to_list() == ["me"]


def test_same_plays_as_the_curated_combined_file(parsed, listens: Path) -> None:
    result, _ = parsed
    combined = pl.read_csv(listens / "lastfm_scrobbles_combined.csv", infer_schema=False)
    combined = combined.select(
        "user_id",
        pl.col("timestamp_utc").str.to_datetime("%Y-%m-%dT%H:%M:%SZ", time_zone="UTC").alias("t"),
        "artist",
        "track",
    )
    for file in result.files:
        user = _prefix(file.name)
        ours = set(file.loaded.select("played_at", "artist_name", "track_name").unique().rows())
        theirs = set(combined.filter(pl.col("user_id") == user).drop("user_id").unique().rows())
        assert ours - theirs == set(), user
        assert theirs - ours == ONLY_IN_COMBINED.get(user, set()), user
        assert len(ours) + len(ONLY_IN_COMBINED.get(user, ())) == len(theirs), user


def test_values_are_typed_and_in_utc(parsed) -> None:
    result, _ = parsed
    by_user = {_prefix(f.name): f.loaded for f in result.files}
    u01 = by_user["lastfm_u01"]  # "24 Jan 2023, 09:42"
    assert u01["played_at"].max() == dt.datetime(2023, 1, 24, 9, 42, tzinfo=dt.UTC)
    u03 = by_user["lastfm_u03"]  # uts wins over utc_time; MBIDs kept, "" -> NULL
    first = u03.row(0, named=True)
    assert first["played_at"] == dt.datetime.fromtimestamp(1720688852, dt.UTC)
    assert first["artist_mbid"] == "69ee3720-a7cb-4402-b48d-a02c366f2bcf"
    assert u03.row(1, named=True)["artist_mbid"] is None
    lfm1k = by_user["lfm1k_user_000001"]
    assert lfm1k["album_name"].null_count() == lfm1k.height  # the 1K TSV has no albums
    assert lfm1k["artist_mbid"].null_count() < lfm1k.height
    assert all(frame.schema["played_at"] == pl.Datetime("us", "UTC") for frame in by_user.values())


def test_exact_duplicates_stay_in_raw(parsed) -> None:
    """dbt de-duplicates (same user and track within 30 s); raw keeps what the file said."""
    result, _ = parsed
    u07 = next(f for f in result.files if f.name.startswith("lastfm_u07"))
    assert u07.loaded.height - u07.loaded.unique().height == 2_382  # as PROVENANCE counts


def test_now_playing_and_epoch_zero_rows_are_quarantined_with_their_text(parsed) -> None:
    result, _ = parsed
    u07 = next(f for f in result.files if f.name.startswith("lastfm_u07"))
    first = u07.rejected.row(0, named=True)
    assert first == {
        "source_ref": u07.name,
        "_row": "1",
        "artist": "Biome",
        "album": "UNITY",
        "track": "Unity",
        "time": None,
        "_reason": "no timestamp (now playing)",
    }
    u08 = next(f for f in result.files if f.name.startswith("lastfm_u08"))
    assert set(u08.rejected["timestamp"].unique().to_list()) == {"0"}
