"""Structured, secret-free log lines for every Encore command, and the line a failure ends on.

`configure_logging()` gives each CLI (`python -m warehouse|extract.*|quality|ml|bench|api`)
the same one-line records on stderr, easy to grep and to parse:

    ts=2026-05-01T12:00:00.123Z level=info logger=warehouse.loader msg="loaded raw.x" rows=10

or one JSON object per line with `ENCORE_LOG_FORMAT=json`. `ENCORE_LOG_LEVEL` overrides a
command's default level. Extra fields (`log.info(..., extra={"rows": n})`) become keys.

Secrets never reach a log: a filter on every root handler rewrites each record before it
is formatted, replacing the values of environment variables whose names contain KEY,
SECRET, TOKEN or PASSWORD (LASTFM_API_KEY, SPOTIFY_CLIENT_SECRET, SNOWFLAKE_PASSWORD, ...)
and the password of any URL (`postgresql://user:***@host`) or libpq DSN (`password=***`).
It works on values rather than on call sites because secrets leak through messages
nobody wrote on purpose: a library's exception text, a URL in a connection error.

A process whose logging someone else already configured (Airflow's task runner, pytest,
an app embedding Encore) keeps its handlers, formats and levels: configure_logging then only
adds the filter to them, like `logging.basicConfig` defers, and inside an Airflow task also
registers the secret values with Airflow's own masker.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from config import Settings, SettingsError, get_settings, whole_environ

FORMAT_VAR = "ENCORE_LOG_FORMAT"
LEVEL_VAR = "ENCORE_LOG_LEVEL"
FORMATS = ("logfmt", "json")
REDACTED = "***"
PROGRESS_LOGGER = "observability.progress"

SECRET_NAME = re.compile(r"KEY|SECRET|TOKEN|PASSWORD|PASSWD")
# Shorter values, and these words, would blank out ordinary text rather than hide a secret.
MIN_SECRET_LENGTH = 4
NOT_SECRETS = frozenset({"true", "false", "none", "null", "yes", "no", "off", "on"})
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/@]*):[^\s@/]+@")
_DSN_PASSWORD = re.compile(r"(?i)\b(?P<head>password|passwd)(?P<sep>\s*=\s*)(?:'[^']*'|[^\s'\"]+)")
# Attributes every LogRecord has: anything else on a record came through `extra=`.
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
}
_ENV_RESCAN_SECONDS = 5.0


class _SecretNames:
    """Names of the secret-looking environment variables, rescanned when the environment
    grows or shrinks and every few seconds; values are read fresh for every record."""

    def __init__(self) -> None:
        self._names: list[str] = []
        self._size = -1
        self._scanned = 0.0

    def values(self, environ: Mapping[str, str]) -> list[str]:
        now = time.monotonic()
        if len(environ) != self._size or now - self._scanned > _ENV_RESCAN_SECONDS:
            self._names = [name for name in environ if SECRET_NAME.search(name.upper())]
            self._size, self._scanned = len(environ), now
        return _usable(environ.get(name) for name in self._names)


_SECRET_NAMES = _SecretNames()


def _usable(values: Any) -> list[str]:
    found: set[str] = set()
    for value in values:
        value = (value or "").strip()
        if len(value) >= MIN_SECRET_LENGTH and value.lower() not in NOT_SECRETS:
            found.update({value, quote(value, safe="")})
    return sorted(found, key=len, reverse=True)  # longest first: no partial leftovers


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """The values redacted from logs: those of variables named like secrets, and (for the
    process's own environment) every secret setting, `.env`'s included."""
    if environ is None:
        try:
            settings = get_settings().secret_values()
        except SettingsError:
            settings = []
        return sorted(
            {*_SECRET_NAMES.values(whole_environ()), *_usable(settings)}, key=len, reverse=True
        )
    return _usable(value for name, value in environ.items() if SECRET_NAME.search(name.upper()))


def redact(text: str, environ: Mapping[str, str] | None = None) -> str:
    """`text` with secret values and URL/DSN passwords replaced by ***."""
    for value in secret_values(environ):
        if value in text:
            text = text.replace(value, REDACTED)
    text = _URL_PASSWORD.sub(rf"\g<head>:{REDACTED}@", text)
    return _DSN_PASSWORD.sub(rf"\g<head>\g<sep>{REDACTED}", text)


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {
        key: value
        for key, value in vars(record).items()
        if key not in _RECORD_ATTRS and not key.startswith("_")
    }


class RedactingFilter(logging.Filter):
    """Rewrites a record's message, traceback and string extras with `redact` (in place, so
    every handler after this one sees the clean record too)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_encore_redacted", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: let the handler report it as usual
            return True
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for key, value in _extras(record).items():
            if isinstance(value, str):
                setattr(record, key, redact(value))
        record._encore_redacted = True
        return True


_FILTER = RedactingFilter()


def _fields(record: logging.LogRecord, formatter: logging.Formatter) -> dict[str, Any]:
    ts = dt.datetime.fromtimestamp(record.created, dt.UTC)
    fields: dict[str, Any] = {
        "ts": ts.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "level": record.levelname.lower(),
        "logger": record.name,
        "msg": record.getMessage(),
        **_extras(record),
    }
    if record.exc_info and not record.exc_text:
        record.exc_text = formatter.formatException(record.exc_info)
    if record.exc_text:
        fields["exc"] = record.exc_text
    if record.stack_info:
        fields["stack"] = record.stack_info
    return fields


_BARE = re.compile(r'[^\s"=\\]+')


def logfmt_value(value: Any) -> str:
    """One logfmt value: bare when it can be, else double-quoted with escapes."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value)
    if _BARE.fullmatch(text):
        return text
    escaped = (
        text.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
    )
    return f'"{escaped}"'


class LogfmtFormatter(logging.Formatter):
    """`ts=... level=... logger=... msg="..." key=value`, one line per record."""

    def format(self, record: logging.LogRecord) -> str:
        line = " ".join(
            f"{key}={logfmt_value(value)}" for key, value in _fields(record, self).items()
        )
        return redact(line)


class JsonFormatter(logging.Formatter):
    """One JSON object per record, same keys as the logfmt lines."""

    def format(self, record: logging.LogRecord) -> str:
        fields = {key: _plain(value) for key, value in _fields(record, self).items()}
        return redact(json.dumps(fields, ensure_ascii=False, default=str))


def _plain(value: Any) -> Any:
    """Extras that JSON cannot hold as they are (dates, paths) become their redacted text."""
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(value if isinstance(value, str) else str(value))


class StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is at the time of each record, so log lines go
    through a live progress bar's redirection (and pytest's capture) instead of around it."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self) -> Any:
        return sys.stderr


def install_redaction(logger: logging.Logger | None = None) -> None:
    """Add the redacting filter to every handler of `logger` (the root logger by default),
    once; inside an Airflow task, also hand the secret values to Airflow's masker."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(_FILTER)
    if _in_airflow_task():
        from airflow.sdk.log import mask_secret

        for value in secret_values():
            mask_secret(value)


def _in_airflow_task() -> bool:
    runner = sys.modules.get("airflow.sdk.execution_time.task_runner")
    return getattr(runner, "SUPERVISOR_COMMS", None) is not None


def _level(default: int | str) -> int:
    wanted = get_settings().encore_log_level or default
    if isinstance(wanted, int):
        return wanted
    level = logging.getLevelName(wanted.strip().upper())
    return level if isinstance(level, int) else logging.INFO


def configure_logging(level: int | str = logging.INFO, fmt: str | None = None) -> None:
    """Structured, redacted log lines on stderr for a command; safe to call more than once.

    `level` is the command's default (ENCORE_LOG_LEVEL wins); progress lines stay visible
    at INFO even when a command keeps its other logs to warnings.
    """
    settings = _settings_or_exit()
    root = logging.getLogger()
    ours = [handler for handler in root.handlers if isinstance(handler, StderrHandler)]
    if root.handlers and not ours:  # someone else configured logging: only redact
        install_redaction(root)
        return
    handler = ours[0] if ours else StderrHandler()
    wanted = (fmt or settings.encore_log_format).strip().lower()
    handler.setFormatter(JsonFormatter() if wanted == "json" else LogfmtFormatter())
    if not ours:
        root.addHandler(handler)
    root.setLevel(_level(level))
    if not settings.encore_log_level:
        logging.getLogger(PROGRESS_LOGGER).setLevel(logging.INFO)
    install_redaction(root)


def _settings_or_exit() -> Settings:
    """The settings; a command whose settings are wrong ends here, on one line (inside an
    Airflow task the error is raised instead, and the task fails with that line)."""
    try:
        return get_settings()
    except SettingsError as error:
        if _in_airflow_task():
            raise
        print(f"error: {error}", file=sys.stderr)
        print(
            "next: fix or unset that variable, then rerun (docs/configuration.md)", file=sys.stderr
        )
        raise SystemExit(2) from None


# The last words of a failing command -------------------------------------------------

WAREHOUSE_DOWN = (
    "start the embedded warehouse with `make warehouse` (or `uv run python -m "
    "warehouse start`), then rerun"
)
REMOTE_DOWN = (
    "WAREHOUSE_URL is set: check that its server is up and its user and password "
    "are right, or unset WAREHOUSE_URL to use the embedded warehouse "
    "(`make warehouse`)"
)
WAREHOUSE_EMPTY = (
    "the warehouse lacks what this step reads: run the earlier steps first "
    "(`make demo`, or `make ingest SOURCE=...` then dbt)"
)


def next_step(error: BaseException) -> str | None:
    """What to do about the failures every command can meet, or None."""
    import psycopg

    if isinstance(error, psycopg.errors.UndefinedTable | psycopg.errors.InvalidSchemaName):
        return WAREHOUSE_EMPTY
    if isinstance(error, psycopg.OperationalError):
        try:
            remote = get_settings().warehouse_url is not None
        except SettingsError:
            remote = False
        return REMOTE_DOWN if remote else WAREHOUSE_DOWN
    if isinstance(error, FileNotFoundError | NotADirectoryError):
        return "check the path (and that the step producing it has run)"
    if isinstance(error, PermissionError):
        return "check the file's permissions, or run as its owner"
    return None


def print_failure(error: BaseException | str, hint: str | None = None) -> None:
    """The last lines of a failing command, on stderr and redacted: `error: ...`, then
    `next: ...` saying what to do about it (`hint`, else `next_step(error)`)."""
    if isinstance(error, BaseException):
        hint = hint or next_step(error)
        text = str(error).strip() or type(error).__name__
    else:
        text = error
    print(redact(f"error: {text}"), file=sys.stderr)
    if hint:
        print(redact(f"next: {hint}"), file=sys.stderr)
