"""Klaviyo (platform-formats section 6): profile exports, API profiles, flattened suppressions.

| kind | shape | records |
| --- | --- | --- |
| profile_export | list/segment CSV export: `Email`, `Klaviyo ID`, ..., `Email Marketing Consent`, `Email Suppressions` | one per suppression reason in the cell, else one from the consent |
| suppressions | flattened API suppressions `email,reason,timestamp,scope` (scope `global` or `list:<id>`) | one per row |
| api_profiles | `GET /api/profiles?additional-fields[profile]=subscriptions` JSON | one per global and per list suppression, else one from the consent |
| segment_export | an export with no consent and no suppression column (e.g. a "Bounced" segment) | `--reason` for every row |

Reasons: HARD_BOUNCE -> hard_bounce, INVALID_EMAIL -> invalid, SPAM_COMPLAINT -> spam_complaint,
UNSUBSCRIBE -> unsubscribe (marketing), USER_SUPPRESSED -> manual. A list-level suppression
(`list_suppressions`, scope `list:<id>`) that only stops that list's mail (UNSUBSCRIBE,
USER_SUPPRESSED) is an unsubscribe from `list:<id>`; a list-level bounce, invalid address or
complaint is still about the address and blocks everything. Without a global suppression, consent
UNSUBSCRIBED is an unsubscribe from marketing, SUBSCRIBED and NEVER_SUBSCRIBED are read and ignored.

The `Email Suppressions` cell holds one or several reasons: `HARD_BOUNCE`, `HARD_BOUNCE, USER_SUPPRESSED`,
`["SPAM_COMPLAINT","UNSUBSCRIBE"]`, or objects `[{"reason": "HARD_BOUNCE", "timestamp": "..."}]`.
The API's lists of objects reach the adapter as the reader renders them: objects with their field
names (JSON), or positional `{"HARD_BOUNCE","2024-..."}` in Klaviyo's field order.
"""
from __future__ import annotations

import polars as pl

from pipelines.model import EVENT_IGNORED, EVENT_SUPPRESSION, SCOPE_MARKETING
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

# Suppression reasons, API enum and the UI's display words (normalized on lookup).
REASONS: dict[str, str | None] = {
    "HARD_BOUNCE": "hard_bounce",
    "INVALID_EMAIL": "invalid",
    "SPAM_COMPLAINT": "spam_complaint",
    "UNSUBSCRIBE": "unsubscribe",
    "USER_SUPPRESSED": "manual",
    # UI wording ("Hard bounce", "User suppressed", older help pages' "Unsubscribed", "Marked as spam")
    "Unsubscribed": "unsubscribe",
    "Marked as spam": "spam_complaint",
    "Invalid email address": "invalid",
}
# The same reasons on one list only: what only stops that list's mail is an unsubscribe from it.
LIST_REASONS: dict[str, str | None] = {**REASONS, "USER_SUPPRESSED": "unsubscribe"}

IGNORED = "ignored"  # vocabulary value: a consent that carries no suppression
CONSENT: dict[str, str | None] = {
    "UNSUBSCRIBED": "unsubscribe",
    "SUBSCRIBED": IGNORED,
    "NEVER_SUBSCRIBED": IGNORED,
}

# Columns only the UI list/segment export has: each one makes detection surer.
EXPORT_MARKERS = frozenset(
    norm_name(c)
    for c in (
        "Klaviyo ID", "Email Marketing Consent", "Email Marketing Consent Timestamp", "Email Suppressions",
        "Historic Customer Lifetime Value", "Predicted Customer Lifetime Value", "Profile Created On",
    )
)
SUPPRESSIONS_COLUMNS = frozenset({"email", "reason", "timestamp", "scope", "listid"})
API_MARKETING = "subscriptions.email.marketing"

_SCOPE_GLOBAL = ("", "global")
_LIST_SCOPE = r"^(?i)list:(.*)$"


def _suffix_column(probe: Probe, suffix: str) -> str | None:
    """The (flattened JSON) column named `suffix` or ending in `.suffix`, e.g. `data.attributes.email`."""
    suffix = suffix.lower()
    for c in probe.columns:
        lc = c.lower()
        if lc == suffix or lc.endswith("." + suffix):
            return c
    return None


def _blank_to_null(expr: pl.Expr) -> pl.Expr:
    s = expr.str.strip_chars()
    return pl.when(s == "").then(None).otherwise(s)


def _share(probe: Probe, column: str | None, allowed: set[str] | None = None, prefix: str | None = None) -> float:
    """Share of the sample's non-empty values (normalized as statuses) that are allowed."""
    if column is None or column not in probe.sample.columns:
        return 0.0
    values = probe.sample.select(norm_status(pl.col(column)).alias("v")).filter(pl.col("v") != "").to_series()
    if values.len() == 0:
        return 0.0
    ok = values.is_in(sorted(allowed or ()))
    if prefix is not None:
        ok = ok | values.str.starts_with(prefix)
    return float(ok.mean())


KNOWN_REASONS = {norm_name(k) for k in REASONS}
OWN_REASONS = {norm_name("USER_SUPPRESSED"), norm_name("INVALID_EMAIL")}  # not used by other platforms


# --- the `Email Suppressions` cell and the API's lists of objects ---------------------------------


def _items(cell: pl.Expr) -> pl.Expr:
    """The entries of a cell as a list of strings: `{...}` objects, else the separated words."""
    s = cell.fill_null("").str.strip_chars()
    objects = s.str.extract_all(r"\{[^{}]*\}")
    words = (
        s.str.replace_all(r"[\[\]\"']", "")
        .str.replace_all(r"[;|]", ",")
        .str.split(",")
        .list.eval(pl.element().str.strip_chars())
        .list.filter(pl.element() != "")
    )
    return pl.when(s.str.contains("{", literal=True)).then(objects).otherwise(words)


def _field(name: str, position: int | None) -> pl.Expr:
    """One field of a list item (inside `list.eval`): by name in an object, else by position."""
    e = pl.element()
    by_name = e.str.extract(rf"""["']?{name}["']?\s*:\s*["']?([^"',}}]*)""", 1).str.strip_chars()
    by_position = (
        e.str.strip_chars("{} ").str.split(",").list.get(position, null_on_oob=True).str.strip_chars("\"' ")
        if position is not None
        else pl.lit(None, dtype=pl.String)
    )
    is_object = e.str.starts_with("{")
    named = e.str.contains(r"""["']?reason["']?\s*:""")
    plain = e if name == "reason" else pl.lit(None, dtype=pl.String)
    value = pl.when(~is_object).then(plain).when(named).then(by_name).otherwise(by_position)
    return pl.when(value.is_in(["", "null", "None"])).then(None).otherwise(value)


def _entries(cell: pl.Expr, *, level: str, positions: dict[str, int]) -> pl.Expr:
    """A list of {level, list_id, status, occurred} structs, one per suppression in the cell."""
    return _items(cell).list.eval(
        pl.struct(
            level=pl.lit(level),
            list_id=_field("list_id", positions.get("list_id")),
            status=_field("reason", positions.get("reason")),
            occurred=_field("timestamp", positions.get("timestamp")),
        )
    )


class KlaviyoAdapter(Adapter):
    name = "klaviyo"
    description = (
        "Klaviyo list/segment CSV export (Email Suppressions, Email Marketing Consent), flattened API "
        "suppressions (email,reason,timestamp,scope), API profiles JSON with subscriptions"
    )
    kinds = ("profile_export", "suppressions", "api_profiles", "segment_export")
    needs_reason = frozenset({"segment_export"})

    def detect(self, probe: Probe) -> Match | None:
        named = "klaviyo" in probe.lname
        api = [s for s in ("suppression", "list_suppressions", "consent") if _suffix_column(probe, f"{API_MARKETING}.{s}")]
        if api and _suffix_column(probe, "email"):
            return Match("api_profiles", 95, f"API profiles with {API_MARKETING}.{', '.join(api)}")

        keys = {norm_name(c) for c in probe.columns}
        email = probe.column("Email")
        if email is not None and probe.column("Email Suppressions", "Email Marketing Consent"):
            markers = sorted(keys & EXPORT_MARKERS)
            score = min(95, 75 + 5 * len(markers) + 5 * named)
            return Match("profile_export", score, f"Klaviyo profile export columns {', '.join(markers)}")

        if probe.has("email", "reason") and keys <= SUPPRESSIONS_COLUMNS:
            reason = probe.column("reason")
            known = _share(probe, reason, KNOWN_REASONS)
            scopes = _share(probe, probe.column("scope"), {"global"}, prefix="list")
            if scopes >= 0.8 and (known >= 0.8 or named):
                return Match("suppressions", 90, "columns email, reason, scope with Klaviyo scopes (global, list:<id>)")
            if known >= 0.8 and (named or _share(probe, reason, OWN_REASONS) > 0):
                why = "file name" if named else "USER_SUPPRESSED/INVALID_EMAIL"
                return Match("suppressions", 85 if named else 70, f"columns email, reason; Klaviyo reasons ({why})")
            return None

        if email is not None and probe.column("Klaviyo ID"):
            return Match("segment_export", 80, "Klaviyo ID and Email but no consent or suppression column")
        profile_type = probe.values(probe.column("type")).to_list()
        if profile_type == ["profile"] and _suffix_column(probe, "attributes.email"):
            return Match("segment_export", 80, "API profiles without subscriptions (not requested)")
        return None

    def map(self, frame: pl.LazyFrame, probe: Probe, match: Match, opts: MapOptions) -> pl.LazyFrame:
        if match.kind == "suppressions":
            return self._map_suppressions(frame, probe)
        if match.kind == "segment_export":
            return self._map_segment(frame, probe, opts)
        if match.kind == "api_profiles":
            prefix = API_MARKETING
            address = _suffix_column(probe, "attributes.email") or _suffix_column(probe, "email")
            global_cell = _suffix_column(probe, f"{prefix}.suppression")
            list_cell = _suffix_column(probe, f"{prefix}.list_suppressions")
            consent = _suffix_column(probe, f"{prefix}.consent")
            consent_time = _suffix_column(probe, f"{prefix}.consent_timestamp")
        else:
            address = probe.column("Email")
            global_cell, list_cell = probe.column("Email Suppressions"), None
            consent = probe.column("Email Marketing Consent")
            consent_time = probe.column("Email Marketing Consent Timestamp")
        return self._map_profiles(frame, address, global_cell, list_cell, consent, consent_time)

    def _map_profiles(self, frame, address, global_cell, list_cell, consent, consent_time) -> pl.LazyFrame:
        """Profiles: one record per global and list suppression, else one from the consent."""
        none = pl.lit(None, dtype=pl.String)
        global_entries = _entries(col(global_cell), level="global", positions={"reason": 0, "timestamp": 1})
        list_entries = _entries(col(list_cell), level="list", positions={"list_id": 0, "reason": 1, "timestamp": 2})
        consent_raw = _blank_to_null(col(consent))
        # An empty consent next to an empty suppressions cell: nothing suppresses the profile. With
        # no suppressions column at all, an empty consent says nothing (missing status).
        empty_consent = pl.lit(IGNORED if global_cell is not None or list_cell is not None else None, dtype=pl.String)
        says = pl.when(consent_raw.is_null()).then(empty_consent).otherwise(lookup(consent_raw, CONSENT))
        # The consent speaks when no global suppression does. A subscribed consent beside list
        # suppressions adds nothing (an `ignored` record beside suppressions would blur the count).
        consent_needed = (global_entries.list.len() == 0) & (
            (list_entries.list.len() == 0) | says.is_null() | (says != IGNORED)
        )
        consent_entry = pl.struct(
            level=pl.lit("consent"),
            list_id=none,
            status=consent_raw,
            occurred=_blank_to_null(col(consent_time)),
            keep=consent_needed,
            says=says,
        )
        suppressions = [
            e.list.eval(pl.element().struct.with_fields(keep=pl.lit(True), says=none))
            for e in (global_entries, list_entries)
        ]
        rows = (
            frame.select(
                "_line",
                pl.col(address).alias("_address"),
                pl.concat_list([*suppressions, pl.concat_list([consent_entry])]).alias("_entry"),
            )
            .explode("_entry")
            .unnest("_entry")
            .filter(pl.col("keep"))
        )
        level, status = pl.col("level"), _blank_to_null(pl.col("status"))
        by_level = (
            pl.when(level == "global").then(lookup(status, REASONS))
            .when(level == "list").then(lookup(status, LIST_REASONS))
            .otherwise(pl.col("says"))
        )
        ignored = by_level == IGNORED
        reason = pl.when(ignored).then(None).otherwise(by_level)
        scope = (
            pl.when(reason == "unsubscribe")
            .then(pl.when(level == "list").then(unsub_scope(pl.col("list_id"))).otherwise(pl.lit(SCOPE_MARKETING)))
        )
        detail = (
            pl.when(level == "list").then(pl.concat_str([status, pl.lit(" (list "), pl.col("list_id"), pl.lit(")")]))
            .when(level == "consent").then(pl.lit("Email Marketing Consent: ") + status)
            .otherwise(status)
        )
        return mapped(
            rows,
            address=pl.col("_address"),
            reason=reason,
            status=status,
            scope=scope,
            occurred=pl.col("occurred"),
            detail=detail,
            event=pl.when(ignored).then(pl.lit(EVENT_IGNORED)).otherwise(pl.lit(EVENT_SUPPRESSION)),
        )

    def _map_suppressions(self, frame: pl.LazyFrame, probe: Probe) -> pl.LazyFrame:
        status = _blank_to_null(pl.col(probe.column("reason")))
        raw_scope = _blank_to_null(col(probe.column("scope")))
        list_id = pl.coalesce(
            _blank_to_null(raw_scope.str.extract(_LIST_SCOPE, 1)),
            _blank_to_null(col(probe.column("list_id"))),
        )
        is_global = raw_scope.is_null() | raw_scope.str.to_lowercase().is_in(list(_SCOPE_GLOBAL))
        on_list = list_id.is_not_null()
        by_scope = (
            pl.when(on_list).then(lookup(status, LIST_REASONS))
            .when(is_global).then(lookup(status, REASONS))
            .otherwise(None)  # a scope Klaviyo does not write: not guessed
        )
        return mapped(
            frame,
            address=pl.col(probe.column("email")),
            reason=by_scope,
            status=pl.when(on_list | is_global).then(status).otherwise(pl.concat_str([status, raw_scope], separator=" @ ")),
            scope=pl.when(by_scope == "unsubscribe").then(unsub_scope(list_id)),
            occurred=col(probe.column("timestamp")),
            detail=pl.concat_str([status, pl.lit(" (") + raw_scope + pl.lit(")")], ignore_nulls=True),
        )

    def _map_segment(self, frame: pl.LazyFrame, probe: Probe, opts: MapOptions) -> pl.LazyFrame:
        address = probe.column("Email") or _suffix_column(probe, "attributes.email")
        reason = pl.lit(opts.reason, dtype=pl.String)
        return mapped(
            frame,
            address=pl.col(address),
            reason=reason,
            scope=pl.when(reason == "unsubscribe").then(unsub_scope(None)),
            detail=pl.lit(f"Klaviyo {probe.name}"),
        )


ADAPTER = KlaviyoAdapter()
