"""A LightGBM model file compiled to machine code (lleaves), for the predictions the scorer
makes: the same probabilities as `Booster.predict` (to rounding, about 1e-15) in a quarter
of the time (docs/benchmarks.md, "The ranking model compiled").

Compiling takes seconds (1.5 s for the demo's list model, 385 trees; 16 s for a repeat model
of 999 trees, which is why that one is not compiled), so the object code is cached beside the
model file, once per host CPU: `<model>.<key>.o`, the key a hash of the model text, the CPU's name
and features, and the lleaves and llvmlite versions (an object built for another CPU is
never loaded). Training compiles it; a scorer on the same kind of machine loads it in
milliseconds, and one on another compiles its own. Where compiling fails, the caller keeps
`Booster.predict` (ml.list_model logs it).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np


class CompiledModel:
    """A compiled model: `predict(matrix)` as `Booster.predict(matrix)` (float64 rows)."""

    def __init__(self, model: Any, threads: int) -> None:
        self._model = model
        self._threads = threads

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        if not len(matrix):  # lleaves splits the rows by thread: none to split
            return np.empty(0)
        return np.asarray(self._model.predict(matrix, n_jobs=min(self._threads, len(matrix))))


def cache_path(model_file: Path) -> Path:
    """Where the object code of `model_file` for this host's CPU is cached."""
    import llvmlite.binding as llvm

    key = hashlib.sha256()
    key.update(model_file.read_bytes())
    for part in (
        llvm.get_host_cpu_name(),
        llvm.get_host_cpu_features().flatten(),
        importlib.metadata.version("lleaves"),
        importlib.metadata.version("llvmlite"),
    ):
        key.update(b"\0" + part.encode())
    return model_file.with_name(f"{model_file.name}.{key.hexdigest()[:16]}.o")


def load(model_file: Path, *, threads: int) -> CompiledModel:
    """The compiled `model_file`, from its cache or compiled now (and cached when the folder
    is writable: written to a temporary file, then renamed, so concurrent scorers never
    read half an object)."""
    import lleaves

    cached = cache_path(model_file)
    model = lleaves.Model(model_file=str(model_file))
    if cached.exists():
        model.compile(cache=str(cached))
        return CompiledModel(model, threads)
    try:
        handle, scratch = tempfile.mkstemp(prefix=cached.name, suffix=".tmp", dir=cached.parent)
    except OSError:  # a read-only model folder: compile without caching
        model.compile()
        return CompiledModel(model, threads)
    os.close(handle)
    os.unlink(scratch)  # lleaves writes the cache only where no file is
    try:
        model.compile(cache=scratch)
        os.replace(scratch, cached)
    finally:
        Path(scratch).unlink(missing_ok=True)
    return CompiledModel(model, threads)
