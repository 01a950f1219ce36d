"""Encore ingest: every source -> the landing zone (Parquet) -> `raw.*`, checked.

Daily (`@daily`, no catchup, one run at a time). Per source, a task group lands then loads:

- `synthetic`: Faker listeners (on by default; params `users`, `tracks`, `days`, `seed`,
  `synthetic`);
- `files`: listening-history exports and the Kaggle tracks CSV (params `exports_path` /
  `kaggle_csv`, or `ENCORE_EXPORTS_PATH` / `KAGGLE_TRACKS_CSV`);
- `lastfm`: one mapped task per user of `LASTFM_USERS` (needs `LASTFM_API_KEY`), one user at
  a time since the rate limit is per key;
- `spotify`: after the play sources, since it looks up what they loaded
  (`SPOTIFY_CLIENT_ID`/`_SECRET`, `SPOTIFY_REFRESH_TOKEN` for recently-played).

A source without its keys or files logs one line and loads nothing; the others go on. Every
load replaces its own batch (by source, or by source and logical date), so rerunning or
backfilling a date never duplicates rows. `check_raw_loads` (great-expectations,
docs/data_quality.md) then checks every raw batch of the run's date and, on success, updates
the asset `encore://warehouse/raw`, which triggers `encore_transform`.

A failed task logs one summary line (dag, task, run, try, error, what to do next) and retries
with exponential backoff; a failed checkpoint fails at once. Each task is a thin call into
`warehouse/` or `extract/`, which run without Airflow too (`make ingest SOURCE=...`).
"""

from __future__ import annotations

import logging
from pathlib import Path

from airflow.sdk import Param, TaskGroup, dag, task
from encore_common import DAG_KWARGS, RAW, documented, quality_checkpoint, run_date

from config import get_settings

log = logging.getLogger(__name__)


@dag(
    dag_id="encore_ingest",
    schedule="@daily",
    doc_md=__doc__,
    **DAG_KWARGS,
    params={
        "users": Param(2000, type="integer", minimum=1, description="synthetic listeners"),
        "tracks": Param(10000, type="integer", minimum=10, description="catalogue size"),
        "days": Param(120, type="integer", minimum=1, description="days of history"),
        "seed": Param(42, type="integer", description="generator seed (same seed, same data)"),
        "synthetic": Param(True, type="boolean", description="generate synthetic listeners"),
        "exports_path": Param(
            "", type="string", description="file, folder or zip of listening-history exports"
        ),
        "kaggle_csv": Param("", type="string", description="Kaggle Spotify tracks CSV"),
        "quality_row_bounds": Param(
            True,
            type="boolean",
            description="compare row counts with the previous "
            "successful check (turn off once after a "
            "deliberate change of data size)",
        ),
    },
)
def encore_ingest() -> None:
    @task
    def prepare_warehouse() -> None:
        """Start the embedded warehouse if it is the one in use, and create raw/ml/serving
        (and, on the Snowflake target, the Snowflake database's own tables)."""
        from warehouse import connections, seam
        from warehouse.bootstrap import bootstrap

        connections.ensure_warehouse()
        with connections.connect() as conn:
            bootstrap(conn)
            seam.data(conn).prepare()

    @task
    def generate_synthetic_listeners(params: dict | None = None) -> str | None:
        """Generate the synthetic world for the run's date into the landing zone (Parquet)."""
        from extract.synthetic import SyntheticConfig
        from extract.synthetic_load import land_world

        assert params is not None
        if not params["synthetic"]:
            log.info("synthetic source skipped: param synthetic is false")
            return None
        config = SyntheticConfig(
            seed=params["seed"],
            n_users=params["users"],
            n_tracks=params["tracks"],
            days=params["days"],
            end_date=run_date(),
        )
        return land_world(config)

    @task
    def load_raw(landed: str | None) -> dict[str, int]:
        """COPY the landed world into raw.synthetic_*, replacing the previous world."""
        from extract.synthetic_load import load_landed_world
        from warehouse import connections

        if landed is None:
            return {}
        with connections.connect() as conn:
            return load_landed_world(conn, landed, logical_date=run_date())

    @task
    def land_files(params: dict | None = None) -> dict[str, str]:
        """Parse listening-history exports and the Kaggle CSV into the landing zone."""
        from extract.files import kaggle_configured, land_import, land_kaggle, parse_path

        assert params is not None
        landed: dict[str, str] = {}
        exports = params["exports_path"] or get_settings().encore_exports_path
        if exports:
            landed |= land_import(parse_path(Path(exports)), run_date())
        else:
            log.info("export files skipped: no exports_path param or ENCORE_EXPORTS_PATH")
        if params["kaggle_csv"] or kaggle_configured():
            csv = Path(params["kaggle_csv"]) if params["kaggle_csv"] else None
            landed |= land_kaggle(csv, run_date())
        else:
            log.info(
                "Kaggle tracks skipped: no kaggle_csv param, KAGGLE_TRACKS_CSV or "
                "KAGGLE_USERNAME/KAGGLE_KEY"
            )
        return landed

    @task
    def load_files(landed: dict[str, str]) -> dict[str, int]:
        """COPY each landed file source into its raw table (one batch per source)."""
        from extract.files import load_landed
        from warehouse import connections

        with connections.connect() as conn:
            return {
                source: load_landed(conn, source, folder, logical_date=run_date()).rows_loaded
                for source, folder in landed.items()
            }

    @task
    def lastfm_users() -> list[str]:
        """The Last.fm users to fetch ([] and one log line without LASTFM_API_KEY)."""
        from extract.lastfm import lastfm_users as configured_users

        return configured_users()

    # Last.fm's rate limit is per API key: one user at a time.
    @task(max_active_tis_per_dagrun=1, retries=3)
    def extract_lastfm_user(user: str) -> str | None:
        """Fetch one user's scrobbles since their watermark into the landing zone (mapped:
        one task instance per user, one at a time)."""
        from extract.lastfm import extract_user

        folder = extract_user(user, run_date())
        return str(folder) if folder else None

    @task(trigger_rule="none_failed")
    def load_lastfm(folders: list[str | None] | None) -> dict[str, int]:
        """Fetch metadata for the new tracks, then COPY all users' scrobbles in one batch."""
        from extract.lastfm import extract_track_info, load_landed
        from warehouse import connections

        landed = [Path(folder) for folder in folders or [] if folder]
        if not landed:
            log.info("Last.fm source skipped: nothing landed")
            return {}
        if info := extract_track_info(run_date(), landed):
            landed.append(info)
        with connections.connect() as conn:
            return load_landed(conn, landed, run_date())

    @task(retries=2, retry_delay=300)
    def extract_spotify() -> str | None:
        """Fetch Spotify metadata for the tracks and artists the plays mention (and the
        recently-played of an authorized user) into the landing zone."""
        from extract.spotify import land_spotify
        from warehouse import connections

        with connections.connect() as conn:
            folder = land_spotify(conn, run_date())
        return str(folder) if folder else None

    @task
    def load_spotify(folder: str | None) -> dict[str, int]:
        """COPY the landed Spotify answers into raw.spotify_*."""
        from extract.spotify import load_landed_spotify
        from warehouse import connections

        with connections.connect() as conn:
            return load_landed_spotify(conn, folder, logical_date=run_date())

    @task(outlets=[RAW])
    def check_raw_loads(loaded: list[dict[str, int]], params: dict | None = None) -> int:
        """Checkpoint `raw`: every raw table that received a batch for the run's date (and
        every table a load reported) has keys, sane timestamps and a plausible row count.
        On success the RAW asset is updated, which triggers `encore_transform`."""
        assert params is not None
        reported = {table for counts in loaded for table, rows in (counts or {}).items() if rows}
        return quality_checkpoint("raw", params, expected_tables=sorted(reported))

    # Tasks called with other tasks' outputs (XComArgs, resolved when they run): Airflow types
    # such a call with the function's own parameters (apache/airflow#39514), hence the ignores.
    prepared = prepare_warehouse()
    with TaskGroup("synthetic", tooltip="Faker listeners: generate, then load"):
        synthetic = generate_synthetic_listeners()
        synthetic_loaded = load_raw(synthetic)  # type: ignore[arg-type]
    with TaskGroup("files", tooltip="listening-history exports and the Kaggle tracks CSV"):
        files = land_files()
        files_loaded = load_files(files)  # type: ignore[arg-type]
    with TaskGroup("lastfm", tooltip="Last.fm scrobbles, one mapped task per user"):
        users = lastfm_users()
        fetched = extract_lastfm_user.expand(user=users)
        lastfm_loaded = load_lastfm(documented(fetched, extract_lastfm_user))
    prepared >> [synthetic, files, users]
    with TaskGroup("spotify", tooltip="Spotify lookups of what the play sources loaded"):
        spotify_folder = extract_spotify()
        spotify_loaded = load_spotify(spotify_folder)  # type: ignore[arg-type]
    # Spotify's plan reads the plays the other sources loaded (ids and names to look up).
    [files_loaded, lastfm_loaded] >> spotify_folder
    check_raw_loads([synthetic_loaded, files_loaded, lastfm_loaded, spotify_loaded])  # type: ignore[list-item]


encore_ingest()
