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

STORE_ENV = "SUPPRESSION_STORE"
REPORTS_ENV = "SUPPRESSION_REPORTS_DIR"
SAFETY_ENV = "SUPPRESSION_SAFETY_DIR"
SYNC_DIR_ENV = "SUPPRESSION_SYNC_DIR"
SOURCES_ENV = "SUPPRESSION_SOURCES"
HMAC_ENV = "SUPPRESSION_HMAC_KEY"
MAX_MEMBER_ENV = "SUPPRESSION_MAX_MEMBER_BYTES"
MAX_RATIO_ENV = "SUPPRESSION_MAX_RATIO"


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
    reports_dir: Path = Path("reports")  # a run's report goes to <reports_dir>/<run_id>/
    safety_dir: Path = Path("safety-exports")  # safety copies of deleted contacts
    sync_dir: Path = field(default_factory=_default_sync_dir)  # where pulls leave files for the load
    sources_file: Path | None = None  # the nightly sync's sources (TOML)
    hmac_key: str | None = field(default=None, repr=False)
    max_member_bytes: int | str | None = None
    max_ratio: int | str | None = None
    secrets: Secrets = field(default_factory=Secrets, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, default_store: str | None = DEFAULT_STORE,
                 connection: Callable[[str], object] | None = None, **given) -> Settings:
        """The settings from the environment (`SUPPRESSION_*`); the `given` values that are not
        None win over it (a command's `--store`, `--export-dir`, `--sources`). Without a store
        anywhere, `default_store` (the CLI's `./suppressions.duckdb`; None for Airflow tasks)."""
        env = os.environ if environ is None else environ
        unknown = sorted(set(given) - {f.name for f in fields(cls)})
        if unknown:
            raise TypeError(f"unknown setting {unknown[0]!r}")

        def pick(name: str, variable: str, default=None):
            value = given.get(name)
            return value if value is not None else env.get(variable) or default

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
            reports_dir=Path(pick("reports_dir", REPORTS_ENV, "reports")),
            safety_dir=Path(pick("safety_dir", SAFETY_ENV, "safety-exports")),
            sync_dir=Path(pick("sync_dir", SYNC_DIR_ENV) or _default_sync_dir()),
            sources_file=Path(sources) if sources else None,
            hmac_key=pick("hmac_key", HMAC_ENV),
            max_member_bytes=pick("max_member_bytes", MAX_MEMBER_ENV),
            max_ratio=pick("max_ratio", MAX_RATIO_ENV),
            secrets=Secrets(env, connection),
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


def store_url(explicit: str | None = None) -> str:
    """--store, else SUPPRESSION_STORE, else `suppressions.duckdb` in the working directory."""
    return explicit or Settings.from_env().store


def hmac_key_from_env() -> bytes | None:
    return Settings.from_env().hmac_key_bytes()
