"""Enforcement on contacts (SPEC 3), written once over the store's primitives: statuses derived
from the suppressions, the one contact insert path, erasure, explicit lifting, tenant settings and
list mappings. The SQL is `sql/<common|dialect>/contacts.sql`; a backend supplies the primitives
(`Store._x`, `_one`, `_frame`, `_txn`) and the few steps that differ (the hooks below)."""
from __future__ import annotations

from abc import abstractmethod
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.store.clock import utcnow

if TYPE_CHECKING:  # annotations only
    import polars as pl


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


class Enforcement:
    """Mixed into `Store`."""

    @abstractmethod
    def _stage_contact_files(self, contacts: Path, rejects: Path, params: dict) -> None:
        """Make `stage_contacts` (and the rejects) from the staged Parquet files."""

    @abstractmethod
    def _select(self, tenant: str, ids: list[str] | None, segment: str | None) -> None:
        """Make `erase_set`: the contacts of these ids, or of the segment."""

    def _before_contact_changes(self, tenant: str) -> None:  # noqa: B027 - a hook, most backends need none
        """Backends with concurrent writers serialize here (PostgreSQL: against its trigger)."""

    def _after_erasure(self) -> None:  # noqa: B027
        """Make the old row versions that still hold erased addresses go (DuckDB: rewrite the file;
        PostgreSQL: VACUUM the touched tables)."""

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
        return dict(self._frame("get_settings", "contacts", tenant=tenant).iter_rows())

    def set_setting(self, tenant: str, key: str, value: str | None) -> None:
        """Set a tenant setting, or go back to its default with None."""
        with self._txn(tenant):
            self._x("delete_setting", "contacts", tenant=tenant, key=key)
            if value is not None:
                self._x("insert_setting", "contacts", tenant=tenant, key=key, value=str(value), now=utcnow())

    # -- previous lists mapped to new ones (SPEC 2.2; pipelines/lists.py) -------------------------
    def list_mappings(self, tenant: str) -> dict[str, str]:
        """{`list:<id>` of a previous platform: the tenant's new list it maps to}."""
        return {row["previous_list"]: row["new_list"] for row in self._dicts("list_mappings", "contacts", {"tenant": tenant})}

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
        return self._frame("list_scopes", "contacts", tenant=tenant)

    def contact_unsubscribes(self, tenant: str) -> pl.DataFrame:
        """(id, declared_consent, scope) of each active unsubscribe of each contact."""
        return self._frame("contact_unsubscribes", "contacts", tenant=tenant)

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
        return self._frame("contacts", "contacts", tenant=tenant)

    def select_contacts(self, tenant: str, ids: list[str] | None = None, segment: str | None = None) -> pl.DataFrame:
        """The contacts a delete (ids) or purge (segment `hard_bounced`) would remove."""
        with self._txn():
            self._select(tenant, ids, segment)
            frame = self._frame("erase_set_rows", "contacts")
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
            lifted = checked_lift(self._frame("lift_rows", "contacts").to_dicts(), unsubscribes, lifted_at)
            self._x("lift", "contacts", **p)
            self._x("lift_audit", "contacts", **p)
            if unsubscribes:
                self._x("confirm_audit", "contacts", **p)
            changes = "changes_resubscribe" if unsubscribes else "changes_recompute"
            contacts = self._contact_changes(tenant, None, now, "status_input_for_address", changes,
                                             detail=f"{action}: {detail}", channel=channel, address=key)
            remaining = self._frame("remaining_blocks", "contacts", **p).to_dicts()
        self._drop("lift_set")
        return {"lifted": lifted, "remaining": remaining, "contacts": contacts}

    def safety_exports_due(self, now: datetime) -> list[dict]:
        return self._frame("safety_exports_due", "contacts", now=now).to_dicts()

    def safety_export_removed(self, export_id: str) -> None:
        with self._txn():
            self._x("safety_export_removed", "contacts", export_id=export_id, now=utcnow())

