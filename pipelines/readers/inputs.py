"""Which files a user named, and each logical input behind them as a local UTF-8 file.

`resolve_paths` is the one input resolver of the CLI, the DAGs and the sync (through `ingest`);
`iter_inputs` opens what it resolves, expanding archives member by member. Storage URIs
(`s3://bucket/prefix/`, `gs://`, `sftp://`...) resolve to remote objects (`pipelines.readers.remote`),
each downloaded into the workdir before it is read, and named by its URI (credentials hidden).
"""
from __future__ import annotations

import glob
import os
import re
import shutil
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

from pipelines.errors import DataRefused, UsageError, first_line
from pipelines.readers.archives import JUNK_MEMBER, CountingFile, check_member_header, gz_opener, zip_opener
from pipelines.readers.common import CONTROL, InputFile
from pipelines.readers.encodings import FileOpener, materialize
from pipelines.readers.remote import RemoteFile, remote_uri, resolve_remote
from pipelines.settings import ArchiveLimits, Settings

_GLOB = re.compile(r"[*?[]")
_SKIPPED_FOLDERS = ("__MACOSX",)  # macOS resource forks, zipped along with the export


def resolve_paths(items: str | os.PathLike | Iterable[str | os.PathLike | None], globs: bool = False,
                  settings: Settings | None = None) -> list[Path | RemoteFile]:
    """The files behind what a user named, in order, each once (as named, not made absolute).

    - a file is taken as it is named: paths are literal (`bounces[12].csv` is that file);
    - a folder gives every file under it, recursively and sorted, skipping hidden files and
      folders (`.DS_Store`, `.git/`) and `__MACOSX/`;
    - a `file://` URI (`file:///data/x.csv`, `file://localhost/...`) is that local path;
    - another URI (`s3://bucket/prefix/`, `gs://...`, `sftp://...`) gives its `RemoteFile`s: an
      object, or every object under a prefix (with the same skips as a folder), through fsspec or,
      with an Airflow connection, Airflow's ObjectStoragePath (`settings`: the storage options and
      connection; default: the environment's); a scheme with no implementation installed is refused;
    - only with `globs` (where the user asked for patterns: the migration DAG's `paths`), an item
      with `*`, `?` or `[` that names no file is a pattern (`**` recursive) for the files it
      matches, with the same files skipped as in a folder.
    Raises UsageError for nothing named, a path that does not exist, a folder without files, or a
    pattern that matches none.
    """
    if isinstance(items, str | os.PathLike):
        items = [items]
    named = [os.fspath(i) for i in items if i is not None and str(i).strip()]
    if not named:
        raise UsageError("no input paths given; pass at least one file, directory or file:// URI")
    found: dict[Path | str, Path | RemoteFile] = {}
    for item in named:
        uri = None if os.path.lexists(item) else remote_uri(item.strip())
        if uri is not None:
            settings = settings or Settings.from_env()
            for obj in resolve_remote(uri, globs, settings):
                found.setdefault(obj.uri, obj)
            continue
        for path in _resolve_one(item, globs):
            found.setdefault(path.resolve(), path)
    return list(found.values())


def _resolve_one(item: str, globs: bool) -> list[Path]:
    if not os.path.lexists(item):
        item = item.strip()
    local = _local_path(item)
    path = Path(local)
    if not os.path.lexists(local) and local.startswith("~"):
        path = path.expanduser()
    if path.is_dir():
        files = _files_under(path, sorted(path.rglob("*")))  # rglob's "*": the folder's own name is no pattern
        if not files:
            raise UsageError(f"{item}: the directory holds no files")
        return files
    if path.is_file():
        return [path]
    if globs and _GLOB.search(local):
        fixed = _prefix(path.parts)
        files = _files_under(Path(*fixed) if fixed else Path(), [Path(m) for m in sorted(glob.glob(str(path), recursive=True))])
        if not files:
            raise UsageError(f"{item}: matches no files")
        return files
    raise UsageError(f"{item}: no such file or directory")


def _local_path(item: str) -> str:
    """`file:///data/x.csv` (or `file://localhost/...`, or `file:/data/x.csv` as a path type
    prints it) to a local path."""
    if item[:5].lower() != "file:" or os.path.lexists(item):
        return item
    parts = urlsplit(item)
    if parts.netloc not in ("", "localhost"):
        raise UsageError(f"{item}: file:// URIs must name a local path (file:///path/to/files)")
    return unquote(parts.path)


def _prefix(parts: tuple[str, ...]) -> list[str]:
    """The leading parts of a pattern that hold no wildcard: where its matches are relative to."""
    fixed = []
    for part in parts:
        if _GLOB.search(part):
            break
        fixed.append(part)
    return fixed


def _files_under(root: Path, candidates: list[Path]) -> list[Path]:
    """The regular files among `candidates`, without hidden or `__MACOSX` parts below `root`."""
    files = []
    for p in candidates:
        try:
            below = p.relative_to(root).parts
        except ValueError:
            below = p.parts
        if p.is_file() and not any(part.startswith(".") or part in _SKIPPED_FOLDERS for part in below):
            files.append(p)
    return files


def iter_inputs(paths: list[str | Path], workdir: Path, settings: Settings | None = None) -> Iterator[InputFile]:
    """Every logical input behind the given paths (archives expanded, junk members skipped).

    The archive limits come from `settings` (default: the environment's), read when the first
    archive is opened."""
    index = downloads = 0
    limits: list[ArchiveLimits] = []

    def archive_limits() -> ArchiveLimits:
        if not limits:
            limits.append((settings or Settings.from_env()).archive_limits())
        return limits[0]

    for item in resolve_paths(paths, settings=settings) if paths else ():  # a quiet sync night pulls no files
        fetched = None
        if isinstance(item, RemoteFile):  # downloaded one at a time, as it is reached
            settings = settings or Settings.from_env()
            downloads += 1
            fetched = workdir / f"remote{downloads:04d}"
            path, shown = item.download(fetched, settings.max_download()), item.display
        else:
            path, shown = item, str(item)
        lower = path.name.lower()
        if lower.endswith(".zip"):
            raw = path.open("rb")
            counting = CountingFile(raw)
            try:
                archive = zipfile.ZipFile(counting)
            except Exception as exc:  # noqa: BLE001 - any failure to read the directory is about the data
                raw.close()
                raise DataRefused(f"{shown}: not a readable zip archive ({first_line(exc)})") from None
            with raw, archive:
                for info in archive.infolist():
                    if info.is_dir() or JUNK_MEMBER.search(info.filename):
                        continue
                    member = info.filename
                    display = f"{shown}!{CONTROL.sub('?', member)}"  # messages stay one line
                    check_member_header(display, info, path.stat().st_size, archive_limits())
                    index += 1
                    opener = zip_opener(archive, counting, info, display, archive_limits())
                    yield materialize(display, Path(member).name.removesuffix(".gz"), opener, workdir, index)
        elif lower.endswith(".gz"):
            index += 1
            yield materialize(shown, path.name[:-3], gz_opener(path, shown, archive_limits()), workdir, index)
        else:
            index += 1
            yield materialize(shown, path.name, FileOpener(path), workdir, index)
            fetched = None  # a plain file may be read where it was downloaded: it stays until the run ends
        if fetched is not None:  # an archive's members are copied out: its download can go now
            shutil.rmtree(fetched, ignore_errors=True)
