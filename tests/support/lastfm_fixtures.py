"""Read the recorded Last.fm answers in ../shared/data/api_fixtures/lastfm/ (never copied).

pylast speaks Last.fm's XML, so everything is served as XML: pylast's VCR cassettes and
the ruby-lastfm files are XML already; the JSON recordings (the lamusga cassette's real
user.getrecenttracks body, the LastFM.swift files) are turned back into the XML they are
a mechanical rendering of (`"#text"` is the element text, `"@attr"` and the string
siblings of `"#text"` are attributes). Error answers reuse the envelope of a recorded
failure (`<lfm status="failed"><error code="6">no such page</error></lfm>`, HTTP 400).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import yaml

LASTFM_FIXTURES = Path("api_fixtures") / "lastfm"
FAILED_CASSETTE = "TestPyLastUser.test_cacheable_user.yaml"

# Real messages of the errors the tests provoke (https://www.last.fm/api/errorcodes).
ERROR_MESSAGES = {
    6: "User not found",
    8: "Operation failed - Most likely the backend service failed. Please try again.",
    10: "Invalid API key - You must be granted a valid key by last.fm",
    11: "Service Offline - This service is temporarily offline. Try again later.",
    16: "There was a temporary error processing your request. Please try again",
    17: "Login: User required to be logged in",
    29: "Rate Limit Exceeded - Your IP has made too many requests in a short period",
}


def fixture_path(shared_data: Path, *parts: str) -> Path:
    return shared_data / LASTFM_FIXTURES / Path(*parts)


def cassette(shared_data: Path, name: str) -> list[dict]:
    """The interactions of a pylast VCR cassette."""
    with fixture_path(shared_data, "pylast_cassettes", name).open(encoding="utf-8") as file:
        return yaml.safe_load(file)["interactions"]


def cassette_body(shared_data: Path, name: str, index: int = 0) -> str:
    return cassette(shared_data, name)[index]["response"]["body"]["string"]


def ruby_xml(shared_data: Path, name: str) -> str:
    return fixture_path(shared_data, "ruby_lastfm_xml", name).read_text(encoding="utf-8")


def swift_json(shared_data: Path, name: str) -> dict:
    path = fixture_path(shared_data, "lastfm_swift_json", "LastFMTests", name)
    return json.loads(path.read_text(encoding="utf-8"))


def lamusga_recent_tracks(shared_data: Path) -> dict:
    """The lamusga cassette's real JSON user.getrecenttracks answer (diegodukao, 2018)."""
    path = fixture_path(shared_data, "lamusga_cassettes", "user-recent-tracks.yml")
    with path.open(encoding="utf-8") as file:
        interaction = yaml.safe_load(file)["interactions"][0]
    return json.loads(interaction["response"]["body"]["string"])


def _element(name: str, value: object) -> str:
    if isinstance(value, list):
        return "".join(_element(name, item) for item in value)
    if not isinstance(value, dict):
        return f"<{name}>{escape(str(value))}</{name}>"
    attributes = dict(value.get("@attr", {}))
    text = value.get("#text")
    children = []
    for key, item in value.items():
        if key in ("@attr", "#text"):
            continue
        if text is not None and isinstance(item, str):
            attributes[key] = item
        else:
            children.append(_element(key, item))
    attrs = "".join(f" {key}={quoteattr(str(item))}" for key, item in attributes.items())
    inner = escape(str(text)) if text is not None else "".join(children)
    return f"<{name}{attrs}>{inner}</{name}>"


def json_to_xml(document: dict, error_template: str | None = None) -> str:
    """A Last.fm JSON answer as the XML answer the same call returns without format=json
    (an error answer needs the recorded failure envelope as `error_template`)."""
    if "error" in document:
        if error_template is None:
            raise ValueError("converting an error answer needs the recorded error envelope")
        return error_envelope(error_template, int(document["error"]), document["message"])
    ((root, body),) = document.items()
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<lfm status="ok">{_element(root, body)}</lfm>\n'
    )


def error_envelope(template: str, code: int, message: str | None = None) -> str:
    """A recorded failure envelope (`recorded_error_template`) with another code and message."""
    body = re.sub(r'code="\d+"', f'code="{code}"', template)
    return re.sub(r">[^<]*</error>", f">{escape(message or ERROR_MESSAGES[code])}</error>", body)


def recorded_error_template(shared_data: Path) -> str:
    """The failed answer pylast's own suite recorded (error 6, HTTP 400)."""
    return cassette_body(shared_data, FAILED_CASSETTE)


@dataclass(frozen=True)
class TrackFragment:
    """One recorded `<track>` element, kept as text so malformed ones survive untouched."""

    xml: str
    uts: int | None
    now_playing: bool


_TRACK = re.compile(r"<track\b[^>]*>.*?</track>", re.DOTALL)
_UTS = re.compile(r'<date uts="(\d+)"')


def track_fragments(document: str) -> list[TrackFragment]:
    """The `<track>` items of a recorded user.getRecentTracks answer, in their order."""
    fragments = []
    for match in _TRACK.finditer(document):
        xml = match.group(0)
        opening = xml[: xml.index(">") + 1]
        uts = _UTS.search(xml)
        fragments.append(
            TrackFragment(
                xml=xml,
                uts=int(uts.group(1)) if uts else None,
                now_playing='nowplaying="true"' in opening,
            )
        )
    return fragments
