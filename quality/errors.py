"""The exception a failed checkpoint raises, with a message a person can act on."""

from __future__ import annotations

from quality.summary import CheckpointSummary, format_table


class QualityCheckFailed(Exception):
    """A critical expectation failed. The message is a short table of the failures (asset,
    rule, observed vs expected, unexpected count, example values) and the next step; the
    full result is in `quality.expectation_results` under `summary.run_id`."""

    def __init__(self, summary: CheckpointSummary, *, stored: bool = True) -> None:
        self.summary = summary
        super().__init__(failure_message(summary, stored=stored))


def failure_message(summary: CheckpointSummary, *, stored: bool = True) -> str:
    # Text for a person to paste into psql, never executed here.
    query = f"select * from quality.expectation_results where run_id = '{summary.run_id}'"  # noqa: S608
    where = (
        f"All results of this run: {query} order by position;"
        if stored
        else "(results were not stored: --no-store)"
    )
    return "\n".join(
        [
            summary.headline(),
            format_table(summary.failures),
            where,
            "Next: fix the data or the load that produced it and rerun the task. If a row-count "
            "change is deliberate (e.g. a new synthetic world size), rerun once with row bounds "
            "off (DAG param quality_row_bounds=false, or ENCORE_QUALITY_ROW_BOUNDS=off): that "
            "run's counts become the new baseline.",
        ]
    )
