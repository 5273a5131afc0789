"""Plain functions behind the Airflow DAGs, so the DAG files stay thin and this logic is testable.

Nothing here imports Airflow at module level; `store_url_for_airflow()` imports `airflow.sdk`
lazily. Heavy libraries (polars, duckdb) are only imported inside the functions that need them.
"""
from __future__ import annotations

import glob
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import unquote, urlsplit

from pipelines.errors import UsageError, UserError
from pipelines.settings import DEFAULT_MAX_REJECT_RATE

log = logging.getLogger(__name__)

STORE_CONN_ID = "suppression_store"
STORE_ENV = "SUPPRESSION_STORE"
_GLOB_CHARS = ("*", "?", "[")
_DUCKDB_CONN_TYPES = {"duckdb", "file", "fs", "path"}
_POSTGRES_CONN_TYPES = {"postgres", "postgresql"}


# ---------------------------------------------------------------------------------------------
# Inputs


def _uri_to_path(item: str) -> str:
    """`file:///data/x.csv` (or `file://localhost/...`) to a local path; other schemes are refused."""
    if "://" not in item:
        return item
    parts = urlsplit(item)
    if parts.scheme != "file":
        raise UserError(f"{item}: unsupported URI scheme {parts.scheme!r}; use a local path or a file:// URI")
    if parts.netloc not in ("", "localhost"):
        raise UserError(f"{item}: file:// URIs must name a local path (file:///path/to/files)")
    return unquote(parts.path)


def _is_hidden(path: Path) -> bool:
    return path.name.startswith(".")


def resolve_paths(paths: str | Iterable[str]) -> list[str]:
    """Expand files, directories, globs and `file://` URIs to a sorted-per-item, de-duplicated file list.

    - a file stays as it is (made absolute);
    - a directory gives the regular, non-hidden files directly inside it;
    - a glob (`*`, `?`, `[...]`, `**` recursive) gives the matching regular files;
    - `file://` URIs are turned into paths first; other schemes are refused.
    Raises `UserError` for a path that does not exist, a glob that matches nothing, or no files at all.
    """
    if isinstance(paths, str | os.PathLike):
        paths = [os.fspath(paths)]
    items = [str(p).strip() for p in paths if p is not None and str(p).strip()]
    if not items:
        raise UsageError("no input paths given; pass at least one file, directory or file:// URI")
    found: list[str] = []
    for item in items:
        local = os.path.expanduser(_uri_to_path(item))
        if any(ch in local for ch in _GLOB_CHARS):
            matches = [Path(m) for m in sorted(glob.glob(local, recursive=True))]
            files = [m for m in matches if m.is_file() and not _is_hidden(m)]
            if not files:
                raise UserError(f"{item}: matches no files")
        else:
            path = Path(local)
            if path.is_dir():
                files = sorted(p for p in path.iterdir() if p.is_file() and not _is_hidden(p))
                if not files:
                    raise UserError(f"{item}: the directory holds no files")
            elif path.is_file():
                files = [path]
            else:
                raise UserError(f"{item}: no such file or directory")
        found += [str(f.resolve()) for f in files]
    return list(dict.fromkeys(found))


# ---------------------------------------------------------------------------------------------
# Requests from DAG params


def build_request(params: Mapping, files: list[str]):
    """An `IngestRequest` from the DAG's params and the resolved files; checked (raises UsageError)."""
    from pipelines.ingest import IngestRequest

    rate = params.get("max_reject_rate")
    req = IngestRequest(
        tenant=str(params.get("tenant") or "").strip(),
        paths=list(files),
        platform=params.get("platform") or "auto",
        reason=params.get("reason") or None,
        default_region=params.get("default_region") or None,
        max_reject_rate=DEFAULT_MAX_REJECT_RATE if rate is None else float(rate),
        dry_run=bool(params.get("dry_run", False)),
        force=bool(params.get("force", False)),
    )
    req.check()
    return req


def inspect_file(path: str, platform: str = "auto", reason: str | None = None, tenant: str = "-") -> dict:
    """Open one file (read-only) and detect its platform and list kind, as `ingest` will.

    Returns `{path, platform, kind, why, inputs}`; `inputs` lists every logical input (an archive
    may hold several members), and for several inputs `platform`/`kind` name each distinct value
    joined by `+`. Raises `DataRefused` for a file that matches no known format.
    """
    from pipelines.ingest import IngestRequest, plan_files

    req = IngestRequest(tenant=tenant, paths=[path], platform=platform or "auto", reason=reason)
    with tempfile.TemporaryDirectory(prefix="suppress-inspect-") as tmp:
        planned = plan_files(req, Path(tmp))
        inputs = [
            {"input": p.source.display, "platform": p.adapter.name, "kind": p.match.kind, "why": p.match.why}
            for p in planned
        ]
    if not inputs:
        raise UserError(f"{path}: holds no files to ingest")

    def joined(key: str) -> str:
        return "+".join(dict.fromkeys(str(i[key]) for i in inputs))

    return {
        "path": path,
        "platform": joined("platform"),
        "kind": joined("kind"),
        "why": inputs[0]["why"] if len(inputs) == 1 else "; ".join(f"{i['input']}: {i['why']}" for i in inputs),
        "inputs": inputs,
    }


def run_ingest(params: Mapping, files: list[str], store: str | None) -> dict:
    """The single writer: one `ingest()` over all files; returns a JSON-safe summary.

    Raises `UserError`/`DataRefused` (with `.summary`) for refused input, like the CLI.
    """
    from pipelines.ingest import ingest

    req = build_request(params, files)
    return json_safe(ingest(req, store))


def json_safe(value):
    """A copy that survives JSON (XCom): datetimes and other objects become strings."""
    return json.loads(json.dumps(value, default=str))


# ---------------------------------------------------------------------------------------------
# Store


def store_url_from_connection(conn) -> str:
    """The store URL from an Airflow connection (or anything with the same attributes).

    - extra `{"url": "..."}` or `{"path": "..."}` wins;
    - conn_type `duckdb`/`file`: the path from the URI (`duckdb:////data/s.duckdb` -> `/data/s.duckdb`),
      i.e. the connection's schema, else its host;
    - conn_type `postgres`/`postgresql`: the connection's URI as `postgresql://...`.
    """
    extra = getattr(conn, "extra_dejson", None) or {}
    if extra.get("url") or extra.get("path"):
        return str(extra.get("url") or extra.get("path"))
    conn_type = (getattr(conn, "conn_type", None) or "").lower()
    if conn_type in _DUCKDB_CONN_TYPES:
        path = getattr(conn, "schema", None) or getattr(conn, "host", None)
        if not path:
            raise UsageError(f"connection {getattr(conn, 'conn_id', STORE_CONN_ID)!r} names no store file")
        return str(path)
    if conn_type in _POSTGRES_CONN_TYPES:
        uri = conn.get_uri()
        return "postgresql://" + uri.split("://", 1)[1]
    raise UsageError(
        f"connection {getattr(conn, 'conn_id', STORE_CONN_ID)!r} has type {conn_type!r}; "
        "use a duckdb file (duckdb:////path/to/store.duckdb) or a postgresql:// URL"
    )


class StoreUnavailable(UserError):
    """No store could be resolved, or not the one this run started with: a later try may work
    (a secrets backend that failed for a moment)."""

    retryable = True


def _resolve_store(conn_id: str) -> tuple[str, str]:
    """(store URL, where it came from): the Airflow connection, else $SUPPRESSION_STORE.

    Never the CLI's default `./suppressions.duckdb`: a task that loads into a file on one worker's
    disk loses the night silently. Airflow reports a secrets backend that failed as a connection
    not found, so neither being available is a retryable error, not a fallback.
    """
    conn = None
    try:
        from airflow.sdk import Connection
    except Exception:  # noqa: BLE001 - Airflow not installed or broken: only the env var is left
        Connection = None  # noqa: N806
    if Connection is not None:
        try:
            conn = Connection.get(conn_id)
        except Exception as exc:  # noqa: BLE001 - not defined, or the secrets backend failed
            log.debug("connection %r not available (%s)", conn_id, type(exc).__name__)
    if conn is not None:  # defined but unusable: an error (UsageError), never a fallback
        return store_url_from_connection(conn), f"Airflow connection {conn_id!r}"
    if os.environ.get(STORE_ENV):
        return os.environ[STORE_ENV], f"${STORE_ENV}"
    raise StoreUnavailable(
        f"no suppression store: the Airflow connection {conn_id!r} could not be read and ${STORE_ENV} is not "
        "set (tasks never fall back to ./suppressions.duckdb)"
    )


def store_reference(conn_id: str = STORE_CONN_ID) -> dict:
    """Which store this run uses, for the tasks after the first (XCom: no password in it)."""
    url, origin = _resolve_store(conn_id)
    log.info("store: %s (from %s)", describe_store(url), origin)
    return {"store": describe_store(url), "origin": origin}


def store_url_for_airflow(conn_id: str = STORE_CONN_ID, expected: Mapping | None = None) -> str:
    """The store URL from the Airflow connection `conn_id`, else `SUPPRESSION_STORE` (see
    `_resolve_store`); logged without its password.

    `expected` (a `store_reference()` of the run's first task): the store must be the same one,
    from the same place, or the task fails (retryably) rather than load into another store.
    """
    url, origin = _resolve_store(conn_id)
    if expected is not None and (describe_store(url), origin) != (expected.get("store"), expected.get("origin")):
        raise StoreUnavailable(
            f"the store is now {describe_store(url)} (from {origin}), but this run started with "
            f"{expected.get('store')} (from {expected.get('origin')})"
        )
    log.info("store: %s (from %s)", describe_store(url), origin)
    return url


def describe_store(url: str) -> str:
    """A store URL without its password (in the user part or as a query parameter), for logs."""
    from pipelines.redact import redact

    return redact(url)


# ---------------------------------------------------------------------------------------------
# Summaries


def summary_text(summary: Mapping) -> str:
    """A few lines a person reads in the task log."""
    status = summary.get("status", "?")
    lines = [
        f"run {summary.get('run_id')} for tenant {summary.get('tenant')}: {status}"
        + (" (dry run: nothing loaded)" if summary.get("dry_run") else "")
    ]
    if status == "skipped":
        lines.append(summary.get("message") or f"the same input was already loaded by run {summary.get('skipped_because')}")
    else:
        lines.append(
            f"rows read {summary.get('rows_read', 0)}, accepted {summary.get('rows_accepted', 0)}, "
            f"rejected {summary.get('rows_rejected', 0)}"
            + (f" ({summary['reject_rate']:.1%})" if isinstance(summary.get("reject_rate"), int | float) else "")
        )
        lines.append(
            f"suppressions added {summary.get('suppressions_added', 0)}, updated {summary.get('suppressions_updated', 0)}"
        )
        by_error = summary.get("rejects_by_error") or {}
        if by_error:
            lines.append("rejects by error: " + ", ".join(f"{k} {v}" for k, v in by_error.items()))
    for f in summary.get("files") or []:
        lines.append(
            f"  {f.get('path')}: {f.get('platform')} {f.get('kind', '')}".rstrip()
            + (f", {f['rows_read']} rows, {f.get('rows_rejected', 0)} rejected" if "rows_read" in f else "")
        )
    return "\n".join(lines)


def refused_text(exc: Exception) -> str:
    """A refusal for the task log: its message and, when the run was recorded, its counts only
    (the summary's reject examples are raw addresses; `suppress rejects RUN_ID` shows them)."""
    summary = getattr(exc, "summary", None)
    return f"refused: {exc}" + (f"\n{summary_text(summary)}" if summary else "")


# ---------------------------------------------------------------------------------------------
# Nightly sync (dags/suppression_nightly_sync.py)

SYNC_DIR_ENV = "SUPPRESSION_SYNC_DIR"
# Marks a folder as ours: maintenance removes old pulls only where it finds this file, so that a
# SUPPRESSION_SYNC_DIR pointed at the wrong place never loses anything else.
SYNC_DIR_MARKER = ".suppression-sync"
KEEP_PULLED_DAYS = 7  # files a failed or refused load left behind, kept this long to look into


def sync_dir() -> Path:
    """Where pulls leave their files for the writer: $SUPPRESSION_SYNC_DIR (storage every worker
    shares, on Celery or Kubernetes), else the machine's temp folder (one machine)."""
    return Path(os.environ.get(SYNC_DIR_ENV) or Path(tempfile.gettempdir()) / "suppression-sync")


def _run_folder(run_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id)


def sync_jobs(params: Mapping, store: str) -> list[dict]:
    """One job per configured source (of `params["tenant"]`, or all), with its stored watermark.

    The sources file is `params["sources_file"]`, else $SUPPRESSION_SOURCES. Reads the store once,
    before any pull: the pulls themselves never open it.
    """
    from pipelines.store import open_store
    from pipelines.sync.config import load_sources, select, sources_path
    from pipelines.sync.run import plan

    path = sources_path(params.get("sources_file"))
    sources = select(load_sources(path), params.get("tenant") or None, origin=str(path))
    if not sources:
        return []
    with open_store(store) as st:
        return plan(sources, st)


def pull_job(job: dict, run_id: str) -> dict:
    """Pull one job into `sync_dir()/<run>/<tenant>/<source>/`; returns what the writer needs."""
    from pipelines.model import check_name
    from pipelines.sync.run import pull

    source = job["source"]
    root = sync_dir()
    out = root / _run_folder(run_id) / check_name("tenant", source["tenant"]) / check_name("source", source["name"])
    root.mkdir(parents=True, exist_ok=True)
    (root / SYNC_DIR_MARKER).touch()
    return json_safe(pull(job, out))


def load_pulled(pulled: dict, store: str) -> dict:
    """The single writer: load one pulled source, then remove its files (they are loaded)."""
    from pipelines.sync.run import load, result_of

    report = result_of(load(pulled, store))
    for folder in {Path(f).parent for f in pulled["files"]}:
        shutil.rmtree(folder, ignore_errors=True)
        for parent in (folder.parent, folder.parent.parent):  # the tenant's and the run's, once empty
            try:
                parent.rmdir()
            except OSError:
                break
    return json_safe(report)


def sync_text(report: Mapping) -> str:
    """A line a person reads in the task log."""
    ingest = report.get("ingest") or {}
    return (
        f"{report['tenant']}/{report['source']} ({report['platform']}): {report['status']}; "
        f"{report['records']} records in {report['pages']} pages ({report['retries']} retries, "
        f"{report['rate_limited']} rate limited); added {ingest.get('suppressions_added', 0)}, "
        f"run {ingest.get('run_id')}; watermark {report['old_watermark']} -> {report['new_watermark']}"
    )


def remove_old_pulls(days: float = KEEP_PULLED_DAYS, now: float | None = None) -> list[str]:
    """Pulled files older than `days` under `sync_dir()`: a load that failed or was refused leaves
    its files, and the next night pulls again into a new folder. A run's folder goes as a whole
    once nothing in it is newer. Only under a folder the pulls marked as theirs."""
    root = sync_dir()
    if not (root / SYNC_DIR_MARKER).is_file():
        return []
    cutoff = (time.time() if now is None else now) - days * 86400
    removed = []
    for run in sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink()):
        entries = [run, *run.rglob("*")]  # a run's folders: tenants, sources, a few files each
        if all(p.lstat().st_mtime < cutoff for p in entries):
            removed += [str(p) for p in entries if p.is_file() and not p.is_symlink()]
            shutil.rmtree(run)
        else:  # a folder touched lately may be a pull in progress: its old files only
            for path in entries:
                if path.is_file() and not path.is_symlink() and path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed.append(str(path))
    return removed


def run_maintenance(store: str, keep_pulled_days: float = KEEP_PULLED_DAYS) -> dict:
    """`suppress maintenance` for the nightly DAG: expired safety copies removed, and pulled files
    older than `keep_pulled_days`."""
    from pipelines.enforce import maintenance
    from pipelines.store import open_store

    with open_store(store) as st:
        done = maintenance(st)
    return json_safe({**done, "pulled_files_removed": remove_old_pulls(keep_pulled_days)})
