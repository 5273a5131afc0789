"""Bounce classification from SMTP replies (SPEC 2.2; platform-formats section 17).

Used where a platform gives only an SMTP code or text. Order of evidence: the enhanced status
code (RFC 3463), then the basic reply code, then the free text (a generic basic code such as 554
only after the text). The tables are plain data.
"""
from __future__ import annotations

import polars as pl

# Enhanced codes whose meaning does not follow from class + subject alone.
DETAIL_CODES: dict[str, str] = {
    "5.1.0": "hard_bounce",  # other address status (userunknown in practice)
    "5.1.1": "hard_bounce",
    "5.1.2": "hard_bounce",
    "5.1.3": "invalid",
    "5.1.4": "soft_bounce",  # ambiguous destination
    "5.1.6": "hard_bounce",
    "5.1.7": "policy_block",  # bad sender mailbox syntax: a sender problem
    "5.1.8": "policy_block",
    "5.1.10": "hard_bounce",  # null MX (RFC 7505)
    "5.2.1": "hard_bounce",  # mailbox disabled
    "5.4.4": "hard_bounce",  # unable to route
    "5.7.13": "hard_bounce",  # user account disabled (RFC 5248)
    "5.7.17": "hard_bounce",  # mailbox owner changed (RFC 7293)
    "5.7.18": "hard_bounce",  # domain owner changed (RFC 7293)
}

# Defaults per subject for class 5 (class 4 is always transient, x.2.2 always soft).
SUBJECT_DEFAULTS: dict[str, str] = {
    "0": "soft_bounce",
    "1": "hard_bounce",
    "2": "soft_bounce",
    "3": "soft_bounce",
    "4": "soft_bounce",
    "5": "soft_bounce",
    "6": "soft_bounce",
    "7": "policy_block",
}

# Basic reply codes (RFC 5321) when no enhanced code is given; 550 is left to the text.
BASIC_CODES: dict[str, str] = {
    "551": "hard_bounce",
    "553": "invalid",
    "552": "soft_bounce",
}
# Basic codes too generic to outrank the text, taken only when the text says nothing: 554
# "transaction failed" is a spam-filter refusal as often as a dead mailbox (Yahoo's
# "554 delivery error: dd This user doesn't have a yahoo.com account").
BASIC_AFTER_TEXT: dict[str, str] = {
    "554": "policy_block",
}

# Free-text fallback, first match wins (case-insensitive regexes).
TEXT_RULES: list[tuple[str, str]] = [
    (r"mailbox (is )?full|quota|over quota|insufficient storage|out of storage", "soft_bounce"),
    (
        r"user unknown|unknown user|no such (user|mailbox|recipient)|does not exist|doesn't exist"
        r"|mailbox unavailable|recipient address rejected|invalid recipient|address rejected"
        r"|host unknown|domain (not found|does not exist)|no mx|account (is )?disabled|mailbox not found"
        r"|doesn't have an? \S+ account|no such account",
        "hard_bounce",
    ),
    (r"blocked|blacklist|block ?list|spamhaus|reputation|policy|spam|dmarc|spf|dkim", "policy_block"),
    (r"temporar|try again|timed? ?out|deferred|greylist|rate limit|too many", "soft_bounce"),
]

_ENHANCED = r"(?:^|[^\d.])([245])\.(\d{1,3})\.(\d{1,3})(?:[^\d.]|$)"
_BASIC = r"(?:^|\D)([245]\d\d)(?:[ -]|$)"


def classify(code: pl.Expr, text: pl.Expr, default: str | pl.Expr | None) -> pl.Expr:
    """Canonical reason from an SMTP code column and/or a text column; `default` when silent.

    `code` and `text` may be the same column. Class 2 codes and unknowns fall to `default`.
    """
    default = default if isinstance(default, pl.Expr) else pl.lit(default, dtype=pl.String)
    both = pl.concat_str([code.fill_null(""), text.fill_null("")], separator=" ")
    parts = both.str.extract_groups(_ENHANCED)
    klass, subject, detail = (parts.struct.field(k) for k in ("1", "2", "3"))
    enhanced = klass + "." + subject + "." + detail
    basic = both.str.extract(_BASIC, 1)

    by_enhanced = (
        pl.when(klass == "4")
        .then(pl.lit("soft_bounce"))
        .when((subject == "2") & (detail == "2"))
        .then(pl.lit("soft_bounce"))  # mailbox full is transient even when sent as 5.2.2
        .when(klass == "5")
        .then(
            enhanced.replace_strict(DETAIL_CODES, default=None, return_dtype=pl.String).fill_null(
                subject.replace_strict(SUBJECT_DEFAULTS, default="soft_bounce", return_dtype=pl.String)
            )
        )
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    by_text: pl.Expr = pl.lit(None, dtype=pl.String)
    for pattern, reason in reversed(TEXT_RULES):
        by_text = pl.when(both.str.contains("(?i)" + pattern)).then(pl.lit(reason)).otherwise(by_text)
    by_basic = (
        pl.when(basic.str.starts_with("4"))
        .then(pl.lit("soft_bounce"))
        .otherwise(basic.replace_strict(BASIC_CODES, default=None, return_dtype=pl.String))
    )
    generic_basic = basic.replace_strict(BASIC_AFTER_TEXT, default=None, return_dtype=pl.String)
    basic_5xx_hard = pl.when(basic.str.starts_with("5")).then(pl.lit("hard_bounce"))
    return pl.coalesce(by_enhanced, by_basic, by_text, generic_basic, basic_5xx_hard, default)


def classify_rows(frame: pl.DataFrame) -> pl.Series:
    """`classify` for rows with `smtp_code`/`smtp_text`/`smtp_default`, evaluated per distinct triple."""
    keys = ["smtp_code", "smtp_text", "smtp_default"]
    distinct = frame.select(keys).unique().with_columns(
        classify(pl.col("smtp_code"), pl.col("smtp_text"), pl.col("smtp_default")).alias("_smtp_reason")
    )
    joined = frame.select(keys).with_row_index("_i").join(distinct, on=keys, how="left", nulls_equal=True)
    return joined.sort("_i")["_smtp_reason"]
