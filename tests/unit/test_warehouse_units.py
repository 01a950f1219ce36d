"""Warehouse pieces that need no server: frame conformance, CSV encoding, connection URLs."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from warehouse import connections
from warehouse.loader import SchemaMismatch, conform
from warehouse.postgres_io import csv_bytes
from warehouse.raw_tables import RAW_TABLES, SYNTHETIC_PLAYS


def test_conform_orders_columns_and_casts_losslessly() -> None:
    frame = pl.DataFrame(
        {
            "ms_played": [30_000],  # Int64 -> Int32
            "played_at": [dt.datetime(2026, 1, 1, tzinfo=dt.UTC)],
            "track_id": ["t"],
            "user_id": ["u"],
        }
    )
    out = conform(frame, SYNTHETIC_PLAYS)
    assert out.columns == SYNTHETIC_PLAYS.column_names
    assert out.schema["ms_played"] == pl.Int32


def test_conform_refuses_lossy_casts() -> None:
    frame = pl.DataFrame(
        {
            "user_id": ["u"],
            "track_id": ["t"],
            "played_at": [dt.datetime(2026, 1, 1, tzinfo=dt.UTC)],
            "ms_played": [2**40],
        }
    )
    with pytest.raises(SchemaMismatch):
        conform(frame, SYNTHETIC_PLAYS)


def test_csv_keeps_null_apart_from_empty_and_backslash_n() -> None:
    frame = pl.DataFrame({"a": ["", None, "\\N", 'say "hi"']})
    assert csv_bytes(frame).decode().splitlines() == ['""', "", '"\\N"', '"say ""hi"""']


def test_every_raw_table_declares_known_types() -> None:
    for table in RAW_TABLES.values():
        assert table.polars_schema  # raises KeyError on an unknown PostgreSQL type
        assert len(set(table.column_names)) == len(table.column_names)


def test_urls_are_redacted_and_split_for_dbt(monkeypatch) -> None:
    monkeypatch.setenv("WAREHOUSE_URL", "postgresql://etl:s3cr%40t@db.internal:6543/dwh")
    assert connections.redacted(connections.warehouse_url()) == (
        "postgresql://etl:***@db.internal:6543/dwh"
    )
    env = connections.dbt_env()
    assert (
        env["ENCORE_PG_HOST"],
        env["ENCORE_PG_PORT"],
        env["ENCORE_PG_USER"],
        env["ENCORE_PG_PASSWORD"],
        env["ENCORE_PG_DATABASE"],
    ) == ("db.internal", "6543", "etl", "s3cr@t", "dwh")


def test_embedded_url_is_used_without_warehouse_url(monkeypatch) -> None:
    monkeypatch.delenv("WAREHOUSE_URL", raising=False)
    monkeypatch.setenv("ENCORE_PG_PORT", "55999")
    assert connections.uses_embedded()
    assert connections.warehouse_url() == "postgresql://encore@127.0.0.1:55999/encore"


def test_embedded_port_is_remembered_by_the_cluster(tmp_path, monkeypatch) -> None:
    from warehouse.embedded import embedded_port

    monkeypatch.delenv("ENCORE_PG_PORT", raising=False)
    (tmp_path / "postgresql.conf").write_text("#port = 5432\nport = 5432\nport = 55461  # x\n")
    assert embedded_port(tmp_path) == 55461
    monkeypatch.setenv("ENCORE_PG_PORT", "55999")
    assert embedded_port(tmp_path) == 55999


def test_a_new_cluster_skips_taken_ports(tmp_path, monkeypatch) -> None:
    import socket

    from warehouse.embedded import DEFAULT_PORT, embedded_port

    monkeypatch.delenv("ENCORE_PG_PORT", raising=False)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setattr("warehouse.embedded.DEFAULT_PORT", port)
        assert embedded_port(tmp_path / "new") == port + 1
    assert DEFAULT_PORT == 55432
