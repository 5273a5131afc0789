"""Amazon SES (v2): the account-level suppression list, its import files, and event notifications.

platform-formats section 5. Shapes:
- `import_csv`: the CreateImportJob CSV, headerless `email,REASON` (AWS's own example has a
  space after the comma);
- `import_ndjson`: the CreateImportJob JSON, one `{"emailAddress", "reason"}` object a line;
- `suppression_list`: ListSuppressedDestinations pages (`SuppressedDestinationSummaries` with
  `EmailAddress, Reason, LastUpdateTime`, epoch seconds possibly fractional) or their flattened CSV;
- `events`: SNS notifications / event-publishing records (`notificationType` or `eventType`,
  `bounce.*`, `complaint.*`, `mail.*`), one JSON object a line.
"""
from __future__ import annotations

import polars as pl

from pipelines.model import EVENT_DELIVERED, EVENT_IGNORED, EVENT_SUPPRESSION
from pipelines.normalize.smtp import classify
from pipelines.sources.base import (
    Adapter,
    MapOptions,
    Match,
    Probe,
    col,
    lookup,
    mapped,
    norm_name,
    norm_status,
    unsub_scope,
)

# The suppression list's Reason: SES knows exactly these two.
REASONS: dict[str, str | None] = {
    "BOUNCE": "hard_bounce",
    "COMPLAINT": "spam_complaint",
}

# Event records ------------------------------------------------------------------------------
# bounce.bounceType/bounce.bounceSubType -> reason. "classify" = read the recipient's SMTP
# status/diagnosticCode, with the bounce type's meaning as the default when they say nothing.
CLASSIFY = "classify"
PERMANENT_SUBTYPES: dict[str, str] = {
    "General": CLASSIFY,
    "NoEmail": CLASSIFY,
    "Suppressed": "hard_bounce",  # on SES's global list for a recent history of hard bounces
    "UnsubscribedRecipient": "unsubscribe",  # SES list management: the recipient unsubscribed
    # On the account-level list already (with its own reason): not fresh evidence; import the
    # list itself (suppression_list) for it.
    "OnAccountSuppressionList": EVENT_IGNORED,
}
# Other bounce types (Permanent is read through its subtype above).
BOUNCE_TYPES: dict[str, str] = {
    "Transient": "soft_bounce",  # provider label trusted: MailboxFull, MessageTooLarge, ContentRejected...
    "Undetermined": CLASSIFY,
}
# Complaints: RFC 5965 feedback types; `not-spam` withdraws a complaint.
COMPLAINT_FEEDBACK_IGNORED = ("notspam",)
# Event types that carry no suppression.
IGNORED_EVENTS = (
    "Send", "Open", "Click", "DeliveryDelay", "Reject", "Rendering Failure", "Subscription",
)

_EMAIL = r"[^\s\"'{}\[\],:;<>]+@[^\s\"'{}\[\],:;<>]+"
BOUNCE_WORDS = ("bounce", "complaint")


class SesAdapter(Adapter):
    name = "ses"
    description = "Amazon SES: suppression list (ListSuppressedDestinations JSON/CSV), import files (email,REASON CSV or NDJSON), event notifications"
    kinds = ("suppression_list", "import_csv", "import_ndjson", "events")

    def detect(self, probe: Probe) -> Match | None:
        named = any(w in probe.lname for w in ("ses", "suppressed", "suppression"))
        if probe.column("notificationType", "eventType") and (
            probe.has("mail.messageId") or probe.has("mail.source") or probe.has("bounce.bounceType")
        ):
            return Match("events", 90, "SES notification fields notificationType/eventType and mail.*")
        if not probe.has_header:
            return self._detect_headerless(probe)
        address = probe.column("EmailAddress", "emailAddress")
        reason = probe.column("Reason")
        if address is None or reason is None:
            return None
        share = _share_of(probe, reason, BOUNCE_WORDS)
        if probe.has("LastUpdateTime"):
            # LastUpdateTime is SES's own field: claim the file even when a value is unknown.
            return Match("suppression_list", 95 if share >= 0.8 else 75, "columns EmailAddress, Reason, LastUpdateTime")
        if share >= 0.8:
            kind = "import_ndjson" if probe.fmt in ("ndjson", "json") else "suppression_list"
            return Match(kind, 80 + 5 * named, f"columns {address}, {reason} with values BOUNCE/COMPLAINT")
        return None

    def _detect_headerless(self, probe: Probe) -> Match | None:
        if probe.fmt != "csv" or len(probe.columns) < 2:
            return None
        share = _share_of(probe, probe.columns[1], BOUNCE_WORDS)
        if share >= 0.8:
            return Match("import_csv", 75 + 5 * ("ses" in probe.lname), "no header; second column is BOUNCE/COMPLAINT")
        return None

    def map(self, frame: pl.LazyFrame, probe: Probe, match: Match, opts: MapOptions) -> pl.LazyFrame:
        if match.kind == "events":
            return _map_events(frame, probe)
        if match.kind == "import_csv":
            address, status = pl.col(probe.columns[0]), pl.col(probe.columns[1]).str.strip_chars()
        else:
            address = pl.col(probe.column("EmailAddress", "emailAddress"))
            status = pl.col(probe.column("Reason")).str.strip_chars()
        return mapped(
            frame,
            address=address,
            reason=lookup(status, REASONS),
            status=status,
            occurred=col(probe.column("LastUpdateTime")),
            detail=status,
        )


def _share_of(probe: Probe, column: str, words: tuple[str, ...]) -> float:
    """Share of the sample's non-empty values of `column` that are one of `words`."""
    if column not in probe.sample.columns:
        return 0.0
    values = probe.sample.select(norm_status(pl.col(column)).replace("", None).drop_nulls()).to_series()
    return float(values.is_in(list(words)).mean()) if values.len() else 0.0


def _map_events(frame: pl.LazyFrame, probe: Probe) -> pl.LazyFrame:
    """One row per recipient of each bounce, complaint or delivery record."""
    etype = pl.coalesce(col(probe.column("eventType")), col(probe.column("notificationType"))).str.strip_chars()
    bounce_type = col(probe.column("bounce.bounceType")).str.strip_chars()
    bounce_sub = _blank(col(probe.column("bounce.bounceSubType")))
    complaint_sub = col(probe.column("complaint.complaintSubType")).str.strip_chars()
    feedback = col(probe.column("complaint.complaintFeedbackType")).str.strip_chars()
    destination = _blank(col(probe.column("mail.destination")))
    # The reader flattens a list of recipient objects to text, `{"a@x","failed","5.1.1","smtp; 550 ..."},{...}`,
    # and a list of addresses to `a@x,b@y`. Cut it into one chunk per recipient object, so each
    # keeps its own SMTP status and diagnosticCode. Without recipients, a lone destination stands in.
    recipients = pl.coalesce(
        _blank(col(probe.column("bounce.bouncedRecipients"))),
        _blank(col(probe.column("complaint.complainedRecipients"))),
        _blank(col(probe.column("delivery.recipients"))),
        pl.when(~destination.str.contains(",")).then(destination),
    )
    frame = frame.with_columns(
        _etype=etype, _chunk=recipients.str.replace_all(r'\}\s*,\s*\{', "}\x1f{").str.split("\x1f")
    ).explode("_chunk")
    chunk = pl.col("_chunk")
    frame = frame.with_columns(
        _address=pl.when(chunk.str.starts_with("{"))
        .then(pl.concat_list([chunk.str.extract(f"({_EMAIL})", 1)]))  # the object's first field
        .otherwise(chunk.str.extract_all(_EMAIL))
    ).explode("_address")

    kind = norm_status(pl.col("_etype"))
    permanent = norm_status(bounce_type) == "permanent"
    rule = (
        pl.when(permanent & bounce_sub.is_null())
        .then(pl.lit(CLASSIFY))
        .when(permanent)
        .then(lookup(bounce_sub, PERMANENT_SUBTYPES))
        .otherwise(lookup(bounce_type, BOUNCE_TYPES))
    )
    bounce_reason = (
        pl.when(rule.is_null())
        .then(pl.lit(None, dtype=pl.String))  # a bounce type or subtype SES does not document
        .when(rule != CLASSIFY)
        .then(rule)
        .when(permanent)
        .then(classify(chunk, chunk, "hard_bounce"))
        .otherwise(classify(chunk, chunk, None))
    )
    complaint_withdrawn = (norm_status(complaint_sub) == "onaccountsuppressionlist") | norm_status(feedback).is_in(
        list(COMPLAINT_FEEDBACK_IGNORED)
    )
    ignored = (
        kind.is_in([norm_name(t) for t in IGNORED_EVENTS])
        | ((kind == "bounce") & (bounce_reason == EVENT_IGNORED))
        | ((kind == "complaint") & complaint_withdrawn)
    )
    reason = (
        pl.when(ignored)
        .then(pl.lit(None, dtype=pl.String))
        .when(kind == "bounce")
        .then(bounce_reason)
        .when(kind == "complaint")
        .then(pl.lit("spam_complaint"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    event = (
        pl.when(kind == "delivery")
        .then(pl.lit(EVENT_DELIVERED))
        .when(ignored)
        .then(pl.lit(EVENT_IGNORED))
        .otherwise(pl.lit(EVENT_SUPPRESSION))
    )
    status = (
        pl.when(kind == "bounce")
        .then(pl.concat_str([pl.col("_etype"), bounce_type, bounce_sub], separator="/", ignore_nulls=True))
        .when(kind == "complaint")
        .then(pl.concat_str([pl.col("_etype"), _blank(feedback), _blank(complaint_sub)], separator="/", ignore_nulls=True))
        .otherwise(pl.col("_etype"))
    )
    detail = pl.when(kind.is_in(["bounce", "complaint"])).then(
        pl.concat_str([status, chunk.str.strip_chars("{} ")], separator="; ", ignore_nulls=True)
    )
    occurred = pl.coalesce(
        *(col(probe.column(c)) for c in ("bounce.timestamp", "complaint.timestamp", "delivery.timestamp", "mail.timestamp"))
    )
    return mapped(
        frame,
        address=pl.col("_address"),
        reason=reason,
        status=status,
        scope=pl.when(reason == "unsubscribe").then(unsub_scope(None)),
        occurred=occurred,
        detail=detail,
        event=event,
    )


def _blank(expr: pl.Expr) -> pl.Expr:
    s = expr.str.strip_chars()
    return pl.when(s == "").then(None).otherwise(s)


ADAPTER = SesAdapter()
