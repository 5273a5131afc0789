"""Mailchimp audience exports (platform-formats section 1).

- UI export: a zip of one CSV per member status, in two file-name generations
  (`cleaned_members_export_<id>.csv`, `cleaned_email_audience_export_<id>.csv`, ...). The status
  is carried by the file name, not by a column; users rename files (spaces, Title Case).
  Columns are matched by header name: `Email Address` is not always first.
- Legacy export API 1.0: NDJSON arrays (the reader turns them into the same columns).
- Marketing API v3 `members` JSON, with a `status` per member.

cleaned -> hard_bounce; unsubscribed -> unsubscribe for that audience (`list:<audience id>`);
subscribed, non-subscribed, SMS-only, pending, transactional and archived members are read but
never suppressed (event `ignored`).
"""
from __future__ import annotations

import re

import polars as pl

from pipelines.model import EVENT_IGNORED, EVENT_SUPPRESSION
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

# `unsubscribed`/`nonsubscribed` contain `subscribed`: the prefix is matched from the start only.
_FILE_NAME = re.compile(
    r"^(?P<status>cleaned|unsubscribed|nonsubscribed|subscribed|sms_only)_"
    r"(?:members_export|email_audience_export|audience_export)(?:_(?P<id>[0-9a-z]+))?(?:[_.(]|$)"
)
# Audience (list) ids are 10 lowercase hex characters (all digits would rather be a date or epoch).
_LIST_ID = re.compile(r"(?<![0-9a-z])(?=[0-9]*[a-f])([0-9a-f]{10})(?![0-9a-z])")

ADDRESS_HEADERS = ("Email Address", "Email", "E-mail Address", "E-mail", "email_address", "Email address")
PHONE_HEADERS = ("SMS Phone Number", "Phone Number", "SMS Phone", "Phone")

# System columns Mailchimp appends after the merge fields; three or more make a file Mailchimp's.
SYSTEM_COLUMNS = frozenset(
    norm_name(c)
    for c in (
        "MEMBER_RATING", "OPTIN_TIME", "OPTIN_IP", "CONFIRM_TIME", "CONFIRM_IP", "LAST_CHANGED", "LEID", "EUID",
        "CLEAN_TIME", "CLEAN_CAMPAIGN_TITLE", "CLEAN_CAMPAIGN_ID", "UNSUB_TIME", "UNSUB_CAMPAIGN_TITLE",
        "UNSUB_CAMPAIGN_ID", "UNSUB_REASON", "UNSUB_REASON_OTHER", "GMTOFF", "DSTOFF",
    )
)

# What each export kind means: (reason, event, time columns in order of preference).
FILE_KINDS: dict[str, tuple[str | None, str, tuple[str, ...]]] = {
    "cleaned": ("hard_bounce", EVENT_SUPPRESSION, ("CLEAN_TIME", "LAST_CHANGED")),
    "unsubscribed": ("unsubscribe", EVENT_SUPPRESSION, ("UNSUB_TIME", "LAST_CHANGED")),
    "subscribed": (None, EVENT_IGNORED, ("LAST_CHANGED", "CONFIRM_TIME", "OPTIN_TIME")),
    "nonsubscribed": (None, EVENT_IGNORED, ("LAST_CHANGED", "CONFIRM_TIME", "OPTIN_TIME")),
    "sms_only": (None, EVENT_IGNORED, ("LAST_CHANGED", "CONFIRM_TIME", "OPTIN_TIME")),
}

# Marketing API v3 member status.
API_REASONS: dict[str, str | None] = {"cleaned": "hard_bounce", "unsubscribed": "unsubscribe"}
API_NOT_SUPPRESSED = ("subscribed", "pending", "transactional", "archived")
API_MARKERS = ("unique_email_id", "web_id", "contact_id", "member_rating", "timestamp_opt")


def _name_match(probe: Probe) -> re.Match | None:
    return _FILE_NAME.match(re.sub(r"[\s\-]+", "_", probe.lname.strip()))


def _list_id(probe: Probe) -> str | None:
    """The audience id from the file name (`..._<id>.csv`), or any 10-hex token in it."""
    m = _name_match(probe)
    if m and m.group("id"):
        return m.group("id")
    found = _LIST_ID.search(probe.lname)
    return found.group(1) if found else None


def _column(probe: Probe, name: str) -> str | None:
    """A system column by name; when a customer merge field collides with it (`UNSUB_REASON`,
    `UNSUB_REASON__2`, `Region`/`REGION`), the later one is Mailchimp's own."""
    key = norm_name(name)
    found = [c for c in probe.columns if norm_name(re.sub(r"__\d+$", "", c)) == key]
    return found[-1] if found else None


def _address_column(probe: Probe, phones: bool = False) -> str | None:
    named = probe.column(*ADDRESS_HEADERS) or (probe.column(*PHONE_HEADERS) if phones else None)
    if named is not None:
        return named
    # Translated or renamed label: the column whose sample values hold an '@'.
    best, best_share = None, 0.5
    for c in probe.columns:
        values = probe.sample.get_column(c).drop_nulls() if c in probe.sample.columns else None
        if values is None or values.len() == 0:
            continue
        share = values.str.contains("@").mean()
        if share > best_share:
            best, best_share = c, share
    return best


def _nonempty(expr: pl.Expr) -> pl.Expr:
    return pl.when(expr.str.strip_chars() == "").then(None).otherwise(expr)


def _first_of(probe: Probe, names: tuple[str, ...]) -> pl.Expr:
    cols = [_nonempty(pl.col(c)) for c in (_column(probe, n) for n in names) if c is not None]
    return pl.coalesce(cols) if cols else col(None)


class MailchimpAdapter(Adapter):
    name = "mailchimp"
    description = (
        "Mailchimp audience export (cleaned/unsubscribed/subscribed/nonsubscribed CSVs by file name, "
        "legacy export API arrays) and API v3 members JSON"
    )
    kinds = ("cleaned", "unsubscribed", "subscribed", "nonsubscribed", "sms_only", "api_members")

    def detect(self, probe: Probe) -> Match | None:
        if probe.has("email_address", "status") and (
            probe.column(*API_MARKERS) or probe.has("list_id", "last_changed")
        ):
            statuses = set(probe.values(probe.column("status")).to_list()) - {""}
            known = statuses <= set(API_REASONS) | set(API_NOT_SUPPRESSED)
            return Match("api_members", 95 if known else 85, "API v3 members: email_address, status and member fields")

        keys = {norm_name(re.sub(r"__\d+$", "", c)) for c in probe.columns}
        system = keys & SYSTEM_COLUMNS
        by_columns = (
            "cleaned" if norm_name("CLEAN_TIME") in keys
            else "unsubscribed" if norm_name("UNSUB_TIME") in keys
            else "subscribed" if len(system) >= 3
            else None
        )
        named = _name_match(probe)
        if named is not None:
            kind = named.group("status")
            if _address_column(probe, phones=kind == "sms_only") is None:
                return None
            if by_columns in ("cleaned", "unsubscribed") and by_columns != kind:
                # A renamed file: the columns were written by Mailchimp, the name by a person.
                return Match(by_columns, 70, f"file named {kind}_… but its columns are those of a {by_columns} export")
            if len(system) >= 3:
                return Match(kind, 95, f"file name {kind}_…export and Mailchimp system columns")
            return Match(kind, 80, f"file name {kind}_…export")
        if by_columns is None or _address_column(probe) is None:
            return None
        what = "legacy export API arrays" if probe.fmt == "json" else "columns"
        detail = {"cleaned": "CLEAN_TIME", "unsubscribed": "UNSUB_TIME"}.get(by_columns, "no CLEAN_TIME/UNSUB_TIME")
        return Match(by_columns, 85, f"Mailchimp system {what} ({', '.join(sorted(system)[:3])}…; {detail})")

    def map(self, frame: pl.LazyFrame, probe: Probe, match: Match, opts: MapOptions) -> pl.LazyFrame:
        if match.kind == "api_members":
            return self._map_api(frame, probe)
        reason, event, times = FILE_KINDS[match.kind]
        address = _address_column(probe, phones=match.kind == "sms_only") or probe.columns[0]
        channel = "email"
        if match.kind == "sms_only" and probe.column(*ADDRESS_HEADERS) is None:
            channel = "sms"
        scope = detail = None
        if match.kind == "unsubscribed":
            list_id = _list_id(probe)
            scope = unsub_scope(pl.lit(list_id) if list_id else None)
            why, other = _column(probe, "UNSUB_REASON"), _column(probe, "UNSUB_REASON_OTHER")
            # `Other (fill in reason below)` is followed by the subscriber's own words.
            parts = [_nonempty(col(c)) for c in (why, other) if c is not None]
            detail = _nonempty(pl.concat_str(parts, separator=": ", ignore_nulls=True)) if parts else None
        return mapped(
            frame,
            address=pl.col(address),
            reason=pl.lit(reason, dtype=pl.String),
            status=pl.lit(match.kind),
            channel=channel,
            scope=scope,
            occurred=_first_of(probe, times),
            detail=detail,
            event=pl.lit(event),
        )

    def _map_api(self, frame: pl.LazyFrame, probe: Probe) -> pl.LazyFrame:
        status = pl.col(probe.column("status"))
        ignored = norm_status(status).is_in(list(API_NOT_SUPPRESSED))
        reason = lookup(status, API_REASONS)
        list_col = probe.column("list_id")
        scope = pl.when(reason == "unsubscribe").then(unsub_scope(col(list_col) if list_col else None))
        return mapped(
            frame,
            address=pl.col(probe.column("email_address")),
            reason=pl.when(ignored).then(None).otherwise(reason),
            status=status,
            scope=scope,
            occurred=_first_of(probe, ("last_changed", "timestamp_opt", "timestamp_signup")),
            detail=_nonempty(col(probe.column("unsubscribe_reason"))),
            event=pl.when(ignored).then(pl.lit(EVENT_IGNORED)).otherwise(pl.lit(EVENT_SUPPRESSION)),
        )


ADAPTER = MailchimpAdapter()
