"""pyproject.toml declares what the code imports, and imports what it declares (issue 14).

Who may import what:
- runtime code (every package at the root but bench/ and tests/, plus dags/): the runtime
  dependencies at module level; the extras (`compose`, `cloud`) only inside a function, so
  the default install imports every module; the dev group never;
- bench/ and tests/ (run from the dev environment): anything declared.
An import resolves to the installed distribution that ships its module (in a shared
namespace such as airflow.* or dbt.*, the one shipping the longest dotted prefix); a
distribution pinned with `==` by a declared meta-package (apache-airflow) counts as declared.
Every runtime dependency must be imported somewhere, or be listed in NOT_IMPORTED.
Run it in the environment `make setup` builds: a module of an extra that is not installed
cannot be resolved, and is reported as such.
"""

from __future__ import annotations

import ast
import importlib.metadata as metadata
import re
import sys
import tomllib
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PACKAGES = sorted(path.parent.name for path in ROOT.glob("*/__init__.py"))
RUNTIME_CODE = [name for name in PACKAGES if name not in {"bench", "tests"}] + ["dags"]
OWN = {*PACKAGES, "dags", *(path.stem for path in (ROOT / "dags").glob("*.py"))}

# Runtime dependencies used without an import statement.
NOT_IMPORTED = {
    "dbt-postgres": "the adapter dbt loads by name for profiles.yml's `postgres` target",
    "pgserver": "warehouse/embedded.py finds its PostgreSQL binaries with find_spec",
}


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def names(requirements: list[str]) -> set[str]:
    return {normalize(re.match(r"[A-Za-z0-9._-]+", req).group()) for req in requirements}


RUNTIME = names(PYPROJECT["project"]["dependencies"])
EXTRAS = set().union(*map(names, PYPROJECT["project"]["optional-dependencies"].values()))
DEV = names([req for req in PYPROJECT["dependency-groups"]["dev"] if isinstance(req, str)])


@cache
def pinned_by() -> dict[str, str]:  # distribution -> the declared meta-package pinning it
    pins = {}
    for declarer in RUNTIME | EXTRAS | DEV:
        try:
            requires = metadata.requires(declarer) or []
        except metadata.PackageNotFoundError:
            continue
        for req in requires:
            match = re.fullmatch(r"([A-Za-z0-9._-]+)==[^;]+", req.strip())
            if match and normalize(match.group(1)) not in RUNTIME | EXTRAS | DEV:
                pins[normalize(match.group(1))] = declarer
    return pins


@cache
def top_level() -> dict[str, list[str]]:
    return metadata.packages_distributions()


@cache
def files(name: str) -> set[str]:
    return {str(file) for file in metadata.distribution(name).files or []}


@cache
def distribution(module: str) -> str:
    parts = module.split(".")
    candidates = top_level().get(parts[0])
    if not candidates:
        return f"{parts[0]} (not installed)"
    for depth in range(len(parts), 0, -1):
        stem = "/".join(parts[:depth])
        shipping = [
            name
            for name in candidates
            if len(candidates) == 1
            or any(file == f"{stem}.py" or file.startswith(f"{stem}/") for file in files(name))
        ]
        if shipping:
            found = {normalize(name) for name in shipping}
            return min(found, key=lambda name: (name not in RUNTIME | EXTRAS | DEV, name))
    return normalize(candidates[0])


def imports(folder: str) -> list[tuple[str, str, bool]]:  # (distribution, file, in a function)
    found = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        lazy = {
            id(node)
            for func in ast.walk(tree)
            if isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef)
            for node in ast.walk(func)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top not in sys.stdlib_module_names and top not in OWN:
                    dist = distribution(module)
                    dist = pinned_by().get(dist, dist)
                    found.append((dist, path.relative_to(ROOT).as_posix(), id(node) in lazy))
    return found


def test_runtime_code_imports_runtime_dependencies_and_extras_lazily() -> None:
    wrong = []
    for folder in RUNTIME_CODE:
        for dist, file, lazy in imports(folder):
            allowed = RUNTIME | (EXTRAS if lazy else set())
            if dist not in allowed:
                wrong.append(f"{file}: {dist}" + (" (inside a function)" if lazy else ""))
    lacking = "\n".join(sorted(set(wrong)))
    assert not wrong, f"runtime code imports what [project].dependencies lacks:\n{lacking}"


def test_bench_and_tests_import_only_declared_packages() -> None:
    undeclared = {
        f"{file}: {dist}"
        for folder in ("bench", "tests")
        for dist, file, _ in imports(folder)
        if dist not in RUNTIME | EXTRAS | DEV
    }
    assert not undeclared, "undeclared imports:\n" + "\n".join(sorted(undeclared))


def test_every_runtime_dependency_is_imported_or_explained() -> None:
    imported = {
        dist for folder in [*RUNTIME_CODE, "bench", "tests"] for dist, _, _ in imports(folder)
    }
    assert sorted(RUNTIME - imported - NOT_IMPORTED.keys()) == []
    assert sorted(NOT_IMPORTED.keys() & imported) == [], "imported now: drop from NOT_IMPORTED"
