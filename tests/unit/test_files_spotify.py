"""Spotify account-data exports: both formats, episodes quarantined, short plays kept.

There are no real Spotify exports in the shared data, so the files are written here
following Spotify's documented format ("Understanding my data"): account data
`StreamingHistory*.json` and the Extended Streaming History (`endsong_*.json` with
`username` and decrypted IPs, the newer `Streaming_History_Audio_*.json` without a
username and with audiobook fields).
"""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from pathlib import Path

import polars as pl
import pytest

from extract.files import FileImportError, parse_path
from extract.files.spotify_export import ACCOUNT_DATA, EXTENDED

NOW = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)

ACCOUNT_PLAYS = [
    {
        "endTime": "2023-01-01 12:34",
        "artistName": "Taylor Swift",
        "trackName": "Anti-Hero",
        "msPlayed": 200690,
    },
    {
        "endTime": "2023-01-01 12:38",
        "artistName": "Taylor Swift",
        "trackName": "Lavender Haze",
        "msPlayed": 12000,
    },  # a skip: under 30 s, still a raw row
    {
        "endTime": "2023-01-01 12:38",
        "artistName": "Taylor Swift",
        "trackName": "Lavender Haze",
        "msPlayed": 12000,
    },  # exact duplicate: kept, dbt de-duplicates
    {
        "endTime": "2023-01-02 08:00",
        "artistName": "Unknown Artist",
        "trackName": "Unknown Track",
        "msPlayed": 0,
    },
]
PODCAST_PLAYS = [
    {
        "endTime": "2023-01-03 07:10",
        "podcastName": "The Daily",
        "episodeName": "Monday",
        "msPlayed": 1500000,
    },
]


def extended_play(
    ts: str,
    track: str | None,
    artist: str | None,
    uri: str | None,
    *,
    ms: int = 215000,
    username: str | None = "spotify-user-42",
    episode: str | None = None,
    show: str | None = None,
    episode_uri: str | None = None,
    skipped: bool | None = False,
    shuffle: bool = True,
    ip: str = "192.0.2.17",
) -> dict:
    """One Extended Streaming History record, endsong_*.json style."""
    record = {
        "ts": ts,
        "username": username,
        "platform": "Android OS 13 API 33 (Google, Pixel 7)",
        "ms_played": ms,
        "conn_country": "SE",
        "ip_addr_decrypted": ip,
        "user_agent_decrypted": "unknown",
        "master_metadata_track_name": track,
        "master_metadata_album_artist_name": artist,
        "master_metadata_album_album_name": "Album of " + track if track else None,
        "spotify_track_uri": uri,
        "episode_name": episode,
        "episode_show_name": show,
        "spotify_episode_uri": episode_uri,
        "reason_start": "trackdone",
        "reason_end": "trackdone" if ms > 30000 else "fwdbtn",
        "shuffle": shuffle,
        "skipped": skipped,
        "offline": False,
        "offline_timestamp": 1672531200,
        "incognito_mode": False,
    }
    if username is None:
        del record["username"]
    return record


ENDSONG = [
    extended_play(
        "2022-12-31T23:59:10Z",
        "Blinding Lights",
        "The Weeknd",
        "spotify:track:0VjIjW4GlUZAMYd2vXMi3b",
    ),
    extended_play(
        "2023-01-01T00:03:00Z",
        "Save Your Tears",
        "The Weeknd",
        "spotify:track:5QO79kh1waicV47BqGRL3g",
        ms=8000,
        skipped=True,
    ),
    extended_play(
        "2023-01-01T00:05:00Z",
        None,
        None,
        None,
        ms=1800000,
        episode="Episode 12",
        show="Some Show",
        episode_uri="spotify:episode:4rOoJ6Egrf8K2IrywzwOMk",
    ),
    extended_play(
        "2023-01-01T00:09:00Z", "Local demo", "Me", "spotify:local:Me::Local+demo:200", skipped=None
    ),
    extended_play(
        "2001-06-01T00:00:00Z", "Too Old", "Someone", "spotify:track:7ouMYWpwJ422jRcDASZB7P"
    ),
]
AUDIO_2024 = [  # the newer Streaming_History_Audio_*.json: no username, audiobook fields
    {
        **{
            k: v
            for k, v in extended_play(
                "2024-05-01T10:00:00Z",
                "Espresso",
                "Sabrina Carpenter",
                "spotify:track:2qSkIjg1o9h3YT9RAgYN75",
                username=None,
            ).items()
            if k not in ("ip_addr_decrypted", "user_agent_decrypted")
        },
        "ip_addr": "198.51.100.4",
        "audiobook_title": None,
        "audiobook_uri": None,
        "audiobook_chapter_uri": None,
        "audiobook_chapter_title": None,
    },
    {
        **{
            k: v
            for k, v in extended_play(
                "2024-05-01T11:00:00Z", None, None, None, ms=600000, username=None
            ).items()
            if k not in ("ip_addr_decrypted", "user_agent_decrypted")
        },
        "ip_addr": "198.51.100.4",
        "audiobook_title": "Dune",
        "audiobook_uri": "spotify:show:abc",
        "audiobook_chapter_uri": "spotify:episode:def",
        "audiobook_chapter_title": "Chapter 1",
    },
]


def write_json(path: Path, records: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(records, indent=2, ensure_ascii=False), encoding="utf-8")
    return path


def write_spotify_export_zip(path: Path) -> Path:
    """A realistic 'my_spotify_data.zip': both packages, plus files that are not history."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(
            "Spotify Account Data/StreamingHistory_music_0.json", json.dumps(ACCOUNT_PLAYS)
        )
        archive.writestr(
            "Spotify Account Data/StreamingHistory_podcast_0.json", json.dumps(PODCAST_PLAYS)
        )
        archive.writestr(
            "Spotify Account Data/Userdata.json",
            json.dumps({"username": "spotify-user-42", "country": "SE"}),
        )
        archive.writestr("Spotify Account Data/Playlist1.json", json.dumps({"playlists": []}))
        archive.writestr("Spotify Extended Streaming History/endsong_0.json", json.dumps(ENDSONG))
        archive.writestr(
            "Spotify Extended Streaming History/ReadMeFirst_ExtendedStreamingHistory.pdf",
            b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n",
        )
    return path


def test_account_data_streaming_history(tmp_path: Path) -> None:
    path = write_json(tmp_path / "StreamingHistory0.json", ACCOUNT_PLAYS)
    parsed = parse_path(path, user="alice", now=NOW)
    [file] = parsed.files
    assert (file.layout, file.rows_in, file.loaded.height, file.rejected.height) == (
        ACCOUNT_DATA,
        4,
        4,
        0,
    )
    rows = file.loaded
    assert rows["user_name"].unique().to_list() == ["alice"]
    assert rows["ended_at"][0] == dt.datetime(2023, 1, 1, 12, 34, tzinfo=dt.UTC)
    assert rows["ms_played"].to_list() == [200690, 12000, 12000, 0]
    assert rows["track_id"].null_count() == 4  # account data carries no URIs
    assert rows["source_ref"].unique().to_list() == ["StreamingHistory0.json"]


def test_account_data_user_comes_from_the_option_or_the_file_name(tmp_path: Path) -> None:
    path = write_json(tmp_path / "StreamingHistory0.json", ACCOUNT_PLAYS)
    with pytest.raises(FileImportError, match=r"StreamingHistory0\.json: .*--user"):
        parse_path(path, now=NOW)
    named = write_json(tmp_path / "bob__StreamingHistory0.json", ACCOUNT_PLAYS)
    [file] = parse_path(named, now=NOW).files
    assert file.loaded["user_name"].unique().to_list() == ["bob"]


def test_podcast_history_is_quarantined_not_loaded(tmp_path: Path) -> None:
    path = write_json(tmp_path / "StreamingHistory_podcast_0.json", PODCAST_PLAYS)
    [file] = parse_path(path, user="alice", now=NOW).files
    assert file.loaded.height == 0
    assert file.reasons == {"podcast episode, not a track play": 1}


def test_extended_streaming_history(tmp_path: Path) -> None:
    path = write_json(tmp_path / "endsong_0.json", ENDSONG)
    [file] = parse_path(path, now=NOW).files
    assert file.layout == EXTENDED
    assert file.rows_in == len(ENDSONG) == file.loaded.height + file.rejected.height
    assert file.reasons == {
        "podcast episode, not a track play": 1,
        "timestamp before 2002-01-01": 1,
    }
    rows = file.loaded.sort("ended_at")
    assert rows["user_name"].unique().to_list() == ["spotify-user-42"]  # from the records
    assert rows["track_id"].to_list() == [
        "0VjIjW4GlUZAMYd2vXMi3b",
        "5QO79kh1waicV47BqGRL3g",
        None,
    ]  # local files have no Spotify id
    assert rows["ms_played"].to_list() == [215000, 8000, 215000]  # the 8 s skip is kept
    assert rows["skipped"].to_list() == [False, True, None]
    assert rows["shuffle"].to_list() == [True, True, True]
    assert rows["album_name"][0] == "Album of Blinding Lights"
    assert rows["reason_end"][1] == "fwdbtn"
    assert rows["platform"][0].startswith("Android OS")
    assert rows["ended_at"][0] == dt.datetime(2022, 12, 31, 23, 59, 10, tzinfo=dt.UTC)
    # the quarantine keeps what identifies the row, never IP addresses or user agents
    record_columns = set(file.rejected.columns)
    assert not {c for c in record_columns if "ip_addr" in c or "user_agent" in c}
    assert {"source_ref", "_row", "ts", "_reason"} <= record_columns


def test_newer_audio_history_without_username(tmp_path: Path) -> None:
    path = write_json(tmp_path / "Streaming_History_Audio_2024.json", AUDIO_2024)
    with pytest.raises(FileImportError, match="--user"):
        parse_path(path, now=NOW)
    [file] = parse_path(path, user="carol", now=NOW).files
    assert file.loaded.select("user_name", "track_id", "track_name").rows() == [
        ("carol", "2qSkIjg1o9h3YT9RAgYN75", "Espresso")
    ]
    assert file.reasons == {"audiobook, not a track play": 1}


def test_a_whole_export_zip(tmp_path: Path) -> None:
    path = write_spotify_export_zip(tmp_path / "my_spotify_data.zip")
    parsed = parse_path(path, user="dave", now=NOW)
    assert [f.name for f in parsed.files] == [
        "Spotify Account Data/StreamingHistory_music_0.json",
        "Spotify Account Data/StreamingHistory_podcast_0.json",
        "Spotify Extended Streaming History/endsong_0.json",
    ]
    assert {s.name.rsplit("/", 1)[-1] for s in parsed.skipped} == {
        "Userdata.json",
        "Playlist1.json",
        "ReadMeFirst_ExtendedStreamingHistory.pdf",
    }
    [spotify] = parsed.by_source().values()
    assert spotify.loaded.height == 4 + 3
    assert spotify.rejected.height == 1 + 2
    assert spotify.loaded["user_name"].unique().to_list() == ["dave"]  # --user wins


def test_wrong_types_are_quarantined_with_the_field_named(tmp_path: Path) -> None:
    records = [
        extended_play("2023-02-01T10:00:00Z", "Fine", "Artist", None),
        {**extended_play("2023-02-01T10:05:00Z", "Bad ms", "Artist", None), "ms_played": "lots"},
        {**extended_play("2023-02-01T10:06:00Z", "Bad bool", "Artist", None), "shuffle": "maybe"},
        {**extended_play("2023-02-01T10:07:00Z", "Neg", "Artist", None), "ms_played": -5},
        {**extended_play("yesterday", "Bad ts", "Artist", None)},
        {
            **extended_play("2023-02-01T10:08:00Z", "Nested", "Artist", None),
            "ms_played": {"value": 3},
        },
        "not an object",
        42,
        extended_play("2023-02-01T10:09:00Z", "", "Artist", None),
        extended_play("2030-01-01T00:00:00Z", "Future", "Artist", None),
    ]
    path = write_json(tmp_path / "endsong_1.json", records)
    [file] = parse_path(path, now=NOW).files
    assert file.loaded["track_name"].to_list() == ["Fine"]
    assert file.reasons == {
        "not a JSON object": 2,
        "unparseable ms_played": 3,
        "empty track": 1,
        "timestamp in the future": 1,
        "unparseable shuffle": 1,
        "unparseable timestamp": 1,
    }
    assert pl.Series(file.rejected["_row"]).cast(pl.Int64).sort().to_list() == list(range(2, 11))
