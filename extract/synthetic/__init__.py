"""Faker-based synthetic listeners: a catalog, a population and their listening history.

`generate_world(SyntheticConfig(...))` returns the four raw frames described in
docs/data_contracts.md ("Synthetic listeners"). The world is built to be learnable: replays
depend on the listener (loyalty, genre taste, favourite artists, age band), the track
(catchiness, partly visible in its audio features) and the moment, and decay with time, so
a model can beat "the track's historical repeat rate".

Same config, same frames. Users, artists and tracks depend only on `seed`, `n_users` and
`n_tracks`; only the plays depend on the window (`days`, `end_date`).
"""

from __future__ import annotations

from extract.synthetic.catalog import build_catalog
from extract.synthetic.listeners import build_listeners
from extract.synthetic.listening import Progress, simulate_plays
from extract.synthetic.model import (
    ARTISTS_SCHEMA,
    DEFAULT_END_DATE,
    PLAYS_SCHEMA,
    TRACKS_SCHEMA,
    USERS_SCHEMA,
    SyntheticConfig,
    SyntheticWorld,
)
from extract.synthetic.profiles import COUNTRY_UTC_OFFSET_HOURS, GENRES

__all__ = [
    "ARTISTS_SCHEMA",
    "COUNTRY_UTC_OFFSET_HOURS",
    "DEFAULT_END_DATE",
    "GENRES",
    "PLAYS_SCHEMA",
    "TRACKS_SCHEMA",
    "USERS_SCHEMA",
    "Progress",
    "SyntheticConfig",
    "SyntheticWorld",
    "generate_world",
]


def generate_world(config: SyntheticConfig, progress: Progress | None = None) -> SyntheticWorld:
    """Generate the catalog, the listeners and their plays for `config`.

    `progress(stage, done, total)`, if given, is called as the stages advance (catalog,
    listeners, sessions, discoveries, replays, plays) so a CLI can show where it is.
    """
    catalog = build_catalog(config.seed, config.n_tracks)
    if progress:
        progress("catalog", config.n_tracks, config.n_tracks)
    listeners = build_listeners(config.seed, config.n_users)
    if progress:
        progress("listeners", config.n_users, config.n_users)
    plays = simulate_plays(config, catalog, listeners, progress)
    return SyntheticWorld(
        users=listeners.frame, artists=catalog.artists, tracks=catalog.tracks, plays=plays
    )
