"""Constant Contact (v3) exports (platform-formats section 10).

| kind | shape | records |
| --- | --- | --- |
| contacts | contact exports (CSV `email_address, permission_to_send, opt_out_source, opt_out_date, opt_out_reason`, the bulk export's `email_optout_*` fields) or `GET /v3/contacts` JSON (`email_address.{address, permission_to_send, opt_out_*}`) | one per contact, by permission and opt-out source |
| bounces | campaign bounce reports (`.../tracking/bounces` JSON `tracking_activities`, or CSV): `email_address, bounce_code, created_time` | one per bounce, by bounce code |

`permission_to_send`: explicit, implicit, not_set, pending_confirmation -> no suppression
(ignored); unsubscribed -> by `opt_out_source`: Contact (the recipient opted out) or none ->
unsubscribe (marketing), Account (the customer removed the contact) -> manual. `temp_hold` has no
documented meaning and is quarantined rather than guessed; so is any other value, and an empty
permission is no information. An export without a permission column (the bulk export asked for
opt-out fields only) takes a filled opt-out source or date as the unsubscribe.

Bounce codes: B non-existent address, S suspended -> hard_bounce; D undeliverable, F mailbox
full, X other -> soft_bounce; Z blocked by the ISP -> policy_block; V vacation / auto-reply is
a delivery (evidence for soft-bounce counting, never a suppression). Times are ISO 8601.
"""
from __future__ import annotations

import re

import polars as pl

from pipelines.model import EVENT_DELIVERED, EVENT_SUPPRESSION
from pipelines.platforms.base import (
    Adapter,
    MapOptions,
    Match,
    Probe,
    col,
    event_unless_ignored,
    lookup,
    mapped,
    norm_name,
    unsub_scope,
)

IGNORED = "ignored"  # vocabulary value: a permission that carries no suppression
UNSUBSCRIBED = "unsubscribed"
PERMISSIONS: dict[str, str | None] = {
    "explicit": IGNORED,
    "implicit": IGNORED,
    "not_set": IGNORED,
    "pending_confirmation": IGNORED,
    "unsubscribed": UNSUBSCRIBED,
}
OPT_OUT_SOURCES: dict[str, str | None] = {
    "Contact": "unsubscribe",
    "Account": "manual",
}

DELIVERED = "delivered"  # vocabulary value: the message reached the mailbox
BOUNCE_CODES: dict[str, str | None] = {
    "B": "hard_bounce",
    "S": "hard_bounce",
    "D": "soft_bounce",
    "F": "soft_bounce",
    "X": "soft_bounce",
    "Z": "policy_block",
    "V": DELIVERED,
}
BOUNCE_MEANINGS = {
    "B": "non-existent address", "S": "suspended", "D": "undeliverable", "F": "mailbox full",
    "X": "other", "Z": "blocked by ISP", "V": "vacation or auto-reply",
}

ADDRESS_COLUMNS = ("email_address.address", "email_address", "Email address", "Email")
PERMISSION = ("permission_to_send", "email_permission_status", "Email permission status", "Permission to send")
OPT_OUT_SOURCE = ("opt_out_source", "email_optout_source", "Email opt-out source")
OPT_OUT_DATE = ("opt_out_date", "email_optout_date", "Email opt-out date")
OPT_OUT_REASON = ("opt_out_reason", "email_optout_reason", "Email opt-out reason")
# Columns of a bounce tracking activity besides the address and the code.
BOUNCE_MARKERS = ("tracking_activity_type", "campaign_activity_id", "contact_id", "current_email_address", "created_time")

_NAMED = re.compile(r"constant[\s_-]?contact")


def _column(probe: Probe, names: tuple[str, ...]) -> str | None:
    """A column by normalized name, or one ending in `.name` (the API's nested `email_address.*`)."""
    found = probe.column(*names)
    if found is not None:
        return found
    for name in names:
        key = norm_name(name)
        for c in probe.columns:
            if "." in c and norm_name(c.rsplit(".", 1)[-1]) == key:
                return c
    return None


def _blank_to_null(expr: pl.Expr) -> pl.Expr:
    s = expr.str.strip_chars()
    return pl.when(s == "").then(None).otherwise(s)


class ConstantContactAdapter(Adapter):
    name = "constantcontact"
    description = (
        "Constant Contact contacts (permission_to_send, opt-out source/date/reason; CSV or API JSON) "
        "and campaign bounce reports (bounce codes B/D/F/S/V/X/Z)"
    )
    kinds = ("contacts", "bounces")

    def detect(self, probe: Probe) -> Match | None:
        named = bool(_NAMED.search(probe.lname))
        address = _column(probe, ADDRESS_COLUMNS)
        if address is None:
            return None
        code = probe.column("bounce_code")
        if code is not None:
            values = set(probe.values(code).to_list()) - {""}
            known = {norm_name(k) for k in BOUNCE_CODES}
            if values and len(values & known) / len(values) < 0.5:
                return None
            markers = [m for m in BOUNCE_MARKERS if probe.has(m)]
            score = min(95, 80 + 3 * len(markers) + 5 * named)
            return Match("bounces", score, "columns email_address, bounce_code" + "".join(f", {m}" for m in markers))
        permission = _column(probe, PERMISSION)
        opt_out = [c for c in (_column(probe, OPT_OUT_SOURCE), _column(probe, OPT_OUT_DATE)) if c]
        if permission is not None:
            values = set(probe.values(permission).to_list()) - {""}
            known = {norm_name(k) for k in PERMISSIONS} | {norm_name("temp_hold")}
            if values and len(values & known) / len(values) < 0.5:
                return None
            return Match("contacts", 95, f"Constant Contact columns {permission}" + "".join(f", {c}" for c in opt_out))
        if opt_out and _column(probe, OPT_OUT_SOURCE):
            return Match("contacts", 80 + 5 * named, "Constant Contact opt-out columns " + ", ".join(opt_out))
        return None

    def map(self, frame: pl.LazyFrame, probe: Probe, match: Match, opts: MapOptions) -> pl.LazyFrame:
        address = pl.col(_column(probe, ADDRESS_COLUMNS))
        if match.kind == "bounces":
            return self._map_bounces(frame, probe, address)
        permission_col = _column(probe, PERMISSION)
        source = _blank_to_null(col(_column(probe, OPT_OUT_SOURCE)))
        date = _blank_to_null(col(_column(probe, OPT_OUT_DATE)))
        why = _blank_to_null(col(_column(probe, OPT_OUT_REASON)))
        if permission_col is not None:
            permission = _blank_to_null(pl.col(permission_col))
        else:
            # Opt-out fields only: a filled source or date is the unsubscribe; empty says nothing.
            permission = pl.when(source.is_not_null() | date.is_not_null()).then(pl.lit(UNSUBSCRIBED))
        says = lookup(permission, PERMISSIONS)
        ignored = says == IGNORED
        by_source = pl.coalesce(lookup(source, OPT_OUT_SOURCES), pl.lit("unsubscribe"))
        reason = pl.when(says == UNSUBSCRIBED).then(by_source)
        status = permission if permission_col is not None else source
        return mapped(
            frame,
            address=address,
            reason=reason,
            status=status,
            scope=pl.when(reason == "unsubscribe").then(unsub_scope(None)),
            occurred=pl.when(says == UNSUBSCRIBED).then(date),
            detail=pl.concat_str(
                [permission, pl.lit("opt_out_source: ") + source, pl.lit("opt_out_reason: ") + why],
                separator="; ", ignore_nulls=True,
            ),
            event=event_unless_ignored(ignored),
        )

    def _map_bounces(self, frame: pl.LazyFrame, probe: Probe, address: pl.Expr) -> pl.LazyFrame:
        code = _blank_to_null(pl.col(probe.column("bounce_code"))).str.to_uppercase()
        says = lookup(code, BOUNCE_CODES)
        delivered = says == DELIVERED
        meaning = code.replace_strict(BOUNCE_MEANINGS, default=None, return_dtype=pl.String)
        return mapped(
            frame,
            address=address,
            reason=pl.when(delivered).then(None).otherwise(says),
            status=code,
            occurred=col(probe.column("created_time")),
            detail=pl.concat_str([pl.lit("bounce_code ") + code, meaning], separator=": ", ignore_nulls=True),
            event=pl.when(delivered).then(pl.lit(EVENT_DELIVERED)).otherwise(pl.lit(EVENT_SUPPRESSION)),
        )


ADAPTER = ConstantContactAdapter()
