"""Where the Kaggle tracks CSV comes from: a path, `KAGGLE_TRACKS_CSV`, or a download.

The download needs Kaggle credentials (`KAGGLE_USERNAME`/`KAGGLE_KEY`) *and* the `kaggle`
package, which only the `cloud` extra installs (`uv sync --extra cloud`; `make setup`
installs every extra): without it, the error says what to install or which variable to set
instead. Credentials are read by the kaggle package itself and never
logged.
"""

from __future__ import annotations

from pathlib import Path

from config import get_settings, set_process_env
from extract.files.errors import FileImportError
from warehouse.paths import state_dir

DATASET = "maharshipandya/-spotify-tracks-dataset"


def locate_kaggle_csv(csv: Path | None = None) -> Path:
    """The CSV to load: `csv`, else `KAGGLE_TRACKS_CSV`, else a download with credentials."""
    if csv is not None:
        return csv
    settings = get_settings()
    if settings.kaggle_tracks_csv is not None:
        return settings.kaggle_tracks_csv
    if settings.kaggle_username and settings.kaggle_key:
        return download_dataset(state_dir() / "downloads" / "kaggle")
    raise FileImportError(
        "kaggle",
        "no dataset given: pass the CSV's path, set KAGGLE_TRACKS_CSV, or set "
        "KAGGLE_USERNAME and KAGGLE_KEY (with the kaggle package installed) to download it",
    )


def download_dataset(folder: Path) -> Path:
    """Download and unzip the dataset into `folder` with the kaggle package; its CSV."""
    try:
        from kaggle.api.kaggle_api_extended import KaggleApi
    except ImportError as exc:
        raise FileImportError(
            DATASET,
            "KAGGLE_USERNAME/KAGGLE_KEY are set but the `kaggle` package is not "
            "installed: `uv sync --extra cloud` (or `pip install kaggle`), or download "
            "dataset.csv from kaggle.com yourself and set KAGGLE_TRACKS_CSV",
        ) from exc
    folder.mkdir(parents=True, exist_ok=True)
    settings = get_settings()
    key = settings.kaggle_key.get_secret_value() if settings.kaggle_key else ""
    try:
        # The kaggle package reads its credentials from the environment itself.
        set_process_env({"KAGGLE_USERNAME": settings.kaggle_username or "", "KAGGLE_KEY": key})
        api = KaggleApi()
        api.authenticate()
        api.dataset_download_files(DATASET, path=str(folder), unzip=True, quiet=True)
    except Exception as exc:  # network, HTTP 401/404: say why, never with the key in it
        message = str(exc).replace(key or "\0", "***")
        raise FileImportError(DATASET, f"download failed: {type(exc).__name__}: {message}") from exc
    found = sorted(folder.glob("*.csv"))
    if not found:
        raise FileImportError(DATASET, f"the download holds no CSV file (in {folder})")
    return found[0]
