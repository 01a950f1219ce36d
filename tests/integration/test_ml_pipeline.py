"""train → score → publish against a real PostgreSQL, on generated but learnable feature marts.

The marts are real tables in a throwaway database of the test server (created, bootstrapped
and dropped by this module), so the session database that the dbt and full-pipeline tests
build their own `marts` in is never touched.

The data hides a signal the baseline cannot see: the label depends on the track's quality
(which `track_prior_repeat_rate` estimates, noisily), the user's affinity for the artist and
the genre, and a per-user effect. A model using all features must beat the baseline.
"""

from __future__ import annotations

import io
import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import psycopg
import pytest
from psycopg import sql

from config import get_settings
from ml.features import CATEGORICAL_FEATURES, NUMERIC_FEATURES
from ml.list_model import HISTORY_FEATURES
from ml.publish import publish
from ml.score import score
from ml.train import BLEND_WEIGHTS, train

pytestmark = pytest.mark.integration

N_USERS = 40
FIRST_PLAYS_PER_USER = 150
CANDIDATES_PER_USER = 30
N_TRACKS = 400
GENRES = ["rock", "pop", "jazz", "hip hop", "techno", "folk"]
TOP_N = 20

_INT_FEATURES = {"hour_of_day", "day_of_week", "session_position", "duration_ms"}
_BIGINT_FEATURES = {
    "user_prior_plays",
    "user_prior_tracks",
    "user_prior_labelled_pairs",
    "track_prior_plays",
    "track_prior_listeners",
    "track_plays_7d",
    "track_plays_28d",
    "artist_prior_plays",
    "user_artist_prior_plays",
    "user_artist_prior_tracks",
}


def _pg_type(column: str) -> str:
    if column in CATEGORICAL_FEATURES:
        return "text"
    if column in _INT_FEATURES:
        return "integer"
    if column in _BIGINT_FEATURES:
        return "bigint"
    if column == "tempo":
        return "numeric"  # dbt may well produce numeric: the reader must cope
    return "double precision"


FEATURE_DDL = ", ".join(
    f"{name} {_pg_type(name)}" for name in (*NUMERIC_FEATURES, *CATEGORICAL_FEATURES)
)
# The candidates' own columns: the listener's history with the track (ml.list_model).
LIST_DDL = ", ".join(f"{name} double precision" for name in HISTORY_FEATURES)


# --------------------------------------------------------------------------- the database


@pytest.fixture(scope="module")
def ml_url(module_warehouse_url: str) -> str:
    """A bootstrapped database of this module's own (dbt's marts live elsewhere)."""
    return module_warehouse_url


@pytest.fixture(scope="module")
def marts(ml_url: str) -> dict[str, pl.DataFrame]:
    """Create and fill marts.fct_pair_features and marts.fct_candidate_features."""
    pairs, candidates = _generate(np.random.default_rng(11))
    with psycopg.connect(ml_url) as conn:
        conn.execute(
            "create table marts.fct_pair_features (user_id text not null, track_key text not null,"
            f" first_played_at timestamptz not null, repeat_30d integer, {FEATURE_DDL})"
        )
        conn.execute(
            "create table marts.fct_candidate_features (user_id text not null,"
            f" track_key text not null, candidate_source text not null,"
            f" candidate_sources text not null, as_of timestamptz, {FEATURE_DDL}, {LIST_DDL})"
        )
        conn.execute(
            "create table marts.fct_plays (user_id text, track_key text, played_at timestamptz)"
        )
        conn.execute(
            "create table marts.dim_tracks (track_key text, track_name text,"
            " artist_name text, genre text)"
        )
        _copy(conn, "fct_pair_features", pairs)
        history = {
            name: pl.Series(
                name, np.random.default_rng(12).poisson(2.0, candidates.height), dtype=pl.Float64
            )
            for name in HISTORY_FEATURES
        }
        _copy(
            conn,
            "fct_candidate_features",
            candidates.with_columns(
                as_of=pl.lit(AS_OF), candidate_sources=pl.col("candidate_source"), **history
            ),
        )
        # What publish reads besides the scores: recent plays (for reasons) and track names.
        listened = candidates.filter(pl.col("candidate_source") == "listened")
        plays = pl.concat(
            [
                listened.select(
                    "user_id", "track_key", played_at=pl.lit(AS_OF - timedelta(days=days))
                )
                for days in (2, 9)
            ]
        )
        _copy(conn, "fct_plays", plays)
        tracks = (
            candidates.select("track_key", "genre")
            .unique("track_key")
            .with_columns(
                track_name=pl.lit("Song ") + pl.col("track_key"), artist_name=pl.lit("Artist")
            )
        )
        _copy(conn, "dim_tracks", tracks.select("track_key", "track_name", "artist_name", "genre"))
    return {"pairs": pairs, "candidates": candidates}


@pytest.fixture
def ml_conn(ml_url: str, marts: dict[str, pl.DataFrame]) -> Iterator[psycopg.Connection]:
    with psycopg.connect(ml_url) as conn:
        yield conn


def _copy(conn: psycopg.Connection, table: str, frame: pl.DataFrame) -> None:
    buffer = io.BytesIO()
    frame.write_csv(buffer, include_header=False, datetime_format="%Y-%m-%dT%H:%M:%S%z")
    statement = sql.SQL("copy {}.{} ({}) from stdin (format csv)").format(
        sql.Identifier("marts"),
        sql.Identifier(table),
        sql.SQL(", ").join(map(sql.Identifier, frame.columns)),
    )
    with conn.cursor() as cur, cur.copy(statement) as copy:
        copy.write(buffer.getvalue())


# --------------------------------------------------------------------------- the data


AS_OF = datetime(2026, 1, 1, tzinfo=UTC)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _generate(rng: np.random.Generator) -> tuple[pl.DataFrame, pl.DataFrame]:
    track_quality = rng.normal(0.0, 1.0, N_TRACKS)
    track_genre = rng.integers(0, len(GENRES), N_TRACKS)
    user_effect = rng.normal(0.0, 0.6, N_USERS)
    user_fav_genre = rng.integers(0, len(GENRES), N_USERS)
    # Two cohorts whose histories are a year apart: the per-user split must serve both.
    user_start = [
        datetime(2024 if u % 2 else 2025, 1, 1, tzinfo=UTC) + timedelta(days=int(u))
        for u in range(N_USERS)
    ]
    countries = np.array(["US", "GB", "DE", "BR"])
    bands = np.array(["18-24", "25-34", "35-44", "45-54", "55+"])

    def features(users: np.ndarray, tracks: np.ndarray) -> dict[str, np.ndarray]:
        n = len(users)
        fav = track_genre[tracks] == user_fav_genre[users]
        genre_share = np.clip(np.where(fav, 0.45, 0.08) + rng.normal(0, 0.05, n), 0.0, 1.0)
        artist_plays = rng.poisson(np.where(fav, 6.0, 1.0) * rng.uniform(0.2, 1.5, n))
        track_rate = _sigmoid(-0.8 + 0.9 * track_quality[tracks] + rng.normal(0, 0.35, n))
        track_rate = np.where(rng.uniform(size=n) < 0.15, np.nan, track_rate)
        genre = np.array(GENRES, dtype=object)[track_genre[tracks]]
        genre = np.where(rng.uniform(size=n) < 0.05, None, genre)
        return {
            "user_prior_plays": rng.integers(0, 3000, n),
            "user_prior_tracks": rng.integers(0, 800, n),
            "user_prior_labelled_pairs": rng.integers(0, 400, n),
            "user_prior_repeat_rate": rng.uniform(0.1, 0.6, n),
            "user_hours_since_prev_play": rng.exponential(10.0, n),
            "track_prior_plays": rng.integers(0, 500, n),
            "track_prior_listeners": rng.integers(0, 60, n),
            "track_prior_repeat_rate": track_rate,
            "track_plays_7d": rng.integers(0, 30, n),
            "track_plays_28d": rng.integers(0, 120, n),
            "artist_prior_plays": rng.integers(0, 2000, n),
            "artist_prior_repeat_rate": rng.uniform(0.1, 0.6, n),
            "user_artist_prior_plays": artist_plays,
            "user_artist_prior_tracks": np.minimum(artist_plays, rng.integers(0, 6, n)),
            "user_artist_days_since_last_play": np.where(
                artist_plays > 0, rng.exponential(20.0, n), np.nan
            ),
            "user_genre_share": genre_share,
            "hour_of_day": rng.integers(0, 24, n),
            "day_of_week": rng.integers(0, 7, n),
            "session_position": rng.integers(0, 15, n),
            "session_minutes_elapsed": rng.uniform(0, 90, n),
            "duration_ms": rng.integers(90_000, 400_000, n),
            "danceability": rng.uniform(size=n),
            "energy": rng.uniform(size=n),
            "valence": rng.uniform(size=n),
            "acousticness": rng.uniform(size=n),
            "tempo": rng.uniform(60, 180, n).round(3),
            "genre": genre,
            "country": countries[users % len(countries)],
            "age_band": np.where(users % 7 == 0, None, bands[users % len(bands)].astype(object)),
        }

    # Labelled first plays over ~8 months per user; the last 25 days are censored (NULL).
    users = np.repeat(np.arange(N_USERS), FIRST_PLAYS_PER_USER)
    tracks = np.concatenate(
        [rng.choice(N_TRACKS, FIRST_PLAYS_PER_USER, replace=False) for _ in range(N_USERS)]
    )
    pair_features = features(users, tracks)
    logit = (
        -2.0
        + 0.9 * track_quality[tracks]
        + 0.7 * np.log1p(pair_features["user_artist_prior_plays"])
        + 3.0 * (pair_features["user_genre_share"] - 0.2)
        + user_effect[users]
    )
    label = (rng.uniform(size=len(users)) < _sigmoid(logit)).astype(np.int32)
    offsets = rng.uniform(0, 240, len(users))
    played_at = [
        user_start[u] + timedelta(days=float(d)) for u, d in zip(users, offsets, strict=True)
    ]
    censored = offsets > 215
    pairs = pl.DataFrame(
        {
            "user_id": [f"syn_u{u:05d}" for u in users],
            "track_key": [f"spotify:t{t:05d}" for t in tracks],
            "first_played_at": pl.Series(played_at, dtype=pl.Datetime("us", "UTC")),
            "repeat_30d": pl.Series(np.where(censored, None, label).tolist(), dtype=pl.Int32),
            **{k: _series(k, v) for k, v in pair_features.items()},
        }
    )

    # Candidates: some tracks outside the training catalogue, with a genre never seen.
    cand_users = np.repeat(np.arange(N_USERS), CANDIDATES_PER_USER)
    cand_tracks = np.concatenate(
        [rng.choice(N_TRACKS, CANDIDATES_PER_USER, replace=False) for _ in range(N_USERS)]
    )
    cand_features = features(cand_users, cand_tracks)
    cand_features["genre"] = np.where(
        rng.uniform(size=len(cand_users)) < 0.05, "polka", cand_features["genre"]
    )
    cand_features["session_position"] = np.zeros(len(cand_users), dtype=np.int64)
    cand_features["session_minutes_elapsed"] = np.zeros(len(cand_users))
    candidates = pl.DataFrame(
        {
            "user_id": [f"syn_u{u:05d}" for u in cand_users],
            "track_key": [f"spotify:t{t:05d}" for t in cand_tracks],
            "candidate_source": rng.choice(
                ["listened", "popular_in_genre", "popular"], len(cand_users)
            ).tolist(),
            **{k: _series(k, v) for k, v in cand_features.items()},
        }
    )
    return pairs, candidates


def _series(name: str, values: np.ndarray) -> pl.Series:
    if name in CATEGORICAL_FEATURES:
        return pl.Series(name, values.tolist(), dtype=pl.String)
    if name in _INT_FEATURES or name in _BIGINT_FEATURES:
        return pl.Series(name, values, dtype=pl.Int64)
    return pl.Series(name, values, dtype=pl.Float64, nan_to_null=True)


# --------------------------------------------------------------------------- the tests


@pytest.fixture(scope="module")
def trained(ml_url: str, marts: dict[str, pl.DataFrame], tmp_path_factory: pytest.TempPathFactory):
    artifacts = tmp_path_factory.mktemp("ml-artifacts")
    with psycopg.connect(ml_url) as conn:
        run = train(conn, artifacts_dir=artifacts)
    return run, artifacts


def test_train_registers_a_model_that_beats_the_baseline(ml_conn, trained) -> None:
    run, artifacts = trained
    assert re.fullmatch(r"lgbm-\d{8}T\d{6}Z-[0-9a-f]{8}", run.model_version)
    folder = artifacts / run.model_version
    assert (folder / "model.txt").is_file()
    sidecar = json.loads((folder / "model.json").read_text())
    assert sidecar["vocabulary"]["genre"] == sorted(GENRES)
    assert "polka" not in sidecar["vocabulary"]["genre"]

    row = ml_conn.execute(
        "select status, train_rows, valid_rows, auc, log_loss, baseline_auc, baseline_log_loss,"
        " positive_rate, features, params, artifact_path, train_until, valid_from"
        " from ml.model_runs where model_version = %s",
        [run.model_version],
    ).fetchone()
    assert row is not None
    (
        status,
        train_rows,
        valid_rows,
        auc,
        logloss,
        base_auc,
        base_logloss,
        pos_rate,
        features,
        params,
        artifact_path,
        train_until,
        valid_from,
    ) = row
    assert status == "succeeded"
    assert train_rows > 1000 and valid_rows > 500
    user_auc, baseline_user_auc, stored_metrics = ml_conn.execute(
        "select user_auc, baseline_user_auc, metrics from ml.model_runs where model_version = %s",
        [run.model_version],
    ).fetchone()
    assert user_auc == pytest.approx(sidecar["metrics"]["user_auc"])
    assert baseline_user_auc == pytest.approx(sidecar["metrics"]["baseline_user_auc"])
    assert stored_metrics["ranking_baselines"] == sidecar["metrics"]["ranking_baselines"]
    assert Path(artifact_path) == folder.resolve()
    assert features == sidecar["features"]
    assert params["num_threads"] == get_settings().encore_lightgbm_threads
    assert params["best_iteration"] >= 1
    # the blend weight and every blend it was chosen from (ml.train._blend_weight)
    assert [blend["blend_weight"] for blend in params["blends"]] == list(BLEND_WEIGHTS)
    assert params["blend_weight"] in BLEND_WEIGHTS
    assert all(blend["se"] >= 0 for blend in params["blends"])
    assert 0 < pos_rate < 1
    assert auc > base_auc + 0.03, (auc, base_auc)
    assert logloss < base_logloss, (logloss, base_logloss)
    assert sidecar["metrics"]["user_auc"] > sidecar["metrics"]["baseline_user_auc"]
    # Per-user split: both cohorts (a year apart) are in validation.
    assert train_until > valid_from
    print("metrics:", json.dumps(sidecar["metrics"], indent=1), "split:", sidecar["split"])


def test_training_is_deterministic(ml_url, trained, tmp_path: Path) -> None:
    run, artifacts = trained
    with psycopg.connect(ml_url) as conn:
        again = train(conn, artifacts_dir=tmp_path)
    assert again.model_version != run.model_version  # even within the same second

    def trees(folder: Path) -> str:
        return json.loads((folder / "model.json").read_text())["model_sha256"]

    assert trees(again.artifact_path) == trees(artifacts / run.model_version)
    assert again.auc == run.auc


def test_score_writes_a_probability_per_candidate(ml_conn, marts, trained) -> None:
    run, artifacts = trained
    n = marts["candidates"].height
    assert score(ml_conn, model_version=run.model_version, artifacts_dir=artifacts) == n
    # Re-scoring replaces the version's rows instead of adding to them.
    assert (
        score(ml_conn, model_version=run.model_version, artifacts_dir=artifacts, batch_rows=97) == n
    )
    count, low, high, sources = ml_conn.execute(
        "select count(*), min(score), max(score), count(distinct candidate_source)"
        " from ml.scores where model_version = %s",
        [run.model_version],
    ).fetchone()
    assert count == n
    assert 0.0 <= low < high <= 1.0
    assert sources == 3


def test_publish_replaces_the_serving_set(ml_conn, trained) -> None:
    run, artifacts = trained
    score(ml_conn, model_version=run.model_version, artifacts_dir=artifacts)
    expected = N_USERS * TOP_N
    assert publish(ml_conn, model_version=run.model_version, top_n=TOP_N) == expected
    assert publish(ml_conn, top_n=TOP_N) == expected  # twice: still exactly one set

    recs = pl.DataFrame(
        ml_conn.execute(
            "select user_id, track_key, rank, score, reason, model_version, generated_at"
            " from serving.recommendations"
        ).fetchall(),
        schema=["user_id", "track_key", "rank", "score", "reason", "model_version", "generated_at"],
        orient="row",
    )
    assert recs.height == expected
    assert recs["generated_at"].n_unique() == 1
    assert recs["model_version"].unique().to_list() == [run.model_version]
    per_user = recs.group_by("user_id").agg(
        n=pl.len(),
        ranks=pl.col("rank").sort(),
        tracks=pl.col("track_key").n_unique(),
        ordered=(pl.col("score").sort_by("rank").diff().drop_nulls() <= 0).all(),
    )
    assert per_user.height == N_USERS
    assert (per_user["n"] == TOP_N).all()
    assert all(r == list(range(1, TOP_N + 1)) for r in per_user["ranks"].to_list())
    assert (per_user["tracks"] == TOP_N).all()
    assert per_user["ordered"].all()
    assert recs["score"].is_between(0, 1).all()
    assert recs["reason"].str.len_chars().min() > 0
    print("reasons:", recs["reason"].value_counts(sort=True).head(8).rows())


def test_a_reader_never_sees_a_half_published_set(ml_url, ml_conn, trained) -> None:
    run, artifacts = trained
    score(ml_conn, model_version=run.model_version, artifacts_dir=artifacts)
    publish(ml_conn, model_version=run.model_version, top_n=TOP_N)
    before = ml_conn.execute("select max(generated_at) from serving.recommendations").fetchone()
    ml_conn.commit()

    seen: list[tuple] = []
    with ml_conn.transaction():  # a caller's transaction: publish nests, nothing commits yet
        publish(ml_conn, model_version=run.model_version, top_n=5)

        def read() -> None:
            with psycopg.connect(ml_url) as reader:
                seen.append(
                    reader.execute(
                        "select count(*), max(generated_at) from serving.recommendations"
                    ).fetchone()
                )

        thread = threading.Thread(target=read)
        thread.start()
        thread.join(timeout=30)
    assert seen == [(N_USERS * TOP_N, before[0])]
    after = ml_conn.execute("select count(*) from serving.recommendations").fetchone()
    assert after == (N_USERS * 5,)


def test_publish_without_scores_keeps_the_current_set(ml_conn, trained) -> None:
    run, artifacts = trained
    score(ml_conn, model_version=run.model_version, artifacts_dir=artifacts)
    published = publish(ml_conn, model_version=run.model_version, top_n=TOP_N)
    with pytest.raises(LookupError):
        publish(ml_conn, model_version="lgbm-19700101T000000Z-00000000", top_n=TOP_N)
    ml_conn.rollback()
    count = ml_conn.execute("select count(*) from serving.recommendations").fetchone()
    assert count == (published,)


def test_cli_runs_each_step(ml_url, marts, tmp_path: Path, monkeypatch, capsys) -> None:
    from ml.__main__ import main

    monkeypatch.setenv("WAREHOUSE_URL", ml_url)
    outputs = {}
    for step in (["train", "--validation-days", "45"], ["score"], ["publish", "--top-n", "7"]):
        assert main(["--artifacts-dir", str(tmp_path), *step]) == 0
        outputs[step[0]] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert outputs["train"]["auc"] > outputs["train"]["baseline_auc"]
    assert (tmp_path / outputs["train"]["model_version"] / "model.txt").is_file()
    assert outputs["score"] == {"scored_rows": marts["candidates"].height}
    assert outputs["publish"] == {"published_rows": N_USERS * 7}


def test_too_short_a_history_is_a_clear_error(ml_conn, tmp_path: Path) -> None:
    # Every user's labelled span here is ~215 days: a 200-day validation window leaves no
    # first play whose label closed 30 days before the cut-off.
    with pytest.raises(ValueError, match="lower validation_days"):
        train(ml_conn, artifacts_dir=tmp_path, validation_days=200)
    assert not any(tmp_path.iterdir())
