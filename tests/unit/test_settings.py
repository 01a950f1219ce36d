"""Settings: the environment, then `.env`, then defaults; empty means unset; secrets hidden;
a wrong value stops a command with one line naming it."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from config import (
    ENV_FILE_VAR,
    FIELDS,
    PROJECT_ROOT,
    Settings,
    SettingsError,
    get_settings,
    subprocess_env,
)
from extract.lastfm.config import LastfmConfig
from observability.logs import redact

SettingsEnv = Callable[..., Settings]
# Code that must read configuration through config/ (tests may set variables themselves).
CODE_DIRS = ("extract", "warehouse", "ml", "quality", "api", "dags", "ops", "bench")


@pytest.fixture
def dotenv(
    tmp_path: Path, settings_env: SettingsEnv, monkeypatch: pytest.MonkeyPatch
) -> Callable[[str], Path]:
    """`dotenv(text)`: a `.env` with `text`, the one get_settings() reads, in a clean
    environment."""

    def write(text: str) -> Path:
        settings_env()
        path = tmp_path / ".env"
        path.write_text(text)
        monkeypatch.setenv(ENV_FILE_VAR, str(path))
        return path

    return write


def test_dotenv_is_read_and_the_environment_wins(
    dotenv: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    dotenv("LASTFM_API_KEY=key-from-file\nLASTFM_USERS=RJ\nENCORE_SERVING_KEEP=5\n")
    settings = get_settings()
    assert settings.lastfm_api_key is not None
    assert settings.lastfm_api_key.get_secret_value() == "key-from-file"
    assert LastfmConfig.from_env().enabled and LastfmConfig.from_env().users == ("RJ",)
    assert settings.encore_serving_keep == 5
    monkeypatch.setenv("ENCORE_SERVING_KEEP", "7")
    monkeypatch.setenv("LASTFM_USERS", "someone")
    assert get_settings().encore_serving_keep == 7
    assert get_settings().lastfm_user_list == ("someone",)
    # an empty variable in the environment is "not set": the file's value stands
    monkeypatch.setenv("ENCORE_SERVING_KEEP", "")
    assert get_settings().encore_serving_keep == 5


def test_env_example_copied_as_it_is_loads(dotenv: Callable[[str], Path]) -> None:
    dotenv((PROJECT_ROOT / ".env.example").read_text())
    settings = get_settings()
    defaults = Settings(_env_file=None)
    assert settings.lastfm_max_attempts == defaults.lastfm_max_attempts == 5
    assert settings.lastfm_backoff_seconds == defaults.lastfm_backoff_seconds
    assert settings.warehouse_url is None and settings.lastfm_api_key is None
    assert not LastfmConfig.from_env().enabled


def test_env_example_exported_as_it_is_loads(tmp_path: Path) -> None:
    """`set -a; . ./.env.example` then a command: the empty values are not errors."""
    script = (
        "set -a; . ./.env.example; set +a; "
        f"{sys.executable} -c 'from config import get_settings; "
        "s = get_settings(); print(s.lastfm_max_attempts, s.encore_serving_keep)'"
    )
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=subprocess_env({ENV_FILE_VAR: "none"}),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["5", "3"]


@pytest.mark.parametrize(("source", "where"), [("env", "the environment"), ("file", ".env")])
def test_a_bad_number_names_its_variable_and_where_it_came_from(
    source: str, where: str, dotenv: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = dotenv("LASTFM_MAX_ATTEMPTS=five\n" if source == "file" else "")
    if source == "env":
        monkeypatch.setenv("LASTFM_MAX_ATTEMPTS", "five")
    with pytest.raises(SettingsError) as raised:
        get_settings()
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("LASTFM_MAX_ATTEMPTS='five' from ")
    assert (str(path) if source == "file" else where) in message
    assert "integer" in message


def test_a_bad_secret_is_named_but_not_shown(
    dotenv: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    dotenv("")
    monkeypatch.setenv("ENCORE_PG_PORT", "not-a-port")
    with pytest.raises(SettingsError, match="ENCORE_PG_PORT='not-a-port'"):
        get_settings()
    monkeypatch.delenv("ENCORE_PG_PORT")
    monkeypatch.setenv("SNOWFLAKE_PORT", "99999")
    with pytest.raises(SettingsError, match="SNOWFLAKE_PORT='99999' from the environment"):
        get_settings()


def test_a_command_with_a_bad_value_stops_with_one_line() -> None:
    env = subprocess_env({ENV_FILE_VAR: "none", "ENCORE_SERVING_KEEP": "lots"})
    done = subprocess.run(
        [sys.executable, "-m", "warehouse", "status"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith("error: ENCORE_SERVING_KEEP='lots' from the environment: ")
    assert lines[1].startswith("next: ")
    assert "Traceback" not in done.stderr


def test_secrets_are_hidden_in_reprs_and_logs(dotenv: Callable[[str], Path]) -> None:
    dotenv(
        "LASTFM_API_KEY=only-in-the-dotenv-file\n"
        "WAREHOUSE_URL=postgresql://u:pw-in-url@127.0.0.1:5/db\n"
    )
    settings = get_settings()
    shown = repr(settings) + str(settings)
    assert "only-in-the-dotenv-file" not in shown and "pw-in-url" not in shown
    # the value is not in the process environment, yet the log redactor knows it
    assert redact("calling with only-in-the-dotenv-file") == "calling with ***"
    secret_fields = {
        name
        for name in FIELDS
        if any(word in name for word in ("key", "secret", "token", "password"))
    }
    for name in secret_fields | {"warehouse_url", "encore_api_database_url"}:
        assert "SecretStr" in str(Settings.model_fields[name].annotation), name


def test_blank_values_count_as_unset(settings_env: SettingsEnv) -> None:
    settings = settings_env(LASTFM_PAGE_SIZE="  ", SPOTIFY_CLIENT_ID=" ", DBT_TARGET="")
    assert settings.lastfm_page_size == 200
    assert settings.spotify_client_id is None and settings.dbt_target == "postgres"


def test_relative_paths_are_relative_to_the_project(settings_env: SettingsEnv) -> None:
    settings = settings_env(ENCORE_HOME="state", ENCORE_SHARED_DATA="../shared/data")
    assert settings.encore_home == PROJECT_ROOT / "state"
    assert settings.encore_shared_data == (PROJECT_ROOT.parent / "shared" / "data").resolve()
    assert settings.artifacts_dir == PROJECT_ROOT / "state" / "artifacts"


def _reads_the_environment(tree: ast.AST) -> list[int]:
    """Lines that touch os.environ or os.getenv/putenv."""
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr in ("environ", "getenv", "putenv")
        and isinstance(node.value, ast.Name)
        and node.value.id == "os"
    ]


def test_only_config_reads_the_environment() -> None:
    offenders = {}
    for folder in CODE_DIRS:
        for path in sorted((PROJECT_ROOT / folder).rglob("*.py")):
            lines = _reads_the_environment(ast.parse(path.read_text(), str(path)))
            if lines:
                offenders[str(path.relative_to(PROJECT_ROOT))] = lines
    assert not offenders, f"read settings through config.get_settings(): {offenders}"


def test_the_env_file_holds_no_committed_secrets() -> None:
    """.env is git-ignored; .env.example leaves every secret empty."""
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=PROJECT_ROOT, check=False)
    if shutil.which("git") and (PROJECT_ROOT / ".git").exists():
        assert ignored.returncode == 0
    from config.settings import SECRET_FIELDS

    for line in (PROJECT_ROOT / ".env.example").read_text().splitlines():
        name, _, value = line.partition("=")
        if name.strip().lower() in SECRET_FIELDS:
            assert not value.strip(), f"{name} has a value in .env.example"
