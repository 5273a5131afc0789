"""Configuration: one `Settings` object per entry point, built once and passed down.

The CLI builds it from the environment and its options (`Settings.from_env(store=--store, ...)`);
an Airflow task from the `suppression_store` connection and the environment
(`pipelines.airflow.resources.task_settings()`). This is the one module that reads the
environment: the library takes the values it needs as arguments, and where a caller passes none,
it asks `Settings.from_env()` here rather than `os.environ` itself. The install's own folders
(`ROOT`, `SQL_DIR`, `EXPECTATIONS_DIR`) are module constants.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXPECTATIONS_DIR = Path(os.environ.get("SUPPRESSION_EXPECTATIONS_DIR", ROOT / "expectations"))
SQL_DIR = Path(os.environ.get("SUPPRESSION_SQL_DIR", ROOT / "sql"))

DEFAULT_STORE = "suppressions.duckdb"
DEFAULT_MAX_REJECT_RATE = 0.10
# Archive members: refused once they expand past this many bytes, or (past the readers'
# RATIO_FLOOR) past this many times the compressed bytes read so far.
DEFAULT_MAX_MEMBER_BYTES = 4 << 30
DEFAULT_MAX_RATIO = 200
# Remote inputs (s3://, gs://, sftp://...): refused past this many bytes to download.
DEFAULT_MAX_DOWNLOAD_BYTES = 16 << 30

STORE_ENV = "SUPPRESSION_STORE"
REPORTS_ENV = "SUPPRESSION_REPORTS_DIR"
SAFETY_ENV = "SUPPRESSION_SAFETY_DIR"
SYNC_DIR_ENV = "SUPPRESSION_SYNC_DIR"
SOURCES_ENV = "SUPPRESSION_SOURCES"
HMAC_ENV = "SUPPRESSION_HMAC_KEY"
MAX_MEMBER_ENV = "SUPPRESSION_MAX_MEMBER_BYTES"
MAX_RATIO_ENV = "SUPPRESSION_MAX_RATIO"
MAX_DOWNLOAD_ENV = "SUPPRESSION_MAX_DOWNLOAD_BYTES"
# Remote inputs: fsspec options per URI scheme (JSON: {"s3": {"endpoint_url": "..."}}), and an
# Airflow connection to open every remote URI with (through ObjectStoragePath).
STORAGE_OPTIONS_ENV = "SUPPRESSION_STORAGE_OPTIONS"
STORAGE_CONN_ENV = "SUPPRESSION_STORAGE_CONN_ID"
POOL_WAIT_ENV = "SUPPRESSION_POOL_WAIT_SECONDS"


@dataclass(frozen=True)
class ArchiveLimits:
    """How far an archive member may expand before it is refused (zip and gzip bombs)."""

    max_member_bytes: int = DEFAULT_MAX_MEMBER_BYTES
    max_ratio: int = DEFAULT_MAX_RATIO


@dataclass(frozen=True)
class Secrets:
    """Where a credentials reference is looked up: `env:VAR` in `environ`; `airflow:conn_id`
    through `connection`, which the entry points that can reach Airflow supply
    (`pipelines.airflow.resources.connection`); without one such a reference is refused."""

    environ: Mapping[str, str] = field(default_factory=lambda: os.environ, repr=False)
    connection: Callable[[str], object] | None = field(default=None, repr=False)

    def env(self, name: str) -> str | None:
        return self.environ.get(name)


def _default_sync_dir() -> Path:
    return Path(tempfile.gettempdir()) / "suppression-sync"


def default_reports_dir(store: str | None, environ: Mapping[str, str] | None = None) -> Path:
    """Where reports go when nothing names a folder: a `reports/` folder beside a DuckDB file;
    for a PostgreSQL store (or none) the user's data folder, `$XDG_DATA_HOME/suppress/reports`
    (`~/.local/share/suppress/reports`). Never the working directory as such."""
    env = os.environ if environ is None else environ
    if store and "://" not in store:
        return Path(store).expanduser().parent / "reports"
    data = env.get("XDG_DATA_HOME") or str(Path(env.get("HOME") or Path.home()) / ".local" / "share")
    return Path(data) / "suppress" / "reports"


@dataclass(frozen=True)
class Settings:
    """What an entry point resolved once: the store, the folders, the secrets and the limits.

    `store` is a `.duckdb` path or a `postgresql://` URL (None: none configured, which an Airflow
    task refuses rather than use a default file); `store_origin` says where it came from, for
    logs. The HMAC key and the archive limits are kept as given and checked where they are used
    (`hmac_key_bytes()`, `archive_limits()`), so a bad value fails the commands that need it only.
    """

    store: str | None = DEFAULT_STORE
    store_origin: str = "default"
    reports_dir: Path = Path("reports")  # a run's report goes to <reports_dir>/<run_id>/ (beside the default store)
    safety_dir: Path = Path("safety-exports")  # safety copies of deleted contacts
    sync_dir: Path = field(default_factory=_default_sync_dir)  # where pulls leave files for the load
    sources_file: Path | None = None  # the nightly sync's sources (TOML)
    hmac_key: str | None = field(default=None, repr=False)
    max_member_bytes: int | str | None = None
    max_ratio: int | str | None = None
    max_download_bytes: int | str | None = None  # remote inputs
    storage_options: str | Mapping | None = field(default=None, repr=False)  # may hold keys
    storage_conn_id: str | None = None
    pool_wait: float | str | None = None  # Airflow: seconds a writer may wait on a missing pool
    secrets: Secrets = field(default_factory=Secrets, repr=False)
    # (uri, conn_id) -> (fsspec filesystem, path): storage through an Airflow connection, which
    # the Airflow entry points supply (`pipelines.airflow.resources.object_storage`).
    object_storage: Callable[[str, str | None], tuple] | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, default_store: str | None = DEFAULT_STORE,
                 connection: Callable[[str], object] | None = None, fallback: Mapping[str, object] | None = None,
                 object_storage: Callable[[str, str | None], tuple] | None = None, **given) -> Settings:
        """The settings from the environment (`SUPPRESSION_*`); the `given` values that are not
        None win over it (a command's `--store`, `--export-dir`, `--sources`), and `fallback`
        values (an Airflow task's folders) stand in for what neither sets. Without a store
        anywhere, `default_store` (the CLI's `./suppressions.duckdb`; None for Airflow tasks)."""
        env = os.environ if environ is None else environ
        unknown = sorted(set(given) - {f.name for f in fields(cls)})
        if unknown:
            raise TypeError(f"unknown setting {unknown[0]!r}")

        def pick(name: str, variable: str, default=None):
            value = given.get(name)
            return value if value is not None else env.get(variable) or (fallback or {}).get(name) or default

        if given.get("store"):
            store, origin = str(given["store"]), given.get("store_origin") or "given"
        elif env.get(STORE_ENV):
            store, origin = env[STORE_ENV], f"${STORE_ENV}"
        else:
            store, origin = default_store, "default"
        sources = pick("sources_file", SOURCES_ENV)
        return cls(
            store=store,
            store_origin=origin,
            reports_dir=Path(pick("reports_dir", REPORTS_ENV) or default_reports_dir(store, env)),
            safety_dir=Path(pick("safety_dir", SAFETY_ENV, "safety-exports")),
            sync_dir=Path(pick("sync_dir", SYNC_DIR_ENV) or _default_sync_dir()),
            sources_file=Path(sources) if sources else None,
            hmac_key=pick("hmac_key", HMAC_ENV),
            max_member_bytes=pick("max_member_bytes", MAX_MEMBER_ENV),
            max_ratio=pick("max_ratio", MAX_RATIO_ENV),
            max_download_bytes=pick("max_download_bytes", MAX_DOWNLOAD_ENV),
            storage_options=pick("storage_options", STORAGE_OPTIONS_ENV),
            storage_conn_id=pick("storage_conn_id", STORAGE_CONN_ENV),
            pool_wait=pick("pool_wait", POOL_WAIT_ENV),
            secrets=Secrets(env, connection),
            object_storage=object_storage,
        )

    def replace(self, **changes) -> Settings:
        return replace(self, **changes)

    def hmac_key_bytes(self) -> bytes | None:
        """A per-installation secret for hashing erased addresses (`hex:<hex>` for raw bytes, such
        as a laptop store's generated key); a DuckDB store generates one if unset."""
        value = self.hmac_key
        if value and value.startswith("hex:"):
            try:
                return bytes.fromhex(value[4:])
            except ValueError:
                from pipelines.errors import UsageError

                raise UsageError(f"{HMAC_ENV} starts with hex: but the rest is not hexadecimal") from None
        return value.encode() if value else None

    def archive_limits(self) -> ArchiveLimits:
        return ArchiveLimits(_positive(MAX_MEMBER_ENV, self.max_member_bytes, DEFAULT_MAX_MEMBER_BYTES),
                             _positive(MAX_RATIO_ENV, self.max_ratio, DEFAULT_MAX_RATIO))

    def max_download(self) -> int:
        return _positive(MAX_DOWNLOAD_ENV, self.max_download_bytes, DEFAULT_MAX_DOWNLOAD_BYTES)

    def storage_options_for(self, scheme: str) -> dict:
        """The fsspec options for one URI scheme: `storage_options` is a JSON object (or a mapping)
        keyed by scheme, e.g. `{"s3": {"endpoint_url": "http://127.0.0.1:9000"}}`."""
        import json

        from pipelines.errors import UsageError

        raw = self.storage_options
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return {}
        try:
            options = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            raise UsageError(f"{STORAGE_OPTIONS_ENV} is not valid JSON") from None  # its text may hold a key
        if not isinstance(options, Mapping) or not all(isinstance(v, Mapping) for v in options.values()):
            raise UsageError(f'{STORAGE_OPTIONS_ENV} must map URI schemes to options: {{"s3": {{"endpoint_url": "..."}}}}')
        return dict(options.get(scheme) or options.get(scheme.lower()) or {})


def _positive(name: str, raw: int | str | None, default: int) -> int:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        from pipelines.errors import UsageError

        raise UsageError(f"{name} must be a positive whole number, not {raw!r}")
    return value


def airflow_home() -> Path:
    """Airflow's home folder ($AIRFLOW_HOME, else ~/airflow, as Airflow itself decides)."""
    return Path(os.environ.get("AIRFLOW_HOME") or "~/airflow").expanduser()


def store_url(explicit: str | None = None) -> str:
    """--store, else SUPPRESSION_STORE, else `suppressions.duckdb` in the working directory."""
    return explicit or Settings.from_env().store


def hmac_key_from_env() -> bytes | None:
    return Settings.from_env().hmac_key_bytes()
