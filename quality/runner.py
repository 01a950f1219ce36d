"""Run a checkpoint with great-expectations 1.x and flatten its result.

The context is ephemeral (nothing written to disk, no YAML): the rules live in
`quality.suites` and the results in the warehouse, so a great_expectations/ folder would
only be a second, drifting copy. This is the one module that imports great_expectations,
and it does so inside functions (the import costs about 8 s).
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from config import set_process_env, tool_env
from quality import frames
from quality.suites import AssetSpec, Rule
from quality.summary import CheckpointSummary, ExpectationOutcome, RunContext
from warehouse.seam import Warehouse

if TYPE_CHECKING:  # great_expectations itself is imported inside functions
    from great_expectations.datasource.fluent.sql_datasource import QueryAsset, TableAsset

log = logging.getLogger(__name__)
EXAMPLES = 5  # unexpected values kept per expectation


def sqlalchemy_url(url: str, search_path: str | None = None) -> str:
    """The warehouse URL for SQLAlchemy with psycopg 3 (the project's driver), with
    `search_path` as the sessions' schema when given."""
    for prefix in ("postgresql+psycopg2://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            url = "postgresql+psycopg://" + url.removeprefix(prefix)
            break
    if search_path is None:
        return url
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query), ("options", f"-csearch_path={search_path}")]
    return urlunsplit(parts._replace(query=urlencode(query)))


def run_checkpoint(
    url: str,
    name: str,
    specs: Sequence[AssetSpec],
    *,
    logical_date: dt.date,
    context: RunContext | None = None,
    read_from: Warehouse | None = None,
) -> CheckpointSummary:
    """Validate every spec in one great-expectations checkpoint; return the summary. With
    `read_from`, the assets are read from that warehouse as frames (quality.frames) instead of
    queried through great-expectations' PostgreSQL data source on `url`."""
    outcomes: list[ExpectationOutcome] = []
    if specs:
        _import_great_expectations()  # timed on its own: the run's time is the validation
    started_at = dt.datetime.now(dt.UTC)
    if specs:
        if read_from is None:
            outcomes = _validate(url, name, specs)
        else:
            outcomes = _validate_frames(read_from, specs)
    return CheckpointSummary(
        run_id=uuid.uuid4(),
        checkpoint=name,
        logical_date=logical_date,
        started_at=started_at,
        finished_at=dt.datetime.now(dt.UTC),
        outcomes=tuple(outcomes),
        context=context or RunContext(),
    )


def _import_great_expectations() -> None:
    if "great_expectations" in sys.modules:
        return
    if tool_env("GX_ANALYTICS_ENABLED") is None:
        set_process_env({"GX_ANALYTICS_ENABLED": "false"})  # offline; no telemetry
    started = time.perf_counter()
    import great_expectations  # noqa: F401

    log.info("imported great_expectations in %.1f s", time.perf_counter() - started)


def _validate(url: str, name: str, specs: Sequence[AssetSpec]) -> list[ExpectationOutcome]:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    # One data source per schema, the schema on its connection (great-expectations
    # deprecates a table asset's own `schema_name`); query assets name their schemas.
    sources: dict[str | None, Any] = {}

    def source_for(schema: str | None) -> Any:
        if schema not in sources:
            sources[schema] = context.data_sources.add_postgres(
                name=f"warehouse_{schema or 'queries'}",
                connection_string=sqlalchemy_url(url, search_path=schema),
            )
        return sources[schema]

    definitions = []
    rules_by_asset: dict[str, tuple[Rule, ...]] = {}
    for spec in specs:
        asset: QueryAsset | TableAsset
        if spec.query is not None:
            asset = source_for(None).add_query_asset(name=spec.name, query=spec.query)
        else:
            assert spec.table is not None  # an AssetSpec has a table or a query
            asset = source_for(spec.schema).add_table_asset(name=spec.name, table_name=spec.table)
        batch = asset.add_batch_definition_whole_table(f"{spec.name} (whole)")
        suite = context.suites.add(gx.ExpectationSuite(name=spec.name))
        for position, rule in enumerate(spec.rules):
            expectation_type = getattr(gx.expectations, rule.expectation)
            suite.add_expectation(
                expectation_type(**rule.kwargs, severity=rule.severity, meta={"rule": position})
            )
        definitions.append(
            context.validation_definitions.add(
                gx.ValidationDefinition(name=spec.name, data=batch, suite=suite)
            )
        )
        rules_by_asset[spec.name] = spec.rules
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name=name,
            validation_definitions=definitions,
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": EXAMPLES},
        )
    )
    result = checkpoint.run()

    # Report in the order the rules are declared (GE groups them by metric instead).
    order = {spec.name: index for index, spec in enumerate(specs)}
    ranked: list[tuple[tuple[int, int], ExpectationOutcome]] = []
    for validation in result.run_results.values():
        asset_name = validation.suite_name
        rules = rules_by_asset[asset_name]
        for expectation in validation.results:
            configuration = expectation.expectation_config
            assert configuration is not None  # set on the results of a suite's expectations
            position = int(configuration.meta["rule"])
            ranked.append(
                (
                    (order[asset_name], position),
                    _outcome(
                        asset_name,
                        rules[position],
                        expectation.success,
                        expectation.result or {},
                        expectation.exception_info,
                    ),
                )
            )
    return [outcome for _, outcome in sorted(ranked, key=lambda item: item[0])]


def _validate_frames(data: Warehouse, specs: Sequence[AssetSpec]) -> list[ExpectationOutcome]:
    """Each asset read as a frame through the seam and validated by great-expectations'
    pandas data source; SQL rules counted in the warehouse (quality.frames)."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas(name="frames")
    outcomes: list[ExpectationOutcome] = []
    for spec in specs:
        batch = source.add_dataframe_asset(name=spec.name).add_batch_definition_whole_dataframe(
            f"{spec.name} (whole)"
        )
        suite = context.suites.add(gx.ExpectationSuite(name=spec.name))
        for position, rule in enumerate(spec.rules):
            if rule.expectation in frames.SQL_RULES:
                continue
            expectation_type = getattr(gx.expectations, rule.expectation)
            suite.add_expectation(
                expectation_type(**rule.kwargs, severity=rule.severity, meta={"rule": position})
            )
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name=spec.name, data=batch, suite=suite)
        )
        results: dict[int, ExpectationOutcome] = {}
        validation = definition.run(
            batch_parameters={"dataframe": frames.read_asset(data, spec).to_pandas()},
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": EXAMPLES},
        )
        for expectation in validation.results:
            configuration = expectation.expectation_config
            assert configuration is not None  # set on the results of a suite's expectations
            position = int(configuration.meta["rule"])
            results[position] = _outcome(
                spec.name,
                spec.rules[position],
                expectation.success,
                expectation.result or {},
                expectation.exception_info,
            )
        for position, rule in enumerate(spec.rules):
            if rule.expectation in frames.SQL_RULES:
                violations = frames.unexpected_rows(data, spec, rule)
                results[position] = _outcome(
                    spec.name, rule, violations == 0, {"observed_value": violations}, None
                )
        outcomes += [results[position] for position in sorted(results)]
    return outcomes


def _outcome(
    asset: str, rule: Rule, success: bool | None, result: dict[str, Any], exception_info: Any
) -> ExpectationOutcome:
    error = _error(exception_info)
    observed = result.get("observed_value")
    unexpected = result.get("unexpected_count")
    if rule.expectation == "UnexpectedRowsExpectation" and unexpected is None:
        unexpected = observed  # its observed value is the count of violating rows
    return ExpectationOutcome(
        asset=asset,
        expectation_type=_snake(rule.expectation),
        column=rule.column,
        kwargs=dict(rule.kwargs),
        severity=rule.severity,
        success=bool(success) and error is None,
        expected=rule.expected,
        observed=observed if observed is not None else _observed_share(result),
        unexpected_count=None if unexpected is None else int(unexpected),
        unexpected_percent=result.get("unexpected_percent"),
        examples=list(result.get("partial_unexpected_list") or [])[:EXAMPLES],
        error=error,
    )


def _observed_share(result: dict[str, Any]) -> str | None:
    """Column-map expectations have no observed value: show the unexpected share instead."""
    if result.get("unexpected_count") is None:
        return None
    return f"{result['unexpected_count']}/{result.get('element_count')} rows"


def _error(exception_info: Any) -> str | None:
    """The message of an exception great-expectations caught while evaluating, if any."""
    if not isinstance(exception_info, dict):
        return None
    infos = (
        [exception_info]
        if "raised_exception" in exception_info
        else [info for info in exception_info.values() if isinstance(info, dict)]
    )
    for info in infos:
        if info.get("raised_exception"):
            return str(info.get("exception_message") or "exception while evaluating")[:500]
    return None


def _snake(class_name: str) -> str:
    """`ExpectColumnValuesToBeUnique` -> `expect_column_values_to_be_unique` (GE's type)."""
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in class_name).lstrip("_")
