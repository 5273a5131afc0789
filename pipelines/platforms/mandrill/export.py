"""Mailchimp Transactional (Mandrill) rejection denylist (platform-formats section 13).

| kind | what | mapping |
| --- | --- | --- |
| denylist | UI denylist CSV: `email, reason, detail, created_at, expires_at, last_event_at, ?, subaccount` (header text beyond `email` uncertain; also without a header) | reason column |
| rejects_api | API `rejects/list` JSON: email, reason, detail, created_at, last_event_at, expires_at, expired, sender {...}, subaccount | reason column |

`reason`: hard-bounce -> hard_bounce, soft-bounce -> soft_bounce, spam -> spam_complaint, unsub ->
unsubscribe (marketing), custom -> manual; anything else (the send-time reject reasons `rule`,
`invalid-sender`, ...) is not a denylist reason and stays unknown. Expired entries are still
evidence: they are kept, with `expired` in the detail (the API's flag; in the CSV, an `expires_at`
already past). The time is `created_at` (when it entered the denylist), else `last_event_at`; UTC.
"""
from __future__ import annotations

import re
from datetime import UTC, datetime

import polars as pl

from pipelines.platforms.base import Adapter, MapOptions, Match, Probe, col, lookup, mapped, norm_name, unsub_scope

REASONS: dict[str, str | None] = {
    "hard-bounce": "hard_bounce",
    "soft-bounce": "soft_bounce",
    "spam": "spam_complaint",
    "unsub": "unsubscribe",
    "custom": "manual",
}
# Mandrill's own spellings, compared raw (lowercased): `hard_bounce`, `UNSUBSCRIBE` are other platforms'.
RAW_REASONS = frozenset(REASONS)
DISTINCT_REASONS = frozenset({"hard-bounce", "soft-bounce", "unsub"})
# Columns of a denylist entry besides email and reason; each makes detection surer.
MARKERS = ("expires_at", "last_event_at", "expired", "created_at", "detail", "subaccount")
# Positions in the UI CSV (the SparkPost importer's constants), for a file without a header.
POSITIONS = {"email": 0, "reason": 1, "detail": 2, "created_at": 3, "expires_at": 4, "last_event_at": 5, "subaccount": 7}

_MANDRILL_NAME = re.compile(r"mandrill|denylist|deny_list|blacklist|rejects?")
_TIME = re.compile(r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d")


def _raw_values(probe: Probe, column: str | None) -> set[str]:
    """Distinct non-empty sample values, only trimmed and lowercased (hyphens kept)."""
    if column is None or column not in probe.sample.columns:
        return set()
    values = probe.sample.get_column(column).drop_nulls().str.strip_chars().str.to_lowercase()
    return set(values.to_list()) - {""}


def _columns(probe: Probe) -> dict[str, str | None]:
    """Field name -> the file's column: by header name, or by position in a headerless CSV."""
    if probe.has_header:
        return {field: probe.column(field) for field in (*POSITIONS, "expired", "sender.address", "sender")}
    cols = probe.columns
    found: dict[str, str | None] = {f: (cols[i] if i < len(cols) else None) for f, i in POSITIONS.items()}
    return {**found, "expired": None, "sender.address": None, "sender": None}


class MandrillAdapter(Adapter):
    name = "mandrill"
    description = "Mailchimp Transactional (Mandrill) rejection denylist: UI CSV export or API rejects/list JSON"
    kinds = ("denylist", "rejects_api")

    def detect(self, probe: Probe) -> Match | None:
        named = bool(_MANDRILL_NAME.search(probe.lname))
        if not probe.has_header:
            # The UI export without its header row: 8 columns, the reason second.
            if probe.fmt != "csv" or len(probe.columns) < 6:
                return None
            values = _raw_values(probe, probe.columns[1])
            if values and values <= RAW_REASONS and values & DISTINCT_REASONS:
                return Match("denylist", 80 + 5 * named, "no header; 8 columns with Mandrill reasons second")
            return None
        if probe.fmt == "csv" and norm_name(probe.columns[0]) != "email":
            return None
        if probe.column("email") is None or probe.column("reason") is None:
            return None
        values = _raw_values(probe, probe.column("reason"))
        share = len(values & RAW_REASONS) / len(values) if values else 0.0
        markers = [m for m in MARKERS if probe.has(m)]
        kind = "rejects_api" if probe.fmt != "csv" else "denylist"
        expiry = probe.has("expires_at") or probe.has("expired")
        if expiry and (share >= 0.5 or not values):
            score = 80 + 5 * (share >= 0.8) + 2 * len(markers) + 5 * named
            return Match(kind, min(95, score), "columns email, reason, " + ", ".join(markers) + " (Mandrill reject entry)")
        if share >= 0.8 and values & DISTINCT_REASONS:
            score = 60 + 5 * len(markers) + 5 * named
            return Match(kind, min(90, score), "columns email, reason with Mandrill reasons (" + ", ".join(sorted(values & RAW_REASONS)) + ")")
        return None

    def map(self, frame: pl.LazyFrame, probe: Probe, match: Match, opts: MapOptions) -> pl.LazyFrame:
        c = _columns(probe)
        status = pl.col(c["reason"]).str.strip_chars()
        reason = lookup(status, REASONS)
        expires = col(c["expires_at"]).str.strip_chars()
        if c["expired"] is not None:
            expired = pl.col(c["expired"]).str.strip_chars().str.to_lowercase() == "true"
        else:
            # `YYYY-MM-DD HH:MM:SS` strings order like the times they are.
            now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
            expired = expires.str.contains(_TIME.pattern) & (expires.str.replace("T", " ") < now)
        sender = c["sender.address"] or c["sender"]
        detail = pl.concat_str(
            [
                _blank_to_null(col(c["detail"])),
                pl.when(expired.fill_null(False)).then(pl.lit("expired")),
                pl.lit("subaccount: ") + _blank_to_null(col(c["subaccount"])),
                pl.lit("sender: ") + _blank_to_null(col(sender)),
            ],
            separator="; ",
            ignore_nulls=True,
        )
        occurred = pl.coalesce(_blank_to_null(col(c["created_at"])), _blank_to_null(col(c["last_event_at"])))
        return mapped(
            frame,
            address=pl.col(c["email"]),
            reason=reason,
            status=status,
            scope=pl.when(reason == "unsubscribe").then(unsub_scope(None)),
            occurred=occurred,
            detail=_blank_to_null(detail),
        )


def _blank_to_null(expr: pl.Expr) -> pl.Expr:
    s = expr.str.strip_chars()
    return pl.when(s == "").then(None).otherwise(s)


ADAPTER = MandrillAdapter()
