"""What an Airflow task gets from Airflow: its `Settings`, built once per task, and connections.

The store comes from the Airflow connection `suppression_store` if it is defined, else from
`$SUPPRESSION_STORE`; never from the CLI's default `./suppressions.duckdb` (a task that loads into
a file on one worker's disk loses the night silently). `airflow:<conn_id>` credentials are read
from Airflow connections; everything else comes from the environment, as for the CLI.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping

from pipelines.errors import UsageError, UserError
from pipelines.redact import redact
from pipelines.settings import Settings, airflow_home

log = logging.getLogger(__name__)

STORE_CONN_ID = "suppression_store"
_DUCKDB_CONN_TYPES = {"duckdb", "file", "fs", "path"}
_POSTGRES_CONN_TYPES = {"postgres", "postgresql"}


class StoreUnavailable(UserError):
    """No store could be resolved, or not the one this run started with: a later try may work
    (a secrets backend that failed for a moment)."""

    retryable = True


def connection(conn_id: str):
    """An Airflow connection, through Airflow's task SDK (imported here only); raises what
    Airflow raises for one that is not defined."""
    from airflow.sdk import Connection

    return Connection.get(conn_id)


def task_settings(expected: Mapping | None = None, need_store: bool = True, conn_id: str = STORE_CONN_ID,
                  **given) -> Settings:
    """The task's settings (`given` as in `Settings.from_env`); the store is logged without its
    password.

    `expected` (a `store_reference()` of the run's first task): the store must be the same one,
    from the same place, or the task fails (retryably) rather than load into another store.
    `need_store=False` (a pull, which never touches the store): no store is looked up.
    """
    conn = None
    try:
        conn = connection(conn_id)
    except Exception as exc:  # noqa: BLE001 - not defined, the secrets backend failed, or no Airflow
        log.debug("connection %r not available (%s)", conn_id, type(exc).__name__)
    settings = Settings.from_env(default_store=None, connection=connection, fallback=task_folders(conn),
                                 object_storage=object_storage, **given)
    if not need_store:
        return settings
    if conn is not None:  # defined but unusable: an error (UsageError), never a fallback
        settings = settings.replace(store=store_url_from_connection(conn), store_origin=f"Airflow connection {conn_id!r}")
    elif not settings.store:
        # Airflow reports a secrets backend that failed as a connection not found: retryable.
        raise StoreUnavailable(
            f"no suppression store: the Airflow connection {conn_id!r} could not be read and $SUPPRESSION_STORE "
            "is not set (tasks never fall back to ./suppressions.duckdb)"
        )
    if expected is not None and store_reference(settings) != {k: expected.get(k) for k in ("store", "origin")}:
        raise StoreUnavailable(
            f"the store is now {redact(settings.store)} (from {settings.store_origin}), but this run started with "
            f"{expected.get('store')} (from {expected.get('origin')})"
        )
    log.info("store: %s (from %s)", redact(settings.store), settings.store_origin)
    return settings


def object_storage(uri: str, conn_id: str | None):
    """(filesystem, path) of a storage URI through Airflow's `ObjectStoragePath` and a connection
    (`s3://conn_id@bucket/key`, or `conn_id` from SUPPRESSION_STORAGE_CONN_ID)."""
    from airflow.sdk import ObjectStoragePath
    from airflow.sdk.io import has_fs

    from pipelines.readers.remote import PROVIDERS, shown, storage_failure

    path = ObjectStoragePath(uri, conn_id=conn_id)
    if not has_fs(path.protocol):
        scheme = path.protocol
        provider = PROVIDERS.get(scheme, f"the Airflow provider for {scheme}://")
        raise UsageError(f"{shown(uri)}: Airflow has no filesystem for {scheme}:// to use connection "
                         f"{path.conn_id!r} with; install {provider}")
    try:
        return path.fs, path.path
    except Exception as exc:  # noqa: BLE001 - the connection missing or unusable
        raise storage_failure(exc, uri) from None


def task_folders(conn=None) -> dict[str, str]:
    """Where a task writes reports, pulls and safety copies unless SUPPRESSION_REPORTS_DIR,
    SUPPRESSION_SYNC_DIR or SUPPRESSION_SAFETY_DIR say: the store connection's extra
    (`reports_dir`, `sync_dir`, `safety_dir`), else under `$AIRFLOW_HOME/suppression/`; never the
    worker's working directory."""
    extra = (getattr(conn, "extra_dejson", None) or {}) if conn is not None else {}
    home = airflow_home() / "suppression"
    defaults = {"reports_dir": home / "reports", "sync_dir": home / "sync", "safety_dir": home / "safety-exports"}
    return {name: str(extra.get(name) or default) for name, default in defaults.items()}


def store_reference(settings: Settings) -> dict:
    """Which store a run uses, for the tasks after its first (XCom: no password in it)."""
    return {"store": redact(settings.store), "origin": settings.store_origin}


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
