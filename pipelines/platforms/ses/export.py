"""Amazon SES (v2): the account-level suppression list, its import files, and event notifications.

platform-formats section 5. Shapes:
- `import_csv`: the CreateImportJob CSV, headerless `email,REASON` (AWS's own example has a
  space after the comma);
- `import_ndjson`: the CreateImportJob JSON, one `{"emailAddress", "reason"}` object a line;
- `suppression_list`: ListSuppressedDestinations pages (`SuppressedDestinationSummaries` with
  `EmailAddress, Reason, LastUpdateTime`, epoch seconds possibly fractional) or their flattened CSV;
- `events`: SNS notifications / event-publishing records (`notificationType` or `eventType`,
  `bounce.*`, `complaint.*`, `mail.*`), one JSON object a line;
- `sns_events`: the same notifications still in their SNS envelope (an HTTP/SQS subscription's
  export): `{"Type": "Notification", "TopicArn", "Message": "<the notification as a JSON string>",
  "Timestamp", ...}`, NDJSON or a JSON array. The Message is decoded and mapped as `events`; the
  envelope's Timestamp (when SNS published) is not the event time and is not used. Envelopes that
  are not notifications (SubscriptionConfirmation...) are ignored rows; a Message that is not JSON
  quarantines its row (no address can be read from it).
"""
from __future__ import annotations

from collections.abc import Callable

import polars as pl

from pipelines.model import EVENT_DELIVERED, EVENT_IGNORED, EVENT_SUPPRESSION
from pipelines.normalize.smtp import classify
from pipelines.platforms.base import (
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
    "AmazonSnsSubscriptionSucceeded",  # SES's test message when a topic is set up: no mail
)
# Every notification field `_map_events` reads, named as the reader flattens an unwrapped record.
EVENT_FIELDS = (
    "eventType", "notificationType",
    "bounce.bounceType", "bounce.bounceSubType", "bounce.bouncedRecipients", "bounce.timestamp",
    "complaint.complaintSubType", "complaint.complaintFeedbackType", "complaint.complainedRecipients",
    "complaint.timestamp", "delivery.recipients", "delivery.timestamp", "mail.destination", "mail.timestamp",
)
# Types written into an SNS row's event type where its Message cannot be mapped (quarantined).
SNS_NO_MESSAGE = "Notification: no Message"
SNS_NOT_JSON = "Notification: Message is not valid JSON"
SNS_NOT_SES = "Notification: Message is not an SES notification"

_EMAIL = r"[^\s\"'{}\[\],:;<>]+@[^\s\"'{}\[\],:;<>]+"
BOUNCE_WORDS = ("bounce", "complaint")


class SesAdapter(Adapter):
    name = "ses"
    description = (
        "Amazon SES: suppression list (ListSuppressedDestinations JSON/CSV), import files "
        "(email,REASON CSV or NDJSON), event notifications (bare, or in their SNS envelope)"
    )
    kinds = ("suppression_list", "import_csv", "import_ndjson", "events", "sns_events")

    def detect(self, probe: Probe) -> Match | None:
        named = any(w in probe.lname for w in ("ses", "suppressed", "suppression"))
        if probe.column("notificationType", "eventType") and (
            probe.has("mail.messageId") or probe.has("mail.source") or probe.has("bounce.bounceType")
        ):
            return Match("events", 90, "SES notification fields notificationType/eventType and mail.*")
        if probe.has("Type", "Message") and (probe.has("TopicArn") or probe.has("MessageId")):
            if (found := self._detect_sns(probe)) is not None:
                return found
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

    def _detect_sns(self, probe: Probe) -> Match | None:
        """SNS envelopes are anyone's: claim them only when a sampled Message is an SES notification."""
        message = probe.column("Message")
        if message not in probe.sample.columns:
            return None
        msg = pl.col(message)
        types = probe.sample.select(
            pl.coalesce(msg.str.json_path_match("$.eventType"), msg.str.json_path_match("$.notificationType"))
        ).to_series()
        known = {norm_name(t) for t in ("Bounce", "Complaint", "Delivery", *IGNORED_EVENTS)}
        found = sorted(set(types.drop_nulls().to_list()))
        if not any(norm_name(t) in known for t in found):
            return None
        return Match("sns_events", 90,
                     f"SNS envelopes (Type, Message) holding SES notifications ({', '.join(found[:4])})")

    def _detect_headerless(self, probe: Probe) -> Match | None:
        if probe.fmt != "csv" or len(probe.columns) < 2:
            return None
        share = _share_of(probe, probe.columns[1], BOUNCE_WORDS)
        if share >= 0.8:
            return Match("import_csv", 75 + 5 * ("ses" in probe.lname), "no header; second column is BOUNCE/COMPLAINT")
        return None

    def map(self, frame: pl.LazyFrame, probe: Probe, match: Match, opts: MapOptions) -> pl.LazyFrame:
        if match.kind == "events":
            return _map_events(frame, lambda name: col(probe.column(name)))
        if match.kind == "sns_events":
            return _map_sns_events(frame, probe)
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


def _map_sns_events(frame: pl.LazyFrame, probe: Probe) -> pl.LazyFrame:
    """Decode each envelope's Message into the fields an unwrapped record has, then map as events.

    Parsing is the cost here (the whole Message per path), so each row parses its Message for its
    type and its one event object (bounce, complaint or delivery), and `mail` only where the event
    object lacks a time or recipients; the small fields come out of those objects.
    """
    envelope = _blank(col(probe.column("Type")))
    # A row without a Type is read as a notification too: evidence is never dropped unread.
    notification = envelope.is_null() | (norm_status(envelope) == "notification")
    message = pl.when(notification).then(_blank(col(probe.column("Message"))))
    frame = frame.with_columns(_msg=message, _ignored=~notification).with_columns(
        _type=pl.col("_msg").str.json_path_match("$.notificationType")
    ).with_columns(
        _type=pl.coalesce(pl.when(pl.col("_type").is_null()).then(pl.col("_msg")).str.json_path_match("$.eventType"),
                          pl.col("_type")).str.strip_chars()
    )
    kind = norm_status(pl.col("_type"))
    objects = {"bounce": kind == "bounce", "complaint": kind == "complaint", "delivery": kind == "delivery"}
    frame = frame.with_columns(
        pl.when(is_kind).then(pl.col("_msg")).str.json_path_match(f"$.{name}").alias(f"_{name}")
        for name, is_kind in objects.items()
    )
    frame = frame.with_columns(**{name: _inner(name) for name in EVENT_FIELDS if name.split(".")[0] in objects})
    has_time = pl.any_horizontal(pl.col(f"{name}.timestamp").is_not_null() for name in objects)
    has_recipients = pl.any_horizontal(pl.col(c).is_not_null() for c in (
        "bounce.bouncedRecipients", "complaint.complainedRecipients", "delivery.recipients"))
    frame = frame.with_columns(
        _mail=pl.when(pl.col("_type").is_not_null() & ~(has_time & has_recipients)).then(pl.col("_msg"))
        .str.json_path_match("$.mail")
    ).with_columns(**{name: _inner(name) for name in ("mail.destination", "mail.timestamp")})
    # Rows whose Message says nothing mappable keep a type that says why (quarantined: no address).
    # Only untyped Messages are parsed again, to tell invalid JSON from JSON that is not SES's.
    readable = pl.when(pl.col("_type").is_null()).then(pl.col("_msg")).str.json_path_match("$").is_not_null()
    frame = frame.with_columns(
        eventType=pl.when(~notification)
        .then(envelope)
        .when(pl.col("_type").is_not_null())
        .then(pl.col("_type"))
        .when(pl.col("_msg").is_null())
        .then(pl.lit(SNS_NO_MESSAGE))
        .when(readable)
        .then(pl.lit(SNS_NOT_SES))
        .otherwise(pl.lit(SNS_NOT_JSON))
    )
    null = pl.lit(None, dtype=pl.String)
    # `eventType` now holds the type whichever key the Message used: no separate notificationType.
    field = lambda name: pl.col(name) if name in EVENT_FIELDS and name != "notificationType" else null  # noqa: E731
    return _map_events(frame, field, ignored_rows=pl.col("_ignored"))


def _inner(name: str) -> pl.Expr:
    """`bounce.bounceType` out of the decoded `_bounce` object."""
    top, rest = name.split(".", 1)
    return pl.col(f"_{top}").str.json_path_match(f"$.{rest}")


def _map_events(
    frame: pl.LazyFrame, field: Callable[[str], pl.Expr], ignored_rows: pl.Expr | None = None
) -> pl.LazyFrame:
    """One row per recipient of each bounce, complaint or delivery record.

    `field(name)` is the column holding a notification field (`bounce.bounceType`), null where the
    records lack it; `ignored_rows` marks rows that are no notification at all (an SNS control
    message), counted as ignored.
    """
    etype = pl.coalesce(field("eventType"), field("notificationType")).str.strip_chars()
    bounce_type = field("bounce.bounceType").str.strip_chars()
    bounce_sub = _blank(field("bounce.bounceSubType"))
    complaint_sub = field("complaint.complaintSubType").str.strip_chars()
    feedback = field("complaint.complaintFeedbackType").str.strip_chars()
    destination = _blank(field("mail.destination"))
    # The reader flattens a list of recipient objects to text, `{"a@x","failed","5.1.1","smtp; 550 ..."},{...}`,
    # and a list of addresses to `a@x,b@y`. Cut it into one chunk per recipient object, so each
    # keeps its own SMTP status and diagnosticCode. Without recipients, a lone destination stands in.
    recipients = pl.coalesce(
        _blank(field("bounce.bouncedRecipients")),
        _blank(field("complaint.complainedRecipients")),
        _blank(field("delivery.recipients")),
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
        (ignored_rows if ignored_rows is not None else pl.lit(False))
        | kind.is_in([norm_name(t) for t in IGNORED_EVENTS])
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
    # The event's own time, else the mail's; nothing else (an export or envelope time is not the event's).
    occurred = pl.coalesce(
        *(field(c) for c in ("bounce.timestamp", "complaint.timestamp", "delivery.timestamp", "mail.timestamp"))
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
