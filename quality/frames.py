"""A checkpoint's assets as frames, for warehouses great-expectations has no SQL data source
for here (Snowflake: its SQLAlchemy dialect is not installed): each asset's columns that its
rules name are read through the warehouse seam and validated as pandas frames.

Rules that are SQL themselves (`UnexpectedRowsExpectation`, a query of violating rows) run
in the warehouse instead, as a count: no frame can answer them.
"""

from __future__ import annotations

import polars as pl

from quality.suites import AssetSpec, Rule
from warehouse.seam import Warehouse

SQL_RULES = ("UnexpectedRowsExpectation",)


def asset_sql(spec: AssetSpec) -> str:
    """The asset as a query (names and conditions from quality.suites, never input)."""
    return spec.query or f"select * from {spec.schema}.{spec.table}"  # noqa: S608


def columns(spec: AssetSpec) -> list[str]:
    """The columns the frame rules of `spec` name, in first-use order."""
    names: list[str] = []
    for rule in spec.rules:
        if rule.expectation in SQL_RULES:
            continue
        for name in [rule.kwargs.get("column"), *rule.kwargs.get("column_list", [])]:
            if name and name not in names:
                names.append(name)
    return names


def read_asset(data: Warehouse, spec: AssetSpec) -> pl.DataFrame:
    """The asset's rows, only the columns its rules need (one constant column when they
    need none: the row count still counts)."""
    selected = ", ".join(columns(spec)) or "1 as asset_row"
    return data.read_sql(f"select {selected} from ({asset_sql(spec)}) as asset", None)  # noqa: S608


def unexpected_rows(data: Warehouse, spec: AssetSpec, rule: Rule) -> int:
    """How many rows of the asset the rule's query of violating rows returns."""
    query = str(rule.kwargs["unexpected_rows_query"]).replace(
        "{batch}", f"({asset_sql(spec)}) as batch"
    )
    counted = data.read_sql(f"select count(*) as n from ({query}) as violations", None)  # noqa: S608
    return int(counted.item())
