"""Hand-written priors of the synthetic world: genres, countries, age bands, daily rhythm.

Everything here is a plain constant so that a reader can see (and tune) the assumptions the
generator makes about music and listeners in one place. The numbers are rough, plausible
shapes (Spotify-like audio features per genre, a commuter/evening listening rhythm), not
measurements.
"""

from __future__ import annotations

from typing import NamedTuple


class GenreProfile(NamedTuple):
    """Typical track of a genre, plus how the genre behaves in the listening simulation."""

    danceability: float
    energy: float
    valence: float
    acousticness: float
    instrumentalness: float
    speechiness: float
    tempo_bpm: float
    loudness_db: float
    duration_minutes: float
    explicit_share: float
    popularity: float  # relative share of listening the genre attracts overall
    replay_bias: float  # logit shift of "liking" a discovery: catchy genres get replayed more
    catalog_age_years: float  # mean age of an artist's career: classical/jazz catalogs are old


_G = GenreProfile
GENRE_PROFILES: dict[str, GenreProfile] = {
    # dance, energy, valence, acoustic, instrumental, speech, tempo, loudness, minutes,
    # explicit share, popularity, replay bias, catalog age (years)
    "pop": _G(0.68, 0.68, 0.58, 0.18, 0.02, 0.07, 118, -6.0, 3.4, 0.15, 1.00, 0.30, 4),
    "rock": _G(0.50, 0.76, 0.50, 0.12, 0.06, 0.05, 125, -6.5, 4.0, 0.08, 0.80, 0.00, 12),
    "hip-hop": _G(0.76, 0.65, 0.50, 0.12, 0.01, 0.26, 100, -6.5, 3.5, 0.70, 0.90, 0.20, 5),
    "electronic": _G(0.65, 0.78, 0.42, 0.06, 0.45, 0.07, 126, -6.0, 4.5, 0.05, 0.60, 0.00, 5),
    "indie": _G(0.55, 0.58, 0.45, 0.35, 0.08, 0.05, 118, -8.0, 3.7, 0.08, 0.55, 0.05, 6),
    "metal": _G(0.38, 0.92, 0.30, 0.02, 0.15, 0.08, 140, -4.5, 4.8, 0.20, 0.35, 0.15, 12),
    "jazz": _G(0.52, 0.38, 0.50, 0.70, 0.45, 0.06, 110, -12.0, 5.0, 0.01, 0.30, -0.35, 25),
    "classical": _G(0.28, 0.18, 0.25, 0.92, 0.85, 0.04, 95, -20.0, 6.0, 0.00, 0.25, -0.45, 35),
    "r&b": _G(0.68, 0.55, 0.52, 0.25, 0.02, 0.10, 100, -7.0, 3.6, 0.35, 0.50, 0.15, 7),
    "country": _G(0.58, 0.62, 0.60, 0.30, 0.01, 0.04, 115, -7.0, 3.3, 0.03, 0.40, 0.10, 8),
    "latin": _G(0.76, 0.72, 0.68, 0.20, 0.01, 0.09, 105, -5.5, 3.4, 0.15, 0.55, 0.20, 4),
    "k-pop": _G(0.70, 0.78, 0.60, 0.12, 0.01, 0.07, 122, -4.5, 3.3, 0.03, 0.35, 0.40, 3),
    "folk": _G(0.50, 0.38, 0.48, 0.75, 0.08, 0.04, 110, -11.0, 3.8, 0.01, 0.30, -0.10, 15),
    "punk": _G(0.45, 0.90, 0.48, 0.03, 0.02, 0.07, 160, -5.0, 2.6, 0.30, 0.25, 0.05, 15),
    "soul": _G(0.60, 0.50, 0.62, 0.40, 0.03, 0.05, 105, -9.0, 3.3, 0.02, 0.30, 0.00, 30),
    "reggae": _G(0.75, 0.60, 0.72, 0.20, 0.05, 0.12, 90, -8.0, 3.9, 0.05, 0.20, 0.05, 20),
    "ambient": _G(0.30, 0.22, 0.20, 0.85, 0.85, 0.04, 90, -18.0, 6.5, 0.00, 0.20, -0.45, 8),
    "blues": _G(0.50, 0.48, 0.50, 0.55, 0.05, 0.05, 100, -10.0, 4.2, 0.01, 0.20, -0.20, 30),
    "techno": _G(0.72, 0.85, 0.30, 0.03, 0.80, 0.06, 130, -7.0, 6.5, 0.01, 0.25, -0.10, 4),
    "house": _G(0.76, 0.78, 0.50, 0.05, 0.60, 0.07, 124, -7.0, 5.5, 0.03, 0.30, -0.05, 4),
}

GENRES: tuple[str, ...] = tuple(GENRE_PROFILES)

AGE_BANDS: tuple[str, ...] = ("18-24", "25-34", "35-44", "45-54", "55+")
AGE_BAND_SHARES: tuple[float, ...] = (0.24, 0.33, 0.21, 0.13, 0.09)
# Younger listeners replay more (logit shift of liking) and listen a bit more often.
AGE_BAND_LOYALTY_SHIFT: tuple[float, ...] = (0.35, 0.15, 0.0, -0.15, -0.30)
AGE_BAND_ACTIVITY: tuple[float, ...] = (1.15, 1.05, 1.0, 0.9, 0.8)
# Multipliers on a genre's prior share of a listener's taste, per age band.
AGE_BAND_GENRE_TILT: tuple[dict[str, float], ...] = (
    {
        "k-pop": 2.0,
        "hip-hop": 1.8,
        "electronic": 1.4,
        "pop": 1.4,
        "punk": 1.2,
        "techno": 1.3,
        "house": 1.3,
        "jazz": 0.5,
        "classical": 0.5,
        "blues": 0.4,
        "soul": 0.5,
        "country": 0.8,
        "folk": 0.8,
    },
    {"hip-hop": 1.3, "indie": 1.4, "electronic": 1.2, "house": 1.2, "techno": 1.2},
    {"rock": 1.3, "indie": 1.2, "r&b": 1.1, "jazz": 1.1, "country": 1.1},
    {
        "rock": 1.5,
        "country": 1.4,
        "jazz": 1.4,
        "blues": 1.4,
        "soul": 1.4,
        "folk": 1.3,
        "classical": 1.3,
        "k-pop": 0.4,
        "hip-hop": 0.6,
    },
    {
        "classical": 2.0,
        "jazz": 1.8,
        "blues": 1.8,
        "soul": 1.6,
        "folk": 1.5,
        "country": 1.5,
        "rock": 1.3,
        "k-pop": 0.25,
        "hip-hop": 0.4,
        "techno": 0.4,
        "house": 0.5,
        "electronic": 0.6,
    },
)


class CountryProfile(NamedTuple):
    """Where a listener lives: how common that is, the clock they live by, local tastes."""

    share: float
    utc_offset_hours: float
    genre_tilt: dict[str, float]


COUNTRY_PROFILES: dict[str, CountryProfile] = {
    "US": CountryProfile(0.24, -6.0, {"country": 2.0, "hip-hop": 1.4}),
    "GB": CountryProfile(0.08, 0.0, {"indie": 1.6, "rock": 1.3, "punk": 1.3}),
    "DE": CountryProfile(0.07, 1.0, {"techno": 3.0, "metal": 1.5, "house": 1.3}),
    "BR": CountryProfile(0.07, -3.0, {"latin": 3.0}),
    "MX": CountryProfile(0.05, -6.0, {"latin": 5.0}),
    "FR": CountryProfile(0.05, 1.0, {"hip-hop": 1.4, "electronic": 1.3}),
    "CA": CountryProfile(0.04, -5.0, {"country": 1.3, "indie": 1.2}),
    "JP": CountryProfile(0.04, 9.0, {"k-pop": 2.0, "jazz": 1.5, "electronic": 1.2}),
    "IN": CountryProfile(0.04, 5.5, {"pop": 1.3, "classical": 1.2}),
    "KR": CountryProfile(0.03, 9.0, {"k-pop": 6.0}),
    "AU": CountryProfile(0.03, 10.0, {"indie": 1.3, "rock": 1.2}),
    "ES": CountryProfile(0.03, 1.0, {"latin": 3.0}),
    "IT": CountryProfile(0.03, 1.0, {"pop": 1.3}),
    "ID": CountryProfile(0.025, 7.0, {"k-pop": 2.5}),
    "PH": CountryProfile(0.025, 8.0, {"k-pop": 2.5, "r&b": 1.3}),
    "NL": CountryProfile(0.02, 1.0, {"house": 2.5, "techno": 2.0}),
    "SE": CountryProfile(0.02, 1.0, {"metal": 2.0, "pop": 1.3}),
    "PL": CountryProfile(0.02, 1.0, {"metal": 1.3, "rock": 1.2}),
    "AR": CountryProfile(0.02, -3.0, {"latin": 4.0}),
    "CO": CountryProfile(0.02, -5.0, {"latin": 5.0}),
    "NG": CountryProfile(0.02, 1.0, {"hip-hop": 1.5, "r&b": 1.5, "reggae": 2.0}),
    "TR": CountryProfile(0.02, 3.0, {"rock": 1.2}),
    "ZA": CountryProfile(0.015, 2.0, {"house": 2.5}),
    "FI": CountryProfile(0.01, 2.0, {"metal": 4.0}),
}

COUNTRIES: tuple[str, ...] = tuple(COUNTRY_PROFILES)

# The fixed clock offset the simulation uses for a listener's country (no DST): plays are
# generated at local human hours and stored in UTC, so local hour = UTC hour + this offset.
COUNTRY_UTC_OFFSET_HOURS: dict[str, float] = {
    code: profile.utc_offset_hours for code, profile in COUNTRY_PROFILES.items()
}

# Relative chance that a listening session starts in each local hour 0..23.
# Weekdays: morning commute, lunch, a long evening peak, almost nothing from 2 to 6 am.
WEEKDAY_SESSION_START_BY_HOUR: tuple[float, ...] = (
    1.2,
    0.6,
    0.25,
    0.12,
    0.12,
    0.3,
    1.2,
    3.0,
    3.5,
    2.2,
    1.8,
    2.0,
    2.8,
    2.4,
    1.8,
    1.8,
    2.2,
    3.2,
    3.6,
    4.0,
    4.2,
    3.8,
    3.0,
    2.0,
)
# Weekends: later mornings, a flat afternoon, more late-night listening.
WEEKEND_SESSION_START_BY_HOUR: tuple[float, ...] = (
    2.0,
    1.3,
    0.6,
    0.25,
    0.15,
    0.15,
    0.4,
    0.8,
    1.5,
    2.4,
    3.0,
    3.2,
    3.2,
    3.0,
    3.0,
    3.0,
    3.0,
    3.2,
    3.5,
    3.8,
    4.0,
    3.8,
    3.2,
    2.6,
)
