"""Score every candidate in marts.fct_candidate_features with a trained model into ml.scores,
and explain each user's top candidates.

Candidates are read with COPY into a spool file and scored batch by batch
(ml.db.iter_frames; only the columns the ranking and its reasons read), and the scores
spooled and written with one COPY (seam `appending`), so memory stays flat however many
there are (at a model's first scoring, the drift reference's nine columns of every
candidate are kept for its profile, ml.policy). A version's old scores are deleted and
the new ones written in one transaction: readers see the previous scores or the complete
new set.

Reasons: while streaming, each user's best `top_n` candidates (ties at the boundary
included, so publish's own tie-break always falls inside) are kept with their features;
rows that drop out are spooled as they go and the kept ones written last, with their
reasons, so every row is written once. The spooled rows are sent while the reasons are
computed: the server takes them in on one core while Python explains on the other. After
the last batch, LightGBM's `pred_contrib` (TreeSHAP, in log-odds; ml.attribution
computes it once per distinct decision pattern of each tree) is computed for the kept
rows only, and each gets `reason` (a sentence rendered from its strongest positive
contributions, with the features' actual values) and `reason_features` (jsonb: the top
contributing features with their value and contribution). Sentences come from
`REASON_TEMPLATES`, keyed by feature name; a feature without a template (new ones) gets
a generic sentence, and a template that cannot be filled truthfully (a NULL value, an
unknown artist name) is passed over for the next contribution.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import re
import time
from collections.abc import Callable, Mapping
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import psycopg

from ml import attribution, list_model, rankers
from ml.artifacts import LoadedModel, load_model
from ml.db import CANDIDATE_FEATURES, feature_query
from ml.features import to_matrix
from ml.policy import drift_columns, has_profile, record_profile, store_profile
from ml.runs import latest_version
from observability.progress import progress
from warehouse import seam
from warehouse.bulk import Shard

log = logging.getLogger(__name__)

BATCH_ROWS = 50_000
REASON_TOP_N = 20  # publish's DEFAULT_TOP_N: the rows that get a reason
REASON_FEATURES = 3  # contributions kept in reason_features
REASON_CLAUSES = 2  # sentences joined into one reason at most
SECOND_CLAUSE_SHARE = 0.5  # a second sentence only if its contribution is >= this x the first
_KEYS = {
    "user_id": pl.String(),
    "track_key": pl.String(),
    "candidate_source": pl.String(),
    "candidate_sources": pl.String(),
}
_SCORE_COLUMNS = ("model_version", "user_id", "track_key", "candidate_source", "score", "scored_at")

# Columns added after the first release; created from here (no lock taken when present).
SCORES_DDL = (
    "alter table ml.scores add column if not exists reason text",
    "alter table ml.scores add column if not exists reason_features jsonb",
)


def ensure_score_columns(conn: psycopg.Connection) -> None:
    """Add ml.scores.reason / reason_features if missing. Reads the catalog first, so the
    usual case takes no ACCESS EXCLUSIVE lock on ml.scores."""
    row = conn.execute(
        "select count(*) from information_schema.columns where table_schema = 'ml' "
        "and table_name = 'scores' and column_name in ('reason', 'reason_features')"
    ).fetchone()
    assert row is not None  # an aggregate without group by returns one row
    (present,) = row
    if present < 2:
        for statement in SCORES_DDL:
            conn.execute(statement)


# --------------------------------------------------------------------------- the templates


def _count(value: float) -> str:
    return f"{round(value):,}"


def _pct(value: float) -> str:
    return f"{round(100 * value):d}%"


def _days(value: float) -> str:
    days = math.floor(value)
    return "today" if days == 0 else "yesterday" if days == 1 else f"{days} days ago"


def _duration(value: float) -> str:
    seconds = round(value / 1000)
    return f"{seconds // 60}:{seconds % 60:02d}"


_WEEKDAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")


@dataclass(frozen=True)
class Template:
    """How one feature becomes a sentence.

    `text` is a str.format pattern over `value` (the feature's value run through `fmt`),
    `artist` and `genre` (from the marts); `when` tells whether the value can be said
    truthfully (else the next contribution is used). `item` is False for features that are
    the same for all of a user's candidates (they explain the user, not the track): those
    speak only when no track-level feature pushed the score up.
    """

    text: str
    fmt: Callable[[float], str] = str
    when: Callable[[float], bool] = lambda value: True
    item: bool = True
    one: str | None = None  # the sentence when the value is exactly 1


REASON_TEMPLATES: dict[str, Template | None] = {
    "user_artist_prior_tracks": Template(
        "You've played {value} tracks by {artist}",
        _count,
        lambda v: v >= 1,
        one="You've played a track by {artist}",
    ),
    "user_artist_prior_plays": Template(
        "You've played {artist} {value} times",
        _count,
        lambda v: v >= 1,
        one="You've played {artist} once",
    ),
    "user_artist_days_since_last_play": Template(
        "You played {artist} {value}", _days, lambda v: v >= 0
    ),
    "user_genre_share": Template(
        "{genre} is {value} of your listening", _pct, lambda v: v >= 0.005
    ),
    "track_plays_7d": Template(
        "Trending: {value} plays this week",
        _count,
        lambda v: v >= 1,
        one="Trending: played this week",
    ),
    "track_plays_28d": Template(
        "{value} plays in the last 4 weeks",
        _count,
        lambda v: v >= 1,
        one="Played in the last 4 weeks",
    ),
    "track_prior_plays": Template(
        "Played {value} times by Encore listeners", _count, lambda v: v >= 1
    ),
    "track_prior_listeners": Template(
        "{value} listeners have played this", _count, lambda v: v >= 2
    ),
    "track_prior_repeat_rate": Template(
        "{value} of listeners who found this came back to it", _pct, lambda v: v > 0
    ),
    "artist_prior_plays": Template(
        "{artist} has {value} plays on Encore", _count, lambda v: v >= 1
    ),
    "artist_prior_repeat_rate": Template(
        "{value} of first listens to {artist} led to a replay", _pct, lambda v: v > 0
    ),
    "genre": Template("{genre} tracks get replayed"),
    "danceability": Template(
        "Its danceability ({value}) suits what you replay", lambda v: f"{v:.2f}"
    ),
    "energy": Template("Its energy ({value}) suits what you replay", lambda v: f"{v:.2f}"),
    "valence": Template("Its mood (valence {value}) suits what you replay", lambda v: f"{v:.2f}"),
    "acousticness": Template(
        "Its acousticness ({value}) suits what you replay", lambda v: f"{v:.2f}"
    ),
    "tempo": Template(
        "Its tempo ({value} BPM) suits what you replay", lambda v: f"{v:.0f}", lambda v: v > 0
    ),
    "duration_ms": Template(
        "Its length ({value}) suits what you replay", _duration, lambda v: v > 0
    ),
    # The same for all of a user's candidates: said only when no track feature helped.
    "hour_of_day": Template(
        "You often listen at this hour ({value}:00 UTC)", lambda v: f"{int(v):02d}", item=False
    ),
    "day_of_week": Template(
        "Picked for your {value} listening", lambda v: _WEEKDAYS[int(v) % 7], item=False
    ),
    "user_prior_repeat_rate": Template(
        "You come back to {value} of the tracks you discover", _pct, lambda v: v > 0, item=False
    ),
    "user_prior_plays": Template(
        "Based on your {value} plays", _count, lambda v: v >= 1, item=False
    ),
    "user_prior_tracks": Template(
        "Based on the {value} tracks you've played", _count, lambda v: v >= 1, item=False
    ),
    # The list model's own inputs (ml.list_model).
    "user_track_plays_7d": Template(
        "You played it {value} times this week",
        _count,
        lambda v: v >= 1,
        one="You played it this week",
    ),
    "colisten_score": Template("Often played alongside your favourites", when=lambda v: v > 0),
    "user_track_plays_30d": Template(
        "You played it {value} times in the last 30 days",
        _count,
        lambda v: v >= 1,
        one="You played it in the last 30 days",
    ),
    "user_track_prior_plays": Template(
        "You've played it {value} times", _count, lambda v: v >= 1, one="You've played it once"
    ),
    "user_track_days_since_last_play": Template(
        "You last played it {value}", _days, lambda v: v >= 0
    ),
    "source_co_listened": Template(
        "Listeners who play your favourites play this too", when=lambda v: v >= 1
    ),
    "source_content": Template("It sounds like the tracks you replay", when=lambda v: v >= 1),
    "source_popular_in_genre": Template(
        "Popular in {genre}, one of your genres", when=lambda v: v >= 1
    ),
    "source_popular": Template("Popular with Encore listeners right now", when=lambda v: v >= 1),
    "user_track_plays_90d": Template(
        "You played it {value} times in the last 90 days", _count, lambda v: v >= 2
    ),
    "user_track_days_since_first_play": Template("You found it {value}", _days, lambda v: v >= 2),
    "user_track_rank_7d": Template(
        "Your #{value} most played track this week", lambda v: f"{int(v)}", lambda v: v <= 20
    ),
    "user_track_rank_30d": Template(
        "Your #{value} most played track of the last 30 days",
        lambda v: f"{int(v)}",
        lambda v: v <= 20,
    ),
    "user_track_rank_90d": Template(
        "Your #{value} most played track of the last 90 days",
        lambda v: f"{int(v)}",
        lambda v: v <= 20,
    ),
    "user_track_rank_prior": Template(
        "One of your all-time favourites (#{value})", lambda v: f"{int(v)}", lambda v: v <= 50
    ),
    "user_track_share_30d": Template(
        "{value} of your listening in the last 30 days", _pct, lambda v: v >= 0.01
    ),
    "user_artist_share_30d": Template(
        "{artist} is {value} of your listening lately", _pct, lambda v: v >= 0.02
    ),
    "user_artist_plays_30d": Template(
        "You played {artist} {value} times in the last 30 days",
        _count,
        lambda v: v >= 2,
        one="You played {artist} in the last 30 days",
    ),
    "user_artist_repeat_rate_smoothed": Template(
        "You often come back to {artist}", when=lambda v: v >= 0.4
    ),
    "user_track_plays_decayed_7d": None,  # said better by the plain counts
    "user_track_plays_decayed_30d": None,
    "user_track_plays_decayed_90d": None,
    "user_artist_plays_decayed_90d": None,
    "user_track_rank_decayed": None,
    "track_repeat_rate_smoothed": None,  # pseudo-counts: not a fact to tell a listener
    "artist_repeat_rate_smoothed": None,
    "user_repeat_rate_smoothed": None,
    "user_repeat_rate_90d_smoothed": None,
    "user_plays_7d": None,  # the listener's own volume: explains nothing about the track
    "user_plays_30d": None,
    "user_new_track_share_30d": None,
    "session_artist_plays": None,  # 0 for every candidate (the contract's typical context)
    "source_listened": None,  # said better by the user_track_* features
    "repeat_score": None,  # the repeat model's output: its own reasons are its features
    "user_prior_labelled_pairs": None,
    "user_hours_since_prev_play": None,
    "session_position": None,  # 0 for every candidate (the contract's typical context)
    "session_minutes_elapsed": None,
    "country": None,
    "age_band": None,
}
"""Per feature, its sentence; None = never said (it explains nothing about the track).
Features missing here (new ones) get GENERIC."""

GENERIC = Template(
    "Its {name} ({value}) fits what you replay",
    lambda v: f"{v:,.0f}" if abs(v) >= 100 else f"{v:.2g}",
)
FALLBACK_REASON = "Picked for you from what listeners like you replay"


def render(feature: str, value: Any, names: Mapping[str, str | None]) -> str | None:
    """The sentence for `feature` with `value` (None when it can't be said truthfully)."""
    template = REASON_TEMPLATES.get(feature, GENERIC)
    if template is None or value is None:
        return None
    if isinstance(value, str):  # categorical: said through its own placeholder
        shown = value
    else:
        number = float(value)
        if math.isnan(number) or not template.when(number):
            return None
        shown = template.fmt(number)
    text = template.one if template.one is not None and value == 1 else template.text
    fields = {
        "artist": names.get("artist"),
        "genre": names.get("genre"),
        "name": feature.replace("_", " "),
    }
    for key in _placeholders(text):
        if fields.get(key) in (None, ""):
            return None
    sentence = text.format(value=shown, **fields)
    return sentence[:1].upper() + sentence[1:]


@functools.cache
def _placeholders(text: str) -> frozenset[str]:
    """The fields a template's text names besides {value}."""
    return frozenset(re.findall(r"{(\w+)}", text)) - {"value"}


def explain(
    features: list[str],
    contributions: np.ndarray,
    row: Mapping[str, Any],
    names: Mapping[str, str | None],
) -> tuple[str, list[dict[str, Any]]]:
    """The reason for one candidate and its top contributions (positive ones, strongest
    first): the first `REASON_CLAUSES` sayable track-level sentences (a second only when
    its contribution is at least SECOND_CLAUSE_SHARE of the first's), else a user-level one,
    else FALLBACK_REASON."""
    pushes = contributions.tolist()
    return _explain(
        features, pushes, np.argsort(-contributions, kind="stable").tolist(), row, names
    )


def _explain(
    features: list[str],
    pushes: list[float],
    ranked: list[int],
    row: Mapping[str, Any],
    names: Mapping[str, str | None],
) -> tuple[str, list[dict[str, Any]]]:
    """`explain` with the contributions as a list and their order, strongest first (a
    stable argsort of the negated contributions), computed for many rows at once."""
    order = [i for i in ranked if pushes[i] > 0]
    top = [
        {
            "feature": features[i],
            "value": _json_value(row.get(features[i])),
            "contribution": round(pushes[i], 4),
        }
        for i in order[:REASON_FEATURES]
    ]
    clauses: list[tuple[str, float, str]] = []
    user_level: tuple[str, float, str] | None = None
    for i in order:
        name = features[i]
        sentence = render(name, row.get(name), names)
        if sentence is None:
            continue
        template = REASON_TEMPLATES.get(name, GENERIC) or GENERIC
        if not template.item:
            user_level = user_level or (sentence, pushes[i], name)
            continue
        if clauses and pushes[i] < SECOND_CLAUSE_SHARE * clauses[0][1]:
            break
        clauses.append((sentence, pushes[i], name))
        if len(clauses) == REASON_CLAUSES:
            break
    chosen = clauses or ([user_level] if user_level else [])
    said = {name for _, _, name in chosen}
    listed = set()
    for item in top:
        item["said"] = item["feature"] in said
        listed.add(item["feature"])
    for _, contribution, name in chosen:  # every feature said is listed, even outside top 3
        if name not in listed:  # (the chosen are distinct features)
            top.append(
                {
                    "feature": name,
                    "value": _json_value(row.get(name)),
                    "contribution": round(contribution, 4),
                    "said": True,
                }
            )
    if not chosen:
        return FALLBACK_REASON, top
    return ". ".join(sentence for sentence, _, _ in chosen), top


def _json_value(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 6)
    return value


# ------------------------------------------------------------------------------- scoring


def score(
    conn: psycopg.Connection,
    *,
    model_version: str | None = None,
    artifacts_dir: Path,
    batch_rows: int = BATCH_ROWS,
    top_n: int = REASON_TOP_N,
    shard: int | None = None,
    shards: int = 1,
) -> int:
    """Score all candidates with `model_version` (default: the latest succeeded run) and
    replace that version's rows in ml.scores; give each user's top `top_n` a reason
    (0: none). Returns the number of rows written.

    With `shard` (0 .. shards - 1), only the users with `mod(abs(hashtext(user_id)),
    shards) = shard` are scored, and only their rows of the version are replaced: shards run
    side by side (the DAG maps one task per shard), a shard rerun is idempotent, and the
    union of all shards is exactly an unsharded scoring. Each shard commits on its own, so
    until every shard has run ml.scores mixes old and new rows of the version (publish runs
    after all of them)."""
    if shard is not None and not 0 <= shard < shards:
        raise ValueError(f"shard must be in 0..{shards - 1}, got {shard}")
    if model_version is None:
        with conn.transaction():
            model_version = latest_version(conn)
    model = load_model(artifacts_dir, model_version)
    ranking = Ranking.load(artifacts_dir / model_version, model)
    users = None if shard is None else Shard("user_id", shard, shards)
    total = 0
    started = time.monotonic()
    with conn.transaction():
        ensure_score_columns(conn)
        # Two scorers of the same version would otherwise interleave deletes and COPYs.
        _lock(conn, model_version, shard)
        row = conn.execute("select now()").fetchone()
        assert row is not None
        scored_at = row[0]
        data = seam.data(conn)
        # The model's drift reference: the candidates it first went live on. A whole
        # scoring profiles the rows it reads; shard 0 reads every candidate for it below.
        profiling = shard is None and not has_profile(conn, model_version)
        drift = list(drift_columns(conn)) if profiling else []
        select = feature_query(
            CANDIDATE_FEATURES,
            _KEYS | ({"as_of": pl.Datetime("us", "UTC")} if drift else {}),
            shard=users,
            extra=list_model.HISTORY_FEATURES,
            only=None if ranking.reads is None else ranking.reads | set(drift),
        )
        data.delete("ml", "scores", {"model_version": model_version}, users)
        profiled: list[pl.DataFrame] = []
        best: pl.DataFrame | None = None
        what = "score" if shard is None else f"score shard {shard}/{shards}"
        explained = None
        # read while scoring (the scores are spooled until the last batch is in), and closed
        # on the way out: a read left half done must not hold the connection
        with (
            closing(data.iter_frames(select, batch_rows, streaming=True)) as batches,
            data.appending("ml", "scores", _SCORE_COLUMNS) as append,
        ):
            with progress(what, unit="candidates") as shown:
                for batch in batches:
                    if drift:
                        profiled.append(batch.select(*drift, "as_of"))
                    batch = list_model.with_source_flags(batch)
                    scores = pl.Series(ranking.score(batch), dtype=pl.Float64)
                    done = batch.with_columns(score=scores)
                    if top_n > 0:  # rows that can still make a top n wait for their reason
                        best, done = _keep_best(best, done, top_n)
                    append(_score_rows(done, model.version, scored_at))
                    total += batch.height
                    shown.advance(batch.height)
            scored_seconds = time.monotonic() - started
            if profiled:
                candidates = pl.concat(profiled)
                store_profile(
                    conn, model_version, candidates.drop("as_of"), candidates["as_of"].max()
                )
            if best is not None and best.height:
                names = _names(data, best)  # the last statement before the scores go
                append.send()  # the server takes them in while the reasons are written
                explained = _with_reasons(model, best, ranking, scored_at, names)
        if explained is not None:
            data.write_frame("ml", "scores", explained, json_columns=("reason_features",))
        if shard == 0:  # its rows are a shard's: the profile reads every candidate
            record_profile(conn, model_version)
    if total == 0:
        log.warning("marts.%s is empty: no scores written", CANDIDATE_FEATURES)
    log.info(
        "scored %d candidates with %s in %.1f s; %d top rows explained in %.1f s",
        total,
        model_version,
        scored_seconds,
        0 if explained is None else explained.height,
        time.monotonic() - started - scored_seconds,
    )
    return total


def _lock(conn: psycopg.Connection, model_version: str, shard: int | None) -> None:
    """Advisory locks for the transaction: a whole-version scoring holds the version
    exclusively; a shard holds it shared (shards run side by side, never beside a whole
    scoring) and its own (version, shard) key exclusively (a shard never runs twice at once)."""
    if shard is None:
        conn.execute(
            "select pg_advisory_xact_lock(hashtext('encore.score'), hashtext(%s))", [model_version]
        )
        return
    conn.execute(
        "select pg_advisory_xact_lock_shared(hashtext('encore.score'), hashtext(%s))",
        [model_version],
    )
    conn.execute(
        "select pg_advisory_xact_lock(hashtext('encore.score.shard'), hashtext(%s))",
        [f"{model_version}/{shard}"],
    )


def _keep_best(
    best: pl.DataFrame | None, batch: pl.DataFrame, top_n: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Each user's `top_n` best rows so far, ties with the n-th included (publish breaks
    ties by track_key in the database's collation: the row it picks is always here), and
    the rows that dropped out of it (they will never need a reason)."""
    rows = batch if best is None else pl.concat([best, batch], how="vertical_relaxed")
    kept = rows.select(
        pl.col("score").rank("min", descending=True).over("user_id") <= top_n
    ).to_series()
    return rows.filter(kept), rows.filter(~kept)


def _score_rows(frame: pl.DataFrame, model_version: str, scored_at: Any) -> pl.DataFrame:
    """`frame`'s rows as ml.scores rows (without a reason)."""
    return frame.with_columns(
        model_version=pl.lit(model_version), scored_at=pl.lit(scored_at)
    ).select(_SCORE_COLUMNS)


def _with_reasons(
    model: LoadedModel,
    best: pl.DataFrame,
    ranking: Ranking,
    scored_at: Any,
    names: Mapping[str, str],
) -> pl.DataFrame:
    """The kept rows as ml.scores rows, each with its reason and reason_features, from what
    ranked them (Ranking.contributions); `names`: artist names by track_key."""
    features, contributions = ranking.contributions(best)
    pushes = contributions[:, : len(features)]
    orders = np.argsort(-pushes, axis=1, kind="stable").tolist()
    positive = (pushes > 0).sum(axis=1).tolist()  # the stable order puts them first
    read = [name for name in dict.fromkeys([*features, "track_key", "genre"]) if name in best]
    rows = best.select(read).to_dicts()
    reasons, tops = [], []
    for row, push, order, count in zip(rows, pushes.tolist(), orders, positive, strict=True):
        reason, top = _explain(
            features,
            push,
            order[:count],
            row,
            {"artist": names.get(row["track_key"]), "genre": row.get("genre")},
        )
        reasons.append(reason)
        tops.append(top)
    return _score_rows(best, model.version, scored_at).with_columns(
        reason=pl.Series(reasons, dtype=pl.String),
        reason_features=pl.Series([json.dumps(top) for top in tops], dtype=pl.String),
    )


def _names(data: seam.Warehouse, best: pl.DataFrame) -> dict[str, str]:
    """Artist names of the kept tracks, from marts.dim_tracks (dim_artists when the track
    row lacks one and both marts carry artist_key)."""
    columns = set(data.columns("marts", "dim_tracks"))
    if "artist_name" not in columns:
        return {}
    if "artist_key" in columns and data.columns("marts", "dim_artists"):
        query = (
            "select t.track_key, coalesce(t.artist_name, a.artist_name) as artist_name from "
            "marts.dim_tracks t left join marts.dim_artists a on a.artist_key = t.artist_key"
        )
    else:
        query = "select track_key, artist_name from marts.dim_tracks"
    # every track's name (one column of the dimension), then the kept ones: a key list in
    # the SQL would be as long as the lists
    names = data.read_sql(query, None, {"track_key": pl.String(), "artist_name": pl.String()})
    kept = names.join(best.select("track_key").unique(), on="track_key")
    return {key: name for key, name in kept.iter_rows() if name}


@dataclass(frozen=True)
class Ranking:
    """What ranks a model version's lists (ml.rankers): its list model, a calibrated rule or
    the repeat model."""

    model: LoadedModel
    choice: dict[str, Any]
    list_model: list_model.ListModel | None

    @classmethod
    def load(cls, folder: Path, model: LoadedModel) -> Ranking:
        choice = rankers.load_choice(folder)
        ranker = list_model.load(folder) if choice["ranker"] == rankers.LIST_MODEL else None
        if choice["ranker"] == rankers.LIST_MODEL and ranker is None:
            log.warning("%s: the list model cannot be loaded; the repeat model ranks", folder.name)
            choice = {**choice, "ranker": rankers.REPEAT_MODEL}
        return cls(model=model, choice=choice, list_model=ranker)

    @property
    def name(self) -> str:
        return str(self.choice["ranker"])

    @property
    def reads(self) -> frozenset[str] | None:
        """The feature columns this ranking and its reasons read (None: every feature).
        `genre` names the genre in the sentences."""
        if self.list_model is not None:
            return frozenset(list_model.CONTEXT_FEATURES + list_model.HISTORY_FEATURES) | {"genre"}
        if self.name in rankers.RULES:
            return rankers.rule_columns(self.name) | {"genre"}
        return None

    def score(self, batch: pl.DataFrame) -> np.ndarray:
        """P(replayed within 30 days) by the chosen ranking. The repeat model predicts only
        when it ranks: its probability is not stored beside another ranking's."""
        if self.list_model is not None:
            return self.list_model.predict(batch)
        if self.name in rankers.RULES:
            return rankers.rule_probability(batch, self.choice)
        return np.asarray(self.model.predict(batch))

    def contributions(self, rows: pl.DataFrame) -> tuple[list[str], np.ndarray]:
        """Per row, each feature's push on its score (the reasons' raw material)."""
        if self.list_model is not None:
            return self.list_model.features, self.list_model.contributions(rows)
        if self.name in rankers.RULES:
            return rankers.rule_contributions(rows)
        matrix = to_matrix(rows, self.model.vocabulary)
        return self.model.features, attribution.pred_contrib(self.model.booster, matrix)
