"""Kajabi contact exports (platform-formats section 12): People/Contacts -> Export, CSV.

| kind | what | mapping |
| --- | --- | --- |
| subscription_status | a contacts export with a `Subscription Status` column | Unsubscribed (Bounced) / Bounced -> hard_bounce, (Unsubscribed) Marked spam -> spam_complaint, other unsubscribes (Opted out, Manual Unsubscribe) -> unsubscribe (marketing); Subscribed, Never Subscribed -> ignored |
| contacts | a contacts export without any status | refused unless `--reason`, which every row then gets |
| hard_bounced_segment | an export of the "Hard Bounced" segment (file name), same columns | refused unless `--reason`, which every row then gets |

Kajabi's headers: `ID`, `Member ID`, `Email`, `Name`, `First Name`, `Last Name`, custom and address
fields labelled `Label (handle)` (`Phone Number (phone_number)`), `Tags`, `Products`. A contact in
the Hard Bounced segment may still be `Subscribed` (Kajabi does not unsubscribe immediately): the
segment is evidence in itself, so its file name wins over a status column. Kajabi keeps one
subscription for the whole site: unsubscribes are marketing-wide.

The export has no time of the status change that is known for sure; only a column named for it
(`Unsubscribed At`, ...) is taken. `Created At` and `Last Activity` are not the suppression's time.
"""
from __future__ import annotations

import re

import polars as pl

from pipelines.model import EVENT_IGNORED, EVENT_SUPPRESSION
from pipelines.platforms.base import Adapter, MapOptions, Match, Probe, col, lookup, mapped, unsub_scope

IGNORED = "ignored"  # vocabulary value: the row says the address is fine

# `Subscription Status`, alone or with the action that unsubscribed the contact.
SUBSCRIPTION_STATUSES: dict[str, str | None] = {
    "Subscribed": IGNORED,
    "Never Subscribed": IGNORED,
    "Unsubscribed": "unsubscribe",
    "Unsubscribed (Opted out)": "unsubscribe",
    "Unsubscribed (Manual Unsubscribe)": "unsubscribe",
    "Unsubscribed (Bounced)": "hard_bounce",  # auto-unsubscribed as permanently undeliverable
    "Unsubscribed (Marked spam)": "spam_complaint",
    "Opted out": "unsubscribe",
    "Manual Unsubscribe": "unsubscribe",
    "Bounced": "hard_bounce",
    "Marked spam": "spam_complaint",
}

ADDRESS_COLUMNS = ("Email", "Email Address")
STATUS_COLUMNS = ("Subscription Status", "Email Subscription Status")
# Only columns named for the status change give the suppression's time.
TIME_COLUMNS = (
    "Unsubscribed At", "Unsubscribed Date", "Unsubscribed On", "Subscription Status Changed At",
    "Subscription Status Updated At", "Status Changed At", "Bounced At",
)
# Columns every Kajabi contacts export has; weak evidence, many CRMs share them.
COMMON_COLUMNS = ("ID", "Name", "First Name", "Last Name", "Tags")
# Kajabi's own: strong evidence.
KAJABI_COLUMNS = ("Products", "Member ID")
_HANDLE_HEADER = re.compile(r"^.+\s\(([a-z][a-z0-9_]*)\)$")  # `Phone Number (phone_number)`
_KAJABI_NAME = re.compile(r"kajabi")
_OTHER_PLATFORM = re.compile(r"klaviyo|mailchimp|hubspot|sendgrid|brevo|activecampaign|convertkit")
_HARD_BOUNCED = re.compile(r"hard[\s_-]*bounced?(?![a-z])")


def _evidence(probe: Probe) -> tuple[list[str], list[str]]:
    """(strong, weak) Kajabi markers: own columns, `Label (handle)` headers, the file name."""
    strong = [c for c in KAJABI_COLUMNS if probe.has(c)]
    handles = [c for c in probe.columns if _HANDLE_HEADER.match(c)]
    if handles:
        strong.append(f"'{handles[0]}'-style headers")
    if _KAJABI_NAME.search(probe.lname):
        strong.append("file name")
    weak = [c for c in COMMON_COLUMNS if probe.has(c)]
    return strong, weak


class KajabiAdapter(Adapter):
    name = "kajabi"
    description = (
        "Kajabi contacts export: by Subscription Status; a status-less contacts or Hard Bounced "
        "segment export needs --reason"
    )
    kinds = ("subscription_status", "contacts", "hard_bounced_segment")
    needs_reason = frozenset({"contacts", "hard_bounced_segment"})

    def detect(self, probe: Probe) -> Match | None:
        if probe.fmt != "csv" or not probe.has_header or probe.column(*ADDRESS_COLUMNS) is None:
            return None
        if _OTHER_PLATFORM.search(probe.lname) and not _KAJABI_NAME.search(probe.lname):
            return None
        strong, weak = _evidence(probe)
        if not strong:
            return None
        score = min(95, 70 + 8 * len(strong) + 2 * len(weak))
        status = probe.column(*STATUS_COLUMNS)
        why = "Kajabi contacts export (" + ", ".join(strong + weak) + ")"
        if _HARD_BOUNCED.search(probe.lname):
            return Match("hard_bounced_segment", score, f"file name says Hard Bounced segment; {why}")
        if status is not None:
            return Match("subscription_status", score, f"{why} with {status!r}")
        return Match("contacts", score, f"{why} without a subscription status")

    def map(self, frame: pl.LazyFrame, probe: Probe, match: Match, opts: MapOptions) -> pl.LazyFrame:
        address = pl.col(probe.column(*ADDRESS_COLUMNS))
        status_col = probe.column(*STATUS_COLUMNS)
        times = [pl.col(c).str.strip_chars().replace("", None) for c in (probe.column(t) for t in TIME_COLUMNS) if c]
        occurred = pl.coalesce(times) if times else None
        if match.kind in self.needs_reason:
            reason = pl.lit(opts.reason, dtype=pl.String)
            segment = match.kind == "hard_bounced_segment"
            return mapped(
                frame,
                address=address,
                reason=reason,
                status=col(status_col).str.strip_chars() if status_col else None,
                scope=pl.when(reason == "unsubscribe").then(unsub_scope(None)),
                occurred=occurred,
                detail=pl.lit(f"Kajabi {'Hard Bounced segment' if segment else 'contacts export'} ({probe.name})"),
            )
        status = pl.col(status_col).str.strip_chars()
        vocab = lookup(status, SUBSCRIPTION_STATUSES)
        ignored = vocab == IGNORED
        reason = pl.when(ignored).then(None).otherwise(vocab)
        return mapped(
            frame,
            address=address,
            reason=reason,
            status=status,
            scope=pl.when(reason == "unsubscribe").then(unsub_scope(None)),
            occurred=occurred,
            detail=status,
            event=pl.when(ignored).then(pl.lit(EVENT_IGNORED)).otherwise(pl.lit(EVENT_SUPPRESSION)),
        )


ADAPTER = KajabiAdapter()
