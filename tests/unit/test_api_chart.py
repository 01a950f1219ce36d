"""The recommendations page's 30-day chart (api.pages.chart)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from api.pages import chart


def test_a_midnight_clock_charts_the_30_days_before_it() -> None:
    bars = chart([(date(2026, 5, 2), 4), (date(2026, 5, 31), 2)], datetime(2026, 6, 1, tzinfo=UTC))
    assert [bar.day for bar in (bars[0], bars[-1])] == [date(2026, 5, 2), date(2026, 5, 31)]
    assert len(bars) == 30
    assert (bars[0].plays, bars[0].height, bars[-1].height) == (4, 1.0, 0.5)
    assert all(bar.plays == 0 and bar.height == 0 for bar in bars[1:-1])


def test_a_clock_within_a_day_touches_31_days_and_no_plays_draw_flat() -> None:
    bars = chart([], datetime(2026, 6, 1, 12, tzinfo=UTC))
    assert (len(bars), bars[0].day, bars[-1].day) == (31, date(2026, 5, 2), date(2026, 6, 1))
    assert {bar.height for bar in bars} == {0}
