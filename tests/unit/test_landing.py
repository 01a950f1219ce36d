"""The landing zone: each run lands into its own folder and becomes current atomically, so
two runs of one source and date at the same moment both succeed and neither sees the
other's files."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path

import polars as pl
import pytest

from warehouse import landing
from warehouse.landing import land_frames, landing_dir, read_landed

DAY = dt.date(2026, 6, 1)


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ENCORE_HOME", str(tmp_path))
    return tmp_path


def _frames(tag: int, rows: int = 50_000) -> dict[str, pl.DataFrame]:
    plays = pl.DataFrame({"run": [tag] * rows, "n": range(rows)})
    return {"spotify_plays": plays, "spotify_plays.rejected": plays.head(3)}


def test_a_landing_is_its_run_and_the_dates_current_one() -> None:
    folder = land_frames("spotify_export", DAY, _frames(1, 10))
    assert landing_dir("spotify_export", DAY).resolve() == folder
    assert set(read_landed(folder)) == {"spotify_plays", "spotify_plays.rejected"}
    again = land_frames("spotify_export", DAY, _frames(2, 10))
    assert again != folder and landing_dir("spotify_export", DAY).resolve() == again
    assert read_landed(folder)["spotify_plays"]["run"][0] == 1  # the first run's files stay


def test_two_runs_of_the_same_source_and_date_at_once_both_land_their_own_files() -> None:
    results: dict[int, Path] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def run(tag: int) -> None:
        try:
            start.wait()
            for attempt in range(5):
                folder = land_frames("spotify_export", DAY, _frames(tag * 10 + attempt))
                frames = read_landed(folder)  # as the load task reads it right after
                assert frames["spotify_plays"]["run"].unique().to_list() == [tag * 10 + attempt]
                assert frames["spotify_plays"].height == 50_000
                results[tag] = folder
        except BaseException as error:  # collected: the assertion below names it
            errors.append(error)

    threads = [threading.Thread(target=run, args=(tag,)) for tag in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    current = landing_dir("spotify_export", DAY).resolve()
    assert current in set(results.values())  # the date's current landing is one whole run
    assert set(read_landed(current)) == {"spotify_plays", "spotify_plays.rejected"}


def test_superseded_runs_are_pruned_after_an_hour(monkeypatch: pytest.MonkeyPatch) -> None:
    first = land_frames("synthetic", DAY, _frames(1, 10))
    second = land_frames("synthetic", DAY, _frames(2, 10))
    assert first.exists()  # a load of the first run may still be reading it
    later = time.time() + landing.KEEP_SECONDS + 5
    monkeypatch.setattr(landing.time, "time", lambda: later)
    third = land_frames("synthetic", DAY, _frames(3, 10))
    assert not first.exists() and not second.exists() and third.exists()


def test_a_landing_from_before_run_folders_is_replaced(home: Path) -> None:
    old = home / "landing" / "synthetic" / DAY.isoformat()
    old.mkdir(parents=True)
    (old / "synthetic_plays.parquet").write_bytes(b"old layout")
    folder = land_frames("synthetic", DAY, _frames(1, 10))
    assert old.is_symlink() and old.resolve() == folder
