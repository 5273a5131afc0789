"""Generic plain lists: one address a line (with or without a header), optionally `email,reason`."""
from __future__ import annotations

import polars as pl

from pipelines.platforms.base import Adapter, MapOptions, Match, Probe, col, lookup, mapped

ADDRESS_HEADERS = (
    "email", "email address", "e-mail", "e-mail address", "emailaddress", "email_address", "address",
    "recipient", "mail", "adresse e-mail", "e-mail-adresse", "correo electronico", "correo electrónico",
)
PHONE_HEADERS = ("phone", "phone number", "mobile", "mobile number", "msisdn", "sms", "number", "to")
REASON_HEADERS = ("reason", "type", "status", "suppression reason", "category")

# Reason spellings seen across platforms (platform-formats section 16), normalized on lookup.
VOCABULARY: dict[str, str | None] = {
    **dict.fromkeys(["hard_bounce", "hardbounce", "hard-bounce", "bounce", "bounced", "bounces", "cleaned"], "hard_bounce"),
    **dict.fromkeys(["soft_bounce", "softbounce", "soft-bounce", "transient"], "soft_bounce"),
    **dict.fromkeys(["complaint", "spam", "spam_complaint", "spamcomplaint", "spamreport", "abuse", "marked as spam"], "spam_complaint"),
    **dict.fromkeys(["unsubscribe", "unsubscribed", "unsub", "opted out", "optout", "opt-out"], "unsubscribe"),
    **dict.fromkeys(["manual", "suppressed", "blocked by admin", "admin", "custom", "manual import"], "manual"),
    **dict.fromkeys(["invalid", "invalid_email", "invalid email", "bad address"], "invalid"),
    **dict.fromkeys(["block", "blocks", "blocked", "policy", "policy_block"], "policy_block"),
}


class GenericListAdapter(Adapter):
    name = "generic"
    description = "Plain list of addresses, one a line, with or without a header (`--reason`, default hard_bounce); optional reason column"
    kinds = ("plain_list",)

    def detect(self, probe: Probe) -> Match | None:
        if probe.fmt != "csv":
            return None
        if not probe.has_header:
            return Match("plain_list", 10, "no header; first row holds an address")
        if probe.column(*ADDRESS_HEADERS, *PHONE_HEADERS) and len(probe.columns) <= 3:
            return Match("plain_list", 10, f"address column {probe.column(*ADDRESS_HEADERS, *PHONE_HEADERS)!r}")
        return None

    def map(self, frame: pl.LazyFrame, probe: Probe, match: Match, opts: MapOptions) -> pl.LazyFrame:
        address_col = probe.column(*ADDRESS_HEADERS) or probe.column(*PHONE_HEADERS) or probe.columns[0]
        channel = "sms" if probe.column(*ADDRESS_HEADERS) is None and _mostly_phones(probe, address_col) else "email"
        reason_col = probe.column(*REASON_HEADERS) if probe.has_header else (probe.columns[1] if len(probe.columns) > 1 else None)
        fallback = pl.lit(opts.reason or "hard_bounce")
        if reason_col is None:
            reason, status = fallback, None
        else:
            raw = pl.col(reason_col).str.strip_chars()
            reason = pl.when(raw.is_null() | (raw == "")).then(fallback).otherwise(lookup(raw, VOCABULARY))
            status = raw
        return mapped(frame, address=col(address_col), reason=reason, status=status, channel=channel)


def _mostly_phones(probe: Probe, column: str) -> bool:
    values = probe.sample.get_column(column).drop_nulls()
    if values.len() == 0:
        return False
    return values.str.contains("@").mean() < 0.5


ADAPTER = GenericListAdapter()
