"""Twilio SMS opt-outs: reconstructed opt-out files and message logs.

platform-formats section 14. Twilio has no API that lists its opt-out blocks, so they are
rebuilt from what customers can export:
- `opt_outs`: `phone,sender,keyword,received_at`, one row per STOP already found;
- `messages`: message logs (console CSV, API JSON, webhook logs): an inbound message is an
  opt-out only when its WHOLE body, trimmed, is an opt-out keyword (case-insensitive), or when
  Advanced Opt-Out tagged it `OptOutType=STOP`. An outbound message refused with error 21610
  ("the customer has replied with STOP") proves the recipient's opt-out too.
Opt-outs are per sender in Twilio; the sender goes into `detail`, the scope is marketing.
Opt-in (START...) and help keywords never lift anything: those rows are ignored.
"""
from __future__ import annotations

import polars as pl

from pipelines.model import EVENT_IGNORED, EVENT_SUPPRESSION
from pipelines.platforms.base import Adapter, MapOptions, Match, Probe, col, mapped, norm_status, unsub_scope

# Twilio's default English opt-out keywords (long codes, toll-free, short codes).
OPT_OUT_KEYWORDS = ("STOP", "STOPALL", "UNSUBSCRIBE", "END", "QUIT", "REVOKE", "OPTOUT", "CANCEL")
# Opt-in and help keywords: recorded as read, never a suppression, never a lift.
OPT_IN_KEYWORDS = ("START", "YES", "UNSTOP")
HELP_KEYWORDS = ("HELP", "INFO")
# Advanced Opt-Out's OptOutType values.
OPT_OUT_TYPES: dict[str, str] = {"STOP": "unsubscribe", "START": EVENT_IGNORED, "HELP": EVENT_IGNORED}
# Error on an outbound message whose recipient had replied STOP.
OPTED_OUT_ERROR = "21610"

PHONE_COLUMNS = ("phone", "phone_number", "number", "msisdn", "recipient")
SENDER_COLUMNS = ("sender", "from_number", "messaging_service_sid", "twilio_number")
TIME_COLUMNS = (
    "received_at", "DateSent", "SentDate", "date_sent", "Date Sent", "DateCreated", "date_created",
    "DateUpdated", "Timestamp", "ReceivedAt",
)
# Columns of Twilio message resources and console exports; each one makes detection surer.
MESSAGE_MARKERS = ("Direction", "AccountSid", "Sid", "MessageSid", "NumSegments", "ErrorCode", "OptOutType", "ApiVersion")


def _trimmed_upper(expr: pl.Expr) -> pl.Expr:
    return expr.str.strip_chars().str.to_uppercase()


def body_verdict(body: pl.Expr) -> pl.Expr:
    """A message body: `unsubscribe` when the WHOLE body, trimmed, is an opt-out keyword, else `ignored`."""
    w = _trimmed_upper(body.fill_null(""))
    return pl.when(w.is_in(list(OPT_OUT_KEYWORDS))).then(pl.lit("unsubscribe")).otherwise(pl.lit(EVENT_IGNORED))


def keyword_verdict(keyword: pl.Expr) -> pl.Expr:
    """A `keyword` column: opt-out -> `unsubscribe`, opt-in/help -> `ignored`, anything else null (quarantined)."""
    w = _trimmed_upper(keyword)
    return (
        pl.when(w.is_in(list(OPT_OUT_KEYWORDS)))
        .then(pl.lit("unsubscribe"))
        .when(w.is_in([*OPT_IN_KEYWORDS, *HELP_KEYWORDS]))
        .then(pl.lit(EVENT_IGNORED))
        .otherwise(pl.lit(None, dtype=pl.String))
    )


class TwilioAdapter(Adapter):
    name = "twilio"
    description = "Twilio SMS opt-outs: phone,sender,keyword,received_at files and message logs (STOP keywords, OptOutType, error 21610)"
    kinds = ("opt_outs", "messages")

    def detect(self, probe: Probe) -> Match | None:
        named = 5 * ("twilio" in probe.lname)
        if probe.column(*PHONE_COLUMNS) and probe.has("keyword"):
            extra = [c for c in ("sender", "received_at") if probe.has(c)]
            return Match("opt_outs", min(95, 80 + 5 * len(extra) + named), "columns phone, keyword" + "".join(f", {c}" for c in extra))
        if probe.has("From", "To", "Body") and _mostly_phones(probe, probe.column("From")):
            markers = [m for m in MESSAGE_MARKERS if probe.has(m)]
            has_time = probe.column(*TIME_COLUMNS) is not None
            score = 70 + 5 * min(len(markers), 3) + 5 * has_time + named
            return Match("messages", min(95, score), "message log columns From, To, Body" + "".join(f", {m}" for m in markers))
        return None

    def map(self, frame: pl.LazyFrame, probe: Probe, match: Match, opts: MapOptions) -> pl.LazyFrame:
        if match.kind == "opt_outs":
            keyword = pl.col(probe.column("keyword"))
            return self._rows(
                frame,
                address=pl.col(probe.column(*PHONE_COLUMNS)),
                verdict=keyword_verdict(keyword),
                status=keyword.str.strip_chars(),
                sender=col(probe.column(*SENDER_COLUMNS)),
                occurred=_first_time(probe),
            )
        return self._messages(frame, probe)

    def _messages(self, frame: pl.LazyFrame, probe: Probe) -> pl.LazyFrame:
        sender, recipient, body = (pl.col(probe.column(c)) for c in ("From", "To", "Body"))
        direction = norm_status(col(probe.column("Direction"))).fill_null("inbound")
        inbound = ~direction.str.starts_with("outbound")
        opted_out_error = col(probe.column("ErrorCode")).str.strip_chars().str.replace(r"\.0$", "") == OPTED_OUT_ERROR
        opt_out_type = _trimmed_upper(col(probe.column("OptOutType")))
        has_type = opt_out_type.is_not_null() & (opt_out_type != "")
        by_type = opt_out_type.replace_strict(OPT_OUT_TYPES, default=None, return_dtype=pl.String)
        verdict = (
            pl.when(inbound & has_type)
            .then(by_type)  # an unknown OptOutType stays null: quarantined, not guessed
            .when(inbound)
            .then(body_verdict(body))
            .when(opted_out_error.fill_null(False))
            .then(pl.lit("unsubscribe"))
            .otherwise(pl.lit(EVENT_IGNORED))
        )
        status = (
            pl.when(inbound & has_type)
            .then(opt_out_type)
            .when(inbound)
            .then(body.str.strip_chars())
            .otherwise(pl.lit("error ") + col(probe.column("ErrorCode")))
        )
        # Inbound: the customer's number sent it to the sender. Outbound 21610: the other way round.
        return self._rows(
            frame,
            address=pl.when(inbound).then(sender).otherwise(recipient),
            verdict=verdict,
            status=status,
            sender=pl.when(inbound).then(recipient).otherwise(sender),
            occurred=_first_time(probe),
        )

    @staticmethod
    def _rows(frame, *, address, verdict, status, sender, occurred) -> pl.LazyFrame:
        ignored = verdict == EVENT_IGNORED
        return mapped(
            frame,
            address=address,
            reason=pl.when(ignored).then(None).otherwise(verdict),
            status=status,
            channel="sms",
            scope=pl.when(verdict == "unsubscribe").then(unsub_scope(None)),
            occurred=occurred,
            detail=sender.str.strip_chars(),
            event=pl.when(ignored.fill_null(False)).then(pl.lit(EVENT_IGNORED)).otherwise(pl.lit(EVENT_SUPPRESSION)),
        )


def _first_time(probe: Probe) -> pl.Expr:
    """The first non-empty time among the time columns present (an undelivered message has no DateSent)."""
    present = list(dict.fromkeys(c for c in (probe.column(t) for t in TIME_COLUMNS) if c is not None))
    if not present:
        return pl.lit(None, dtype=pl.String)
    return pl.coalesce([pl.when(pl.col(c).str.strip_chars() != "").then(pl.col(c)) for c in present])


def _mostly_phones(probe: Probe, column: str) -> bool:
    """Whether the sample's senders look like phone numbers (or Twilio channel addresses), not emails."""
    values = probe.sample.get_column(column).drop_nulls()
    return values.len() > 0 and values.str.contains(r"^\s*(\w+:)?\+?[\d\s().-]{6,}\s*$").mean() >= 0.5


ADAPTER = TwilioAdapter()
