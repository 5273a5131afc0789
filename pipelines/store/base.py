"""The store interface every backend implements, and what it shares (SQL files, HMAC, run records)."""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
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


def connect_duckdb(path: str = ":memory:", read_only: bool = False, **config):
    """Every DuckDB connection of the library: the memory limit above (and `config` over it), and
    no progress bar, which DuckDB prints on stdout during long queries, before a --json document."""
    import duckdb

    con = duckdb.connect(path, read_only=read_only, config={**DUCKDB_CONFIG, **config})
    con.execute("SET enable_progress_bar = false")
    return con


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
    key: bytes | None

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
    def rejects(self, run_id: str) -> pl.DataFrame: ...

    # -- run records (shared; each backend supplies `_dicts`) ----------------------------------
    @abstractmethod
    def _dicts(self, sql: str, params: dict) -> list[dict]: ...

    def _records(self, name: str, params: dict, json_fields: tuple[str, ...] = ()) -> list[dict]:
        rows = self._dicts(sql_statements(self.dialect, "read")[name], params)
        for row in rows:
            for k in json_fields:
                if isinstance(row.get(k), str):
                    row[k] = json.loads(row[k])
        return rows

    def runs(self, tenant: str) -> list[dict]:
        return self._records("runs", {"tenant": tenant})

    def run(self, run_id: str) -> dict | None:
        rows = self._records("run", {"run_id": run_id}, ("summary", "validation", "options"))
        return rows[0] if rows else None

    def rollbackable(self, run_id: str) -> dict:
        """The run record, if the run can be rolled back: a succeeded suppression import that loaded."""
        from pipelines.errors import UsageError

        run = self.run(run_id)
        if run is None:
            raise UsageError(f"no run {run_id}")
        if run.get("dry_run"):
            raise UsageError(f"run {run_id} is a dry run: it loaded nothing, so there is nothing to roll back")
        if run["status"] != "succeeded":
            raise UsageError(f"run {run_id} is {run['status']}; only a succeeded run can be rolled back")
        if run["kind"] != "ingest":
            raise UsageError(f"run {run_id} is a {run['kind']} run; only suppression imports can be rolled back")
        return run

    def run_files(self, run_id: str) -> list[dict]:
        return self._records("run_files", {"run_id": run_id})

    def runs_since(self, since: datetime, tenant: str | None = None) -> list[dict]:
        """Runs started at or after `since` (of one tenant, or all), oldest first, with their
        summary and options parsed: what the cross-run report reads."""
        return self._records("runs_since", {"since": since, "tenant": tenant}, ("summary", "options"))

    # -- enforcement (SPEC 3) ----------------------------------------------------------------
    # Written once here over the SQL of `sql/<dialect>/contacts.sql`; each backend supplies the
    # primitives: `_x` (run a named statement), `_one` (its first row), `_cframe` (its rows as a
    # frame), `_txn` (a transaction, holding the tenant's lock where the backend has one), and the
    # few steps that differ (staging a contacts file, selecting ids).

    @abstractmethod
    def _x(self, name: str, file: str = "load", **params): ...

    @abstractmethod
    def _one(self, name: str, file: str = "load", **params) -> tuple: ...

    @abstractmethod
    def _cframe(self, name: str, **params) -> pl.DataFrame: ...

    @abstractmethod
    def _txn(self, tenant: str | None = None) -> AbstractContextManager: ...

    @abstractmethod
    def _stage_contact_files(self, contacts: Path, rejects: Path, params: dict) -> None:
        """Make `stage_contacts` (and the rejects) from the staged Parquet files."""

    @abstractmethod
    def _select(self, tenant: str, ids: list[str] | None, segment: str | None) -> None:
        """Make `erase_set`: the contacts of these ids, or of the segment."""

    def _before_contact_changes(self, tenant: str) -> None:  # noqa: B027 - a hook, most backends need none
        """Backends with concurrent writers serialize here (PostgreSQL: against its trigger)."""

    def _after_run(self, run_id: str) -> None:  # noqa: B027
        """A run closed: release what `begin_run` took."""

    def _after_erasure(self) -> None:  # noqa: B027
        """Make the old row versions that still hold erased addresses go (DuckDB: rewrite the file;
        PostgreSQL: VACUUM the touched tables)."""

    def _drop(self, *tables: str) -> None:  # noqa: B027
        """Temp tables of a finished step (backends whose temp tables outlive transactions)."""

    def has_erasures(self, tenant: str) -> bool:
        return bool(self._one("has_erasures", "contacts", tenant=tenant)[0])

    def _has_contacts(self, tenant: str) -> bool:
        return bool(self._one("has_contacts", "contacts", tenant=tenant)[0])

    def _contact_changes(self, tenant: str, run_id: str | None, now, status_input: str, changes: str,
                         detail: str | None = None, **params) -> dict:
        """Bring the statuses of a set of contacts in line with the suppressions; returns the counts.
        Runs inside the caller's transaction."""
        self._before_contact_changes(tenant)
        if not self._has_contacts(tenant):  # an onboarding before any contact exists: nothing to do
            return contact_counts(None)
        p = {"tenant": tenant, "run_id": run_id, "now": now, "detail": detail, **params}
        for name in (status_input, "derive_status", changes, "apply_contact_changes", "record_contact_changes"):
            self._x(name, "contacts", **p)
        return contact_counts(self._one("contact_change_counts", "contacts"))

    def settings(self, tenant: str) -> dict[str, str]:
        """The tenant's own settings (defaults not included)."""
        return dict(self._cframe("get_settings", tenant=tenant).iter_rows())

    def set_setting(self, tenant: str, key: str, value: str | None) -> None:
        """Set a tenant setting, or go back to its default with None."""
        with self._txn(tenant):
            self._x("delete_setting", "contacts", tenant=tenant, key=key)
            if value is not None:
                self._x("insert_setting", "contacts", tenant=tenant, key=key, value=str(value), now=utcnow())

    # -- previous lists mapped to new ones (SPEC 2.2; pipelines/lists.py) -------------------------
    def list_mappings(self, tenant: str) -> dict[str, str]:
        """{`list:<id>` of a previous platform: the tenant's new list it maps to}."""
        return dict(self._cframe("list_mappings", tenant=tenant).iter_rows())

    def map_lists(self, tenant: str, mapping: dict[str, str | None]) -> None:
        """Map previous lists to new ones (None: unmap), in one transaction."""
        now = utcnow()
        with self._txn(tenant):
            for previous, new in sorted(mapping.items()):
                self._x("delete_list_mapping", "contacts", tenant=tenant, previous_list=previous)
                if new is not None:
                    self._x("insert_list_mapping", "contacts", tenant=tenant, previous_list=previous, new_list=new,
                            now=now)

    def list_scopes(self, tenant: str) -> pl.DataFrame:
        """The previous lists the tenant's active suppressions name (previous_list, channel, suppressions)."""
        return self._cframe("list_scopes", tenant=tenant)

    def contact_unsubscribes(self, tenant: str) -> pl.DataFrame:
        """(id, declared_consent, scope) of each active unsubscribe of each contact."""
        return self._cframe("contact_unsubscribes", tenant=tenant)

    def soft_bounce_threshold(self, tenant: str) -> int:
        return int(self.settings(tenant).get("soft_bounce_threshold", TENANT_SETTINGS["soft_bounce_threshold"]))

    def import_contacts(self, run_id: str, tenant: str, contacts: Path, rejects: Path, summary: dict) -> dict:
        """The one contact insert path: upsert staged contacts (Parquet: contact_id, email, phone,
        consent_in, attributes, has_email, has_phone) with statuses from the suppressions, keep the
        rejects, close the run; one transaction. Returns the counts."""
        p = {"tenant": tenant, "run_id": run_id, "now": utcnow()}
        with self._txn(tenant):
            self._stage_contact_files(contacts, rejects, p)
            if self.has_erasures(tenant):
                self._x("tokenize_contact_emails", "contacts", **p)
                self._x("tokenize_contact_phones", "contacts", **p)
            for name in ("status_input_from_stage", "derive_status", "contact_plan"):
                self._x(name, "contacts", **p)
            created, updated, blocked, pending = self._one("contact_plan_counts", "contacts")
            for name in ("contact_plan_events", "update_contacts", "insert_contacts"):
                self._x(name, "contacts", **p)
            self._x("insert_rejects", **p, rejects=str(rejects))
            counts = {"contacts_created": created, "contacts_updated": updated, "blocked_at_creation": blocked,
                      "pending_double_opt_in": pending}
            self._close_run(run_id, "succeeded", {**summary, **counts}, None, None)
        self._drop("stage_contacts", "contact_plan")
        self._after_run(run_id)
        return counts

    def contacts(self, tenant: str) -> pl.DataFrame:
        return self._cframe("contacts", tenant=tenant)

    def select_contacts(self, tenant: str, ids: list[str] | None = None, segment: str | None = None) -> pl.DataFrame:
        """The contacts a delete (ids) or purge (segment `hard_bounced`) would remove."""
        with self._txn():
            self._select(tenant, ids, segment)
            frame = self._cframe("erase_set_rows")
        self._drop("erase_set")
        return frame

    def record_safety_export(self, tenant: str, export: dict) -> None:
        """Record a safety copy (export_id, path, rows, expires_at) before it is written."""
        with self._txn():
            self._x("record_safety_export", "contacts", tenant=tenant, now=utcnow(), **export)

    def require_key(self) -> bytes:
        """The key for erased addresses, or a refusal that says how to set one."""
        if self.key is None:
            from pipelines.errors import UserError

            raise UserError("erasing an address needs SUPPRESSION_HMAC_KEY: set it to a long random secret "
                            "(e.g. `openssl rand -hex 32`), the same on every host and worker, from the "
                            "environment or your secrets manager; PostgreSQL stores only its fingerprint")
        return self.key

    def erase_contacts(self, tenant: str, ids: list[str]) -> dict:
        """Delete these contacts and their events; their addresses stay only as keyed hashes in the
        suppressions, their lineage, events and the texts that quote them (SPEC 2.3 privacy). One
        transaction."""
        self.require_key()
        p = {"tenant": tenant, "now": utcnow(), "run_id": None}
        with self._txn(tenant):
            self._select(tenant, ids, None)
            deleted = self._one("count_erase_set", "contacts")[0]
            self._x("erase_map", "contacts")
            hashed = self._one("count_erase_map", "contacts")[0]
            for name in ("erase_suppressions", "erase_sources", "erase_events", "erase_evidence",
                         "erase_suppression_details", "erase_event_details", "erase_evidence_details",
                         "erase_quarantine", "erase_warnings", "erase_run_summaries", "erase_email_keys",
                         "erase_phone_keys", "record_erasures", "erase_audit", "delete_contact_events",
                         "delete_contacts"):
                self._x(name, "contacts", **p)
        self._drop("erase_set", "erase_map")
        if hashed:
            self._after_erasure()
        return {"contacts_deleted": deleted, "addresses_hashed": hashed}

    def address_key(self, tenant: str, channel: str, address: str) -> str:
        """How an address appears in this tenant's suppressions: itself, or its token once erased."""
        if not self.has_erasures(tenant):
            return address
        return self._one("address_key", "contacts", tenant=tenant, channel=channel, address=address)[0]

    def lift(self, tenant: str, channel: str, key: str, unsubscribes: bool, lifted_at: datetime, action: str,
             detail: str) -> dict:
        """Lift the active unsubscribes (or every other reason) of one address, audited; contacts
        follow. Returns {lifted: [...], remaining: [...], contacts: counts}."""
        now = utcnow()
        p = {"tenant": tenant, "channel": channel, "address": key, "unsubscribes": unsubscribes,
             "lifted_at": lifted_at, "now": now, "action": action, "detail": detail}
        with self._txn(tenant):
            self._x("lift_set", "contacts", **p)
            lifted = checked_lift(self._cframe("lift_rows").to_dicts(), unsubscribes, lifted_at)
            self._x("lift", "contacts", **p)
            self._x("lift_audit", "contacts", **p)
            if unsubscribes:
                self._x("confirm_audit", "contacts", **p)
            changes = "changes_resubscribe" if unsubscribes else "changes_recompute"
            contacts = self._contact_changes(tenant, None, now, "status_input_for_address", changes,
                                             detail=f"{action}: {detail}", channel=channel, address=key)
            remaining = self._cframe("remaining_blocks", **p).to_dicts()
        self._drop("lift_set")
        return {"lifted": lifted, "remaining": remaining, "contacts": contacts}

    def safety_exports_due(self, now: datetime) -> list[dict]:
        return self._cframe("safety_exports_due", now=now).to_dicts()

    def safety_export_removed(self, export_id: str) -> None:
        with self._txn():
            self._x("safety_export_removed", "contacts", export_id=export_id, now=utcnow())

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


def resolve_key(settings: dict[str, str], generate: bool = True) -> tuple[bytes | None, dict[str, str]]:
    """The HMAC key and the settings to save with a new store.

    SUPPRESSION_HMAC_KEY (production) is never written to the store, only its fingerprint, so a
    dump of the store cannot be brute-forced with it. Without it, a laptop store (`generate`) keeps
    a generated key of its own; a PostgreSQL store has none (None) until the variable is set, and
    refuses to erase addresses meanwhile (`Store.require_key`). A key that differs from the one the
    store was built with is refused: hashed addresses would stop matching.
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
    if not generate:
        return None, {}
    key = bytes.fromhex(new_key())
    return key, {"hmac_key": key.hex()}
