"""ml.compiled: the compiled model predicts what LightGBM predicts, and its object code is
cached per model text and CPU."""

from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import numpy as np
import pytest

from ml import compiled


def _model_file(folder: Path, seed: int = 0) -> tuple[Path, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(3_000, 6))
    x[rng.random(x.shape) < 0.2] = np.nan  # missing values take LightGBM's default branch
    y = (np.nan_to_num(x[:, 0]) + rng.normal(size=3_000) > 0).astype(float)
    params = {"objective": "binary", "max_depth": 5, "verbose": -1, "seed": seed}
    booster = lgb.train(params, lgb.Dataset(x, label=y), num_boost_round=40)
    path = folder / "list_model.txt"
    path.write_text(booster.model_to_string(), encoding="utf-8")
    return path, x


def test_compiled_predictions_equal_lightgbms(tmp_path) -> None:
    path, x = _model_file(tmp_path)
    expected = lgb.Booster(model_file=str(path)).predict(x)
    for threads in (1, 2):
        predicted = compiled.load(path, threads=threads).predict(x)
        np.testing.assert_allclose(predicted, expected, rtol=0, atol=1e-12)
    # the same order, ties included
    assert (np.argsort(-predicted, kind="stable") == np.argsort(-expected, kind="stable")).all()


def test_the_object_code_is_cached_per_model_text(tmp_path) -> None:
    path, x = _model_file(tmp_path)
    compiled.load(path, threads=1)
    (cached,) = tmp_path.glob("list_model.txt.*.o")
    assert cached == compiled.cache_path(path)
    written = cached.stat().st_mtime_ns
    again = compiled.load(path, threads=1)  # loaded, not compiled again
    assert cached.stat().st_mtime_ns == written
    np.testing.assert_allclose(
        again.predict(x), lgb.Booster(model_file=str(path)).predict(x), rtol=0, atol=1e-12
    )
    assert not list(tmp_path.glob("*.tmp"))
    _model_file(tmp_path, seed=1)  # another model in the same file: another object
    assert compiled.cache_path(path) != cached


def test_an_unwritable_folder_compiles_without_a_cache(tmp_path, monkeypatch) -> None:
    path, x = _model_file(tmp_path)

    def read_only(*args: object, **kwargs: object) -> None:
        raise PermissionError("read-only folder")

    monkeypatch.setattr(compiled.tempfile, "mkstemp", read_only)
    model = compiled.load(path, threads=1)
    assert not list(tmp_path.glob("*.o"))
    np.testing.assert_allclose(
        model.predict(x), lgb.Booster(model_file=str(path)).predict(x), rtol=0, atol=1e-12
    )


@pytest.mark.parametrize("rows", [0, 1])
def test_tiny_matrices(tmp_path, rows: int) -> None:
    path, x = _model_file(tmp_path)
    predicted = compiled.load(path, threads=2).predict(x[:rows])
    assert predicted.shape == (rows,)
