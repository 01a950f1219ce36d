"""A local HTTP server that replays recorded API responses to real client code.

Last.fm and Spotify are unreachable here, so their real clients (pylast, spotipy) talk to
this server instead, which answers with responses recorded from the real services (the
files in ../shared/data/api_fixtures/). Tests register a handler per route; every request is
kept so a test can assert what the client asked for (pagination, parameters, retries).
Only 127.0.0.1 is ever bound.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    @property
    def form(self) -> dict[str, str]:
        """The urlencoded body (pylast POSTs its parameters)."""
        return {k: v[-1] for k, v in parse_qs(self.body.decode("utf-8", "replace")).items()}

    @property
    def params(self) -> dict[str, str]:
        """Query string and form body together."""
        return {**self.query, **self.form}


@dataclass(frozen=True)
class Response:
    status: int = 200
    body: bytes | str | dict | list = b""
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, dict | list):
            return json.dumps(self.body).encode(), "application/json"
        if isinstance(self.body, str):
            return self.body.encode(), "text/plain; charset=utf-8"
        return self.body, "application/octet-stream"


Handler = Callable[[Request], Response]


class ReplayServer:
    """Routes are (method, path prefix) -> handler; the longest matching prefix wins."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Handler] = {}
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def route(self, method: str, path_prefix: str, handler: Handler) -> None:
        self.routes[(method.upper(), path_prefix)] = handler

    def _dispatch(self, request: Request) -> Response:
        with self._lock:
            self.requests.append(request)
        matches = [
            (prefix, handler)
            for (method, prefix), handler in self.routes.items()
            if method == request.method and request.path.startswith(prefix)
        ]
        if not matches:
            return Response(404, {"error": f"no route for {request.method} {request.path}"})
        return max(matches, key=lambda match: len(match[0]))[1](request)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class _Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(
                    method=self.command,
                    path=parts.path,
                    query={k: v[-1] for k, v in parse_qs(parts.query).items()},
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                )
                response = server._dispatch(request)
                body, content_type = response.encoded()
                self.send_response(response.status)
                headers = {"Content-Type": content_type, **response.headers}
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, format: str, *args: object) -> None:
                pass  # keep test output quiet

        return _Handler

    def start(self) -> ReplayServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@contextmanager
def replay_server() -> Iterator[ReplayServer]:
    server = ReplayServer().start()
    try:
        yield server
    finally:
        server.stop()
