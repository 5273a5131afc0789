"""Deleting contacts (`suppress contacts delete`, `contacts purge`): a safety CSV first, kept 3 days
(`maintenance` removes it after), then the contacts and their history in one transaction; their
suppressions stay, reduced to a keyed hash of the address."""
from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl

from pipelines.errors import UsageError, UserError
from pipelines.store import Store
from pipelines.store.clock import utcnow
from pipelines.writers import write_private_csv

SAFETY_TTL = timedelta(days=3)
SEGMENTS = ("hard_bounced",)


def safety_dir(explicit: str | Path | None = None) -> Path:
    """--export-dir, else the settings' (`$SUPPRESSION_SAFETY_DIR`, else ./safety-exports)."""
    from pipelines.settings import Settings

    return Path(explicit or Settings.from_env().safety_dir)


def plan_deletion(store: Store, tenant: str, ids: list[str] | None = None, segment: str | None = None) -> pl.DataFrame:
    """The contacts a delete (ids) or a purge (segment) would remove; unknown ids are an error."""
    if segment is not None:
        if segment not in SEGMENTS:
            raise UsageError(f"--segment must be one of {', '.join(SEGMENTS)}")
        return store.select_contacts(tenant, segment=segment)
    ids = list(dict.fromkeys(i.strip() for i in ids or [] if i.strip()))
    if not ids:
        raise UsageError("name at least one contact id")
    found = store.select_contacts(tenant, ids=ids)
    missing = sorted(set(ids) - set(found["id"].to_list()))
    if missing:
        shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        raise UserError(f"tenant {tenant} has no contact {shown}; nothing was deleted")
    return found


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:60] or "tenant"


def delete_contacts(store: Store, tenant: str, planned: pl.DataFrame, export_dir: str | Path | None = None) -> dict:
    """Write the safety CSV, then delete the planned contacts (one transaction)."""
    now = utcnow()
    expires_at = now + SAFETY_TTL
    export_id = f"safety_{now:%Y%m%dT%H%M%S}_{secrets.token_hex(3)}"
    if planned.height == 0:
        return {"tenant": tenant, "contacts_deleted": 0, "addresses_hashed": 0, "safety_export": None,
                "expires_at": None}
    directory = safety_dir(export_dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = (directory / f"deleted-contacts_{_safe_name(tenant)}_{export_id}.csv").resolve()
    copy = planned.with_columns(pl.lit(now.isoformat()).alias("deleted_at"),
                                pl.lit(expires_at.isoformat()).alias("expires_at"))
    # Recorded (with its expiry) before it exists: whatever happens next, maintenance finds it.
    store.record_safety_export(tenant, {"export_id": export_id, "path": str(path), "rows": planned.height,
                                        "expires_at": expires_at})
    write_private_csv(copy, path)  # personal data: the owner only
    try:
        result = store.erase_contacts(tenant, planned["id"].to_list())
    except BaseException:
        path.unlink(missing_ok=True)  # nothing was deleted: no copy to keep
        store.safety_export_removed(export_id)
        raise
    return {"tenant": tenant, **result, "safety_export": str(path), "expires_at": expires_at.isoformat()}


def maintenance(store: Store, now: datetime | None = None) -> dict:
    """Remove the safety copies whose 3 days have passed (the nightly DAG runs this too)."""
    now = now or utcnow()
    removed, elsewhere = [], []
    for export in store.safety_exports_due(now):
        path = Path(export["path"])
        if path.exists():
            path.unlink()
            removed.append(str(path))
            store.safety_export_removed(export["export_id"])
        else:  # written on another machine (or deleted by hand): stays due until it is gone there
            elsewhere.append(str(path))
    return {"safety_exports_removed": removed, "not_found_here": elsewhere}
