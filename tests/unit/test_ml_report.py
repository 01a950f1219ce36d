"""The backtest's per-listener plot: readable whatever the number of listeners."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import pytest

from ml.report import MAX_BAR_LISTENERS, plot_listeners


@pytest.mark.parametrize("listeners", [10, MAX_BAR_LISTENERS + 1, 2_000])
def test_the_listener_plot_stays_page_sized(tmp_path: Path, listeners: int) -> None:
    users = [f"user_{i:05d}" for i in range(listeners)]
    backtest = {
        "k": 20,
        "per_listener_ndcg": {
            "published": {user: (i % 10) / 10 for i, user in enumerate(users)},
            "recent_plays": {user: (i % 7) / 7 for i, user in enumerate(users)},
        },
    }
    path = plot_listeners(backtest, tmp_path / "listeners.png")
    height, width, _ = matplotlib.image.imread(path).shape
    # bars up to MAX_BAR_LISTENERS (about 0.35 in each at 90 dpi), one point each beyond
    assert width <= (0.35 * MAX_BAR_LISTENERS + 2) * 90 + 1
    assert height < 600
