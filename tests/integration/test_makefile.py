"""The Makefile from a fresh copy of the project on a PATH without uv: it bootstraps uv into
`.encore/uv` and every target finds it by its absolute path, even after a `cd`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from config import PROJECT_ROOT, subprocess_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _path_without_uv(path: str) -> str:
    return os.pathsep.join(
        folder
        for folder in path.split(os.pathsep)
        if folder and not os.access(Path(folder) / "uv", os.X_OK)
    )


def _fresh_copy(target: Path) -> Path:
    """The project's files as a clone would have them (tracked and new, not ignored)."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, listed):
        source = PROJECT_ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not shutil.which("git") or not (PROJECT_ROOT / ".git").exists():
        pytest.skip("needs the project's git checkout to copy from")
    return _fresh_copy(tmp_path_factory.mktemp("fresh-clone"))


def make(clone: Path, *targets: str) -> subprocess.CompletedProcess[str]:
    env = subprocess_env({"PATH": _path_without_uv(os.environ.get("PATH", ""))})
    for name in (
        "VIRTUAL_ENV",
        "UV_PROJECT_ENVIRONMENT",
        "ENCORE_HOME",
        "ENCORE_ARTIFACTS_DIR",
        "WAREHOUSE_URL",
    ):
        env.pop(name, None)
    python = getattr(sys, "_base_executable", sys.executable)  # the machine's, not the venv's
    return subprocess.run(
        ["make", *targets, f"PYTHON={python}"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def test_setup_bootstraps_uv_when_it_is_not_on_path(clone: Path) -> None:
    done = make(clone, "setup")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "uv not found: installing it from PyPI" in done.stdout
    assert (clone / ".encore" / "uv" / "bin" / "uv").is_file()
    assert (clone / ".venv" / ".synced").is_file()


def test_targets_that_change_directory_find_the_bootstrapped_uv(clone: Path) -> None:
    done = make(clone, "dbt-parse")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (clone / "dbt_project" / "target" / "manifest.json").is_file()
    assert "No such file or directory" not in done.stderr
