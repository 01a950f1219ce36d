"""observability.logs: structured lines, secrets redacted in both formats, idempotent setup."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from config import subprocess_env
from observability.logs import (
    REDACTED,
    JsonFormatter,
    LogfmtFormatter,
    RedactingFilter,
    StderrHandler,
    configure_logging,
    logfmt_value,
    print_failure,
    redact,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cr3t-lastfm-key-0123456789abcdef"
DB_PASSWORD = "hunter2-db-pass"


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LASTFM_API_KEY", SECRET)
    monkeypatch.setenv("SPOTIFY_REFRESH_TOKEN", "refresh/token+value")


@contextmanager
def bare_root(*handlers: logging.Handler) -> Iterator[logging.Logger]:
    """The root logger with only `handlers` (none: as a fresh process has it), pytest's
    capture handlers set aside meanwhile."""
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    root.handlers = list(handlers)
    try:
        yield root
    finally:
        root.handlers = saved
        root.setLevel(level)


def emit(formatter: logging.Formatter, message: str, *args: object, **extra: object) -> str:
    """What one record looks like after the filter and the formatter, as a handler sees it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(formatter)
    logger = logging.getLogger("test.observability.logs")
    logger.propagate = False
    logger.handlers = [handler]
    logger.setLevel(logging.DEBUG)
    logger.info(message, *args, extra=extra)
    return stream.getvalue().strip()


@pytest.mark.parametrize("formatter", [LogfmtFormatter(), JsonFormatter()], ids=["logfmt", "json"])
def test_secret_values_and_url_passwords_come_out_redacted(
    secrets: None, formatter: logging.Formatter
) -> None:
    url = f"postgresql://encore:{DB_PASSWORD}@db.example:5432/encore"
    line = emit(
        formatter,
        "calling with key %s against %s",
        SECRET,
        url,
        detail=f"api_key={SECRET}",
        dsn=f"host=db password={DB_PASSWORD} dbname=x",
    )
    assert SECRET not in line and DB_PASSWORD not in line
    assert "postgresql://encore:***@db.example:5432/encore" in line
    assert "password=***" in line
    assert line.count(REDACTED) >= 4


def test_a_url_encoded_secret_is_redacted_too(secrets: None) -> None:
    line = emit(LogfmtFormatter(), "token in a query: ?t=refresh%2Ftoken%2Bvalue")
    assert "refresh%2Ftoken%2Bvalue" not in line and "t=***" in line


def test_a_traceback_is_redacted(secrets: None) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("test_exc")
    logger.propagate, logger.handlers = False, [handler]
    try:
        raise RuntimeError(f"refused key {SECRET}")
    except RuntimeError:
        logger.exception("call failed")
    record = json.loads(stream.getvalue())
    assert SECRET not in stream.getvalue()
    assert "RuntimeError: refused key ***" in record["exc"]


def test_logfmt_lines_have_the_fixed_keys_then_the_extras() -> None:
    line = emit(LogfmtFormatter(), 'loaded "x" %d', 3, rows=10, table="raw.plays")
    keys = [part.split("=", 1)[0] for part in line.split(" ") if "=" in part]
    assert keys[:3] == ["ts", "level", "logger"]
    assert 'msg="loaded \\"x\\" 3"' in line
    assert line.endswith("rows=10 table=raw.plays")
    assert line.split(" ")[0].endswith("Z")


def test_json_lines_parse() -> None:
    record = json.loads(emit(JsonFormatter(), "a\nb", rows=10, path=Path("/tmp/x")))
    assert record["msg"] == "a\nb" and record["rows"] == 10 and record["path"] == "/tmp/x"
    assert record["level"] == "info" and record["logger"] == "test.observability.logs"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "null"),
        (True, "true"),
        (3, "3"),
        ("plain", "plain"),
        ("", '""'),
        ("two words", '"two words"'),
        ('a"b', '"a\\"b"'),
        ("k=v", '"k=v"'),
    ],
)
def test_logfmt_values(value: object, text: str) -> None:
    assert logfmt_value(value) == text


def test_short_and_boolean_values_are_not_treated_as_secrets() -> None:
    env = {"SOME_KEY": "on", "OTHER_TOKEN": "abc", "REAL_SECRET": "abcdef12"}
    assert redact("on abc abcdef12", env) == "on abc ***"


def test_configure_logging_is_idempotent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENCORE_LOG_LEVEL", raising=False)
    with bare_root() as root:
        configure_logging()
        configure_logging(logging.WARNING)
        ours = [h for h in root.handlers if isinstance(h, StderrHandler)]
        assert len(ours) == 1 and len(root.handlers) == 1
        assert sum(isinstance(f, RedactingFilter) for f in ours[0].filters) == 1
        assert root.level == logging.WARNING
        assert logging.getLogger("observability.progress").level == logging.INFO
        monkeypatch.setenv("ENCORE_LOG_FORMAT", "json")
        configure_logging()
        assert isinstance(ours[0].formatter, JsonFormatter)


def test_configured_elsewhere_it_only_adds_the_filter(secrets: None) -> None:
    # Like Airflow's task runner or pytest: handlers exist that are not ours.
    foreign = logging.StreamHandler(io.StringIO())
    formatter = logging.Formatter("%(levelname)s %(message)s")
    foreign.setFormatter(formatter)
    with bare_root(foreign) as root:
        level = root.level
        configure_logging()
        configure_logging()
        assert root.handlers == [foreign] and root.level == level
        assert foreign.formatter is formatter
        assert sum(isinstance(f, RedactingFilter) for f in foreign.filters) == 1
        logging.getLogger("test_foreign").warning("key=%s", SECRET)
        assert foreign.stream.getvalue().strip() == "WARNING key=***"


def test_print_failure_names_the_next_step(secrets: None, capsys: pytest.CaptureFixture) -> None:
    import psycopg

    print_failure(psycopg.OperationalError(f"connection refused (key {SECRET})"))
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "error: connection refused (key ***)"
    assert err[1].startswith("next: ") and "`make warehouse`" in err[1]


def test_a_command_logs_structured_redacted_lines_to_stderr() -> None:
    code = (
        "import logging; from observability.logs import configure_logging; "
        "configure_logging(); "
        "logging.getLogger('x').info('key %s url %s', __import__('os').environ["
        "'KAGGLE_KEY'], 'postgres://u:pw1234@h/db')"
    )
    env = subprocess_env({"KAGGLE_KEY": SECRET, "ENCORE_LOG_FORMAT": "json"})
    env.pop("ENCORE_LOG_LEVEL", None)
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    record = json.loads(done.stderr)
    assert record["msg"] == "key *** url postgres://u:***@h/db"
    assert SECRET not in done.stderr


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=PROJECT_ROOT,
        env=subprocess_env(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_an_unreachable_warehouse_says_what_to_check_without_the_password() -> None:
    done = run_cli(
        "warehouse", "start", WAREHOUSE_URL=f"postgresql://encore:{DB_PASSWORD}@127.0.0.1:1/encore"
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: ")
    assert "next: WAREHOUSE_URL is set: check that its server is up" in done.stderr
    assert DB_PASSWORD not in done.stdout + done.stderr and "Traceback" not in done.stderr


def test_a_missing_path_says_what_to_point_at(tmp_path: Path) -> None:
    done = run_cli("extract.files", "import", str(tmp_path / "nope"), "--dry-run")
    assert done.returncode == 2
    error, hint = done.stderr.strip().splitlines()[-2:]
    assert error == f"error: {tmp_path / 'nope'}: no such file or folder"
    assert hint.startswith("next: check the path: it should point at Last.fm scrobble exports")


def test_source_failures_name_the_variable_to_fix() -> None:
    from spotipy.exceptions import SpotifyOauthError

    from extract.lastfm.__main__ import next_step as lastfm_next
    from extract.lastfm.client import LastfmApiError
    from extract.spotify.__main__ import next_step as spotify_next
    from extract.spotify.retry import SpotifyUnavailable

    assert "LASTFM_API_KEY in .env" in lastfm_next(
        LastfmApiError("user.getRecentTracks", "10", "Invalid API key", 1)
    )
    assert "LASTFM_API_SECRET in .env" in lastfm_next(
        LastfmApiError("user.getRecentTracks", "13", "Invalid method signature", 1)
    )
    assert "rate limit" in lastfm_next(LastfmApiError("user.getInfo", "29", "Rate limit", 5))
    assert "network" in lastfm_next(LastfmApiError("user.getInfo", None, "refused", 5))
    assert "SPOTIFY_CLIENT_SECRET in .env" in spotify_next(
        SpotifyOauthError("bad", error="invalid_client")
    )
    assert "SPOTIFY_REFRESH_TOKEN" in spotify_next(SpotifyOauthError("bad", error="invalid_grant"))
    assert "rerun" in spotify_next(SpotifyUnavailable("429 for an hour"))
