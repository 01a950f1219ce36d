"""File sources: listening-history exports and the Kaggle tracks dataset.

- Last.fm scrobble exports (CSV/TSV in every common layout) -> raw.lastfm_scrobbles,
  `_source` 'lastfm_export'.
- Spotify account-data exports (StreamingHistory*.json, Extended Streaming History) ->
  raw.spotify_plays, `_source` 'spotify_export'.
- The Kaggle Spotify tracks dataset -> raw.kaggle_tracks, `_source` 'kaggle' (snapshot).

`python -m extract.files import PATH [--user NAME] [--date YYYY-MM-DD]` imports a file,
folder or zip (gzipped or not); `python -m extract.files kaggle [CSV]` loads the dataset.
In code: `parse_path` (no database), `import_path` / `load_kaggle` (parse, land, load),
and `land_import` + `load_landed` for the two Airflow steps.
"""

from extract.files.errors import FileImportError
from extract.files.importer import ParsedImport, parse_path
from extract.files.load import (
    ImportResult,
    import_path,
    kaggle_configured,
    land_import,
    land_kaggle,
    load_kaggle,
    load_landed,
    load_parsed,
)
from extract.files.parsed import ParsedFile

__all__ = [
    "FileImportError",
    "ImportResult",
    "ParsedFile",
    "ParsedImport",
    "import_path",
    "kaggle_configured",
    "land_import",
    "land_kaggle",
    "load_kaggle",
    "load_landed",
    "load_parsed",
    "parse_path",
]
