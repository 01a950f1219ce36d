"""Generate a synthetic world and land it in `raw.synthetic_*`.

The synthetic world is a simulation, not an incremental feed: its plays depend on the whole
window (a different end date simulates a different history). So it is a snapshot source:
each run's world replaces the previous one in every raw.synthetic_* table, keyed by the
run's logical date. A rerun for the same date and parameters reproduces it exactly, and
worlds of different runs never mix.

In Airflow this is two steps: `land_world` writes the generated frames to the landing zone,
`load_landed_world` copies them into raw. `python -m extract.synthetic_load --users 200
--tracks 2000 --days 90` does both without Airflow.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import polars as pl
import psycopg

from extract.synthetic import SyntheticConfig, SyntheticWorld, generate_world
from observability.logs import configure_logging, print_failure
from observability.progress import progress
from warehouse.landing import land_frames, read_landed
from warehouse.raw_tables import (
    SYNTHETIC_ARTISTS,
    SYNTHETIC_PLAYS,
    SYNTHETIC_TRACKS,
    SYNTHETIC_USERS,
)
from warehouse.seam import load_batch

SOURCE = "synthetic"


TABLES = (SYNTHETIC_USERS, SYNTHETIC_ARTISTS, SYNTHETIC_TRACKS, SYNTHETIC_PLAYS)


def world_frames(world: SyntheticWorld) -> dict[str, pl.DataFrame]:
    """The world's frames keyed by the raw table each one lands in."""
    return {
        SYNTHETIC_USERS.name: world.users,
        SYNTHETIC_ARTISTS.name: world.artists,
        SYNTHETIC_TRACKS.name: world.tracks,
        SYNTHETIC_PLAYS.name: world.plays,
    }


def load_frames(
    conn: psycopg.Connection, frames: dict[str, pl.DataFrame], *, logical_date: dt.date
) -> dict[str, int]:
    """Load the world's frames, replacing the previous world; rows loaded per table."""
    return {
        table.name: load_batch(
            conn,
            frames[table.name],
            table,
            source=SOURCE,
            logical_date=logical_date,
            replace="source",
        ).rows_loaded
        for table in TABLES
    }


def load_world(
    conn: psycopg.Connection, world: SyntheticWorld, *, logical_date: dt.date
) -> dict[str, int]:
    return load_frames(conn, world_frames(world), logical_date=logical_date)


def generate_with_progress(config: SyntheticConfig) -> SyntheticWorld:
    """`generate_world`, showing its progress: the per-user stage advances the count (the
    other stages are vectorised and only rename the step)."""
    with progress("synthetic world", total=config.n_users, unit="users") as bar:

        def report(stage: str, done: int, total: int) -> None:
            if stage == "discoveries":
                bar.update(description="synthetic world: discoveries")
                bar.advance(done - bar.done)
            else:
                bar.update(description=f"synthetic world: {stage}")

        world = generate_world(config, progress=report)
        bar.update(description="synthetic world")
        return world


def land_world(config: SyntheticConfig) -> str:
    """Generate the world and write it to the landing zone; returns the folder."""
    world = generate_with_progress(config)
    return str(land_frames(SOURCE, config.end_date, world_frames(world)))


def load_landed_world(
    conn: psycopg.Connection, folder: str, *, logical_date: dt.date
) -> dict[str, int]:
    """COPY a landed world into raw.synthetic_*."""
    return load_frames(conn, read_landed(Path(folder)), logical_date=logical_date)


def generate_and_load(conn: psycopg.Connection, config: SyntheticConfig) -> dict[str, int]:
    """Generate the world for `config` and load it; the snapshot date is the window's end."""
    world = generate_with_progress(config)
    return load_world(conn, world, logical_date=config.end_date)


def main() -> int:
    from warehouse import connections
    from warehouse.bootstrap import bootstrap
    from warehouse.embedded import WarehouseError

    configure_logging()
    parser = argparse.ArgumentParser(
        prog="python -m extract.synthetic_load", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--tracks", type=int, default=10000)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--end-date",
        type=dt.date.fromisoformat,
        default=dt.datetime.now(dt.UTC).date(),
        help="exclusive end of the simulated window (default: today, UTC)",
    )
    args = parser.parse_args()
    config = SyntheticConfig(
        seed=args.seed,
        n_users=args.users,
        n_tracks=args.tracks,
        days=args.days,
        end_date=args.end_date,
    )
    try:
        connections.ensure_warehouse()
        with connections.connect() as conn:
            bootstrap(conn)
            counts = generate_and_load(conn, config)
    except (WarehouseError, psycopg.OperationalError) as error:  # no warehouse: what to run
        print_failure(error)
        return 2
    for table, rows in counts.items():
        print(f"raw.{table}: {rows:,} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
