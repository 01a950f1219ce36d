"""The Kaggle Spotify tracks dataset, quirks included, and where the CSV comes from."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import polars as pl
import pytest

from extract.files import FileImportError, parse_path
from extract.files.kaggle_source import DATASET, locate_kaggle_csv
from warehouse.raw_tables import KAGGLE_TRACKS

HEADER = (
    "track_id,artists,album_name,track_name,popularity,duration_ms,explicit,"
    "danceability,energy,key,loudness,mode,speechiness,acousticness,instrumentalness,"
    "liveness,valence,tempo,time_signature,track_genre"
)


def parse_kaggle(path: Path):
    [file] = parse_path(path, accept=("kaggle",)).files
    return file


def test_head_file_with_bom_and_empty_index_header(shared_data: Path) -> None:
    raw = (shared_data / "kaggle_spotify_tracks_head499.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf,track_id")  # the quirk under test
    file = parse_kaggle(shared_data / "kaggle_spotify_tracks_head499.csv")
    assert (file.rows_in, file.loaded.height, file.rejected.height) == (499, 499, 0)
    rows = file.loaded
    assert rows.schema == KAGGLE_TRACKS.polars_schema
    assert rows["source_row"].to_list() == list(range(499))  # the original index column
    first = rows.row(0, named=True)
    assert first["track_id"] == "5SuOikwiRyPMVoIQDJUgSV"
    assert first["instrumentalness"] == pytest.approx(1.01e-06)  # written 1.01E-06
    assert first["explicit"] is False  # written FALSE
    assert rows["explicit"].sum() == 12  # TRUE
    assert rows["track_genre"].unique().to_list() == ["acoustic"]


def test_sample_file_keeps_duplicate_ids_and_empty_cells(shared_data: Path) -> None:
    file = parse_kaggle(shared_data / "kaggle_spotify_tracks.csv")
    rows = file.loaded
    assert (file.rows_in, rows.height, file.rejected.height) == (10_000, 10_000, 0)
    assert rows["track_id"].n_unique() == 9_749
    assert rows["track_genre"].n_unique() == 114
    assert (rows["source_row"].min(), rows["source_row"].max()) == (35, 113_986)
    # a track listed several times (mostly under several genres) stays one row per listing
    repeated = rows.filter(pl.col("track_id").is_duplicated())
    assert repeated.height == 10_000 - 9_749 + repeated["track_id"].n_unique()
    assert repeated["source_row"].n_unique() == repeated.height
    genres = repeated.group_by("track_id").agg(pl.col("track_genre").n_unique())
    assert genres.filter(pl.col("track_genre") > 1).height > 200
    # the row with three empty cells loads with NULLs, not as a rejected row
    [empty] = rows.filter(pl.col("source_row") == 65900).rows(named=True)
    assert (empty["artists"], empty["album_name"], empty["track_name"]) == (None, None, None)
    assert empty["track_genre"] == "k-pop"
    assert (
        rows.select(pl.exclude("artists", "album_name", "track_name").null_count())
        .sum_horizontal()
        .item()
        == 0
    )
    assert rows["explicit"].to_list().count(True) > 0  # written True/False here


def test_bad_values_quarantine_their_row_with_the_column_named(tmp_path: Path) -> None:
    path = tmp_path / "tracks.csv"
    good = (
        "a" * 22 + ",Art,Alb,Song,50,200000,False,0.5,0.5,1,-5.0,1,0.05,0.1,1.01E-06,"
        "0.1,0.5,120.0,4,pop"
    )
    path.write_text(
        "\n".join(
            [
                HEADER,  # no index column: the row's position stands in for source_row
                good,
                good.replace(",50,", ",fifty,"),
                good.replace(",False,", ",maybe,"),
                good.replace(",4,pop", ",4.5,pop"),
                "," + good.split(",", 1)[1],
                good.replace("Song", "x" * 10_000),
                good + ",extra",
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    file = parse_kaggle(path)
    assert file.rows_in == 7 == file.loaded.height + file.rejected.height
    assert file.loaded["source_row"].to_list() == [0]
    assert file.reasons == {
        "empty track_id": 1,
        "field longer than 2048 characters": 1,
        "more than 20 fields": 1,
        "unparseable explicit": 1,
        "unparseable popularity": 1,
        "unparseable time_signature": 1,
    }


def test_a_csv_that_is_not_the_dataset_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    path.write_text("track_id,track_genre,danceability\nabc,pop,0.5\n")
    with pytest.raises(FileImportError, match=r"other\.csv: not the Kaggle tracks dataset"):
        parse_kaggle(path)


def test_the_csv_comes_from_the_argument_then_the_environment(tmp_path: Path, monkeypatch) -> None:
    for name in ("KAGGLE_TRACKS_CSV", "KAGGLE_USERNAME", "KAGGLE_KEY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(FileImportError, match="KAGGLE_TRACKS_CSV"):
        locate_kaggle_csv()
    monkeypatch.setenv("KAGGLE_TRACKS_CSV", str(tmp_path / "env.csv"))
    assert locate_kaggle_csv() == tmp_path / "env.csv"
    assert locate_kaggle_csv(tmp_path / "arg.csv") == tmp_path / "arg.csv"


def test_credentials_without_the_kaggle_package_say_what_to_install(monkeypatch) -> None:
    monkeypatch.delenv("KAGGLE_TRACKS_CSV", raising=False)
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", "secret-key-value")
    monkeypatch.setitem(sys.modules, "kaggle", None)  # import kaggle -> ImportError
    with pytest.raises(FileImportError) as error:
        locate_kaggle_csv()
    assert "pip install kaggle" in str(error.value)
    assert "secret-key-value" not in str(error.value)


def test_credentials_with_the_kaggle_package_download_the_dataset(
    tmp_path: Path, monkeypatch
) -> None:
    calls = []

    class FakeApi:
        def authenticate(self) -> None:
            calls.append("authenticate")

        def dataset_download_files(self, dataset: str, path: str, unzip: bool, quiet: bool) -> None:
            calls.append(dataset)
            Path(path, "dataset.csv").write_text(HEADER + "\n")

    extended = types.ModuleType("kaggle.api.kaggle_api_extended")
    extended.KaggleApi = FakeApi
    for name, module in (
        ("kaggle", types.ModuleType("kaggle")),
        ("kaggle.api", types.ModuleType("kaggle.api")),
        ("kaggle.api.kaggle_api_extended", extended),
    ):
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.delenv("KAGGLE_TRACKS_CSV", raising=False)
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", "secret")
    monkeypatch.setenv("ENCORE_HOME", str(tmp_path))
    csv = locate_kaggle_csv()
    assert csv == tmp_path / "downloads" / "kaggle" / "dataset.csv"
    assert calls == ["authenticate", DATASET]
