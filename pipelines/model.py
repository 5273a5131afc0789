"""The canonical suppression model: reasons, scopes, channels, blocking rules and frame schemas.

Every other module takes its vocabulary from here (SPEC 2, 2.2).
"""
from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING

from pipelines.lazy import lazy

if TYPE_CHECKING:
    import polars as pl
else:  # imported on first use: a one-address `check` (SPEC 5) needs none of it
    pl = lazy("polars")

CHANNELS = ("email", "sms")

REASONS = (
    "hard_bounce",
    "soft_bounce",
    "policy_block",
    "invalid",
    "spam_complaint",
    "unsubscribe",
    "manual",
)

# Reasons that block every message on their channel, whatever the purpose.
BLOCKS_ALL = frozenset({"hard_bounce", "invalid", "spam_complaint", "manual"})
# Reasons kept as evidence only: they never block by themselves (soft bounces block
# through the consecutive-bounce policy, not through their own record).
NON_BLOCKING = frozenset({"soft_bounce", "policy_block"})

# What a row of an input can be, besides a suppression.
EVENT_SUPPRESSION = "suppression"
EVENT_DELIVERED = "delivered"  # evidence for soft-bounce counting, never a suppression
EVENT_IGNORED = "ignored"  # a row that carries no suppression (e.g. a subscribed contact)

SCOPE_ALL = "all"
SCOPE_MARKETING = "marketing"
LIST_SCOPE_PREFIX = "list:"

PURPOSES = ("marketing", "transactional")

# A contact's marketing consent (SPEC 3, 4.1).
CONSENTS = ("subscribed", "unsubscribed", "pending_double_opt_in", "unknown")


def _mapped_elsewhere(send_list: str | None, mapping: dict[str, str] | None) -> list[str] | None:
    """The previous lists (`list:<id>`) whose unsubscribes do not block mail to `send_list`: those
    mapped to another new list. None when every unsubscribe blocks (no list, or no mapping)."""
    if send_list is None or not mapping:
        return None
    return sorted(scope for scope, new in mapping.items() if new != send_list)


def unsubscribe_blocks_expr(send_list: str | None = None, mapping: dict[str, str] | None = None) -> pl.Expr:
    """Whether an active suppression (`reason`, `scope`) is an unsubscribe that blocks marketing.

    SPEC 2.2: an unsubscribe blocks all marketing on its channel whatever its scope: a previous
    platform's list-, stream- or topic-level one too, as the new platform has none of its lists.
    Only for mail to one of the tenant's new lists (`send_list`) does a list-scoped unsubscribe of
    a previous list the tenant mapped (`mapping`: `list:<id>` -> new list) to another new list not
    block; an unmapped one still does.
    """
    unsub = pl.col("reason") == "unsubscribe"
    elsewhere = _mapped_elsewhere(send_list, mapping)
    return unsub if elsewhere is None else unsub & ~pl.col("scope").is_in(elsewhere)


def blocks_expr(purpose: str, send_list: str | None = None, mapping: dict[str, str] | None = None) -> pl.Expr:
    """Whether an active suppression (`reason`, `scope` columns) blocks a message of this purpose.

    SPEC 2.2: hard bounces, invalid addresses, complaints and manual blocks stop everything on the
    channel; an unsubscribe stops marketing (`unsubscribe_blocks_expr`); soft bounces and policy
    blocks are evidence and block nothing by themselves. `blocks` is the same rule for one row.
    """
    rule = pl.col("reason").is_in(sorted(BLOCKS_ALL))
    return rule | unsubscribe_blocks_expr(send_list, mapping) if purpose == "marketing" else rule


def blocks(reason: str, scope: str, purpose: str, send_list: str | None = None,
           mapping: dict[str, str] | None = None) -> bool:
    """`blocks_expr` for one active suppression (scope is never null in the store): for the few
    rows of a small `check`, without Polars."""
    if reason in BLOCKS_ALL:
        return True
    if purpose != "marketing" or reason != "unsubscribe":
        return False
    elsewhere = _mapped_elsewhere(send_list, mapping)
    return elsewhere is None or scope not in elsewhere


def consent_for_list(contacts: pl.DataFrame, unsubscribes: pl.DataFrame, send_list: str | None,
                     mapping: dict[str, str] | None) -> pl.DataFrame:
    """Contacts (`id`, `marketing_consent`) with their consent for mail to `send_list`.

    A contact's stored consent counts every unsubscribe (SPEC 3). For one list, a contact whose
    every active unsubscribe (`unsubscribes`: id, declared_consent, scope) is of a previous list
    mapped to another new list has the consent its own data declares instead.
    """
    if send_list is None or not mapping or unsubscribes.height == 0:
        return contacts
    per_contact = unsubscribes.with_columns(pl.lit("unsubscribe").alias("reason")).group_by("id").agg(
        unsubscribe_blocks_expr(send_list, mapping).alias("_blocks").any(),
        pl.col("declared_consent").first().alias("_declared"),
    )
    return contacts.join(per_contact, on="id", how="left", maintain_order="left").with_columns(
        pl.when((pl.col("marketing_consent") == "unsubscribed") & ~pl.col("_blocks").fill_null(True))
        .then(pl.col("_declared").fill_null("unknown"))
        .otherwise(pl.col("marketing_consent"))
        .alias("marketing_consent")
    ).drop("_blocks", "_declared")


# Polars types, made on first use (`__getattr__` below): the adapters' columns, and event times.
MAPPED_SCHEMA: dict[str, pl.DataType]
UTC_TS: pl.Datetime


def _mapped_schema() -> dict[str, pl.DataType]:
    """Columns an adapter hands to the normalizer, one row per input row (all strings but _line)."""
    return {
        "_line": pl.Int64(),
        "raw_address": pl.String(),
        "channel": pl.String(),
        "event": pl.String(),
        "reason": pl.String(),
        "status": pl.String(),
        "scope": pl.String(),
        "occurred_raw": pl.String(),
        "detail": pl.String(),
        # SMTP evidence for rows whose reason is left to the classifier (run on distinct values).
        "smtp_code": pl.String(),
        "smtp_text": pl.String(),
        "smtp_default": pl.String(),
        # A previous platform's count of consecutive soft bounces (historic counter state, SPEC 2.2),
        # on a soft_bounce row; null where the export gives none.
        "bounce_count": pl.Int64(),
    }


def __getattr__(name: str):
    """`MAPPED_SCHEMA` and `UTC_TS` (Polars types) are made on first use, Polars with them."""
    if name == "MAPPED_SCHEMA":
        value = _mapped_schema()
    elif name == "UTC_TS":
        value = pl.Datetime("us", "UTC")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


# Quarantine error codes, with the sentence a reviewer reads next to them.
ERROR_CODES: dict[str, str] = {
    "empty_address": "no address in the row",
    "missing_at": "email without '@'",
    "multiple_at": "more than one '@' (several addresses glued together?)",
    "empty_local_part": "nothing before the '@'",
    "empty_domain": "nothing after the '@'",
    "domain_without_dot": "domain has no dot",
    "forbidden_character": "spaces or characters not allowed in an address",
    "too_long": "address longer than 254 characters",
    "invalid_domain": "domain cannot be encoded as IDNA",
    "invalid_phone": "not a possible phone number",
    "excel_mangled_phone": "phone number turned into a number by a spreadsheet (e.g. 1.41555E+10)",
    "unknown_status": "status value this platform's adapter does not know",
    "missing_status": "no status in a file whose rows need one",
    "missing_id": "contact row without an id",
    "duplicate_id": "contact id repeated later in the file (the last row wins)",
    "unknown_consent": "marketing_consent value not in subscribed, unsubscribed, pending_double_opt_in, unknown",
    "invalid_encoding": "bytes that are not valid text in the file's encoding (UTF-8) where the address or status "
    "should be: the value cannot be read",
    "value_too_long": "a value of over 4,096 bytes where the address should be (shown cut to its first 100 "
    "characters): not an address, perhaps a broken file",
}


# Tenant and source names (SPEC 4.1): letters, digits, `.`, `_`, `-`, at most 64, starting with a
# letter or digit, no `..`. They name folders (reports, pulls), so they are checked once at every
# entry point (CLI, DAG params, sources file, library requests).
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_name(what: str, value, where: str = "") -> str:
    from pipelines.errors import UsageError

    if not isinstance(value, str) or not _NAME.fullmatch(value) or ".." in value:
        shown = value if not isinstance(value, str) or len(value) <= 80 else value[:80] + "..."
        raise UsageError(f"{where + ': ' if where else ''}{what} {shown!r} may hold letters, digits, '.', '_' and "
                         "'-' only, at most 64, starting with a letter or digit, no '..'")
    return value


def check_tenant(value, where: str = "") -> str:
    return check_name("tenant", value, where)


def folder_name(value: str) -> str:
    """A name as one folder: itself when valid, else a readable part and a hash (names stored
    before they were checked must not share or escape a folder)."""
    if isinstance(value, str) and _NAME.fullmatch(value) and ".." not in value:
        return value
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", value or "").strip("._")[:40] or "name"
    return f"{readable}-{hashlib.sha256((value or '').encode()).hexdigest()[:8]}"
