"""Recorded Spotify Web API answers, served to spotipy's real code by the replay server.

The recordings stay where they are (`<shared data>/api_fixtures/spotify/`, read only):
- spotify_web_api_java/*.json and zmb3_spotify_go/*.txt: JSON bodies;
- rspotify_cassettes/*.yml: VCR cassettes whose bodies are often gzip + base64 (`!binary`);
- browndsi_track_objects/spotify_tracks_objects.json: 1,500 real track objects.

`SpotifyCatalog` indexes every recorded track and artist object by id, so the several-ids
endpoints can be answered for any batch the client asks: known ids get their recorded
object, unknown ids a null entry, exactly as Spotify answers. `SpotifyReplay` mounts the
routes spotipy calls (token, tracks, artists, search, me, recently-played, audio features)
and checks the credentials each one needs, so the token flows are tested end to end.
The only answer not recorded anywhere is the refresh-token grant; it is built from
Spotify's documented shape.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from extract.spotify.config import SpotifyConfig
from tests.support.replay_server import ReplayServer, Request, Response

FIXTURES = Path("api_fixtures") / "spotify"
CLIENT_ID = "test-client-id"
CLIENT_SECRET = "test-client-secret-value"
REFRESH_TOKEN = "test-refresh-token-value"
USER_ACCESS_TOKEN = "test-user-access-token"


def fixture_path(shared_data: Path, relative: str) -> Path:
    return shared_data / FIXTURES / relative


@cache
def _load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def load_json(shared_data: Path, relative: str) -> Any:
    """A recorded JSON body (.json or zmb3's .txt); cached, so treat it as read-only."""
    return _load_json(fixture_path(shared_data, relative))


class _CassetteLoader(yaml.SafeLoader):
    """VCR (Ruby) writes binary bodies with a local `!binary` tag: base64 text."""


_CassetteLoader.add_constructor(
    "!binary", lambda loader, node: base64.b64decode(loader.construct_scalar(node))
)


@dataclass(frozen=True)
class Interaction:
    method: str
    uri: str
    status: int
    body: bytes


def _body(response: dict[str, Any]) -> bytes:
    raw = response["body"]["string"]
    data = raw if isinstance(raw, bytes) else raw.encode("utf-8")
    encodings = (response.get("headers") or {}).get("content-encoding") or []
    if "gzip" in encodings or data[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(data)
        except (OSError, binascii.Error):
            return data
    return data


@cache
def _cassette(path: Path) -> tuple[Interaction, ...]:
    document = yaml.load(path.read_text(encoding="utf-8"), Loader=_CassetteLoader)
    return tuple(
        Interaction(
            method=item["request"]["method"].upper(),
            uri=item["request"]["uri"],
            status=int(item["response"]["status"]["code"]),
            body=_body(item["response"]),
        )
        for item in document["http_interactions"]
    )


def cassette(shared_data: Path, name: str) -> tuple[Interaction, ...]:
    """The decoded interactions of an rspotify cassette."""
    return _cassette(fixture_path(shared_data, f"rspotify_cassettes/{name}"))


def cassette_json(shared_data: Path, name: str, uri_contains: str) -> Any:
    for interaction in cassette(shared_data, name):
        if uri_contains in interaction.uri:
            return json.loads(interaction.body)
    raise LookupError(f"{name}: no interaction for {uri_contains}")


def browndsi_tracks(shared_data: Path) -> list[dict[str, Any]]:
    """1,500 real track objects (1,492 distinct ids)."""
    return load_json(shared_data, "browndsi_track_objects/spotify_tracks_objects.json")


@dataclass
class SpotifyCatalog:
    tracks: dict[str, dict[str, Any]] = field(default_factory=dict)
    artists: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add_tracks(self, objects: list[Any]) -> None:
        for obj in objects:
            if isinstance(obj, dict) and obj.get("id"):
                self.tracks.setdefault(obj["id"], obj)

    def add_artists(self, objects: list[Any]) -> None:
        for obj in objects:
            if isinstance(obj, dict) and obj.get("id"):
                self.artists.setdefault(obj["id"], obj)

    @classmethod
    def recorded(cls, shared_data: Path) -> SpotifyCatalog:
        """Every recorded track and artist object, by id."""
        catalog = cls()
        catalog.add_tracks(browndsi_tracks(shared_data))
        catalog.add_tracks(
            load_json(shared_data, "spotify_web_api_java/GetSeveralTracksRequest.json")["tracks"]
        )
        catalog.add_tracks(
            load_json(shared_data, "zmb3_spotify_go/find_tracks_simple.txt")["tracks"]
        )
        catalog.add_tracks(
            [
                load_json(shared_data, "spotify_web_api_java/GetTrackRequest.json"),
                load_json(shared_data, "zmb3_spotify_go/find_track.txt"),
            ]
        )
        catalog.add_tracks(
            load_json(shared_data, "spotify_web_api_java/SearchTracksRequest.json")["tracks"][
                "items"
            ]
        )
        for recently_played in (
            "spotify_web_api_java/GetCurrentUsersRecentlyPlayedTracksRequest.json",
            "zmb3_spotify_go/player_recently_played.txt",
        ):
            catalog.add_tracks(
                [item["track"] for item in load_json(shared_data, recently_played)["items"]]
            )
        catalog.add_artists(
            load_json(shared_data, "spotify_web_api_java/GetSeveralArtistsRequest.json")["artists"]
        )
        catalog.add_artists(
            [
                load_json(shared_data, "spotify_web_api_java/GetArtistRequest.json"),
                load_json(shared_data, "zmb3_spotify_go/find_artist.txt"),
            ]
        )
        catalog.add_artists(
            load_json(shared_data, "spotify_web_api_java/GetUsersTopArtistsRequest.json")["items"]
        )
        catalog.add_artists(
            load_json(shared_data, "zmb3_spotify_go/current_users_top_artists.txt")["items"]
        )
        for path in sorted(fixture_path(shared_data, "rspotify_cassettes").glob("artist_find_*")):
            for interaction in _cassette(path):  # GET /artists/{id} and GET /artists?ids=
                answer = json.loads(interaction.body)
                catalog.add_artists(answer.get("artists") or [answer])
        return catalog


def spotify_error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """An error in the Web API's documented shape."""
    return Response(status, {"error": {"status": status, "message": message}}, headers or {})


class SpotifyReplay:
    """The Spotify routes on a replay server, answering from recordings.

    Catalog routes require the client-credentials token, listener routes the token issued
    for the refresh token; `overrides` (path prefix -> handler) replace a route's answer,
    e.g. to answer 429 first.
    """

    def __init__(
        self, server: ReplayServer, shared_data: Path, catalog: SpotifyCatalog | None = None
    ) -> None:
        self.server = server
        self.shared_data = shared_data
        self.catalog = catalog or SpotifyCatalog.recorded(shared_data)
        token = cassette_json(
            shared_data, "audio_features_find_1zHlj4dQ8ZAtrayhuDDmkY.yml", "/api/token"
        )
        self.app_token_answer: dict[str, Any] = token  # recorded: access_token "REDACTED"
        self.search_answer: Any = load_json(
            shared_data, "spotify_web_api_java/SearchTracksRequest.json"
        )
        self.me_answer: Any = load_json(
            shared_data, "spotify_web_api_java/GetCurrentUsersProfileRequest.json"
        )
        self.recently_played_answer: Any = load_json(
            shared_data, "spotify_web_api_java/GetCurrentUsersRecentlyPlayedTracksRequest.json"
        )
        self.audio_features: Callable[[Request], Response] = lambda request: spotify_error(
            403, "Forbidden"
        )  # what apps created after Nov 2024 get
        self._mount()

    @classmethod
    def fresh(
        cls, server: ReplayServer, shared_data: Path, catalog: SpotifyCatalog | None = None
    ) -> SpotifyReplay:
        """Mount on a server shared by several tests, forgetting the previous test's routes
        and requests."""
        server.routes.clear()
        server.requests.clear()
        return cls(server, shared_data, catalog)

    # Routes --------------------------------------------------------------------------------

    def _mount(self) -> None:
        route = self.server.route
        route("POST", "/api/token", self._token)
        route("GET", "/v1/tracks", self._app(lambda r: self._lookup(r, "tracks")))
        route("GET", "/v1/artists", self._app(lambda r: self._lookup(r, "artists")))
        route("GET", "/v1/search", self._app(lambda r: Response(200, self.search_answer)))
        route("GET", "/v1/audio-features", self._app(lambda r: self.audio_features(r)))
        route("GET", "/v1/me", self._user(lambda r: Response(200, self.me_answer)))
        route(
            "GET",
            "/v1/me/player/recently-played",
            self._user(lambda r: Response(200, self.recently_played_answer)),
        )

    def _token(self, request: Request) -> Response:
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {expected}":
            return Response(400, {"error": "invalid_client", "error_description": "Invalid client"})
        grant = request.form.get("grant_type")
        if grant == "client_credentials":
            return Response(200, self.app_token_answer)
        if grant == "refresh_token" and request.form.get("refresh_token") == REFRESH_TOKEN:
            return Response(
                200,
                {
                    "access_token": USER_ACCESS_TOKEN,
                    "token_type": "Bearer",
                    "expires_in": 3600,
                    "scope": "user-read-recently-played",
                },
            )
        return Response(
            400, {"error": "invalid_grant", "error_description": "Invalid refresh token"}
        )

    def _bearer(
        self, token: str, handler: Callable[[Request], Response]
    ) -> Callable[[Request], Response]:
        def checked(request: Request) -> Response:
            if request.headers.get("authorization") != f"Bearer {token}":
                return spotify_error(401, "Invalid access token")
            return handler(request)

        return checked

    def _app(self, handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        return self._bearer(self.app_token_answer["access_token"], handler)

    def _user(self, handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        return self._bearer(USER_ACCESS_TOKEN, handler)

    def _lookup(self, request: Request, kind: str) -> Response:
        objects = self.catalog.tracks if kind == "tracks" else self.catalog.artists
        single = request.path.rstrip("/").removeprefix(f"/v1/{kind}").strip("/")
        if single:
            found = objects.get(single)
            return Response(200, found) if found else spotify_error(404, "Resource not found")
        ids = [i for i in request.query.get("ids", "").split(",") if i]
        if len(ids) > 50:
            return spotify_error(400, "Too many ids requested")
        return Response(200, {kind: [objects.get(i) for i in ids]})

    # Helpers for tests ------------------------------------------------------------------

    def config(self, *, refresh_token: str | None = REFRESH_TOKEN) -> SpotifyConfig:
        return SpotifyConfig(
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            refresh_token=refresh_token,
            api_url=f"{self.server.url}/v1/",
            token_url=f"{self.server.url}/api/token",
            requests_timeout=5,
        )

    def requests_to(self, path_prefix: str) -> list[Request]:
        return [r for r in self.server.requests if r.path.startswith(path_prefix)]
