"""Data quality: great-expectations checkpoints on each raw load and on the marts.

`check_raw` and `check_marts` (in `quality.checkpoints`) build the rules for a run
(`quality.suites`), validate them with an ephemeral great-expectations context on the
warehouse (`quality.runner`), store every result in the `quality` schema (`quality.store`)
and raise `QualityCheckFailed` (`quality.errors`) when a critical expectation fails.

Importing this package is cheap on purpose: great_expectations (about 8 s to import) is
imported only when a checkpoint actually runs, so DAG parsing never pays for it.
"""

from __future__ import annotations

from quality.errors import QualityCheckFailed
from quality.summary import CheckpointSummary, ExpectationOutcome, RunContext

__all__ = ["CheckpointSummary", "ExpectationOutcome", "QualityCheckFailed", "RunContext"]
