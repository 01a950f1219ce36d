"""A stand-in for ws.audioscrobbler.com/2.0/ on the replay server, for pylast to talk to.

It answers from recorded material only: a user's history is a list of recorded `<track>`
items, paged the way Last.fm pages them (`limit` per page, the now-playing item on top of
page 1 in addition to `limit`, `from`/`to` applied inclusively, the pessimistic reading),
inside the recorded envelope (`<recenttracks user page perPage totalPages total>`).
user.getInfo and track.getInfo answer recorded bodies (names matched case-insensitively,
like Last.fm); anything unknown gets the recorded failure envelope with error 6.
Scripted answers (`script`) are served first, in order: rate limits, 5xx, private users.
"""

from __future__ import annotations

import math
import threading
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from xml.sax.saxutils import quoteattr

from tests.support.lastfm_fixtures import TrackFragment, error_envelope
from tests.support.replay_server import ReplayServer, Request, Response

XML_HEADERS = {"Content-Type": "text/xml; charset=UTF-8"}
API_PATH = "/2.0/"


class FakeLastfm:
    def __init__(self, server: ReplayServer, error_template: str) -> None:
        self.server = server
        self.error_template = error_template
        self.histories: dict[str, tuple[str, list[TrackFragment]]] = {}
        self.user_info: dict[str, str] = {}
        self.track_info: dict[tuple[str, str], str] = {}
        self.private: set[str] = set()
        self._scripts: dict[tuple[str, str | None], deque[Response]] = defaultdict(deque)
        self._lock = threading.Lock()
        server.route("POST", API_PATH, self.handle)

    @property
    def api_url(self) -> str:
        return self.server.url + API_PATH

    # -- setup -------------------------------------------------------------------------
    def add_history(self, user: str, fragments: Iterable[TrackFragment]) -> None:
        self.histories[user.lower()] = (user, list(fragments))

    def hide(self, user: str) -> None:
        """The user hides their history: user.getRecentTracks answers error 17, always."""
        self.private.add(user.lower())

    def add_user_info(self, user: str, body: str) -> None:
        self.user_info[user.lower()] = body

    def add_track_info(self, artist: str, title: str, body: str) -> None:
        self.track_info[(artist.lower(), title.lower())] = body

    def script(self, method: str, *answers: Response, user: str | None = None) -> None:
        """Serve `answers` (in order) to the next calls of `method` (for `user`, if given)."""
        self._scripts[(method.lower(), user.lower() if user else None)].extend(answers)

    def error(self, code: int, http_status: int = 400, message: str | None = None) -> Response:
        return Response(
            http_status, error_envelope(self.error_template, code, message), XML_HEADERS
        )

    def reset(self) -> None:
        """Forget scripted answers and recorded requests (one server serves many tests)."""
        with self._lock:
            self._scripts.clear()
        self.server.requests.clear()

    # -- what pylast asked -------------------------------------------------------------
    def calls(self, method: str) -> list[dict[str, str]]:
        return [
            request.params
            for request in self.server.requests
            if request.params.get("method", "").lower() == method.lower()
        ]

    # -- answering ---------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        params = request.params
        method = params.get("method", "").lower()
        user = params.get("user", "").lower() or None
        with self._lock:
            for key in ((method, user), (method, None)):
                if self._scripts.get(key):
                    return self._scripts[key].popleft()
        if method == "user.getrecenttracks":
            return self._recent_tracks(params)
        if method == "user.getinfo":
            body = self.user_info.get(params.get("user", "").lower())
            return Response(200, body, XML_HEADERS) if body else self.error(6)
        if method == "track.getinfo":
            key = (params.get("artist", "").lower(), params.get("track", "").lower())
            body = self.track_info.get(key)
            return (
                Response(200, body, XML_HEADERS)
                if body
                else self.error(6, message="Track not found")
            )
        return self.error(3, message="Invalid Method - No method with that name in this package")

    def _recent_tracks(self, params: dict[str, str]) -> Response:
        if params.get("user", "").lower() in self.private:
            return self.error(17)
        history = self.histories.get(params.get("user", "").lower())
        if history is None:
            return self.error(6)
        user, fragments = history
        since, until = params.get("from"), params.get("to")

        def in_range(fragment: TrackFragment) -> bool:
            if fragment.uts is None:  # a malformed item: served whatever the range
                return True
            return (since is None or fragment.uts >= int(since)) and (
                until is None or fragment.uts <= int(until)
            )

        now_playing = [f for f in fragments if f.now_playing]
        played = [f for f in fragments if not f.now_playing and in_range(f)]
        limit = int(params.get("limit", 50))
        page = int(params.get("page", 1))
        total_pages = math.ceil(len(played) / limit)
        items = played[(page - 1) * limit : page * limit]
        if page == 1:
            items = now_playing + items
        attrs = {
            "user": user,
            "page": page,
            "perPage": limit,
            "totalPages": total_pages,
            "total": len(played),
        }
        opening = " ".join(f"{key}={quoteattr(str(value))}" for key, value in attrs.items())
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<lfm status="ok">\n'
            f"  <recenttracks {opening}>\n"
            + "".join(f"    {item.xml}\n" for item in items)
            + "  </recenttracks>\n</lfm>\n"
        )
        return Response(200, body, XML_HEADERS)


TRACK_INFO_CASSETTES = (
    "TestPyLastNetwork.test_track_data.yaml",  # Test Artist / test title
    "TestPyLastTrack.test_track_get_duration.yaml",  # Daft Punk / Something About Us
    "TestPyLastTrack.test_track_with_no_mbid.yaml",  # Static-X / Set It Off
    "TestPyLastTrack.test_track_get_album.yaml",  # Nirvana / Lithium
)


def recorded_fake(server: ReplayServer, shared_data: Path) -> FakeLastfm:
    """A fake holding every recorded history, user and track answer the tests use.

    Users: diegodukao (lamusga's real JSON page, 50 scrobbles across 2018-05-15/16 UTC plus
    now-playing), bbc6music (pylast, 11 scrobbles), RJ (ruby-lastfm: a now-playing item and
    one without a date, plus pylast's from/to scrobble with MBIDs), Duhnnie (LastFM.swift),
    test-account (pylast's test account, whose tracks have recorded track.getInfo answers)
    and mojibake (ruby-lastfm's malformed page).
    """
    from urllib.parse import parse_qs

    from tests.support import lastfm_fixtures as fx

    fake = FakeLastfm(server, fx.recorded_error_template(shared_data))
    fake.add_history(
        "diegodukao", fx.track_fragments(fx.json_to_xml(fx.lamusga_recent_tracks(shared_data)))
    )
    fake.add_history(
        "bbc6music",
        fx.track_fragments(
            fx.cassette_body(shared_data, "TestPyLastUser.test_get_recent_tracks_limit_none.yaml")
        ),
    )
    from_to = fx.track_fragments(
        fx.cassette_body(shared_data, "TestPyLastUser.test_get_recent_tracks_from_to.yaml")
    )
    ruby = fx.track_fragments(fx.ruby_xml(shared_data, "user_get_recent_tracks.xml"))
    fake.add_history("RJ", ruby + [fragment for fragment in from_to if not fragment.now_playing])
    fake.add_history(
        "Duhnnie",
        fx.track_fragments(fx.json_to_xml(fx.swift_json(shared_data, "user.getRecentTracks.json"))),
    )
    fake.add_history(
        "test-account",
        fx.track_fragments(
            fx.cassette_body(shared_data, "TestPyLastAlbum.test_album_in_recent_tracks.yaml")
        ),
    )
    fake.add_history(
        "mojibake",
        fx.track_fragments(fx.ruby_xml(shared_data, "user_get_recent_tracks_malformed.xml")),
    )

    fake.add_user_info(
        "RJ", fx.cassette_body(shared_data, "TestPyLastUser.test_get_user_registration.yaml")
    )
    countryless = fx.cassette_body(shared_data, "TestPyLastUser.test_get_countryless_user.yaml")
    for user in ("diegodukao", "test-account"):
        fake.add_user_info(user, countryless)

    for name in TRACK_INFO_CASSETTES:
        interaction = fx.cassette(shared_data, name)[0]
        body = interaction["request"]["body"]
        asked = {key: values[-1] for key, values in parse_qs(body).items()}
        fake.add_track_info(
            asked["artist"], asked["track"], interaction["response"]["body"]["string"]
        )
    return fake


@contextmanager
def running_fake(shared_data: Path) -> Iterator[FakeLastfm]:
    """`recorded_fake` on a replay server of its own, stopped afterwards."""
    from tests.support.replay_server import replay_server

    with replay_server() as server:
        yield recorded_fake(server, shared_data)


API_KEY = "test-key-0123456789abcdef"  # what tests assert never shows up in logs
API_SECRET = "test-secret-fedcba9876543210"


def fast_config(api_url: str, **overrides: object):
    """A LastfmConfig for tests: the fake's URL, no pacing, instant bounded retries."""
    from extract.lastfm.client import RetryPolicy
    from extract.lastfm.config import LastfmConfig

    settings: dict[str, object] = {
        "api_key": API_KEY,
        "api_secret": API_SECRET,
        "api_url": api_url,
        "min_interval_seconds": 0.0,
        "initial_days": None,
        "retry": RetryPolicy(max_attempts=3, backoff_seconds=0.0),
    }
    return LastfmConfig(**{**settings, **overrides})
