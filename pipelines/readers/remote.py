"""Inputs named by URI (`s3://`, `gs://`, `sftp://`, any scheme fsspec knows): listed where
customers drop them, and each object downloaded into the run's workdir before it is read.

- A URI is opened through fsspec with its implementation's standard credentials (for S3: the AWS
  variables, profile or role, and `AWS_ENDPOINT_URL` for an S3-compatible server), plus the
  storage options of its scheme from `SUPPRESSION_STORAGE_OPTIONS`.
- With an Airflow connection (`SUPPRESSION_STORAGE_CONN_ID`, or in the URI as Airflow writes it,
  `s3://conn_id@bucket/key`), it is opened through Airflow's `ObjectStoragePath` instead, with the
  credentials of that connection (Airflow is imported only then; its provider for the scheme,
  e.g. apache-airflow-providers-amazon for s3, must be installed).
- A URI's display (messages, summaries, lineage) never shows what is between `://` and `@`.
"""
from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from pipelines.errors import DataRefused, PipelineError, UsageError, UserError, first_line
from pipelines.readers.common import CHUNK, CONTROL
from pipelines.redact import redact, scrub
from pipelines.settings import MAX_DOWNLOAD_ENV, STORAGE_CONN_ENV, Settings

_URI = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):(/.*)$", re.S)  # 2+ letters: `C:/x` is a Windows path
_GLOB = re.compile(r"[*?[]")
_SKIPPED_FOLDERS = ("__MACOSX",)
# Object stores whose URIs have no user: a `name@` there is an Airflow connection (ObjectStoragePath).
_OBJECT_STORES = {"s3", "s3a", "gs", "gcs", "abfs", "abfss", "az", "adl", "wasb", "wasbs", "oss", "r2"}
_PACKAGES = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "sftp": "paramiko", "ssh": "paramiko",
             "abfs": "adlfs", "abfss": "adlfs", "az": "adlfs", "adl": "adlfs"}
PROVIDERS = {"s3": "apache-airflow-providers-amazon", "gs": "apache-airflow-providers-google",
              "gcs": "apache-airflow-providers-google", "abfs": "apache-airflow-providers-microsoft-azure",
              "az": "apache-airflow-providers-microsoft-azure", "sftp": "apache-airflow-providers-sftp"}


class StorageUnavailable(UserError):
    """The storage did not answer (endpoint down, network, a throttled request): a later try may
    work, so an Airflow task retries it."""

    retryable = True


def remote_uri(item: str) -> str | None:
    """The URI `item` names if it is one that is not `file:`, else None.

    Also takes a URI that a path type collapsed (`s3:/bucket/key`, which `Path("s3://bucket/key")`
    prints): the CLI's arguments may have been through one."""
    m = _URI.match(item)
    if not m or m[1].lower() == "file":
        return None
    rest = m[2]
    return f"{m[1]}:{rest}" if rest.startswith("//") else f"{m[1]}:/{rest}"


def shown(uri: str) -> str:
    """A URI for messages: no user, password or connection, one line."""
    return CONTROL.sub("?", redact(uri))


@dataclass(frozen=True, eq=False)
class RemoteFile:
    """One object behind a URI: `uri` opens it again (in another task), `display` names it."""

    uri: str  # may name a user or an Airflow connection: never shown, see `display`
    fs: object  # the fsspec filesystem it was listed with
    path: str  # the object's path on `fs`
    size: int | None = None

    @property
    def display(self) -> str:
        return shown(self.uri)

    @property
    def name(self) -> str:
        base = CONTROL.sub("_", posixpath.basename(self.path.rstrip("/"))).replace("\\", "_")
        return base[-200:] if base not in ("", ".", "..") else "download"

    def __str__(self) -> str:
        return self.display

    def __repr__(self) -> str:
        return f"RemoteFile({self.display!r})"

    def download(self, folder: Path, max_bytes: int) -> Path:
        """Stream the object into `folder` (bounded memory), refused past `max_bytes`."""
        if self.size is not None and self.size > max_bytes:
            raise _too_big(self.display, self.size, max_bytes)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / self.name
        done = 0
        try:
            with self.fs.open(self.path, "rb") as src, target.open("wb") as out:
                while chunk := src.read(CHUNK):
                    done += len(chunk)
                    if done > max_bytes:
                        raise _too_big(self.display, done, max_bytes)
                    out.write(chunk)
        except PipelineError:
            target.unlink(missing_ok=True)
            raise
        except Exception as exc:  # noqa: BLE001 - whatever the storage library raises, as one line
            target.unlink(missing_ok=True)
            raise storage_failure(exc, self.uri) from None
        return target


def _too_big(display: str, size: int, max_bytes: int) -> DataRefused:
    return DataRefused(f"{display}: more than {max_bytes} bytes to download ({size}; limit {MAX_DOWNLOAD_ENV}); "
                       "refused")


def resolve_remote(uri: str, globs: bool, settings: Settings) -> list[RemoteFile]:
    """The objects behind one URI, in order: an object is itself; a prefix ("folder") gives every
    object under it, skipping hidden names and `__MACOSX/`; with `globs`, a URI with `*`, `?` or
    `[` that names no object is a pattern (`**` recursive). Raises UsageError for a scheme
    without an installed implementation, nothing there, or no access."""
    fs, root = _filesystem(uri, settings)
    try:
        fs.invalidate_cache()  # a listing is taken now, never from an earlier run in this process
        info = _info(fs, root)
        if info is not None and info.get("type") == "file":
            return [RemoteFile(uri, fs, root, info.get("size"))]
        if info is not None:
            found, base, base_uri = fs.find(root, detail=True), root, uri
        elif globs and _GLOB.search(_uri_path(uri)):
            found, base, base_uri = fs.glob(root, detail=True), _fixed(root), _fixed(uri)
        else:
            raise UsageError(f"{shown(uri)}: no such object or folder")
    except PipelineError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise storage_failure(exc, uri) from None
    files = []
    base = base.rstrip("/")
    for path in sorted(found):
        detail = found[path]
        if detail.get("type") != "file" or path.endswith("/") or not path.startswith(base + "/"):
            continue
        below = path[len(base) + 1:]
        if any(part.startswith(".") or part in _SKIPPED_FOLDERS for part in below.split("/")):
            continue
        files.append(RemoteFile(base_uri.rstrip("/") + "/" + below, fs, path, detail.get("size")))
    if not files:
        raise UsageError(f"{shown(uri)}: {'matches no objects' if info is None else 'the folder holds no files'}")
    return files


def _info(fs, path: str) -> dict | None:
    try:
        return fs.info(path)
    except FileNotFoundError:
        return None


def _uri_path(uri: str) -> str:
    return uri.split("://", 1)[1].partition("/")[2] if "://" in uri else uri


def _fixed(pattern: str) -> str:
    """What comes before the folder holding a pattern's first wildcard (`s3://b/x/*.csv` -> `s3://b/x`)."""
    head, sep, path = pattern.partition("://")
    host, slash, rest = path.partition("/") if sep else ("", "", pattern)
    m = _GLOB.search(rest)
    rest = rest[:m.start()].rpartition("/")[0] if m else rest
    return f"{head}{sep}{host}{slash}{rest}" if sep else rest


def _filesystem(uri: str, settings: Settings):
    """(fsspec filesystem, path on it) for a URI: through Airflow with a connection, else fsspec."""
    scheme = urlsplit(uri).scheme.lower()
    conn_id = _conn_in_uri(uri, scheme)
    if conn_id or settings.storage_conn_id:
        return _airflow_filesystem(uri, None if conn_id else settings.storage_conn_id, settings)
    options = settings.storage_options_for(scheme)
    try:
        import fsspec
        from fsspec.registry import known_implementations

        return fsspec.core.url_to_fs(uri, skip_instance_cache=True, **options)
    except ImportError as exc:
        package = _PACKAGES.get(scheme)
        hint = f"pip install {package}" if package else (known_implementations.get(scheme, {}).get("err") or str(exc))
        raise UsageError(f"{shown(uri)}: reading {scheme}:// URIs needs a package that is not installed ({hint})") from None
    except ValueError as exc:
        if "protocol not known" in str(exc).lower():
            raise UsageError(f"{shown(uri)}: unsupported URI scheme {scheme!r}; use a local path, a file:// URI or a "
                             "storage URI such as s3://bucket/prefix/") from None
        raise UsageError(f"{shown(uri)}: {first_line(scrub(str(exc), uri))}") from None
    except TypeError as exc:  # a storage option the implementation does not take
        raise UsageError(f"{shown(uri)}: the storage options for {scheme}:// do not fit ({first_line(exc)})") from None


def _conn_in_uri(uri: str, scheme: str) -> str | None:
    """`s3://conn_id@bucket/key`: an object store's URI has no user, so that is a connection."""
    netloc = urlsplit(uri).netloc
    if scheme not in _OBJECT_STORES or "@" not in netloc:
        return None
    user = netloc.rpartition("@")[0]
    return user if user and ":" not in user else None


def _airflow_filesystem(uri: str, conn_id: str | None, settings: Settings):
    """Storage through an Airflow connection: only where an Airflow entry point supplied it."""
    if settings.object_storage is None:
        raise UsageError(f"{shown(uri)}: an Airflow connection ({STORAGE_CONN_ENV} or `scheme://conn_id@...`) is read "
                         "in Airflow tasks only; elsewhere give the credentials as the storage library reads them "
                         "(for S3: AWS_* variables or a profile)")
    return settings.object_storage(uri, conn_id)

def storage_failure(exc: BaseException, uri: str) -> UserError:
    """A storage error as one line naming the URI (never its credentials)."""
    what = first_line(scrub(str(exc), uri)) or type(exc).__name__
    if isinstance(exc, FileNotFoundError):
        return UsageError(f"{shown(uri)}: no such object or folder")
    if isinstance(exc, PermissionError):
        return UsageError(f"{shown(uri)}: access denied ({what})")
    if type(exc).__name__ in ("NoCredentialsError", "PartialCredentialsError", "AirflowNotFoundException",
                              "ConnectionNotFound"):
        return UsageError(f"{shown(uri)}: no credentials to read it ({what})")
    return StorageUnavailable(f"{shown(uri)}: cannot be read ({type(exc).__name__}: {what})")
