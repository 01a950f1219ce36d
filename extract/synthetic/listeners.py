"""The synthetic listeners: a public profile (the users frame) and hidden habits.

The habits are what make listening histories differ in learnable ways: a sparse genre taste
(most people love two or three genres), a loyalty that sets how often a discovery becomes a
song they come back to, how often they listen, and the clock they live by. Age band and
country nudge taste and loyalty, so demographics carry a little signal too.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl
from faker import Faker

from extract.synthetic.model import USERS_SCHEMA, stream_faker_seed, stream_rng
from extract.synthetic.profiles import (
    AGE_BAND_ACTIVITY,
    AGE_BAND_GENRE_TILT,
    AGE_BAND_LOYALTY_SHIFT,
    AGE_BAND_SHARES,
    AGE_BANDS,
    COUNTRIES,
    COUNTRY_PROFILES,
    GENRE_PROFILES,
    GENRES,
)

# Sign-ups lie in a fixed past range, so the population does not depend on the window; it
# ends early enough that everybody can listen in any window from 2024 on (nobody listens
# before signing up, so windows before SIGNUP_LATEST see fewer users).
SIGNUP_EARLIEST = dt.date(2012, 1, 1)
SIGNUP_LATEST = dt.date(2023, 12, 31)
SIGNUP_MEAN_AGE_YEARS = 3.0
# Dirichlet concentration of genre taste: small, so a few genres take most of a listener's
# attention; a little of the population-wide prior is mixed back in so no genre is taboo.
TASTE_CONCENTRATION = 2.0
TASTE_PRIOR_MIX = 0.08
USER_ID_PREFIX = "syn_u"

_MICROS_PER_DAY = 86_400 * 1_000_000
_EPOCH = dt.date(1970, 1, 1)


@dataclass(frozen=True)
class Listeners:
    """The users frame plus per-user habits, indexed like the frame's rows."""

    frame: pl.DataFrame
    utc_offset_hours: np.ndarray
    genre_affinity: np.ndarray  # (n_users, n_genres), rows sum to 1
    loyalty: np.ndarray  # logit shift of liking what they discover
    sessions_per_day: np.ndarray
    weekend_factor: np.ndarray  # session rate on weekends relative to weekdays
    discoveries_per_session: np.ndarray  # mean new tracks per session
    chronotype_hours: np.ndarray  # early birds (negative) and night owls (positive)
    signed_up_us: np.ndarray  # microseconds since the epoch, UTC

    @property
    def n_users(self) -> int:
        return len(self.loyalty)


def build_listeners(seed: int, n_users: int) -> Listeners:
    """Draw `n_users` listeners; they depend only on the seed and the count."""
    rng = stream_rng(seed, "users")
    faker = Faker("en_US")
    faker.seed_instance(stream_faker_seed(seed, "user_names"))

    country_shares = np.array([COUNTRY_PROFILES[c].share for c in COUNTRIES])
    country = rng.choice(len(COUNTRIES), size=n_users, p=country_shares / country_shares.sum())
    age_band = rng.choice(len(AGE_BANDS), size=n_users, p=np.array(AGE_BAND_SHARES))
    genre_affinity = _genre_affinity(rng, country, age_band)
    loyalty = rng.normal(np.array(AGE_BAND_LOYALTY_SHIFT)[age_band], 0.8)
    sessions_per_day = (
        np.exp(rng.normal(np.log(0.65), 0.7, size=n_users)) * np.array(AGE_BAND_ACTIVITY)[age_band]
    )
    weekend_factor = np.exp(rng.normal(np.log(1.15), 0.3, size=n_users))
    # Loyal listeners explore a little less: their sessions lean on songs they already love.
    discoveries_per_session = np.exp(rng.normal(np.log(3.0), 0.35, size=n_users) - 0.2 * loyalty)
    chronotype_hours = rng.normal(0.0, 0.8, size=n_users)
    signed_up_us = _signup_times(rng, n_users)
    utc_offset = np.array([COUNTRY_PROFILES[c].utc_offset_hours for c in COUNTRIES])[country]

    width = max(5, len(str(n_users)))
    frame = pl.DataFrame(
        {
            "user_id": [f"{USER_ID_PREFIX}{i:0{width}d}" for i in range(1, n_users + 1)],
            "username": _usernames(faker, n_users),
            "country": pl.Series(COUNTRIES, dtype=pl.String).gather(country),
            "age_band": pl.Series(AGE_BANDS, dtype=pl.String).gather(age_band),
            "signed_up_at": pl.Series(signed_up_us, dtype=pl.Int64).cast(
                USERS_SCHEMA["signed_up_at"]
            ),
        },
        schema=USERS_SCHEMA,
    )
    return Listeners(
        frame=frame,
        utc_offset_hours=utc_offset,
        genre_affinity=genre_affinity,
        loyalty=loyalty,
        sessions_per_day=sessions_per_day,
        weekend_factor=weekend_factor,
        discoveries_per_session=discoveries_per_session,
        chronotype_hours=chronotype_hours,
        signed_up_us=signed_up_us,
    )


def _taste_prior(country: np.ndarray, age_band: np.ndarray) -> np.ndarray:
    """Population-wide genre shares, tilted by each user's age band and country."""
    popularity = np.array([GENRE_PROFILES[g].popularity for g in GENRES])
    age_tilt = np.array([[tilt.get(g, 1.0) for g in GENRES] for tilt in AGE_BAND_GENRE_TILT])
    country_tilt = np.array(
        [[COUNTRY_PROFILES[c].genre_tilt.get(g, 1.0) for g in GENRES] for c in COUNTRIES]
    )
    prior = popularity[None, :] * age_tilt[age_band] * country_tilt[country]
    return prior / prior.sum(axis=1, keepdims=True)


def _genre_affinity(
    rng: np.random.Generator, country: np.ndarray, age_band: np.ndarray
) -> np.ndarray:
    """Sparse Dirichlet taste around the demographic prior (rows sum to 1)."""
    prior = _taste_prior(country, age_band)
    draws = rng.gamma(TASTE_CONCENTRATION * prior)
    totals = draws.sum(axis=1, keepdims=True)
    taste = np.divide(draws, totals, out=prior.copy(), where=totals > 0)
    return (1.0 - TASTE_PRIOR_MIX) * taste + TASTE_PRIOR_MIX * prior


def _signup_times(rng: np.random.Generator, n_users: int) -> np.ndarray:
    """Sign-up instants (µs since the epoch), more of them recent, within the fixed range."""
    latest_day = (SIGNUP_LATEST - _EPOCH).days
    earliest_day = (SIGNUP_EARLIEST - _EPOCH).days
    age_days = rng.exponential(SIGNUP_MEAN_AGE_YEARS * 365.25, size=n_users)
    day = np.maximum(latest_day - np.floor(age_days).astype(np.int64), earliest_day)
    seconds_into_day = rng.integers(0, 86_400, size=n_users)
    return day * _MICROS_PER_DAY + seconds_into_day * 1_000_000


def _usernames(faker: Faker, n_users: int) -> list[str]:
    """Faker user names, made unique with a numeric suffix when Faker repeats itself."""
    seen: set[str] = set()
    names = []
    for _ in range(n_users):
        name = faker.user_name()
        while name in seen:
            name = f"{name}{faker.random_int(0, 99)}"
        seen.add(name)
        names.append(name)
    return names
