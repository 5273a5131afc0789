"""Campaign Monitor (createsend) exports (platform-formats section 11): API JSON pages
(`{"Results": [...], "PageNumber": ...}`, the reader keeps `Results`) or the same columns as CSV.

| kind | columns | mapping |
| --- | --- | --- |
| suppression_list | EmailAddress, SuppressionReason, Date, State | Unsubscribed -> unsubscribe (marketing), Bounced -> hard_bounce, Marked as Spam / Spam Complaint -> spam_complaint, Suppressed (added by hand) -> manual |
| list_states | EmailAddress, Name, Date or StateChangedDate, State (lists/{id}/unsubscribed, bounced, deleted) | Unsubscribed -> unsubscribe `list:<id>` (id from a ListID column or the file name, else marketing), Deleted (removed from the list by the account) -> unsubscribe, scoped the same way, Bounced -> hard_bounce, Active/Unconfirmed -> ignored |
| campaign_bounces | EmailAddress, ListID, BounceType, Date, Reason | Hard -> hard_bounce, Soft -> soft_bounce; the Reason text kept as detail |

The client suppression list is client-wide, so its unsubscribes block marketing mail. Values carry
trailing spaces in CM's own fixtures (`Bounce - But No Email Address Returned `): statuses are
matched normalized, and the normalizer strips the rest. Dates are `YYYY-MM-DD HH:MM:SS` without a zone.
"""
from __future__ import annotations

import re

import polars as pl

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

IGNORED = "ignored"  # vocabulary value: the row says the address is fine

# Client suppression list `SuppressionReason`: the UI words, and the one API string seen (Unsubscribed).
SUPPRESSION_REASONS: dict[str, str | None] = {
    "Unsubscribed": "unsubscribe",
    "Bounced": "hard_bounce",
    "Marked as Spam": "spam_complaint",
    "Spam Complaint": "spam_complaint",
    "Suppressed": "manual",  # added to the suppression list by hand
}
# Spellings only Campaign Monitor uses (Postmark dumps share the column name SuppressionReason).
CM_ONLY_REASONS = frozenset(norm_name(k) for k in ("Unsubscribed", "Bounced", "Marked as Spam", "Suppressed"))

# Subscriber `State` on a list.
LIST_STATES: dict[str, str | None] = {
    "Unsubscribed": "unsubscribe",
    "Bounced": "hard_bounce",
    # Removed from this list by the account: not mailed by it again, nothing said about the address or other mail.
    "Deleted": "unsubscribe",
    "Active": IGNORED,
    "Unconfirmed": IGNORED,  # double opt-in pending: not a suppression either way
}

BOUNCE_TYPES: dict[str, str | None] = {"Hard": "hard_bounce", "Soft": "soft_bounce"}

ADDRESS_COLUMNS = ("EmailAddress", "Email Address")
# Columns of a list subscriber object; each one makes detection surer.
SUBSCRIBER_MARKERS = ("Name", "Date", "StateChangedDate", "ListJoinedDate", "ReadsEmailWith", "CustomFields")

_NAMED = re.compile(r"campaign[\s_-]?monitor|createsend")
_SUPPRESSION_NAME = re.compile(r"suppression[\s_-]?list")
# List ids are 32 hex characters (`654523a5855b4a440bae3fb295641546`).
_LIST_ID = re.compile(r"(?<![0-9a-z])([0-9a-f]{32})(?![0-9a-z])")


def list_id_from_name(name: str) -> str | None:
    """The list id a list-state export's file name carries, if any."""
    found = _LIST_ID.search(name.lower())
    return found.group(1) if found else None


def _known_share(probe: Probe, column: str | None, vocabulary: dict[str, str | None]) -> tuple[float, set[str]]:
    """Share of the sample's distinct values of `column` in the vocabulary, and those values."""
    values = set(probe.values(column).to_list()) - {""}
    if not values:
        return 0.0, values
    keys = {norm_name(k) for k in vocabulary}
    return len(values & keys) / len(values), values


def _blank_to_null(expr: pl.Expr) -> pl.Expr:
    s = expr.str.strip_chars()
    return pl.when(s == "").then(None).otherwise(s)


class CampaignMonitorAdapter(Adapter):
    name = "campaignmonitor"
    description = (
        "Campaign Monitor client suppression list, list unsubscribed/bounced/deleted subscribers and "
        "campaign bounces; API JSON or CSV"
    )
    kinds = ("suppression_list", "list_states", "campaign_bounces")

    def detect(self, probe: Probe) -> Match | None:
        if probe.column(*ADDRESS_COLUMNS) is None:
            return None
        named = bool(_NAMED.search(probe.lname))
        if probe.has("SuppressionReason"):
            if probe.has("Origin"):
                return None  # Postmark's suppression dump
            share, values = _known_share(probe, probe.column("SuppressionReason"), SUPPRESSION_REASONS)
            if share < 0.8:
                return None
            cm_only = bool(values & CM_ONLY_REASONS)
            score = 80 + 10 * probe.has("State") + 5 * cm_only + 5 * (named or bool(_SUPPRESSION_NAME.search(probe.lname)))
            why = "columns EmailAddress, SuppressionReason" + (", State" if probe.has("State") else "")
            return Match("suppression_list", min(95, score), why + (" with Campaign Monitor reasons" if cm_only else ""))
        if probe.has("BounceType"):
            share, _ = _known_share(probe, probe.column("BounceType"), BOUNCE_TYPES)
            if share < 0.5:
                return None
            score = 85 + 5 * probe.has("Reason") + 5 * (probe.has("ListID") or named)
            return Match("campaign_bounces", min(95, score), "columns EmailAddress, BounceType (Hard/Soft)")
        if probe.has("State"):
            share, _ = _known_share(probe, probe.column("State"), LIST_STATES)
            if share < 0.8:
                return None
            markers = [m for m in SUBSCRIBER_MARKERS if probe.has(m)]
            score = 70 + 5 * len(markers) + 5 * (named or list_id_from_name(probe.name) is not None)
            return Match(
                "list_states", min(95, score),
                "columns EmailAddress, State (Unsubscribed/Bounced/Deleted/Active)" + "".join(f", {m}" for m in markers),
            )
        return None

    def map(self, frame: pl.LazyFrame, probe: Probe, match: Match, opts: MapOptions) -> pl.LazyFrame:
        address = pl.col(probe.column(*ADDRESS_COLUMNS))
        if match.kind == "suppression_list":
            status = pl.col(probe.column("SuppressionReason")).str.strip_chars()
            reason = lookup(status, SUPPRESSION_REASONS)
            return mapped(
                frame,
                address=address,
                reason=reason,
                status=status,
                scope=pl.when(reason == "unsubscribe").then(unsub_scope(None)),
                occurred=col(probe.column("Date")),
                detail=status,
            )
        if match.kind == "campaign_bounces":
            status = pl.col(probe.column("BounceType")).str.strip_chars()
            text = _blank_to_null(col(probe.column("Reason")))
            return mapped(
                frame,
                address=address,
                reason=lookup(status, BOUNCE_TYPES),
                status=status,
                occurred=col(probe.column("Date")),
                detail=pl.concat_str([status, text], separator=": ", ignore_nulls=True),
            )
        return self._map_list_states(frame, probe, address)

    def _map_list_states(self, frame: pl.LazyFrame, probe: Probe, address: pl.Expr) -> pl.LazyFrame:
        status = pl.col(probe.column("State")).str.strip_chars()
        vocab = lookup(status, LIST_STATES)
        ignored = vocab == IGNORED
        reason = pl.when(ignored).then(None).otherwise(vocab)
        list_col = probe.column("ListID")
        from_name = list_id_from_name(probe.name)
        list_id = pl.coalesce(
            _blank_to_null(col(list_col)) if list_col else pl.lit(None, dtype=pl.String),
            pl.lit(from_name, dtype=pl.String),
        )
        occurred = pl.coalesce(
            _blank_to_null(col(probe.column("StateChangedDate"))), _blank_to_null(col(probe.column("Date")))
        )
        return mapped(
            frame,
            address=address,
            reason=reason,
            status=status,
            scope=pl.when(reason == "unsubscribe").then(unsub_scope(list_id)),
            occurred=occurred,
            detail=pl.concat_str([status, pl.lit("list ") + list_id], separator="; ", ignore_nulls=True),
            event=event_unless_ignored(ignored),
        )


ADAPTER = CampaignMonitorAdapter()
