"""Last.fm scrobbles (pylast) -> landing zone -> raw.lastfm_scrobbles / _user_info / _track_info.

For the DAG (each call runs without Airflow too):

    folder = extract_recent_tracks(logical_date)          # all users + track metadata
    counts = load_landed(conn, folder, logical_date)

or, one mapped task per user:

    users = lastfm_users()                                  # [] when LASTFM_API_KEY is unset
    folders = [extract_user(user, logical_date) for user in users]
    folders.append(extract_track_info(logical_date, folders))
    counts = load_landed(conn, folders, logical_date)       # all users in ONE call

`python -m extract.lastfm --date YYYY-MM-DD [--users a,b]` does extract + load.
See README.md in this folder for the settings and how tests point pylast at a local server.
"""

from extract.lastfm.config import SOURCE, LastfmConfig
from extract.lastfm.extract import (
    extract_recent_tracks,
    extract_track_info,
    extract_user,
    lastfm_users,
)
from extract.lastfm.load import load_landed, skipped_users

__all__ = [
    "SOURCE",
    "LastfmConfig",
    "extract_recent_tracks",
    "extract_track_info",
    "extract_user",
    "lastfm_users",
    "load_landed",
    "skipped_users",
]
