"""Turn what the user points at (a file, a folder, a zip, gzipped or not) into named bytes.

Exports reach us in every packaging: Spotify sends a zip of JSON files, Last.fm exporters
write a CSV that people gzip or zip, and people collect several into a folder. All of them
become a flat list of `InputFile`s, each named by its path relative to what was given (that
name becomes `source_ref` in raw), decompressed and sorted, so an import is deterministic.
Compression is recognised by its magic bytes, not the file name.
"""

from __future__ import annotations

import gzip
import io
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from extract.files.errors import FileImportError

GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"
# Archive clutter that is never an export: macOS resource forks, hidden files.
_IGNORED_PARTS = ("__MACOSX",)


@dataclass(frozen=True)
class InputFile:
    name: str  # path relative to the imported folder or archive; becomes `source_ref`
    data: bytes  # the content, decompressed
    # The innermost zip holding the file (its name within the import; a zip given directly
    # is named by its own file name); None for a file that is in no zip.
    archive: str | None = None

    @property
    def base_name(self) -> str:
        return PurePosixPath(self.name).name

    @property
    def folder(self) -> str:
        """The folder holding the file, as named within the import ("." at the top)."""
        return str(PurePosixPath(self.name).parent)


def _ignored(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return any(part.startswith(".") or part in _IGNORED_PARTS for part in parts)


def gunzip(name: str, data: bytes) -> bytes:
    """`data` decompressed if it is gzip (by magic bytes), else unchanged."""
    if not data.startswith(GZIP_MAGIC):
        return data
    try:
        return gzip.decompress(data)
    except (EOFError, OSError, zlib.error) as exc:
        raise FileImportError(name, f"truncated or corrupt gzip ({exc})") from exc


def _zip_members(prefix: str, data: bytes, archive_name: str | None = None) -> list[InputFile]:
    """The members of a zip, named `prefix/member` (or just `member` without a prefix)."""
    name = archive_name or prefix
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = sorted(info.filename for info in archive.infolist() if not info.is_dir())
        files = []
        for member in members:
            if _ignored(member):
                continue
            try:
                content = archive.read(member)
            except (zipfile.BadZipFile, EOFError, OSError, zlib.error) as exc:
                raise FileImportError(f"{name}/{member}", f"corrupt zip member ({exc})") from exc
            files.extend(_expand(f"{prefix}/{member}" if prefix else member, content, archive=name))
        return files
    except zipfile.BadZipFile as exc:
        raise FileImportError(name, f"truncated or corrupt zip ({exc})") from exc


def _expand(name: str, data: bytes, archive: str | None = None) -> list[InputFile]:
    """One file's content: itself (gunzipped) or, for a zip, its members."""
    data = gunzip(name, data)
    if data.startswith(ZIP_MAGIC):
        return _zip_members(name, data)
    return [InputFile(name, data, archive)]


def collect_inputs(path: Path) -> list[InputFile]:
    """Every file under `path` (a file, a folder or a zip), decompressed, in name order.

    A zip given directly names its members by their path inside it; files inside a folder
    are named by their path relative to it; a single file by its own name.
    """
    if not path.exists():
        raise FileImportError(str(path), "no such file or folder")
    if path.is_file():
        data = gunzip(path.name, path.read_bytes())
        if data.startswith(ZIP_MAGIC):
            return _zip_members("", data, archive_name=path.name)
        return [InputFile(path.name, data)]
    files: list[InputFile] = []
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        relative = file.relative_to(path).as_posix()
        if not _ignored(relative):
            files.extend(_expand(relative, file.read_bytes()))
    return sorted(files, key=lambda f: f.name)
