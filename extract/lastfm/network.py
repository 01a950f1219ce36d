"""A pylast network that can talk to another base URL than ws.audioscrobbler.com.

pylast keeps the web-service address in `network.ws_server = (host, path)` and builds every
request as `https://{host}{path}` (`_Request._download_response`), so the scheme is fixed.
Tests need plain http on 127.0.0.1 (the replay server has no TLS), and we want pylast's own
request, signing, error and parsing code to run unchanged. The least invasive supported
hook is pylast's `proxy` argument: a dict whose values may be httpx transports, which
pylast passes to its client as `mounts`. So for an `http://` URL we mount, for exactly that
`https://host:port` origin, a transport that sends the request over plain http instead.
An `https://` URL needs no transport, only `ws_server`.

Plain http is refused for anything but a loopback host: the API key travels in every
request body and must not cross a network unencrypted.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

import httpx2
import pylast

LOOPBACK_NAMES = frozenset({"localhost"})


class PlainHttpTransport(httpx2.BaseTransport):
    """Sends the https requests pylast builds over plain http (loopback endpoints only).

    pylast opens and closes a client per request, which closes the mounted transports, so
    the inner connection pool is created on demand and dropped on close.
    """

    def __init__(self) -> None:
        self._inner: httpx2.HTTPTransport | None = None

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        if self._inner is None:
            self._inner = httpx2.HTTPTransport()
        request.url = request.url.copy_with(scheme="http")
        return self._inner.handle_request(request)

    def close(self) -> None:
        if self._inner is not None:
            self._inner.close()
            self._inner = None


def _is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_network(
    api_key: str, api_secret: str, api_url: str | None = None
) -> pylast.LastFMNetwork:
    """A read-only Last.fm network (no session key), at `api_url` when given.

    `api_url` is e.g. `http://127.0.0.1:8765/2.0/`; its path defaults to `/2.0/`.
    """
    if api_url is None:
        return pylast.LastFMNetwork(api_key=api_key, api_secret=api_secret)
    parts = urlsplit(api_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("LASTFM_API_URL must be an http(s) URL with a host")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ValueError(
            "LASTFM_API_URL may use plain http only on a loopback host "
            "(the API key is sent with every request)"
        )
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    # The mount key carries the port, so it outranks any environment proxy pattern
    # (NO_PROXY entries, ALL_PROXY) that httpx would otherwise pick for this origin.
    mounts = {f"https://{parts.netloc}": PlainHttpTransport()} if parts.scheme == "http" else None
    network = pylast.LastFMNetwork(api_key=api_key, api_secret=api_secret, proxy=mounts)
    network.ws_server = (parts.netloc, path if path != "/" else "/2.0/")
    return network
