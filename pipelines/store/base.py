"""The store interface every backend implements, and what it shares (SQL files, HMAC, run records)."""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import polars as pl

from pipelines.settings import SQL_DIR, hmac_key_from_env

_NAME = re.compile(r"^-- name: (\w+)\s*$", re.M)


@cache
def sql_statements(dialect: str, file: str) -> dict[str, str]:
    """Named statements of `sql/<dialect>/<file>.sql` (`-- name: x` starts one)."""
    text = (SQL_DIR / dialect / f"{file}.sql").read_text()
    parts = _NAME.split(text)
    return {parts[i]: parts[i + 1].strip() for i in range(1, len(parts), 2)}


def migrations(dialect: str) -> list[tuple[int, str, str]]:
    """(version, name, sql) of the numbered migrations `sql/<dialect>/NNN_name.sql`, in order."""
    out = []
    for path in sorted((SQL_DIR / dialect).glob("[0-9][0-9][0-9]_*.sql")):
        out.append((int(path.name[:3]), path.stem, path.read_text()))
    return out


def new_key() -> str:
    return secrets.token_hex(32)


def hmac_pads(key: bytes) -> tuple[str, str]:
    """HMAC-SHA-256's inner and outer padded keys (hex), so SQL can compute the HMAC column-wise."""
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key.ljust(64, b"\0")
    inner = bytes(b ^ 0x36 for b in key)
    outer = bytes(b ^ 0x5C for b in key)
    return inner.hex(), outer.hex()


def hmac_macro_sql(key: bytes) -> str:
    """A DuckDB macro `address_hmac(a)`: HMAC-SHA-256 of a text, column-wise in SQL."""
    inner, outer = hmac_pads(key)
    return (
        "CREATE OR REPLACE TEMP MACRO address_hmac(a) AS "
        f"sha256(unhex('{outer}') || unhex(sha256(unhex('{inner}') || encode(a))))"
    )


# DuckDB spills to disk past this, instead of taking 80% of the machine.
DUCKDB_CONFIG = {"memory_limit": "1GB", "preserve_insertion_order": "false"}


def address_hmac(key: bytes, address: str) -> str:
    """The same keyed hash in Python (tests and single lookups)."""
    return hmac.new(key, address.encode("utf-8"), hashlib.sha256).hexdigest()


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_run_id(now: datetime | None = None) -> str:
    now = now or utcnow()
    return f"run_{now:%Y%m%dT%H%M%S}_{secrets.token_hex(3)}"


@dataclass
class Stage:
    """A run's staged results (Parquet files written by the ingest's staging step)."""

    suppressions: Path
    lineage: Path
    evidence: Path  # deliveries and soft bounces, one row per event (message_events)
    rejects: Path
    warnings: Path | None = None  # rows kept with their time unknown (file, line, value, warning)


@dataclass
class LoadCounts:
    added: int
    updated: int
    soft_bounce_blocks: int = 0  # addresses the consecutive-soft-bounce policy blocked (in `added`)
    contacts: dict = field(default_factory=dict)  # contact_counts() of the contacts the run blocked

    def summary(self) -> dict:
        """The run summary's keys for these counts."""
        contacts = self.contacts or contact_counts(None)
        return {"suppressions_added": self.added, "suppressions_updated": self.updated,
                "soft_bounce_blocks": self.soft_bounce_blocks,
                "contacts_blocked": contacts["contacts_changed"],
                "contacts_blocked_by": {k: v for k, v in contacts.items() if k != "contacts_changed"}}


def contact_counts(row) -> dict:
    """The `contact_change_counts` row as a dict (contacts changed, and changes by kind)."""
    row = row or (0, 0, 0, 0)
    return {"contacts_changed": int(row[0]), "email_suppressed": int(row[1]), "sms_suppressed": int(row[2]),
            "marketing_unsubscribed": int(row[3])}


def checked_lift(rows: list[dict], unsubscribes: bool, lifted_at: datetime) -> list[dict]:
    """The (reason, scope) rows a lift takes away; a double opt-in must come after the unsubscribes
    it lifts (an older confirmation would be undone by the next import of the same export)."""
    from pipelines.errors import UserError

    if unsubscribes:
        newer = [r for r in rows if r["last_seen_at"] is not None and r["last_seen_at"] >= lifted_at]
        if newer:
            raise UserError(f"the confirmation ({lifted_at.isoformat()}) is not after the unsubscribe it would lift "
                            f"(last seen {max(r['last_seen_at'] for r in newer).isoformat()}); nothing changed")
    return [{"reason": r["reason"], "scope": r["scope"]} for r in rows]


# Tenant settings and their defaults (SPEC 2.2: "10 consecutive soft bounces (configurable per tenant)").
TENANT_SETTINGS = {"soft_bounce_threshold": 10}


class Store(ABC):
    """Small on purpose: what the CLI, the DAGs and the tests need from any backend."""

    dialect: str
    url: str
    key: bytes

    @abstractmethod
    def migrate(self) -> list[str]:
        """Apply pending numbered migrations; returns the names applied."""

    @abstractmethod
    def begin_run(self, run_id: str, tenant: str, kind: str, input_hash: str | None, options: dict) -> None:
        """Record a run as running, committed at once (a crash leaves it visible)."""

    @abstractmethod
    def find_succeeded_run(self, tenant: str, input_hash: str) -> str | None: ...

    @abstractmethod
    def load_run(self, run_id: str, stage: Stage, files: list[dict], summary: dict, validation: dict,
                 dry_run: bool = False, watermarks: dict[str, str] | None = None) -> LoadCounts:
        """Merge a staged run and mark it succeeded, all in one transaction (rolled back if dry_run).

        `watermarks` ({sync source: watermark}, nightly sync only) are saved in that transaction,
        just before the run is marked succeeded: they move only if the load commits.
        """

    @abstractmethod
    def finish_run(self, run_id: str, status: str, summary: dict, validation: dict | None, error: str | None,
                   files: list[dict] | None = None, stage: Stage | None = None) -> None:
        """Close a run that loads nothing (failed, refused, skipped, dry run), keeping its rejects."""

    @abstractmethod
    def rollback_run(self, run_id: str) -> dict: ...

    @abstractmethod
    def check(self, tenant: str, inputs: pl.DataFrame) -> pl.DataFrame:
        """`inputs` (idx, input, channel, address) -> rows (idx, reason, scope) of matching suppressions."""

    @abstractmethod
    def export(self, tenant: str) -> pl.DataFrame: ...

    @abstractmethod
    def runs(self, tenant: str) -> list[dict]: ...

    @abstractmethod
    def run(self, run_id: str) -> dict | None: ...

    @abstractmethod
    def run_files(self, run_id: str) -> list[dict]: ...

    @abstractmethod
    def runs_since(self, since: datetime, tenant: str | None = None) -> list[dict]:
        """Runs started at or after `since` (of one tenant, or all), oldest first, with their
        summary and options parsed: what the cross-run report reads."""

    @abstractmethod
    def rejects(self, run_id: str) -> pl.DataFrame: ...

    # -- enforcement (SPEC 3) ----------------------------------------------------------------
    @abstractmethod
    def settings(self, tenant: str) -> dict[str, str]:
        """The tenant's own settings (defaults not included)."""

    @abstractmethod
    def set_setting(self, tenant: str, key: str, value: str | None) -> None:
        """Set a tenant setting, or go back to its default with None."""

    def soft_bounce_threshold(self, tenant: str) -> int:
        return int(self.settings(tenant).get("soft_bounce_threshold", TENANT_SETTINGS["soft_bounce_threshold"]))

    @abstractmethod
    def import_contacts(self, run_id: str, tenant: str, contacts: Path, rejects: Path, summary: dict) -> dict:
        """The one contact insert path: upsert staged contacts (Parquet: contact_id, email, phone,
        consent_in, attributes) with statuses from the suppressions, keep the rejects, close the run;
        one transaction. Returns the counts."""

    @abstractmethod
    def contacts(self, tenant: str) -> pl.DataFrame: ...

    @abstractmethod
    def select_contacts(self, tenant: str, ids: list[str] | None = None, segment: str | None = None) -> pl.DataFrame:
        """The contacts a delete (ids) or purge (segment `hard_bounced`) would remove."""

    @abstractmethod
    def record_safety_export(self, tenant: str, export: dict) -> None:
        """Record a safety copy (export_id, path, rows, expires_at) before it is written."""

    @abstractmethod
    def erase_contacts(self, tenant: str, ids: list[str]) -> dict:
        """Delete these contacts and their events; their addresses stay only as keyed hashes in the
        suppressions, their lineage, events and the texts that quote them (SPEC 2.3 privacy). One
        transaction."""

    @abstractmethod
    def address_key(self, tenant: str, channel: str, address: str) -> str:
        """How an address appears in this tenant's suppressions: itself, or its token once erased."""

    @abstractmethod
    def lift(self, tenant: str, channel: str, key: str, unsubscribes: bool, lifted_at: datetime, action: str,
             detail: str) -> dict:
        """Lift the active unsubscribes (or every other reason) of one address, audited; contacts
        follow. Returns {lifted: [...], remaining: [...], contacts: counts}."""

    @abstractmethod
    def safety_exports_due(self, now: datetime) -> list[dict]: ...

    @abstractmethod
    def safety_export_removed(self, export_id: str) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- sync watermarks (nightly API sync, SPEC 4.2) ------------------------------------------
    @abstractmethod
    def watermark(self, tenant: str, source: str) -> str | None:
        """How far a tenant's sync source has been pulled (None: never)."""

    @abstractmethod
    def save_watermarks(self, tenant: str, watermarks: dict[str, str], run_id: str | None = None) -> None:
        """Move watermarks on outside a load (a pull skipped as a duplicate of a committed one).
        A watermark never moves back."""


def key_fingerprint(key: bytes) -> str:
    return address_hmac(key, "suppression-store-key-check")[:16]


def resolve_key(settings: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    """The HMAC key and the settings to save with a new store.

    SUPPRESSION_HMAC_KEY (production) is never written to the store, only its fingerprint, so a
    dump of the store cannot be brute-forced with it. Without it (a laptop), the store keeps a
    generated key of its own. A key that differs from the one the store was built with is refused:
    hashed addresses would stop matching.
    """
    from pipelines.errors import UserError

    env = hmac_key_from_env()
    if "hmac_key" in settings:
        key = bytes.fromhex(settings["hmac_key"])
        if env and env != key:
            raise UserError("SUPPRESSION_HMAC_KEY is set, but this store was created with its own generated key")
        return key, {}
    if "hmac_key_fingerprint" in settings:
        if not env:
            raise UserError("this store needs SUPPRESSION_HMAC_KEY (it was created with one)")
        if key_fingerprint(env) != settings["hmac_key_fingerprint"]:
            raise UserError("SUPPRESSION_HMAC_KEY does not match the key this store was created with")
        return env, {}
    if env:
        return env, {"hmac_key_fingerprint": key_fingerprint(env)}
    key = bytes.fromhex(new_key())
    return key, {"hmac_key": key.hex()}
