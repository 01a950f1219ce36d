"""Simulate who plays what and when: sessions, discoveries, replays, back-to-back timing.

The simulation, vectorised with numpy (one Python iteration per user at most):

1. Sessions: per user and local day a Poisson number of sessions (bursty across days, more
   on weekends for most), each starting at a human hour of the user's local clock.
2. Discoveries: each session brings a few tracks the user has never played, drawn without
   replacement with weights popularity x genre taste x favourite artist (Gumbel top-k).
   Fresh releases are discovered soon after they come out.
3. Liking: a discovery becomes a favourite with a probability driven by the user's loyalty,
   the track's catchiness, the user's taste for its genre, whether the artist is one of the
   user's favourites, the user's feeling for that artist (shared by all its tracks), and the
   moment (evenings and weekends get more attention, fresh releases get a bonus).
4. Replays: a liked track comes back a few times, at delays that stretch out (most within
   days, fewer after weeks, some beyond 30 days); other tracks sometimes come back by
   chance (radio, playlists). Each replay lands in the user's first session after its due
   time.
5. Timing: plays in a session run back to back (the previous track's playback time plus a
   short pause); some are skipped early but never before 30 s. Sessions that would run into
   each other are pushed apart so the gap between sessions is always well over 30 minutes.

A burn-in period before the window lets users arrive with songs they already replay; plays
outside the window are dropped at the end.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

from extract.synthetic.catalog import Catalog
from extract.synthetic.listeners import Listeners
from extract.synthetic.model import PLAYS_SCHEMA, SyntheticConfig, stream_rng
from extract.synthetic.profiles import (
    GENRES,
    WEEKDAY_SESSION_START_BY_HOUR,
    WEEKEND_SESSION_START_BY_HOUR,
)

Progress = Callable[[str, int, int], None]

MS_PER_SECOND = 1_000
MS_PER_MINUTE = 60_000
MS_PER_DAY = 86_400_000
MIN_MS_PLAYED = 30_000

BURN_IN_DAYS = 30
LATE_JOINER_SHARE = 0.10  # users whose listening starts somewhere inside the simulation
CHURNER_SHARE = 0.08  # users who stop listening before the window ends
DAILY_BURSTINESS_SHAPE = 2.0  # gamma shape of day-to-day activity swings (lower = burstier)

FAVOURITE_ARTISTS_EXTRA_MEAN = 3.0  # favourites per user = 1 + Poisson(this)
FAVOURITE_DISCOVERY_BOOST = math.log(6.0)  # log-weight bonus when discovering music
FRESH_RELEASE_BOOST = math.log(2.5)
FRESH_DISCOVERY_MEAN_DAYS = 10.0
FRESH_RELEASE_DAYS = 60  # a discovery this soon after release counts as a fresh one

LIKE_INTERCEPT = -2.5
LIKE_CATCHINESS = 0.85
LIKE_LOYALTY_X_CATCHINESS = 0.2
LIKE_GENRE_TASTE = 0.45
LIKE_FAVOURITE_ARTIST = 1.1
LIKE_USER_ARTIST_SD = 0.9  # how much a listener's feeling for one artist varies
LIKE_ATTENTIVE_MOMENT = 0.25  # evenings and weekends
LIKE_FRESH_RELEASE = 0.3

REPLAYS_BASE_LOG_MEAN = 0.75
REPLAY_FIRST_DELAY_MEDIAN_DAYS = 2.0
REPLAY_GAP_GROWTH = 1.6  # each next replay of a liked track waits this much longer
SLOW_BURNER_SHARE = 0.12  # liked tracks that only come back after weeks
SLOW_BURNER_FACTOR = 15.0
MAX_REPLAYS = 50
MAX_REPLAY_DELAY_DAYS = 3_650.0  # later than this is "never" (and keeps int64 ms in range)
CHANCE_REPLAY_INTERCEPT = -3.4
CHANCE_REPLAY_MAX_DAYS = 90.0

SKIP_CHANCE_DISLIKED = 0.45
SKIP_CHANCE_LIKED = 0.06
SKIP_CHANCE_REPLAY = 0.10
SKIP_CHANCE_CHANCE_REPLAY = 0.35

MIN_SESSION_GAP_MS = 45 * MS_PER_MINUTE
SESSION_GAP_EXTRA_MEAN_MS = 40 * MS_PER_MINUTE
MAX_PAUSE_MS = 5 * MS_PER_MINUTE

_KIND_DISCOVERY, _KIND_REPLAY, _KIND_CHANCE_REPLAY = 0, 1, 2


@dataclass(frozen=True)
class Sessions:
    """Candidate listening sessions, sorted by (user, start)."""

    user: np.ndarray
    start_ms: np.ndarray  # UTC, ms since the epoch
    local_hour: np.ndarray  # the hour on the user's clock at the start
    is_weekend: np.ndarray
    user_pointer: np.ndarray  # sessions of user u are [user_pointer[u], user_pointer[u + 1])


@dataclass(frozen=True)
class Discoveries:
    """First plays of a track by a user, one row each, with whether it became a favourite."""

    user: np.ndarray
    track: np.ndarray
    session: np.ndarray
    favourite_artist: np.ndarray
    liked: np.ndarray


def simulate_plays(
    config: SyntheticConfig,
    catalog: Catalog,
    listeners: Listeners,
    progress: Progress | None = None,
) -> pl.DataFrame:
    """All plays of the window [config.start_date, config.end_date), in the contract schema."""
    report = progress or _ignore_progress
    rng = stream_rng(config.seed, "plays")
    window_start_ms = _date_ms(config.start_date)
    end_ms = _date_ms(config.end_date)
    simulation_start_ms = window_start_ms - BURN_IN_DAYS * MS_PER_DAY

    active_from, active_until = _listening_spans(
        rng, listeners, simulation_start_ms, window_start_ms, end_ms
    )
    sessions = _draw_sessions(rng, listeners, active_from, active_until)
    report("sessions", len(sessions.user), len(sessions.user))
    discoveries = _draw_discoveries(rng, catalog, listeners, sessions, active_from, report)
    replay_session, replay_track, replay_kind = _draw_replays(
        rng, catalog, listeners, sessions, discoveries
    )
    report("replays", len(replay_track), len(replay_track))

    session = np.concatenate([discoveries.session, replay_session])
    track = np.concatenate([discoveries.track, replay_track])
    kind = np.concatenate([np.full(len(discoveries.track), _KIND_DISCOVERY), replay_kind])
    liked = np.concatenate([discoveries.liked, np.zeros(len(replay_track), dtype=bool)])
    order = np.lexsort((rng.random(len(track)), session))
    session, track, kind, liked = session[order], track[order], kind[order], liked[order]

    ms_played = _ms_played(rng, catalog.track_duration_ms[track], kind, liked)
    played_at_ms = _play_times(rng, sessions, session, ms_played)
    user = sessions.user[session]
    in_window = (played_at_ms >= window_start_ms) & (played_at_ms < end_ms)
    frame = _plays_frame(
        listeners,
        catalog,
        user[in_window],
        track[in_window],
        played_at_ms[in_window],
        ms_played[in_window],
    )
    report("plays", frame.height, frame.height)
    return frame


def _ignore_progress(stage: str, done: int, total: int) -> None:
    """Default progress callback: say nothing."""


def _date_ms(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days * MS_PER_DAY


def _listening_spans(
    rng: np.random.Generator,
    listeners: Listeners,
    simulation_start_ms: int,
    window_start_ms: int,
    end_ms: int,
) -> tuple[np.ndarray, np.ndarray]:
    """When each user's listening starts and stops within the simulated period.

    Most users listen throughout; a few join late (so some histories are short) and a few
    stop early (so not every user is active at the end). Nobody listens before signing up.
    """
    n_users = listeners.n_users
    signed_up_ms = listeners.signed_up_us // 1_000
    joins_late = rng.random(n_users) < LATE_JOINER_SHARE
    join_ms = rng.integers(simulation_start_ms, end_ms, size=n_users)
    active_from = np.maximum(signed_up_ms, simulation_start_ms)
    active_from = np.where(joins_late, np.maximum(active_from, join_ms), active_from)
    churns = rng.random(n_users) < CHURNER_SHARE
    churn_ms = rng.integers(window_start_ms, end_ms, size=n_users)
    active_until = np.where(churns, churn_ms, end_ms)
    return active_from, active_until


def _draw_sessions(
    rng: np.random.Generator,
    listeners: Listeners,
    active_from: np.ndarray,
    active_until: np.ndarray,
) -> Sessions:
    """Session starts at human hours of each user's local day, sorted by (user, start)."""
    n_users = listeners.n_users
    first_day = int(active_from.min() // MS_PER_DAY) - 1
    last_day = int(active_until.max() // MS_PER_DAY) + 1
    local_days = np.arange(first_day, last_day + 1)
    is_weekend_day = (local_days + 3) % 7 >= 5  # 1970-01-01 was a Thursday (weekday 3)

    daily_rate = listeners.sessions_per_day[:, None] * np.where(
        is_weekend_day[None, :], listeners.weekend_factor[:, None], 1.0
    )
    burstiness = rng.gamma(
        DAILY_BURSTINESS_SHAPE, 1.0 / DAILY_BURSTINESS_SHAPE, size=daily_rate.shape
    )
    counts = rng.poisson(daily_rate * burstiness)
    user_index, day_index = np.nonzero(counts)
    repeats = counts[user_index, day_index]
    user = np.repeat(user_index, repeats)
    day = np.repeat(local_days[day_index], repeats)
    is_weekend = np.repeat(is_weekend_day[day_index], repeats)

    hour = _session_hours(rng, is_weekend)
    local_hour = hour + rng.random(len(user)) + listeners.chronotype_hours[user]
    start_ms = (
        day * MS_PER_DAY
        + np.round((local_hour - listeners.utc_offset_hours[user]) * 3600).astype(np.int64)
        * MS_PER_SECOND
    )
    keep = (start_ms >= active_from[user]) & (start_ms < active_until[user])
    user, start_ms, is_weekend = user[keep], start_ms[keep], is_weekend[keep]
    local_hour = np.floor(local_hour[keep]).astype(np.int64) % 24
    order = np.lexsort((start_ms, user))
    user = user[order]
    return Sessions(
        user=user,
        start_ms=start_ms[order],
        local_hour=local_hour[order],
        is_weekend=is_weekend[order],
        user_pointer=np.searchsorted(user, np.arange(n_users + 1)),
    )


def _session_hours(rng: np.random.Generator, is_weekend: np.ndarray) -> np.ndarray:
    """Local start hour of each session from the weekday or weekend daily profile."""
    hours = np.empty(len(is_weekend), dtype=np.int64)
    for weekend, profile in (
        (False, WEEKDAY_SESSION_START_BY_HOUR),
        (True, WEEKEND_SESSION_START_BY_HOUR),
    ):
        mask = is_weekend == weekend
        weights = np.array(profile)
        hours[mask] = rng.choice(24, size=int(mask.sum()), p=weights / weights.sum())
    return hours


def _favourite_artists(
    rng: np.random.Generator, catalog: Catalog, genre_affinity: np.ndarray
) -> np.ndarray:
    """A few artists one user adores, mostly from the genres they love, popular ones first."""
    count = min(1 + rng.poisson(FAVOURITE_ARTISTS_EXTRA_MEAN), catalog.n_artists)
    keys = (
        0.5 * catalog.artist_log_popularity
        + 2.0 * np.log(genre_affinity[catalog.artist_genre])
        + rng.gumbel(size=catalog.n_artists)
    )
    return np.argpartition(-keys, count - 1)[:count]


def _draw_discoveries(
    rng: np.random.Generator,
    catalog: Catalog,
    listeners: Listeners,
    sessions: Sessions,
    active_from: np.ndarray,
    report: Progress,
) -> Discoveries:
    """Tracks each user discovers, which session they discover them in, and which they like."""
    n_users = listeners.n_users
    per_session = rng.poisson(listeners.discoveries_per_session[sessions.user])
    release_ms = catalog.track_released_day * MS_PER_DAY
    artist_bounds = np.searchsorted(catalog.track_artist, np.arange(catalog.n_artists + 1))
    log_taste = np.log(listeners.genre_affinity)

    users: list[np.ndarray] = []
    tracks: list[np.ndarray] = []
    sessions_of: list[np.ndarray] = []
    favourite_of: dict[int, np.ndarray] = {}
    report_every = max(1, n_users // 20)
    for u in range(n_users):
        lo, hi = sessions.user_pointer[u], sessions.user_pointer[u + 1]
        slots = int(per_session[lo:hi].sum())
        if slots:
            slot_session = np.repeat(np.arange(lo, hi), per_session[lo:hi])
            favourites = _favourite_artists(rng, catalog, listeners.genre_affinity[u])
            picked, session = _discover_for_user(
                rng,
                catalog,
                log_taste[u],
                favourites,
                artist_bounds,
                release_ms,
                int(active_from[u]),
                slot_session,
                sessions.start_ms,
            )
            users.append(np.full(len(picked), u))
            tracks.append(picked)
            sessions_of.append(session)
            favourite_of[u] = favourites
        if (u + 1) % report_every == 0 or u + 1 == n_users:
            report("discoveries", u + 1, n_users)

    user, track, session = (
        np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)
        for parts in (users, tracks, sessions_of)
    )
    favourite = _is_favourite(user, catalog.track_artist[track], favourite_of, catalog.n_artists)
    artist_feeling = _user_artist_feeling(rng, user, catalog.track_artist[track], catalog.n_artists)
    liked = rng.random(len(track)) < _like_probability(
        catalog, listeners, sessions, user, track, session, favourite, release_ms, artist_feeling
    )
    return Discoveries(
        user=user, track=track, session=session, favourite_artist=favourite, liked=liked
    )


def _is_favourite(
    user: np.ndarray, artist: np.ndarray, favourite_of: dict[int, np.ndarray], n_artists: int
) -> np.ndarray:
    """Whether each (user, artist) pair is one of the user's favourite artists."""
    favourite_keys = np.concatenate(
        [u * n_artists + artists for u, artists in favourite_of.items()] or [np.empty(0, int)]
    )
    return np.isin(user * n_artists + artist, favourite_keys)


def _discover_for_user(
    rng: np.random.Generator,
    catalog: Catalog,
    log_taste: np.ndarray,
    favourites: np.ndarray,
    artist_bounds: np.ndarray,
    release_ms: np.ndarray,
    active_from_ms: int,
    slot_session: np.ndarray,
    session_start_ms: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """One user's discovered tracks and the session of each (parallel arrays).

    Sampling without replacement by weight is a Gumbel top-k: the k largest of
    log-weight + Gumbel noise. Catalog tracks are then spread over the user's discovery
    slots in random order; fresh releases are matched to slots shortly after they come out.
    """
    slot_start = session_start_ms[slot_session]
    log_weight = catalog.track_log_popularity + log_taste[catalog.track_genre]
    for artist in favourites.tolist():
        log_weight[artist_bounds[artist] : artist_bounds[artist + 1]] += FAVOURITE_DISCOVERY_BOOST
    is_fresh = release_ms > active_from_ms
    log_weight += np.where(is_fresh, FRESH_RELEASE_BOOST, 0.0)
    available = release_ms <= slot_start[-1]
    n_pick = min(len(slot_start), int(available.sum()))
    if n_pick == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)

    keys = np.where(available, log_weight, -np.inf) + rng.gumbel(size=catalog.n_tracks)
    picked = np.argpartition(-keys, n_pick - 1)[:n_pick]
    if n_pick < len(slot_start):
        keep = np.sort(rng.choice(len(slot_start), size=n_pick, replace=False))
        slot_session, slot_start = slot_session[keep], slot_start[keep]

    fresh = is_fresh[picked]
    desired_ms = np.where(
        fresh,
        release_ms[picked] + rng.exponential(FRESH_DISCOVERY_MEAN_DAYS * MS_PER_DAY, n_pick),
        rng.uniform(active_from_ms, slot_start[-1] + 1, n_pick),
    )
    track_for_slot = picked[np.argsort(desired_ms, kind="stable")]
    released = slot_start >= release_ms[track_for_slot]
    return track_for_slot[released], slot_session[released]


def _user_artist_feeling(
    rng: np.random.Generator, user: np.ndarray, artist: np.ndarray, n_artists: int
) -> np.ndarray:
    """One shared random effect per (user, artist) pair, repeated for each discovery.

    Liking one song of an artist makes liking the next one more likely, so a listener's
    history with an artist predicts their next discovery of it.
    """
    _, pair = np.unique(user * n_artists + artist, return_inverse=True)
    return rng.normal(0.0, LIKE_USER_ARTIST_SD, int(pair.max()) + 1 if len(pair) else 0)[pair]


def _like_probability(
    catalog: Catalog,
    listeners: Listeners,
    sessions: Sessions,
    user: np.ndarray,
    track: np.ndarray,
    session: np.ndarray,
    favourite: np.ndarray,
    release_ms: np.ndarray,
    artist_feeling: np.ndarray,
) -> np.ndarray:
    """Chance that a discovery becomes a track the user comes back to.

    Loyal users like more; catchy tracks are liked more, and loyal users respond to
    catchiness more; taste for the genre, a favourite artist, the user's feeling for the
    artist, an attentive moment (evening or weekend) and a fresh release all help.
    """
    loyalty = listeners.loyalty[user]
    catchiness = catalog.track_catchiness[track]
    n_genres = len(GENRES)
    genre_taste = np.clip(
        np.log(listeners.genre_affinity[user, catalog.track_genre[track]] * n_genres), -3.0, 2.0
    )
    attentive = sessions.is_weekend[session] | (sessions.local_hour[session] >= 18)
    fresh = sessions.start_ms[session] - release_ms[track] < FRESH_RELEASE_DAYS * MS_PER_DAY
    logit = (
        LIKE_INTERCEPT
        + loyalty
        + LIKE_CATCHINESS * catchiness
        + LIKE_LOYALTY_X_CATCHINESS * loyalty * catchiness
        + LIKE_GENRE_TASTE * genre_taste
        + LIKE_FAVOURITE_ARTIST * favourite
        + artist_feeling
        + LIKE_ATTENTIVE_MOMENT * attentive
        + LIKE_FRESH_RELEASE * fresh
    )
    return 1.0 / (1.0 + np.exp(-logit))


def _draw_replays(
    rng: np.random.Generator,
    catalog: Catalog,
    listeners: Listeners,
    sessions: Sessions,
    discoveries: Discoveries,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Later plays of discovered tracks: (session, track, kind) per replay.

    Liked tracks return several times with growing gaps (interest decays); the rest return
    at most once, by chance, more often when popular or catchy.
    """
    liked = np.flatnonzero(discoveries.liked)
    liked_delays, liked_source = _liked_replay_delays(rng, catalog, listeners, discoveries, liked)

    disliked = np.flatnonzero(~discoveries.liked)
    log_popularity = catalog.track_log_popularity[discoveries.track[disliked]]
    chance_logit = (
        CHANCE_REPLAY_INTERCEPT
        + 0.35 * (log_popularity - catalog.track_log_popularity.mean())
        + 0.3 * catalog.track_catchiness[discoveries.track[disliked]]
    )
    by_chance = disliked[rng.random(len(disliked)) < 1.0 / (1.0 + np.exp(-chance_logit))]
    chance_delays = rng.uniform(0.3, CHANCE_REPLAY_MAX_DAYS, len(by_chance)) * MS_PER_DAY

    source = np.concatenate([liked_source, by_chance])
    delay_ms = np.concatenate([liked_delays, chance_delays])
    kind = np.concatenate(
        [np.full(len(liked_source), _KIND_REPLAY), np.full(len(by_chance), _KIND_CHANCE_REPLAY)]
    )
    due_ms = sessions.start_ms[discoveries.session[source]] + delay_ms.astype(np.int64)
    session = _next_session(sessions, discoveries.user[source], due_ms)
    track = discoveries.track[source]
    landed = session >= 0
    session, track, kind = session[landed], track[landed], kind[landed]

    # Two replays of one track due before the same session are one play.
    _, first = np.unique(session * catalog.n_tracks + track, return_index=True)
    first.sort()
    return session[first], track[first], kind[first]


def _liked_replay_delays(
    rng: np.random.Generator,
    catalog: Catalog,
    listeners: Listeners,
    discoveries: Discoveries,
    liked: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Delays (ms after discovery) of every replay of liked tracks, and the discovery index.

    The number of replays is overdispersed (a few songs go on heavy rotation); the gaps
    between them grow geometrically, so replays are dense in the first days and thin out.
    """
    user, track = discoveries.user[liked], discoveries.track[liked]
    mean_extra = np.exp(
        REPLAYS_BASE_LOG_MEAN
        + 0.35 * listeners.loyalty[user]
        + 0.25 * catalog.track_catchiness[track]
        + 0.4 * discoveries.favourite_artist[liked]
    )
    count = 1 + rng.poisson(rng.gamma(1.5, mean_extra / 1.5))
    count = np.minimum(count, MAX_REPLAYS)

    first_gap_days = np.exp(rng.normal(np.log(REPLAY_FIRST_DELAY_MEDIAN_DAYS), 0.9, len(liked)))
    first_gap_days *= np.where(rng.random(len(liked)) < SLOW_BURNER_SHARE, SLOW_BURNER_FACTOR, 1.0)
    source = np.repeat(liked, count)
    group_start = np.cumsum(count) - count
    nth = np.arange(len(source)) - np.repeat(group_start, count)
    gap_days = rng.exponential(np.repeat(first_gap_days, count) * REPLAY_GAP_GROWTH**nth)
    delay_days = np.minimum(_grouped_cumsum(gap_days, group_start, count), MAX_REPLAY_DELAY_DAYS)
    return delay_days * MS_PER_DAY, source


def _grouped_cumsum(values: np.ndarray, group_start: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Cumulative sum restarting at each group (groups are consecutive runs of `count`)."""
    total = np.cumsum(values)
    before_group = total[group_start] - values[group_start]
    return total - np.repeat(before_group, count)


def _next_session(sessions: Sessions, user: np.ndarray, due_ms: np.ndarray) -> np.ndarray:
    """Index of the user's first session starting after `due_ms`, or -1 if there is none."""
    if len(sessions.user) == 0:
        return np.full(len(user), -1)
    origin = int(sessions.start_ms.min())
    span = int(sessions.start_ms.max()) - origin + 1
    session_key = sessions.user * span + (sessions.start_ms - origin)
    due_key = user * span + np.clip(due_ms - origin, 0, span)
    index = np.searchsorted(session_key, due_key, side="right")
    found = index < len(sessions.user)
    found[found] &= sessions.user[index[found]] == user[found]
    return np.where(found, index, -1)


def _ms_played(
    rng: np.random.Generator, duration_ms: np.ndarray, kind: np.ndarray, liked: np.ndarray
) -> np.ndarray:
    """Playback time per play: the whole track, or an early skip (never under 30 s)."""
    skip_chance = np.select(
        [kind == _KIND_REPLAY, kind == _KIND_CHANCE_REPLAY, liked],
        [SKIP_CHANCE_REPLAY, SKIP_CHANCE_CHANCE_REPLAY, SKIP_CHANCE_LIKED],
        SKIP_CHANCE_DISLIKED,
    )
    skipped = rng.random(len(duration_ms)) < skip_chance
    skipped_at = MIN_MS_PLAYED + np.floor(
        rng.random(len(duration_ms)) * (duration_ms - MIN_MS_PLAYED)
    ).astype(np.int64)
    return np.where(skipped, skipped_at, duration_ms)


def _play_times(
    rng: np.random.Generator, sessions: Sessions, session: np.ndarray, ms_played: np.ndarray
) -> np.ndarray:
    """Start of each play (ms, UTC): back to back in its session, sessions kept apart.

    `session` must be sorted. A session that would start before the previous one (plus a
    break of at least 45 minutes) has ended is pushed later: with c_k the summed length and
    break of the user's sessions before k, start'_k = c_k + running max of (start_k - c_k).
    """
    if len(session) == 0:
        return np.empty(0, dtype=np.int64)
    pause = rng.integers(0, 2 * MS_PER_SECOND, len(session))
    long_pause = rng.random(len(session)) < 0.05
    pause += np.where(
        long_pause,
        np.minimum(rng.exponential(40_000, len(session)), MAX_PAUSE_MS).astype(np.int64),
        0,
    )
    step = ms_played + pause

    used, first_play, plays_per_session = np.unique(session, return_index=True, return_counts=True)
    offset = _grouped_cumsum(step, first_play, plays_per_session) - step
    length = np.add.reduceat(step, first_play)
    user = sessions.user[used]
    start = sessions.start_ms[used]
    gap = MIN_SESSION_GAP_MS + rng.exponential(SESSION_GAP_EXTRA_MEAN_MS, len(used)).astype(
        np.int64
    )

    first_of_user = np.r_[True, user[1:] != user[:-1]]
    user_start = np.flatnonzero(first_of_user)
    sessions_per_user = np.diff(np.r_[user_start, len(used)])
    before = _grouped_cumsum(length + gap, user_start, sessions_per_user) - (length + gap)
    shifted_start = before + _grouped_running_max(start - before, first_of_user)
    return np.repeat(shifted_start, plays_per_session) + offset


def _grouped_running_max(values: np.ndarray, group_first: np.ndarray) -> np.ndarray:
    """Running maximum restarting at each group (True in `group_first` opens a group)."""
    if len(values) == 0:
        return values
    group = np.cumsum(group_first) - 1
    relative = values - values.min()
    lift = int(relative.max()) + 1
    return np.maximum.accumulate(relative + group * lift) - group * lift + values.min()


def _plays_frame(
    listeners: Listeners,
    catalog: Catalog,
    user: np.ndarray,
    track: np.ndarray,
    played_at_ms: np.ndarray,
    ms_played: np.ndarray,
) -> pl.DataFrame:
    """The plays frame in the contract schema, sorted by user_id then played_at."""
    frame = pl.DataFrame(
        {
            "user_id": listeners.frame["user_id"].gather(user),
            "track_id": catalog.tracks["track_id"].gather(track),
            "played_at": pl.Series(played_at_ms * 1_000, dtype=pl.Int64).cast(
                PLAYS_SCHEMA["played_at"]
            ),
            "ms_played": pl.Series(ms_played, dtype=pl.Int64).cast(pl.Int32),
        },
        schema=PLAYS_SCHEMA,
    )
    return frame.sort(["user_id", "played_at"])
