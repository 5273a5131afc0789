"""ActiveCampaign exports (platform-formats section 9).

| kind | shape | records |
| --- | --- | --- |
| contacts | API v3 contacts (`GET /api/3/contacts` JSON, or flattened to CSV one row per contact and list): `email, bounced_hard, bounced_soft, bounced_date[, list_id, list_status, unsubreason, udate]` | one per bounce counter set and per list status that suppresses, else one ignored |
| contacts_export | UI contact export `Email, First Name, Last Name, Phone, Tags, Date Created, IP, Status` | by `Status` |

The API writes numbers as strings (`"bounced_hard": "0"`) and unknown dates as zero dates
(`0000-00-00`, `0000-00-00 00:00:00`), which are times unknown, not errors. Counters: bounced_hard
> 0 -> hard_bounce; bounced_soft > 0 -> soft_bounce carrying the count (the previous platform's
soft-bounce counter state); both timed by `bounced_date`. A counter that is no number is not
guessed (reason null, quarantined).

Per-list status (`contactLists.status`): 1 active and 0 unconfirmed carry no suppression, 2
unsubscribed -> unsubscribe from `list:<list id>` (timed by the list's `udate`, the unsubscribe
date; `unsubreason` kept), 3 bounced -> hard_bounce (a bounce is about the address, not the list).
Any other value is quarantined; an empty status next to a list id is no information.

UI `Status`: Active / Unconfirmed -> ignored, Unsubscribed -> unsubscribe (marketing), Bounced ->
hard_bounce.
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
    record_per_entry,
    unsub_scope,
)

IGNORED = "ignored"  # vocabulary value: a status that carries no suppression

LIST_STATUSES: dict[str, str | None] = {
    "0": IGNORED,  # unconfirmed
    "1": IGNORED,  # active / subscribed
    "2": "unsubscribe",
    "3": "hard_bounce",  # bounced
}
EXPORT_STATUSES: dict[str, str | None] = {
    "Active": IGNORED,
    "Unconfirmed": IGNORED,
    "Unsubscribed": "unsubscribe",
    "Bounced": "hard_bounce",
}

COUNTERS = ("bounced_hard", "bounced_soft")
LIST_ID_COLUMNS = ("list_id", "listid", "list")
LIST_STATUS_COLUMNS = ("list_status", "contactlist_status")
LIST_DATE_COLUMNS = ("list_udate", "udate")
# Columns of an API contact object: each one makes detection surer.
API_MARKERS = ("cdate", "udate", "adate", "edate", "hash", "orgid", "bounced_date", "deleted", "anonymized")
# Columns of the UI contact export besides Email and Status.
EXPORT_MARKERS = ("First Name", "Last Name", "Phone", "Tags", "Date Created", "IP", "Organization")

_NAMED = re.compile(r"active[\s_-]?campaign")


def _blank_to_null(expr: pl.Expr) -> pl.Expr:
    s = expr.str.strip_chars()
    return pl.when(s == "").then(None).otherwise(s)


def _share(probe: Probe, column: str | None, known: set[str]) -> float:
    """Share of the sample's distinct non-empty values (normalized) that are known; 0 when none."""
    values = set(probe.values(column).to_list()) - {""}
    return len(values & known) / len(values) if values else 0.0


def _counter(column: str | None) -> tuple[pl.Expr, pl.Expr]:
    """(raw value, integer or null) of a counter column; `"1"`, `1.0` and ` 2 ` are numbers."""
    raw = _blank_to_null(col(column))
    return raw, raw.str.replace(r"\.0+$", "").cast(pl.Int64, strict=False)


def _entry(keep: pl.Expr, reason: pl.Expr, status: pl.Expr, scope: pl.Expr, occurred: pl.Expr,
           detail: pl.Expr, count: pl.Expr) -> pl.Expr:
    return pl.struct(
        keep=keep.fill_null(False),
        reason=reason.cast(pl.String),
        status=status.cast(pl.String),
        scope=scope.cast(pl.String),
        occurred=occurred.cast(pl.String),
        detail=detail.cast(pl.String),
        count=count.cast(pl.Int64),
    )


class ActiveCampaignAdapter(Adapter):
    name = "activecampaign"
    description = (
        "ActiveCampaign contacts (API v3 JSON or flattened CSV: bounced_hard / bounced_soft counters, "
        "per-list status as list:<id>) and the UI contact export (Status)"
    )
    kinds = ("contacts", "contacts_export")

    def detect(self, probe: Probe) -> Match | None:
        named = bool(_NAMED.search(probe.lname))
        email = probe.column("email")
        if email is None:
            return None
        markers = [m for m in API_MARKERS if probe.has(m)]
        counters = [c for c in COUNTERS if probe.has(c)]
        if counters:
            score = min(95, 85 + 3 * len(markers) + 5 * named)
            return Match("contacts", score, f"ActiveCampaign contact columns {', '.join(counters + markers[:3])}")
        if probe.column(*LIST_STATUS_COLUMNS) and probe.column(*LIST_ID_COLUMNS):
            if _share(probe, probe.column(*LIST_STATUS_COLUMNS), set(LIST_STATUSES)) < 0.5:
                return None
            extra = [c for c in ("unsubreason", "sdate", "udate") if probe.has(c)]
            score = min(90, 70 + 5 * len(extra) + 3 * len(markers) + 10 * named)
            return Match("contacts", score, "columns email, list_id, list_status (ActiveCampaign list statuses 0-3)"
                         + "".join(f", {c}" for c in extra))
        status = probe.column("Status")
        if status is not None and probe.fmt == "csv":
            known = {norm_name(k) for k in EXPORT_STATUSES}
            ui_markers = [m for m in EXPORT_MARKERS if probe.has(m)]
            if _share(probe, status, known) >= 0.8 and (named or len(ui_markers) >= 4):
                score = min(85, 55 + 4 * len(ui_markers) + 15 * named)
                return Match("contacts_export", score, "ActiveCampaign contact export (Email, Status"
                             + "".join(f", {m}" for m in ui_markers) + ")")
        return None

    def map(self, frame: pl.LazyFrame, probe: Probe, match: Match, opts: MapOptions) -> pl.LazyFrame:
        address = pl.col(probe.column("email"))
        if match.kind == "contacts_export":
            status = _blank_to_null(pl.col(probe.column("Status")))
            vocab = lookup(status, EXPORT_STATUSES)
            ignored = vocab == IGNORED
            reason = pl.when(ignored).then(None).otherwise(vocab)
            return mapped(
                frame,
                address=address,
                reason=reason,
                status=status,
                scope=pl.when(reason == "unsubscribe").then(unsub_scope(None)),
                detail=pl.lit("Status: ") + status,
                event=event_unless_ignored(ignored),
            )
        return self._map_contacts(frame, probe, address)

    def _map_contacts(self, frame: pl.LazyFrame, probe: Probe, address: pl.Expr) -> pl.LazyFrame:
        none = pl.lit(None, dtype=pl.String)
        no_count = pl.lit(None, dtype=pl.Int64)
        bounced_at = _blank_to_null(col(probe.column("bounced_date")))
        entries = []
        for name, reason in (("bounced_hard", "hard_bounce"), ("bounced_soft", "soft_bounce")):
            column = probe.column(name)
            if column is None:
                continue
            raw, number = _counter(column)
            not_a_number = raw.is_not_null() & number.is_null()
            entries.append(_entry(
                keep=(number > 0) | not_a_number,
                reason=pl.when(not_a_number).then(none).otherwise(pl.lit(reason)),
                status=pl.lit(f"{name}=") + raw,
                scope=none,
                occurred=bounced_at,
                detail=pl.lit(f"{name}: ") + raw,
                count=number if reason == "soft_bounce" else no_count,
            ))
        list_status_col, list_id_col = probe.column(*LIST_STATUS_COLUMNS), probe.column(*LIST_ID_COLUMNS)
        if list_status_col is not None:
            status = _blank_to_null(pl.col(list_status_col)).str.replace(r"\.0+$", "")
            list_id = _blank_to_null(col(list_id_col))
            vocab = lookup(status, LIST_STATUSES)
            reason = pl.when(vocab == IGNORED).then(none).otherwise(vocab)
            unsubreason = _blank_to_null(col(probe.column("unsubreason")))
            entries.append(_entry(
                # An empty status is no information only where the row names a list.
                keep=(vocab.is_null() & (status.is_not_null() | list_id.is_not_null())) | (vocab != IGNORED),
                reason=reason,
                status=status,
                scope=pl.when(reason == "unsubscribe").then(unsub_scope(list_id)).otherwise(none),
                occurred=pl.when(reason == "hard_bounce").then(pl.coalesce(bounced_at, _blank_to_null(
                    col(probe.column(*LIST_DATE_COLUMNS))))).otherwise(_blank_to_null(col(probe.column(*LIST_DATE_COLUMNS)))),
                detail=pl.concat_str([pl.lit("list ") + list_id, pl.lit("status ") + status, unsubreason],
                                     separator="; ", ignore_nulls=True),
                count=no_count,
            ))
        nothing = _entry(pl.lit(True), none, none, none, none, none, no_count)
        rows = record_per_entry(frame, entries, nothing, _address=address)
        return mapped(
            rows,
            address=pl.col("_address"),
            reason=pl.col("reason"),
            status=pl.col("status"),
            scope=pl.col("scope"),
            occurred=pl.col("occurred"),
            detail=pl.col("detail"),
            event=event_unless_ignored(pl.col("_ignored")),
            bounce_count=pl.col("count"),
        )


ADAPTER = ActiveCampaignAdapter()
