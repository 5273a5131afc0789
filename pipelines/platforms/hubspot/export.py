"""HubSpot contact exports (platform-formats section 7): suppression facts are contact properties.

| kind | columns | records |
| --- | --- | --- |
| contacts_export | UI export, property labels: `Record ID`, `Email`, `Unsubscribed from all email`, `Opted out of email: <type>`, `Email hard bounce reason` (twice), `Invalid email address`, `Email Address Quarantined`, `Email address automated quarantine reason` | one per flag set |
| api_contacts | CRM API internal names (`properties.` prefix from `results[].properties`): `hs_email_optout`, `hs_email_optout_<id>`, `hs_email_hard_bounce_reason_enum`, `hs_email_bad_address`, `hs_email_quarantined`, `hs_email_quarantined_reason` | one per flag set |
| contacts_without_status | a contact export without any of those properties | `--reason` for every row |

Each flag set on a row is one record: opted out of all email -> unsubscribe (marketing); opted out of
one subscription type -> unsubscribe from `list:<type id>` (UI: `list:<slug of the type name>`);
a non-empty hard bounce reason -> hard_bounce (HubSpot's own verdict); bad address -> invalid;
quarantined -> manual, or spam_complaint / hard_bounce when the automated quarantine reason is
RECIPIENT_COMPLAINT / UNDELIVERABLE_ADDRESS. Booleans are `true/false`, `Yes/No` or `1/0`; any other
value in a flag column is not guessed (reason null). A contact with no flag set is read and ignored.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import polars as pl

from pipelines.model import SCOPE_MARKETING
from pipelines.platforms.base import (
    Adapter,
    MapOptions,
    Match,
    Probe,
    event_unless_ignored,
    lookup,
    mapped,
    norm_name,
    record_per_entry,
)

TRUE, FALSE = "true", "false"
BOOLEANS: dict[str, str | None] = {
    **dict.fromkeys(["true", "yes", "1", "y", "t"], TRUE),
    **dict.fromkeys(["false", "no", "0", "n", "f"], FALSE),
}
# Automated quarantine reason -> reason of a quarantined address; any other value is manual.
QUARANTINE_REASONS: dict[str, str | None] = {
    "RECIPIENT_COMPLAINT": "spam_complaint",
    "UNDELIVERABLE_ADDRESS": "hard_bounce",
}

# Property label (UI export header) and internal name (API) of each flag.
OPTOUT = ("Unsubscribed from all email", "hs_email_optout")
HARD_BOUNCE = ("Email hard bounce reason", "hs_email_hard_bounce_reason_enum", "hs_email_hard_bounce_reason")
BAD_ADDRESS = ("Invalid email address", "hs_email_bad_address")
QUARANTINED = ("Email Address Quarantined", "hs_email_quarantined")
QUARANTINE_REASON = ("Email address automated quarantine reason", "hs_email_quarantined_reason")
ADDRESS = ("Email", "email")

_TYPE_LABEL = re.compile(r"^opted out of email:\s*(?P<name>.+?)\s*$", re.IGNORECASE)
_TYPE_INTERNAL = re.compile(r"^hs_email_optout_(?P<id>\d+)$", re.IGNORECASE)
_DUPLICATE = re.compile(r"__\d+$")  # the reader's suffix for a repeated header
# Columns of any HubSpot contact export: the record id says HubSpot, the others only add to it.
RECORD_ID = frozenset(norm_name(c) for c in ("Record ID", "hs_object_id"))
CONTACT_MARKERS = RECORD_ID | frozenset(
    norm_name(c)
    for c in ("Contact owner", "Lifecycle Stage", "Create Date", "Last Activity Date", "Associated Company",
              "lifecyclestage", "createdate", "lastmodifieddate", "hubspot_owner_id")
)
# The columns that carry a status (a quarantine reason alone does not: it refines the flag).
_INTERNAL_FLAGS = frozenset(n.lower() for n in (OPTOUT[1], *HARD_BOUNCE[1:], BAD_ADDRESS[1], QUARANTINED[1]))
_LABEL_FLAGS = frozenset(norm_name(n) for n in (OPTOUT[0], HARD_BOUNCE[0], BAD_ADDRESS[0], QUARANTINED[0]))


def _prop(column: str) -> str:
    """The property a column holds: API JSON arrives as `properties.<name>`, repeats as `<name>__2`."""
    return _DUPLICATE.sub("", column.rsplit(".", 1)[-1])


def _columns(probe: Probe, names: tuple[str, ...]) -> list[str]:
    """Every column holding one of these properties (labels compared loosely), in file order."""
    keys = {norm_name(n) for n in names}
    return [c for c in probe.columns if c != "_line" and norm_name(_prop(c)) in keys]


def slug(name: str) -> str:
    """`One to One` -> `one-to-one`: a subscription type known only by its label."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _type_columns(probe: Probe) -> list[tuple[str, str]]:
    """(column, list id) for each per-subscription-type opt-out column."""
    found = []
    for c in probe.columns:
        prop = _prop(c)
        if m := _TYPE_INTERNAL.match(prop):
            found.append((c, m.group("id")))
        elif m := _TYPE_LABEL.match(prop):
            found.append((c, slug(m.group("name"))))
    return found


def _blank_to_null(expr: pl.Expr) -> pl.Expr:
    s = expr.str.strip_chars()
    return pl.when(s == "").then(None).otherwise(s)


@dataclass(frozen=True)
class _Flag:
    """One candidate record of a row: kept when the flag is set or not understood."""

    keep: pl.Expr
    reason: pl.Expr
    status: pl.Expr
    scope: pl.Expr | None
    detail: pl.Expr

    def entry(self) -> pl.Expr:
        none = pl.lit(None, dtype=pl.String)
        return pl.struct(
            keep=self.keep.fill_null(False),
            reason=self.reason.cast(pl.String),
            status=self.status.cast(pl.String),
            scope=(self.scope if self.scope is not None else none).cast(pl.String),
            detail=self.detail.cast(pl.String),
        )


def _boolean_flag(column: str, reason: str, scope: pl.Expr | None) -> _Flag:
    """A true/false column: set -> `reason`; a value that is no boolean -> reason null."""
    value = _blank_to_null(pl.col(column))
    meaning = lookup(value, BOOLEANS)
    unknown = value.is_not_null() & meaning.is_null()
    return _Flag(
        keep=(meaning == TRUE) | unknown,
        reason=pl.when(unknown).then(None).otherwise(pl.lit(reason)),
        status=value,
        scope=scope,
        detail=pl.lit(f"{_prop(column)}: ") + value,
    )


class HubSpotAdapter(Adapter):
    name = "hubspot"
    description = (
        "HubSpot contact exports with email status properties (UI labels or API internal names, "
        "per-subscription-type opt-outs); plain contact exports need --reason"
    )
    kinds = ("contacts_export", "api_contacts", "contacts_without_status")
    needs_reason = frozenset({"contacts_without_status"})

    def detect(self, probe: Probe) -> Match | None:
        if not self._address(probe):
            return None
        named = "hubspot" in probe.lname
        props = [_prop(c) for c in probe.columns]
        internal = sorted({p for p in props if p.lower() in _INTERNAL_FLAGS or _TYPE_INTERNAL.match(p)})
        if internal:
            return Match("api_contacts", 95, f"HubSpot internal property names {', '.join(internal[:4])}")
        labels = sorted({p for p in props if norm_name(p) in _LABEL_FLAGS or _TYPE_LABEL.match(p)})
        markers = {norm_name(p) for p in props} & CONTACT_MARKERS
        if labels:
            score = min(95, 80 + 5 * len(labels) + 5 * bool(markers) + 5 * named)
            return Match("contacts_export", score, f"HubSpot property labels {', '.join(labels[:4])}")
        if markers & RECORD_ID or (named and markers):
            score = min(80, 55 + 5 * len(markers) + 10 * named)
            return Match("contacts_without_status", score, f"HubSpot contact columns {', '.join(sorted(markers))} without email status properties")
        return None

    @staticmethod
    def _address(probe: Probe) -> str | None:
        found = _columns(probe, ADDRESS)
        return found[0] if found else None

    def map(self, frame: pl.LazyFrame, probe: Probe, match: Match, opts: MapOptions) -> pl.LazyFrame:
        address = pl.col(self._address(probe))
        if match.kind == "contacts_without_status":
            reason = pl.lit(opts.reason, dtype=pl.String)
            return mapped(
                frame,
                address=address,
                reason=reason,
                scope=pl.when(reason == "unsubscribe").then(pl.lit(SCOPE_MARKETING)),
                detail=pl.lit(f"HubSpot contact export {probe.name}"),
            )
        none = pl.lit(None, dtype=pl.String)
        nothing = _Flag(pl.lit(True), none, none, None, none).entry()
        # The flags set on the row (or not understood), one record each; none set: one ignored record.
        rows = record_per_entry(frame, [flag.entry() for flag in self._flags(probe)], nothing, _address=address)
        return mapped(
            rows,
            address=pl.col("_address"),
            reason=pl.col("reason"),
            status=pl.col("status"),
            scope=pl.col("scope"),
            detail=pl.col("detail"),
            event=event_unless_ignored(pl.col("_ignored")),
        )

    def _flags(self, probe: Probe) -> list[_Flag]:
        flags = [_boolean_flag(c, "unsubscribe", pl.lit(SCOPE_MARKETING)) for c in _columns(probe, OPTOUT)]
        flags += [_boolean_flag(c, "unsubscribe", pl.lit(f"list:{list_id}")) for c, list_id in _type_columns(probe)]
        bounce_cols = _columns(probe, HARD_BOUNCE)
        if bounce_cols:
            # The two "Email hard bounce reason" properties (enum and text) make one hard bounce.
            texts = [_blank_to_null(pl.col(c)) for c in bounce_cols]
            detail = pl.concat_str(texts, separator="; ", ignore_nulls=True)
            flags.append(_Flag(
                keep=pl.any_horizontal([t.is_not_null() for t in texts]),
                reason=pl.lit("hard_bounce"),
                status=pl.coalesce(texts),
                scope=None,
                detail=pl.lit("Email hard bounce reason: ") + detail,
            ))
        flags += [_boolean_flag(c, "invalid", None) for c in _columns(probe, BAD_ADDRESS)]
        why_cols = _columns(probe, QUARANTINE_REASON)
        why = _blank_to_null(pl.col(why_cols[-1])) if why_cols else pl.lit(None, dtype=pl.String)
        for c in _columns(probe, QUARANTINED):
            flag = _boolean_flag(c, "manual", None)
            by_why = pl.coalesce(lookup(why, QUARANTINE_REASONS), pl.lit("manual"))
            flags.append(_Flag(
                keep=flag.keep,
                reason=pl.when(flag.reason.is_null()).then(None).otherwise(by_why),
                status=flag.status,
                scope=None,
                detail=pl.concat_str([flag.detail, pl.lit("quarantine reason: ") + why], separator="; ", ignore_nulls=True),
            ))
        return flags


ADAPTER = HubSpotAdapter()
