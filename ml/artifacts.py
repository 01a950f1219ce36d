"""A trained model on disk: LightGBM's text model plus a JSON sidecar, one folder per version.

The sidecar carries everything scoring needs besides the trees (the feature order and the
categorical vocabularies) and what a reader wants to audit (params, split, metrics), so a
model folder is self-describing and can be scored without the training database.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np

from ml.features import FEATURES, Vocabulary, to_matrix

MODEL_FILE = "model.txt"
SIDECAR_FILE = "model.json"
LOGISTIC_FILE = "logistic.pkl"
"""The repeat model's logistic-regression half (scikit-learn, pickled): the repeat model is
`blend_weight` x LightGBM + (1 - blend_weight) x this (ml.train)."""


@dataclass(frozen=True)
class LoadedModel:
    version: str
    booster: lgb.Booster
    features: list[str]
    vocabulary: Vocabulary
    sidecar: dict[str, Any]
    logistic: Any = None

    @property
    def blend_weight(self) -> float:
        """LightGBM's share of the repeat model's probability (1.0: LightGBM alone)."""
        return float(self.sidecar.get("blend_weight", 1.0)) if self.logistic is not None else 1.0

    def predict(self, frame: Any) -> Any:
        """P(repeat within 30 days) for rows carrying FEATURES (a polars frame)."""
        probability = self.booster.predict(to_matrix(frame, self.vocabulary))
        assert isinstance(probability, np.ndarray)  # dense input: dense output
        if self.blend_weight < 1.0:
            probability = self.blend_weight * probability + (
                1.0 - self.blend_weight
            ) * self.logistic.predict(frame)
        return probability


def model_sha256(model_text: str) -> str:
    """Identifies the exact trees: two runs on the same data and params give the same hash."""
    return hashlib.sha256(model_text.encode()).hexdigest()


def model_version(model_text: str, trained_at: datetime, run_id: uuid.UUID) -> str:
    """`lgbm-YYYYmmddTHHMMSSZ-<8 hex>`: sortable by time; the hash covers the trees and the
    run id, so a deterministic retrain within the same second still gets its own version."""
    digest = hashlib.sha256(f"{model_sha256(model_text)}:{run_id}".encode()).hexdigest()[:8]
    return f"lgbm-{trained_at.astimezone(UTC):%Y%m%dT%H%M%SZ}-{digest}"


def save_model(artifacts_dir: Path, version: str, model_text: str, sidecar: dict[str, Any]) -> Path:
    """Write the model folder and return it. Files are written to temporary names first, so
    a crash never leaves a folder with a model but no sidecar."""
    folder = Path(artifacts_dir) / version
    folder.mkdir(parents=True, exist_ok=False)
    for name, text in ((MODEL_FILE, model_text), (SIDECAR_FILE, _to_json(sidecar))):
        tmp = folder / f".{name}.tmp"
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(folder / name)
    return folder


def model_saved(artifacts_dir: Path, version: str) -> bool:
    """Whether `version`'s folder under `artifacts_dir` holds its trees and sidecar."""
    folder = Path(artifacts_dir) / version
    return (folder / MODEL_FILE).is_file() and (folder / SIDECAR_FILE).is_file()


def load_model(artifacts_dir: Path, version: str) -> LoadedModel:
    """Load a model folder written by save_model; refuses one whose feature list differs from
    this code's (the feature marts would no longer match the trees)."""
    folder = Path(artifacts_dir) / version
    if not model_saved(artifacts_dir, version):
        raise FileNotFoundError(f"no model {version!r} under {artifacts_dir}")
    sidecar = json.loads((folder / SIDECAR_FILE).read_text(encoding="utf-8"))
    if list(sidecar["features"]) != list(FEATURES):
        raise ValueError(f"model {version} was trained on a different feature list; retrain it")
    booster = lgb.Booster(model_file=str(folder / MODEL_FILE))
    logistic = None
    if (folder / LOGISTIC_FILE).is_file():
        import pickle

        with (folder / LOGISTIC_FILE).open("rb") as handle:
            logistic = pickle.load(handle)  # our own artifact, written by ml.train
    return LoadedModel(
        version=version,
        booster=booster,
        features=list(sidecar["features"]),
        vocabulary={k: list(v) for k, v in sidecar["vocabulary"].items()},
        sidecar=sidecar,
        logistic=logistic,
    )


def save_logistic(folder: Path, logistic: Any) -> None:
    """Pickle the repeat model's logistic-regression half into its folder."""
    import pickle

    tmp = folder / f".{LOGISTIC_FILE}.tmp"
    with tmp.open("wb") as handle:
        pickle.dump(logistic, handle, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(folder / LOGISTIC_FILE)


def _to_json(value: Any) -> str:
    """Strict JSON: NaN (e.g. an AUC undefined for lack of a class) is written as null."""

    def clean(item: Any) -> Any:
        if isinstance(item, float) and not math.isfinite(item):
            return None
        if isinstance(item, dict):
            return {key: clean(val) for key, val in item.items()}
        if isinstance(item, list | tuple):
            return [clean(val) for val in item]
        return item

    return json.dumps(clean(value), indent=2, allow_nan=False)
