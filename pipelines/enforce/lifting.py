"""Lifting a suppression (`suppress resubscribe`, `suppress unblock`): the only ways, both audited
in `suppression_events`. A later import never lifts anything."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from pipelines.errors import UsageError, UserError
from pipelines.lookup import normalize_inputs
from pipelines.model import BLOCKS_ALL
from pipelines.store import Store
from pipelines.store.clock import utcnow


def _one_address(address: str, default_region: str | None) -> tuple[str, str]:
    frame = normalize_inputs([address], default_region)
    if frame["address"][0] is None:
        raise UsageError(f"{address!r} is not a valid email address or phone number")
    return frame["channel"][0], frame["address"][0]


def parse_time(text: str, what: str) -> datetime:
    """An ISO 8601 time (naive: UTC) that is not in the future."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{what} must be an ISO 8601 time such as 2026-11-30T12:00:00Z, not {text!r}") from None
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    if value > utcnow() + timedelta(minutes=5):
        raise UsageError(f"{what} {text} lies in the future")
    return value.astimezone(UTC)


def resubscribe(store: Store, tenant: str, address: str, confirmed_at: str, evidence: str,
                default_region: str | None = None) -> dict:
    """Lift an address's unsubscribes on double opt-in evidence; its contacts get consent back."""
    if not evidence or not evidence.strip():
        raise UsageError("--evidence must name the double opt-in confirmation (a reference)")
    when = parse_time(confirmed_at, "--confirmed-at")
    channel, normalized = _one_address(address, default_region)
    key = store.address_key(tenant, channel, normalized)
    detail = json.dumps({"confirmed_at": when.isoformat(), "evidence": evidence.strip()})
    result = store.lift(tenant, channel, key, True, when, "resubscribed", detail)
    if not result["lifted"] and not result["contacts"]["contacts_changed"]:
        raise UserError(f"{address}: no active unsubscribe and no contact waiting for double opt-in "
                        f"for tenant {tenant}; nothing changed")
    return _lift_summary(tenant, address, channel, normalized, result)


def unblock(store: Store, tenant: str, address: str, reason: str, default_region: str | None = None) -> dict:
    """Lift an address's other suppressions (bounces, complaints, manual blocks), with a reason."""
    if not reason or not reason.strip():
        raise UsageError("--reason must say why the address is unblocked")
    channel, normalized = _one_address(address, default_region)
    key = store.address_key(tenant, channel, normalized)
    result = store.lift(tenant, channel, key, False, utcnow(), "unblocked", reason.strip())
    if not result["lifted"]:
        raise UserError(f"{address}: nothing to unblock for tenant {tenant} (unsubscribes need `suppress resubscribe`)")
    return _lift_summary(tenant, address, channel, normalized, result)


def _lift_summary(tenant: str, address: str, channel: str, normalized: str, result: dict) -> dict:
    remaining = result["remaining"]
    still = [r for r in remaining if r["reason"] in BLOCKS_ALL or r["reason"] == "unsubscribe"]
    return {"tenant": tenant, "input": address, "channel": channel, "address": normalized,
            "lifted": result["lifted"], "still_suppressed_by": still,
            "contacts_changed": result["contacts"]["contacts_changed"]}
