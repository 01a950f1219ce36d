"""Sharded scoring (`encore_recommend`'s mapped `score_shard`): the shards together write
exactly what one unsharded scoring writes, a shard rerun replaces only its own rows, and the
model's drift reference is recorded once: the same whether profiled from the rows an
unsharded scoring reads or read apart by shard 0.

Runs on test_ml_pipeline's generated marts and model, in this module's own database.
"""

from __future__ import annotations

import psycopg
import pytest

from ml.score import score
from tests.integration.test_ml_pipeline import marts, ml_url, trained  # noqa: F401 (fixtures)

pytestmark = pytest.mark.integration

SHARDS = 3
ROWS = (
    "select user_id, track_key, candidate_source, score, reason, reason_features::text"
    " from ml.scores where model_version = %s order by user_id, track_key"
)

PROFILE = "select as_of, rows, profile from ml.feature_profiles where model_version = %s"


def _rows(conn: psycopg.Connection, version: str) -> list[tuple]:
    return conn.execute(ROWS, [version]).fetchall()


def test_three_shards_write_exactly_the_unsharded_scores(ml_url, trained) -> None:  # noqa: F811
    run, artifacts = trained
    version = run.model_version
    with psycopg.connect(ml_url, autocommit=True) as conn:  # score() opens its transactions
        total = score(conn, model_version=version, artifacts_dir=artifacts)
        unsharded = _rows(conn, version)
        streamed = conn.execute(PROFILE, [version]).fetchone()  # from the rows scored
        conn.execute("delete from ml.scores where model_version = %s", [version])
        conn.execute("delete from ml.feature_profiles where model_version = %s", [version])

        per_shard = [
            score(conn, model_version=version, artifacts_dir=artifacts, shard=shard, shards=SHARDS)
            for shard in range(SHARDS)
        ]
        sharded = _rows(conn, version)
        users = conn.execute(
            "select mod(abs(hashtext(user_id)::bigint), %s), count(distinct user_id)"
            " from ml.scores where model_version = %s group by 1 order by 1",
            [SHARDS, version],
        ).fetchall()
        profiles = conn.execute(
            "select count(*) from ml.feature_profiles where model_version = %s", [version]
        ).fetchone()[0]
        read_apart = conn.execute(PROFILE, [version]).fetchone()  # shard 0 read the mart

        # A shard rerun replaces its own rows only: same rows, the others untouched.
        before = conn.execute(
            "select mod(abs(hashtext(user_id)::bigint), %s), count(*),"
            " min(scored_at), max(scored_at) from ml.scores"
            " where model_version = %s group by 1 order by 1",
            [SHARDS, version],
        ).fetchall()
        assert (
            score(conn, model_version=version, artifacts_dir=artifacts, shard=1, shards=SHARDS)
            == per_shard[1]
        )
        after = conn.execute(
            "select mod(abs(hashtext(user_id)::bigint), %s), count(*),"
            " min(scored_at), max(scored_at) from ml.scores"
            " where model_version = %s group by 1 order by 1",
            [SHARDS, version],
        ).fetchall()
        rerun = _rows(conn, version)

    assert sum(per_shard) == total == len(unsharded) > 0
    assert all(rows > 0 for rows in per_shard), per_shard
    assert [shard for shard, _ in users] == list(range(SHARDS))
    assert sharded == unsharded  # user, track, source, score, reason: the same rows exactly
    assert sum(1 for row in sharded if row[4]) > 0  # reasons were written per shard
    assert profiles == 1
    assert streamed == read_apart and streamed[1] == total  # the same drift reference
    assert rerun == unsharded
    assert [row[:2] for row in after] == [row[:2] for row in before]
    assert after[0][2:] == before[0][2:] and after[2][2:] == before[2][2:]
    assert after[1][2] > before[1][3]  # shard 1's rows are new ones


def test_a_shard_outside_the_range_is_refused(ml_url, trained) -> None:  # noqa: F811
    run, artifacts = trained
    with psycopg.connect(ml_url) as conn, pytest.raises(ValueError, match="shard must be"):
        score(conn, model_version=run.model_version, artifacts_dir=artifacts, shard=3, shards=3)
