"""The replay server itself: routing, recording, status codes and headers."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.support.replay_server import Response, replay_server


def test_routes_record_and_answer() -> None:
    with replay_server() as server:
        server.route("GET", "/v1/tracks", lambda r: Response(200, {"ids": r.query["ids"]}))
        server.route("GET", "/v1/", lambda r: Response(429, "slow down", {"Retry-After": "2"}))
        with urllib.request.urlopen(f"{server.url}/v1/tracks?ids=a,b") as answer:
            assert json.loads(answer.read()) == {"ids": "a,b"}
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(f"{server.url}/v1/artists")
        assert error.value.code == 429 and error.value.headers["Retry-After"] == "2"
        post = urllib.request.Request(f"{server.url}/2.0/", data=b"method=user.getInfo&user=rj")
        server.route("POST", "/2.0/", lambda r: Response(200, {"method": r.params["method"]}))
        with urllib.request.urlopen(post) as answer:
            assert json.loads(answer.read()) == {"method": "user.getInfo"}
        assert [r.path for r in server.requests] == ["/v1/tracks", "/v1/artists", "/2.0/"]
