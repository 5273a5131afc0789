"""Brevo (ex-Sendinblue) exports (platform-formats section 8).

| kind | shape | records |
| --- | --- | --- |
| blocked_contacts | transactional blocklist as CSV: `email, senderEmail, reason_code, reason_message, blockedAt` | one per row, by reason code |
| blocked_contacts_api | the JSON page of `GET /v3/smtp/blockedContacts`: `{"contacts": [{email, senderEmail, reason: {code, message}, blockedAt}], "count": N}` | one per contact, by `reason.code` |
| contacts | marketing contacts: the (semicolon) CSV export `EMAIL;...;SMS;EMAIL_BLACKLISTED;SMS_BLACKLISTED;ADDED_TIME;MODIFIED_TIME`, or `GET /v3/contacts` JSON (`emailBlacklisted`, `smsBlacklisted`, `attributes.SMS`) | one per blocklisted channel, else one ignored |
| contacts_without_status | a Brevo contacts export without the blocklist columns | `--reason` for every row |

Reason codes (Brevo: "safe for comparison"; the message is not): hardBounce -> hard_bounce,
contactFlaggedAsSpam -> spam_complaint, adminBlocked -> manual, unsubscribedViaEmail /
unsubscribedViaMA / unsubscribedViaApi -> unsubscribe (marketing). Brevo has no soft-bounce code;
any other code is quarantined. The sender (`senderEmail`) and the message go into the detail.

`EMAIL_BLACKLISTED` / `SMS_BLACKLISTED` is Brevo's marketing blocklist ("unsubscribed, blacklisted
via any means"): Yes -> unsubscribe from marketing on that channel (SMS: the `SMS` number, which
Brevo writes with its country code and no `+`, `33612345678`: the `+` is put back), No -> nothing.
An empty flag is no information (missing_status). The export has no time of the block:
`MODIFIED_TIME`, the contact's last change, is the latest it can have happened and stands for it.
Brevo writes dates in the account's time zone as `DD-MM-YYYY HH:MM`; the order is decided per file.

An exhausted API page (`"contacts": null`) holds no records; a file named for Brevo with no
records at all is taken as such a page (it adds nothing).
"""
from __future__ import annotations

import re

import polars as pl

from pipelines.model import SCOPE_MARKETING
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
    record_per_entry,
    unsub_scope,
)

REASON_CODES: dict[str, str | None] = {
    "hardBounce": "hard_bounce",
    "contactFlaggedAsSpam": "spam_complaint",
    "adminBlocked": "manual",
    "unsubscribedViaEmail": "unsubscribe",
    "unsubscribedViaMA": "unsubscribe",
    "unsubscribedViaApi": "unsubscribe",
}
KNOWN_CODES = frozenset(norm_name(c) for c in REASON_CODES)
# Codes no other platform writes (hardBounce alone could be anyone's).
OWN_CODES = KNOWN_CODES - {norm_name("hardBounce")}

TRUE, FALSE = "true", "false"
BOOLEANS: dict[str, str | None] = {
    **dict.fromkeys(["yes", "true", "1", "oui", "y"], TRUE),
    **dict.fromkeys(["no", "false", "0", "non", "n"], FALSE),
}

CODE_COLUMNS = ("reason.code", "reason_code", "reasonCode")
MESSAGE_COLUMNS = ("reason.message", "reason_message", "reasonMessage")
SENDER_COLUMNS = ("senderEmail", "sender_email", "sender")
BLOCKED_AT_COLUMNS = ("blockedAt", "blocked_at")
EMAIL_FLAG = ("EMAIL_BLACKLISTED", "emailBlacklisted", "EMAIL_BLOCKLISTED")
SMS_FLAG = ("SMS_BLACKLISTED", "smsBlacklisted", "SMS_BLOCKLISTED")
SMS_COLUMNS = ("SMS", "attributes.SMS")
MODIFIED_COLUMNS = ("MODIFIED_TIME", "modifiedAt", "_MODIFIED_TIME")
# Columns of Brevo's contact exports (attribute-style names and export metadata).
CONTACT_MARKERS = ("ADDED_TIME", "MODIFIED_TIME", "_listIds", "_ADDED_TIME", "_MODIFIED_TIME")

_NAMED = re.compile(r"brevo|sendinblue")
_PAGE_NAME = re.compile(r"brevo|sendinblue|blocked[\s_-]?contacts")


def _blank_to_null(expr: pl.Expr) -> pl.Expr:
    s = expr.str.strip_chars()
    return pl.when(s == "").then(None).otherwise(s)


def _sms_number(sms: pl.Expr) -> pl.Expr:
    """Brevo's SMS attribute holds international numbers, exported as digits without their `+`
    (`33612345678`): give them back the `+`. A country code never starts with 0, so `0...` (a national
    number, or `00` international) and anything with other characters is left to the normalizer."""
    digits_only = sms.str.contains(r"^[1-9][\d\s]*$")
    return pl.when(digits_only).then("+" + sms.str.replace_all(r"\s", "")).otherwise(sms)


def _share(probe: Probe, column: str | None, allowed: frozenset[str]) -> tuple[float, set[str]]:
    values = set(probe.values(column).to_list()) - {""}
    if not values:
        return 0.0, values
    return len(values & allowed) / len(values), values


def _entry(keep: pl.Expr, channel: str, address: pl.Expr, flag: pl.Expr, meaning: pl.Expr, label: str) -> pl.Expr:
    """One candidate record of a contact: its channel's blocklist flag and what it means."""
    return pl.struct(
        keep=keep.fill_null(False),
        channel=pl.lit(channel),
        address=address,
        status=flag,
        reason=pl.when(meaning == TRUE).then(pl.lit("unsubscribe")).otherwise(pl.lit(None, dtype=pl.String)),
        detail=pl.lit(f"{label}: ") + flag,
    )


class BrevoAdapter(Adapter):
    name = "brevo"
    description = (
        "Brevo (Sendinblue) transactional blocklist (reason codes; CSV or the blockedContacts API page), "
        "contact exports with EMAIL_BLACKLISTED / SMS_BLACKLISTED (semicolon CSV or API JSON)"
    )
    kinds = ("blocked_contacts", "blocked_contacts_api", "contacts", "contacts_without_status")
    needs_reason = frozenset({"contacts_without_status"})

    def detect(self, probe: Probe) -> Match | None:
        named = bool(_NAMED.search(probe.lname))
        if probe.fmt != "csv" and not probe.columns:
            if _PAGE_NAME.search(probe.lname):
                return Match("blocked_contacts_api", 60, "a Brevo API page without records (contacts: null)")
            return None
        api = probe.fmt != "csv"
        blocked_kind = "blocked_contacts_api" if api else "blocked_contacts"
        email = probe.column("email")
        code = probe.column(*CODE_COLUMNS)
        if email is not None and code is not None:
            share, values = _share(probe, code, KNOWN_CODES)
            markers = [m for m in (SENDER_COLUMNS[0], BLOCKED_AT_COLUMNS[0]) if probe.column(m)]
            if share >= 0.5 or (not values and markers):
                score = min(95, 80 + 5 * len(markers) + 5 * (share >= 0.8) + 5 * named)
                return Match(blocked_kind, score, f"columns email, {code}" + "".join(f", {m}" for m in markers)
                             + " with Brevo blocklist reason codes")
            return None
        reason = probe.column("reason")
        if email is not None and reason is not None and probe.column(*SENDER_COLUMNS, *BLOCKED_AT_COLUMNS):
            share, values = _share(probe, reason, KNOWN_CODES)
            if share >= 0.8 and values & OWN_CODES:
                return Match(blocked_kind, 85, f"columns email, reason with Brevo reason codes ({', '.join(sorted(values & OWN_CODES))})")
            return None

        flags = [c for c in (probe.column(*EMAIL_FLAG), probe.column(*SMS_FLAG)) if c]
        if flags and (email is not None or probe.column(*SMS_COLUMNS)):
            return Match("contacts", 90 + 5 * named, f"Brevo contact columns {', '.join(flags)}")
        markers = [m for m in CONTACT_MARKERS if probe.has(m)]
        if probe.column("EMAIL") == "EMAIL" and (markers or named) and probe.fmt == "csv":
            why = ", ".join(markers) or "file name"
            return Match("contacts_without_status", min(80, 60 + 5 * len(markers) + 10 * named),
                         f"Brevo contact export (EMAIL, {why}) without EMAIL_BLACKLISTED/SMS_BLACKLISTED")
        return None

    def map(self, frame: pl.LazyFrame, probe: Probe, match: Match, opts: MapOptions) -> pl.LazyFrame:
        if match.kind in ("blocked_contacts", "blocked_contacts_api"):
            return self._map_blocked(frame, probe)
        if match.kind == "contacts":
            return self._map_contacts(frame, probe)
        reason = pl.lit(opts.reason, dtype=pl.String)
        return mapped(
            frame,
            address=pl.col(probe.column("email")),
            reason=reason,
            scope=pl.when(reason == "unsubscribe").then(unsub_scope(None)),
            detail=pl.lit(f"Brevo contact export {probe.name}"),
        )

    def _map_blocked(self, frame: pl.LazyFrame, probe: Probe) -> pl.LazyFrame:
        status = _blank_to_null(col(probe.column(*CODE_COLUMNS) or probe.column("reason")))
        reason = lookup(status, REASON_CODES)
        detail = pl.concat_str(
            [
                _blank_to_null(col(probe.column(*MESSAGE_COLUMNS))),
                pl.lit("sender: ") + _blank_to_null(col(probe.column(*SENDER_COLUMNS))),
            ],
            separator="; ",
            ignore_nulls=True,
        )
        return mapped(
            frame,
            address=col(probe.column("email")),
            reason=reason,
            status=status,
            scope=pl.when(reason == "unsubscribe").then(unsub_scope(None)),
            occurred=col(probe.column(*BLOCKED_AT_COLUMNS)),
            detail=pl.concat_str([status, _blank_to_null(detail)], separator=": ", ignore_nulls=True),
        )

    def _map_contacts(self, frame: pl.LazyFrame, probe: Probe) -> pl.LazyFrame:
        email = _blank_to_null(col(probe.column("email")))
        sms = _sms_number(_blank_to_null(col(probe.column(*SMS_COLUMNS))))
        email_flag_col, sms_flag_col = probe.column(*EMAIL_FLAG), probe.column(*SMS_FLAG)
        entries = []
        if email_flag_col is not None:
            flag = _blank_to_null(pl.col(email_flag_col))
            meaning = lookup(flag, BOOLEANS)
            # A row with neither address keeps its email record, to be quarantined as empty.
            has_address = email.is_not_null() | sms.is_null()
            entries.append(_entry(has_address & (meaning.is_null() | (meaning == TRUE)), "email", email, flag, meaning,
                                  email_flag_col))
        if sms_flag_col is not None:
            flag = _blank_to_null(pl.col(sms_flag_col))
            meaning = lookup(flag, BOOLEANS)
            entries.append(_entry(sms.is_not_null() & (meaning.is_null() | (meaning == TRUE)), "sms", sms, flag, meaning,
                                  sms_flag_col))
        none = pl.lit(None, dtype=pl.String)
        # No channel blocklisted: one ignored record for the contact.
        nothing = pl.struct(keep=pl.lit(True), channel=pl.when(email.is_null() & sms.is_not_null()).then(pl.lit("sms"))
                            .otherwise(pl.lit("email")), address=pl.coalesce(email, sms), status=none, reason=none,
                            detail=none)
        rows = record_per_entry(frame, entries, nothing, _modified=_blank_to_null(col(probe.column(*MODIFIED_COLUMNS))))
        ignored = pl.col("_ignored")
        reason = pl.col("reason")
        return mapped(
            rows,
            address=pl.col("address"),
            reason=reason,
            status=pl.col("status"),
            channel=pl.col("channel"),
            scope=pl.when(reason == "unsubscribe").then(pl.lit(SCOPE_MARKETING)),
            occurred=pl.col("_modified"),
            detail=pl.col("detail"),
            event=event_unless_ignored(ignored),
        )


ADAPTER = BrevoAdapter()
