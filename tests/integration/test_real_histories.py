"""Real listening histories through the whole pipeline, in Airflow.

The 10 real Last.fm users of ../shared/data/listens/raw (~190k scrobbles, 2006-2026, in
their exporters' own layouts) and the real Kaggle tracks sample run through one
`airflow dags test` of each DAG (ingest, transform, recommend) with synthetic data switched
off: import, load, dbt build, train, score, publish. Skips where the shared data is absent.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import psycopg
import pytest

from config import subprocess_env
from warehouse.connections import dbt_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def real_run(module_warehouse_url: str, airflow_home: Path, shared_data: Path) -> str:
    conf = {"synthetic": False, "validation_days": 90,
            "exports_path": str(shared_data / "listens" / "raw"),
            "kaggle_csv": str(shared_data / "kaggle_spotify_tracks.csv")}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WAREHOUSE_URL", module_warehouse_url)
        env = subprocess_env(dbt_env())
    for dag_id in ("encore_ingest", "encore_transform", "encore_recommend"):
        result = subprocess.run(
            ["airflow", "dags", "test", dag_id, "2026-03-01", "--conf", json.dumps(conf)],
            capture_output=True, text=True, env=env, timeout=1500,
        )
        assert result.returncode == 0, (dag_id, (result.stdout + result.stderr)[-6000:])
    return module_warehouse_url


def test_every_real_scrobble_is_loaded_or_quarantined(real_run: str) -> None:
    with psycopg.connect(real_run) as conn:
        loaded = conn.execute("select count(*), count(distinct user_name) from "
                              "raw.lastfm_scrobbles where _source = 'lastfm_export'").fetchone()
        rejected = conn.execute("select count(*) from raw_rejected.rows "
                                "where _source = 'lastfm_export'").fetchone()[0]
        kaggle = conn.execute("select count(*) from raw.kaggle_tracks").fetchone()[0]
    # PROVENANCE.md: 191,884 rows in the 10 raw files.
    assert (loaded[0] + rejected, loaded[1]) == (191_884, 10)
    assert kaggle == 10_000


def test_real_plays_reach_the_marts_and_the_model(real_run: str) -> None:
    with psycopg.connect(real_run) as conn:
        users, plays = conn.execute(
            "select count(distinct user_id), count(*) from marts.fct_plays").fetchone()
        labelled, positives = conn.execute(
            "select count(repeat_30d), sum(repeat_30d) from marts.fct_first_plays").fetchone()
        run = conn.execute(
            "select auc, baseline_auc, user_auc, baseline_user_auc, valid_rows "
            "from ml.model_runs where status = 'succeeded'").fetchall()
        match = conn.execute("select * from marts.rpt_track_match_rates").fetchall()
        recs = conn.execute("select count(distinct user_id), count(*) "
                            "from serving.user_recommendations").fetchone()
    assert users == 10 and plays > 150_000
    assert labelled > 50_000 and 0 < positives < labelled
    assert len(run) == 1 and run[0][4] > 1000
    assert match, "match rates per source are reported"
    assert recs[1] == 20 * recs[0]
    print(f"\nreal histories: {plays:,} plays, positive rate {positives / labelled:.3f}, "
          f"AUC {run[0][0]:.4f} vs baseline {run[0][1]:.4f}, per-user AUC {run[0][2]:.4f} vs "
          f"{run[0][3]:.4f}; match rates {match}")
