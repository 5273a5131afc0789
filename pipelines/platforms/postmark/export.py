"""Postmark: suppression dumps per message stream, and the Bounces API export.

platform-formats section 4. Suppressions are per message stream: a recipient's own unsubscribe
(`ManualSuppression` with `Origin: Recipient`) is scoped to that stream, taken from a
`MessageStream` column or, for a single-stream dump, from the file name (`…broadcast…`).
"""
from __future__ import annotations

import re

import polars as pl

from pipelines.model import EVENT_IGNORED, EVENT_SUPPRESSION
from pipelines.platforms.base import Adapter, MapOptions, Match, Probe, col, lookup, mapped, norm_status, unsub_scope

# --- Suppressions dump (GET /message-streams/{stream}/suppressions/dump) ------------------------

# SuppressionReason -> reason; ManualSuppression depends on Origin (below).
SUPPRESSION_REASONS: dict[str, str | None] = {
    "HardBounce": "hard_bounce",
    "SpamComplaint": "spam_complaint",
}
MANUAL_SUPPRESSION = "ManualSuppression"
# Origin of a ManualSuppression -> reason. Recipient = the recipient used Postmark's unsubscribe
# link; Customer = added by the account through API/UI; Admin = added by Postmark staff.
MANUAL_ORIGINS: dict[str, str | None] = {
    "Recipient": "unsubscribe",
    "Customer": "manual",
    "Admin": "manual",
}

# --- Bounces API (GET /bounces) -------------------------------------------------------------

IGNORED = "ignored"  # vocabulary value: a row that carries no suppression
BOUNCE_TYPES: dict[str, str | None] = {
    "HardBounce": "hard_bounce",
    "BadEmailAddress": "hard_bounce",
    "SpamComplaint": "spam_complaint",
    "ManuallyDeactivated": "manual",
    "Blocked": "policy_block",
    "DMARCPolicy": "policy_block",
    "SpamNotification": "policy_block",
    "Transient": "soft_bounce",
    "SoftBounce": "soft_bounce",
    "DnsError": "soft_bounce",
    "Unsubscribe": "unsubscribe",  # an unsubscribe/remove request sent back by the recipient
    "AutoResponder": IGNORED,
    "ChallengeVerification": IGNORED,
    "Subscribe": IGNORED,
    # Everything else (Unknown, AddressChange, OpenRelayTest, VirusNotification, Unconfirmed,
    # SMTPApiError, InboundError, TemplateRenderingFailed) is left out on purpose: quarantined.
}
# Numeric TypeCode -> the Type it stands for (Postmark's documented table).
TYPE_CODES: dict[str, str] = {
    "1": "HardBounce",
    "2": "Transient",
    "16": "Unsubscribe",
    "32": "Subscribe",
    "64": "AutoResponder",
    "128": "AddressChange",
    "256": "DnsError",
    "512": "SpamNotification",
    "1024": "OpenRelayTest",
    "2048": "Unknown",
    "4096": "SoftBounce",
    "8192": "VirusNotification",
    "16384": "ChallengeVerification",
    "100000": "BadEmailAddress",
    "100001": "SpamComplaint",
    "100002": "ManuallyDeactivated",
    "100003": "Unconfirmed",
    "100006": "Blocked",
    "100007": "SMTPApiError",
    "100008": "InboundError",
    "100009": "DMARCPolicy",
    "100010": "TemplateRenderingFailed",
}

ADDRESS_COLUMNS = ("EmailAddress", "Email", "Recipient")
STREAM_COLUMNS = ("MessageStream", "Stream", "MessageStreamID")
# Columns only a Postmark bounce object has; each one makes detection surer.
BOUNCE_MARKERS = ("BouncedAt", "TypeCode", "Inactive", "CanActivate", "DumpAvailable", "MessageStream")

# Stream ids in a file name: `stream-<id>`/`stream_<id>`/`stream=<id>`, else the default streams.
_NAMED_STREAM = re.compile(r"(?:^|[^a-z])stream[-_=]([a-z0-9][a-z0-9-]*)")
_DEFAULT_STREAM = re.compile(r"(?:^|[^a-z0-9])(outbound|broadcast)s?(?:[^a-z0-9]|$)")


def stream_from_name(name: str) -> str | None:
    """The message stream a single-stream dump's file name names, if any."""
    lname = name.lower()
    found = _NAMED_STREAM.search(lname) or _DEFAULT_STREAM.search(lname)
    return found.group(1) if found else None


def _blank_to_null(expr: pl.Expr) -> pl.Expr:
    s = expr.str.strip_chars()
    return pl.when(s == "").then(None).otherwise(s)


class PostmarkAdapter(Adapter):
    name = "postmark"
    description = "Postmark suppression dumps per message stream (JSON or CSV) and Bounces API exports"
    kinds = ("suppressions", "bounces")

    def detect(self, probe: Probe) -> Match | None:
        named = "postmark" in probe.lname
        if probe.column(*ADDRESS_COLUMNS) and probe.has("SuppressionReason"):
            score = 90 if probe.has("Origin") else 80
            why = "columns EmailAddress, SuppressionReason" + (", Origin" if probe.has("Origin") else "")
            return Match("suppressions", min(95, score + 5 * named), why + (", file name" if named else ""))
        if probe.has("Email") and probe.column("Type", "TypeCode"):
            markers = [m for m in BOUNCE_MARKERS if probe.has(m)]
            types = probe.values(probe.column("Type"))
            known = types.is_in([k.lower() for k in BOUNCE_TYPES]).mean() if types.len() else 0.0
            if "BouncedAt" in markers or len(markers) >= 2 or (named and known >= 0.8):
                score = 70 + 5 * len(markers) + 5 * named
                return Match("bounces", min(95, score), "bounce columns Email, Type/TypeCode, " + ", ".join(markers or ["file name"]))
        return None

    def map(self, frame: pl.LazyFrame, probe: Probe, match: Match, opts: MapOptions) -> pl.LazyFrame:
        stream = probe.column(*STREAM_COLUMNS)
        row_stream = _blank_to_null(pl.col(stream)) if stream else pl.lit(None, dtype=pl.String)
        scope_stream = pl.coalesce(row_stream, pl.lit(stream_from_name(probe.name), dtype=pl.String))
        if match.kind == "bounces":
            return self._map_bounces(frame, probe, scope_stream)
        return self._map_suppressions(frame, probe, scope_stream)

    def _map_suppressions(self, frame: pl.LazyFrame, probe: Probe, stream: pl.Expr) -> pl.LazyFrame:
        status = pl.col(probe.column("SuppressionReason")).str.strip_chars()
        origin = col(probe.column("Origin")).str.strip_chars()
        manual = norm_status(status) == MANUAL_SUPPRESSION.lower()
        reason = (
            pl.when(manual).then(lookup(origin, MANUAL_ORIGINS)).otherwise(lookup(status, SUPPRESSION_REASONS))
        )
        # A ManualSuppression is only understood with its Origin: show both when it is not.
        shown_status = pl.when(manual).then(pl.concat_str([status, origin.fill_null("")], separator="/")).otherwise(status)
        detail = pl.concat_str([status, pl.lit(" (Origin: ") + origin + pl.lit(")")], ignore_nulls=True)
        # SubscriptionChange webhook logs: SuppressSending=false is a reactivation, never a suppression.
        suppress_sending = probe.column("SuppressSending")
        event = pl.lit(EVENT_SUPPRESSION)
        if suppress_sending:
            event = (
                pl.when(pl.col(suppress_sending).str.strip_chars().str.to_lowercase() == "false")
                .then(pl.lit(EVENT_IGNORED))
                .otherwise(event)
            )
        return mapped(
            frame,
            address=pl.col(probe.column(*ADDRESS_COLUMNS)),
            reason=pl.when(event == EVENT_IGNORED).then(None).otherwise(reason),
            status=shown_status,
            scope=pl.when(reason == "unsubscribe").then(unsub_scope(stream)),
            occurred=col(probe.column("CreatedAt", "ChangedAt")),
            detail=detail,
            event=event,
        )

    def _map_bounces(self, frame: pl.LazyFrame, probe: Probe, stream: pl.Expr) -> pl.LazyFrame:
        type_name = _blank_to_null(col(probe.column("Type")))
        type_code = _blank_to_null(col(probe.column("TypeCode")))
        code_name = type_code.replace_strict(TYPE_CODES, default=None, return_dtype=pl.String)
        # The Type name wins; a bare TypeCode is read through Postmark's code table.
        vocab = pl.when(type_name.is_not_null()).then(lookup(type_name, BOUNCE_TYPES)).otherwise(
            lookup(code_name, BOUNCE_TYPES)
        )
        ignored = vocab == IGNORED
        reason = pl.when(ignored).then(None).otherwise(vocab)
        inactive = col(probe.column("Inactive")).str.strip_chars()
        detail = pl.concat_str(
            [
                pl.coalesce(type_name, code_name),
                pl.lit("TypeCode ") + type_code,
                _blank_to_null(col(probe.column("Details", "Description"))),
                pl.lit("Inactive: ") + inactive,
            ],
            separator="; ",
            ignore_nulls=True,
        )
        return mapped(
            frame,
            address=pl.col(probe.column("Email")),
            reason=reason,
            status=pl.coalesce(type_name, type_code),
            scope=pl.when(reason == "unsubscribe").then(unsub_scope(stream)),
            occurred=col(probe.column("BouncedAt")),
            detail=detail,
            event=pl.when(ignored).then(pl.lit(EVENT_IGNORED)).otherwise(pl.lit(EVENT_SUPPRESSION)),
        )


ADAPTER = PostmarkAdapter()
