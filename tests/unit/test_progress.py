"""observability.progress: log lines off a terminal (periodic and final), nesting, no bar in
logs."""

from __future__ import annotations

import io
import logging

import pytest

from observability.progress import display_mode, progress


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="observability.progress")
    return caplog


def test_not_a_terminal_means_log_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENCORE_PROGRESS", raising=False)
    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert display_mode() == "log"
    monkeypatch.setenv("ENCORE_PROGRESS", "off")
    assert display_mode() == "off"


def test_the_end_line_has_counts_and_rate(logged: pytest.LogCaptureFixture) -> None:
    with progress("COPY raw.x", total=500, mode="log", every=3600) as bar:
        for _ in range(5):
            bar.advance(100)
    (end,) = logged.records
    assert end.levelno == logging.INFO
    assert end.getMessage().startswith("COPY raw.x: done, 500 rows in ")
    assert end.getMessage().endswith("rows/s)")
    assert (end.done, end.total, end.unit, end.outcome) == (500, 500, "rows", "done")


def test_periodic_lines_at_most_every_n_seconds(logged: pytest.LogCaptureFixture) -> None:
    with progress("pages", unit="pages", mode="log", every=0) as bar:
        bar.advance()
        bar.update(total=3)
        bar.advance(2)
    messages = [r.getMessage() for r in logged.records]
    assert messages[0].startswith("pages: 1 pages, ")
    assert messages[1].startswith("pages: 3/3 pages (100%), ")
    assert messages[2].startswith("pages: done, 3 pages in ")
    logged.clear()
    with progress("quiet", mode="log", every=3600) as bar:
        for _ in range(1000):
            bar.advance()
    assert len(logged.records) == 1  # only the end line


def test_a_short_nested_step_ends_quietly(logged: pytest.LogCaptureFixture) -> None:
    with progress("import", total=2, unit="files", mode="log", every=3600) as outer:
        for _ in range(2):
            with progress("COPY", total=10, mode="log", every=3600) as inner:
                inner.advance(10)
            outer.advance()
    assert [(r.levelno, r.step) for r in logged.records] == [
        (logging.DEBUG, "COPY"),
        (logging.DEBUG, "COPY"),
        (logging.INFO, "import"),
    ]


def test_a_failed_step_says_where_it_stopped(logged: pytest.LogCaptureFixture) -> None:
    with pytest.raises(RuntimeError), progress("fetch", total=9, mode="log") as bar:
        bar.advance(4)
        raise RuntimeError("boom")
    (line,) = logged.records
    assert line.levelno == logging.WARNING and line.outcome == "failed"
    assert line.getMessage().startswith("fetch: stopped after 4/9 rows (44%)")


def test_off_only_counts(logged: pytest.LogCaptureFixture) -> None:
    with progress("x", mode="off") as bar:
        bar.advance(7)
    assert bar.done == 7 and not logged.records


def test_bar_mode_nests_in_one_display(capsys: pytest.CaptureFixture) -> None:
    with progress("outer", total=2, unit="files", mode="bar") as outer:
        with progress("inner", total=3, mode="bar") as inner:
            inner.advance(3)
        outer.advance(2)
    with progress("again", mode="bar") as bar:  # the display was stopped and can restart
        bar.advance()
    assert (outer.done, inner.done, bar.done) == (2, 3, 1)
    assert "outer" in capsys.readouterr().err
