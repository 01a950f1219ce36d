"""Encore's configuration: every variable it reads, typed, with its default, in one object.

Values come from the process environment, then `.env` in the project root, then the
defaults below (docs/configuration.md lists them). An empty value means "not set", so
`.env.example` copied or exported as it is changes nothing. Keys and passwords are
`SecretStr`: a printed or logged settings object shows `**********`. A value of the wrong
kind fails once, at start, with one line naming the variable, the problem, and where the
value came from (`SettingsError`).

`get_settings()` is cheap: it re-reads only when the environment or `.env` changed, so a
test's `monkeypatch.setenv` (or a scratch build pointing `WAREHOUSE_URL` elsewhere) is seen
at once. This is the only module that reads `os.environ`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# ENCORE_ENV_FILE (process environment only) picks another file; `none` reads no file.
ENV_FILE_VAR = "ENCORE_ENV_FILE"
DEFAULT_ENV_FILE = PROJECT_ROOT / ".env"

Port = Annotated[int, Field(ge=1, le=65535)]
Positive = Annotated[float, Field(gt=0)]
NonNegative = Annotated[float, Field(ge=0)]


class SettingsError(ValueError):
    """A variable holds a value Encore cannot use; the message is one line saying which."""


class Settings(BaseSettings):
    """Every setting Encore reads; the field name, upper-cased, is the variable's name."""

    model_config = SettingsConfigDict(
        env_file=None,
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="ignore",
        case_sensitive=False,
        validate_default=True,
        frozen=True,
    )

    # --- warehouse
    warehouse_url: SecretStr | None = None  # unset: the embedded PostgreSQL
    encore_pg_port: Port | None = None  # the embedded warehouse's port (unset: 55432 up)
    dbt_target: Literal["postgres", "snowflake"] = "postgres"
    snowflake_account: str | None = None
    snowflake_user: str | None = None
    snowflake_password: SecretStr | None = None
    snowflake_role: str | None = None
    snowflake_warehouse: str | None = None
    snowflake_database: str = "ENCORE"
    snowflake_schema: str | None = None
    snowflake_host: str | None = None  # only for a non-standard endpoint (fakesnow)
    snowflake_port: Port = 443
    snowflake_protocol: Literal["http", "https"] = "https"

    # --- Last.fm (no key: the source is skipped)
    lastfm_api_key: SecretStr | None = None
    lastfm_api_secret: SecretStr | None = None
    lastfm_users: str = ""  # comma-separated
    lastfm_api_url: str | None = None  # unset: the real service
    lastfm_initial_days: int | None = 90  # `all` or 0: the whole history
    lastfm_lookback_days: Annotated[int, Field(ge=0)] = 14  # re-read before the watermark
    lastfm_page_size: Annotated[int, Field(ge=1, le=200)] = 200
    lastfm_min_interval_seconds: NonNegative = 0.2
    lastfm_max_attempts: Annotated[int, Field(ge=1)] = 5
    lastfm_backoff_seconds: NonNegative = 2.0
    lastfm_max_backoff_seconds: NonNegative = 60.0
    lastfm_track_info_max: Annotated[int, Field(ge=0)] = 200

    # --- Spotify (no app keys: the source is skipped)
    spotify_client_id: SecretStr | None = None
    spotify_client_secret: SecretStr | None = None
    spotify_refresh_token: SecretStr | None = None

    # --- Kaggle tracks and listening exports
    kaggle_username: str | None = None
    kaggle_key: SecretStr | None = None
    kaggle_tracks_csv: Path | None = None
    encore_exports_path: Path | None = None

    # --- local state, shared test data, serving
    encore_home: Path = PROJECT_ROOT / ".encore"
    encore_artifacts_dir: Path | None = None  # unset: $ENCORE_HOME/artifacts
    encore_shared_data: Path = PROJECT_ROOT.parent / "shared" / "data"
    encore_serving_keep: Annotated[int, Field(ge=1)] = 3
    encore_lightgbm_threads: Annotated[int, Field(ge=1)] = 2  # threads of each LightGBM fit
    encore_api_database_url: SecretStr | None = None  # unset: the warehouse as recs_reader
    # The API's connection pool (api/db.py), the threads that serve its requests (each
    # per worker process)
    encore_api_pool_size: Annotated[int, Field(ge=1)] = 8
    encore_api_threads: Annotated[int, Field(ge=1)] = 40
    encore_api_workers: Annotated[int, Field(ge=1)] = 2  # processes of `python -m api`

    # --- local services, logs, progress
    airflow_port: Port = 8080
    docs_port: Port = 8081
    pooler_port: Port = 6432  # `make pooler`: PgBouncer for SQL clients (ops/pooler.py)
    encore_log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] | None = None
    encore_log_format: Literal["logfmt", "json"] = "logfmt"
    encore_progress: Literal["auto", "bar", "log", "off"] = "auto"
    encore_progress_seconds: Positive = 10.0

    # --- data-quality thresholds (docs/data_quality.md)
    encore_quality_clock_skew_minutes: NonNegative = 10.0
    encore_quality_row_bounds: bool = True
    encore_quality_min_row_ratio: NonNegative = 0.5
    encore_quality_max_row_ratio: Positive = 2.0
    encore_quality_min_known_track_share: Annotated[float, Field(ge=0, le=1)] = 0.99
    encore_quality_min_metadata_share: Annotated[float, Field(ge=0, le=1)] = 0.5

    @model_validator(mode="before")
    @classmethod
    def _blank_is_unset(cls, data: Any) -> Any:
        """A value of only spaces counts as unset too (the default applies)."""
        if isinstance(data, Mapping):
            return {
                key: value.strip() if isinstance(value, str) else value
                for key, value in data.items()
                if not (isinstance(value, str) and not value.strip())
            }
        return data

    @field_validator("lastfm_initial_days", mode="before")
    @classmethod
    def _initial_days(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() in ("all", "0"):
            return None
        return value

    @field_validator("lastfm_initial_days")
    @classmethod
    def _initial_days_positive(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise ValueError("must be a positive number of days, or `all`")
        return value

    @field_validator("encore_log_level", "encore_log_format", "encore_progress", mode="before")
    @classmethod
    def _case(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        return value.upper() if value.lower() in _LOG_LEVELS else value.lower()

    @field_validator(
        "encore_home",
        "encore_artifacts_dir",
        "encore_shared_data",
        "kaggle_tracks_csv",
        "encore_exports_path",
    )
    @classmethod
    def _from_root(cls, value: Path | None) -> Path | None:
        """Relative paths are relative to the project root (where `.env` lives)."""
        return None if value is None else (PROJECT_ROOT / value.expanduser()).resolve()

    # --- derived values
    @property
    def artifacts_dir(self) -> Path:
        return self.encore_artifacts_dir or self.encore_home / "artifacts"

    @property
    def lastfm_user_list(self) -> tuple[str, ...]:
        return parse_users(self.lastfm_users)

    def secret_values(self) -> list[str]:
        """The values of every secret setting that is set (for log redaction)."""
        return [
            value.get_secret_value()
            for value in self.__dict__.values()
            if isinstance(value, SecretStr) and value.get_secret_value()
        ]


_LOG_LEVELS = {"debug", "info", "warning", "error", "critical"}


def parse_users(text: str) -> tuple[str, ...]:
    """`a, b,,a` -> ("a", "b"): blanks dropped, repeats (case-insensitive) kept once."""
    seen: dict[str, str] = {}
    for name in (part.strip() for part in text.split(",")):
        if name and name.lower() not in seen:
            seen[name.lower()] = name
    return tuple(seen.values())


FIELDS = frozenset(Settings.model_fields)
SECRET_FIELDS = frozenset(
    name for name, info in Settings.model_fields.items() if "SecretStr" in str(info.annotation)
)


def env_file() -> Path | None:
    """The `.env` file read (ENCORE_ENV_FILE, else the project root's), None for `none`."""
    chosen = os.environ.get(ENV_FILE_VAR, "").strip()
    if chosen.lower() == "none":
        return None
    path = Path(chosen) if chosen else DEFAULT_ENV_FILE
    return (PROJECT_ROOT / path).resolve() if not path.is_absolute() else path


def _our_environ() -> dict[str, str]:
    return {key.lower(): value for key, value in os.environ.items() if key.lower() in FIELDS}


def load_settings(dotenv: Path | Literal["default"] | None = "default") -> Settings:
    """Read the settings now: the process environment, then `dotenv` (default: `env_file()`),
    then the defaults. Raises SettingsError, one line, for a value that cannot be used."""
    file = env_file() if dotenv == "default" else dotenv
    try:
        return Settings(_env_file=file)
    except ValidationError as error:
        raise _one_line(error, file) from None


def _one_line(error: ValidationError, file: Path | None) -> SettingsError:
    first = error.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else "?"
    env = _our_environ()
    from_file = _read_env_file(file)
    if env.get(field, "").strip():
        value, where = env[field], "the environment"
    elif from_file.get(field, "").strip():
        value, where = from_file[field], str(file)
    else:
        value, where = None, "the default"
    shown = "***" if field in SECRET_FIELDS else repr(value)
    more = f" (and {len(error.errors()) - 1} more)" if len(error.errors()) > 1 else ""
    return SettingsError(f"{field.upper()}={shown} from {where}: {first['msg']}{more}")


def _read_env_file(file: Path | None) -> dict[str, str]:
    if file is None or not file.is_file():
        return {}
    from dotenv import dotenv_values

    return {
        key.lower(): value
        for key, value in dotenv_values(file).items()
        if value is not None and key.lower() in FIELDS
    }


_cache: tuple[tuple[Any, ...], Settings] | None = None


def get_settings() -> Settings:
    """The current settings (re-read when the environment or the `.env` file changed)."""
    global _cache
    file = env_file()
    stat = file.stat() if file is not None and file.is_file() else None
    key = (
        tuple(sorted(_our_environ().items())),
        str(file),
        (stat.st_mtime_ns, stat.st_size) if stat else None,
    )
    if _cache is None or _cache[0] != key:
        _cache = (key, load_settings())
    return _cache[1]


# --- the process environment for children and in-process tools ---------------------------


def subprocess_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a subprocess: this process's, plus `extra`."""
    return {**os.environ, **(extra or {})}


def whole_environ() -> Mapping[str, str]:
    """The whole process environment, read-only (the log redactor scans it for secrets)."""
    return os.environ


def tool_env(name: str) -> str | None:
    """A variable that belongs to another tool (TERM, PYTHONPATH, ...), not to Encore."""
    return os.environ.get(name)


def set_process_env(values: Mapping[str, str]) -> None:
    """Put `values` into this process's environment, for in-process tools (dbt, airflow)
    that read variables themselves."""
    os.environ.update(values)


@contextmanager
def process_env(values: Mapping[str, str]) -> Iterator[None]:
    """`values` in this process's environment for the block, then the previous ones."""
    previous = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
