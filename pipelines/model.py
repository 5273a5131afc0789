"""The canonical suppression model: reasons, scopes, channels, blocking rules and frame schemas.

Every other module takes its vocabulary from here (SPEC 2, 2.2).
"""
from __future__ import annotations

import polars as pl

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


def blocks_expr(purpose: str) -> pl.Expr:
    """Whether an active suppression (`reason`, `scope` columns) blocks a message of this purpose.

    SPEC 2.2: hard bounces, invalid addresses, complaints and manual blocks stop everything on the
    channel; an unsubscribe stops marketing (a list-level one only that list's mail); soft bounces
    and policy blocks are evidence and block nothing by themselves.
    """
    unsub = (pl.col("reason") == "unsubscribe") & pl.col("scope").is_in([SCOPE_MARKETING, SCOPE_ALL])
    rule = pl.col("reason").is_in(sorted(BLOCKS_ALL))
    return rule | unsub if purpose == "marketing" else rule


# Columns an adapter hands to the normalizer, one row per input row (all strings but _line).
MAPPED_SCHEMA: dict[str, pl.DataType] = {
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

UTC_TS = pl.Datetime("us", "UTC")

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
}
