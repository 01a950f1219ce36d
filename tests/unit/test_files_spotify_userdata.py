"""A Spotify export names its listener in `Userdata.json`: history files that name nobody
(account data `StreamingHistory*.json`, the newer `Streaming_History_Audio_*.json`) take
that user name, rows that name a user keep theirs, and a broken Userdata.json never fails
an import (the file is then attributed as if there were none).

The exports are written here in tmp_path, following Spotify's documented layout (see
test_files_spotify.py); nothing is copied from the shared data.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from polars.testing import assert_frame_equal

from extract.files import FileImportError, parse_path
from extract.files.inputs import collect_inputs
from extract.files.spotify_export import AccountNames
from tests.unit.test_files_inputs import zip_bytes
from tests.unit.test_files_spotify import (
    ACCOUNT_PLAYS,
    AUDIO_2024,
    NOW,
    extended_play,
    write_json,
)

HISTORY = "StreamingHistory_music_0.json"


def userdata(username: object = "abc123") -> str:
    """Userdata.json as Spotify writes it (the fields besides `username` are ignored)."""
    return json.dumps(
        {
            "username": username,
            "email": "someone@example.com",
            "country": "SE",
            "birthdate": "1990-01-01",
            "gender": "neutral",
            "creationTime": "2015-03-01",
        }
    )


def users(path: Path, **options: object) -> dict[str, list[str]]:
    """The loaded user names per file of an import."""
    parsed = parse_path(path, now=NOW, **options)  # type: ignore[arg-type]
    return {f.name: sorted(set(f.loaded["user_name"].to_list())) for f in parsed.files}


def test_account_data_in_a_folder_takes_the_userdata_username(tmp_path: Path) -> None:
    export = tmp_path / "my_spotify_data"
    write_json(export / HISTORY, ACCOUNT_PLAYS)
    (export / "Userdata.json").write_text(userdata("abc123"))
    parsed = parse_path(export, now=NOW)
    [file] = parsed.files
    assert file.loaded["user_name"].to_list() == ["abc123"] * len(ACCOUNT_PLAYS)
    assert [s.name for s in parsed.skipped] == ["Userdata.json"]  # still not a history
    again = parse_path(export, now=NOW)  # deterministic: the same rows every time
    assert_frame_equal(again.files[0].loaded, file.loaded)


def test_a_whole_zip_attributes_every_history_that_names_nobody(tmp_path: Path) -> None:
    """Spotify's zip keeps account data and the extended history in sibling folders: the
    zip's one Userdata.json names the listener of both; rows with a `username` keep it."""
    endsong = [
        extended_play("2023-01-01T00:03:00Z", "Named", "Artist", None, username="old-name"),
        extended_play("2023-01-01T00:09:00Z", "Unnamed", "Artist", None, username=""),
        extended_play("2023-01-01T00:12:00Z", "Missing", "Artist", None, username=None),
    ]
    path = tmp_path / "my_spotify_data.zip"
    path.write_bytes(
        zip_bytes(
            {
                f"Spotify Account Data/{HISTORY}": json.dumps(ACCOUNT_PLAYS),
                "Spotify Account Data/Userdata.json": userdata("abc123"),
                "Spotify Account Data/Playlist1.json": json.dumps({"playlists": []}),
                "Spotify Extended Streaming History/Streaming_History_Audio_2024.json": json.dumps(
                    AUDIO_2024
                ),
                "Spotify Extended Streaming History/endsong_0.json": json.dumps(endsong),
            }
        )
    )
    assert users(path) == {
        f"Spotify Account Data/{HISTORY}": ["abc123"],
        "Spotify Extended Streaming History/Streaming_History_Audio_2024.json": ["abc123"],
        "Spotify Extended Streaming History/endsong_0.json": ["abc123", "old-name"],
    }
    endsong_rows = parse_path(path, now=NOW).files[-1].loaded
    assert endsong_rows.select("track_name", "user_name").rows() == [
        ("Named", "old-name"),
        ("Unnamed", "abc123"),
        ("Missing", "abc123"),
    ]


def test_a_zip_inside_a_folder_and_the_same_folder_inside_a_zip(tmp_path: Path) -> None:
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "my_spotify_data.zip").write_bytes(
        zip_bytes(
            {
                f"MyData/{HISTORY}": json.dumps(ACCOUNT_PLAYS),
                "MyData/Userdata.json": userdata("zipped-user"),
            }
        )
    )
    assert users(tmp_path) == {f"exports/my_spotify_data.zip/MyData/{HISTORY}": ["zipped-user"]}


def test_each_export_is_attributed_to_its_own_userdata(tmp_path: Path) -> None:
    """A folder of several people's exports: a Userdata.json speaks for its own folder (or
    zip) only, never for a sibling folder."""
    for name in ("alice", "bob"):
        write_json(tmp_path / name / HISTORY, ACCOUNT_PLAYS)
        (tmp_path / name / "Userdata.json").write_text(userdata(f"{name}-spotify"))
    (tmp_path / "both.zip").write_bytes(
        zip_bytes(
            {  # two listeners in one zip
                f"carol/{HISTORY}": json.dumps(ACCOUNT_PLAYS),
                "carol/Userdata.json": userdata("carol-spotify"),
                "dave/Userdata.json": userdata("dave-spotify"),
                f"erin__{HISTORY}": json.dumps(ACCOUNT_PLAYS),
            }
        )
    )
    assert users(tmp_path) == {
        f"alice/{HISTORY}": ["alice-spotify"],
        f"bob/{HISTORY}": ["bob-spotify"],
        f"both.zip/carol/{HISTORY}": ["carol-spotify"],
        f"both.zip/erin__{HISTORY}": ["erin"],  # the zip's Userdata.json disagree: not used
    }
    write_json(tmp_path / "frank" / HISTORY, ACCOUNT_PLAYS)  # no Userdata.json of its own
    with pytest.raises(FileImportError, match=rf"frank/{HISTORY}: .*--user"):
        parse_path(tmp_path, now=NOW)


def test_the_option_and_a_file_name_prefix_still_win(tmp_path: Path) -> None:
    write_json(tmp_path / HISTORY, ACCOUNT_PLAYS)
    write_json(tmp_path / f"gina__{HISTORY}", ACCOUNT_PLAYS)
    (tmp_path / "Userdata.json").write_text(userdata("abc123"))
    assert users(tmp_path) == {HISTORY: ["abc123"], f"gina__{HISTORY}": ["gina"]}
    assert users(tmp_path, user="hank") == {HISTORY: ["hank"], f"gina__{HISTORY}": ["hank"]}


def test_without_userdata_nothing_changes(tmp_path: Path) -> None:
    write_json(tmp_path / HISTORY, ACCOUNT_PLAYS)
    (tmp_path / "Playlist1.json").write_text(json.dumps({"username": "not-userdata"}))
    with pytest.raises(FileImportError, match=rf"{HISTORY}: .*--user"):
        parse_path(tmp_path, now=NOW)
    endsong = [
        extended_play("2023-01-01T00:03:00Z", "Named", "Artist", None),
        extended_play("2023-01-01T00:09:00Z", "Unnamed", "Artist", None, username=""),
    ]
    write_json(tmp_path / "ext" / "endsong_0.json", endsong)
    [file] = parse_path(tmp_path / "ext", now=NOW).files
    assert file.reasons == {"no user name": 1}


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b'{"username": "abc123", ', "not JSON"),
        (b"", "not JSON"),
        (b"\x00\x01\x02 binary", "not JSON"),
        (json.dumps({"email": "someone@example.com"}).encode(), "no username"),
        (json.dumps({"username": None}).encode(), "no username"),
        (json.dumps({"username": 12345}).encode(), "no username"),
        (json.dumps([{"username": "abc123"}]).encode(), "no username"),
        (json.dumps({"username": "   "}).encode(), "its username is blank"),
        (json.dumps({"username": "a\u0000b"}).encode(), "NUL character"),
        (json.dumps({"username": "\ud800"}).encode(), "not valid UTF-8"),
        (b'{"username": "ab\xffc"}', "not valid UTF-8"),
        (json.dumps({"username": "x" * 3000}).encode(), "longer than 2048"),
    ],
)
def test_a_broken_userdata_is_logged_and_today_s_fallback_applies(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes, problem: str
) -> None:
    export = tmp_path / "export"
    write_json(export / f"ivy__{HISTORY}", ACCOUNT_PLAYS)
    (export / "Userdata.json").write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="extract.files"):
        assert users(export) == {f"ivy__{HISTORY}": ["ivy"]}  # the NAME__ prefix, as today
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.startswith("Userdata.json: ") and problem in warning
    write_json(export / HISTORY, ACCOUNT_PLAYS)  # and no name at all: today's error
    with pytest.raises(FileImportError, match=rf"^{HISTORY}: .*--user"):
        parse_path(export, now=NOW)


def test_a_broken_userdata_in_the_folder_is_not_replaced_by_another_in_the_zip(
    tmp_path: Path,
) -> None:
    path = tmp_path / "export.zip"
    path.write_bytes(
        zip_bytes(
            {
                f"a/{HISTORY}": json.dumps(ACCOUNT_PLAYS),
                "a/Userdata.json": "not json",
                "b/Userdata.json": userdata("someone-else"),
            }
        )
    )
    accounts = AccountNames.of(collect_inputs(path))
    assert accounts.by_folder == {"b": "someone-else"}
    assert accounts.by_archive == {}  # two Userdata.json in the zip: neither speaks for it
    with pytest.raises(FileImportError, match=rf"a/{HISTORY}: .*--user"):
        parse_path(path, now=NOW)
