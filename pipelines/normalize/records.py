"""The one normalizer: mapped adapter rows -> canonical rows, each with an error code or none."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl

from pipelines.model import (
    EVENT_IGNORED,
    EVENT_SUPPRESSION,
    MAPPED_SCHEMA,
    REASONS,
    SCOPE_ALL,
    SCOPE_MARKETING,
)
from pipelines.normalize.email import normalize_emails
from pipelines.normalize.phone import normalize_phones
from pipelines.normalize.smtp import classify_rows
from pipelines.normalize.timestamps import parse_times

# An address longer than this (in UTF-8 bytes) is no address: quarantined as value_too_long, its
# reject value cut to VALUE_PREVIEW characters. Far above the 254 of SPEC 2.1, so that a merely
# long address still gets its own reason (too_long); below the readers' field cap (64 KiB).
ADDRESS_MAX_BYTES = 4096
VALUE_PREVIEW = 100
# `detail` is kept verbatim up to this many characters, then cut (and marked with "…").
DETAIL_MAX_CHARS = 4096
ELLIPSIS = "\u2026"
# What a decoder puts where the file's bytes were not text (pipelines.readers decodes UTF-8 with
# replacement). No real address or status holds it, so it marks the row as unreadable.
REPLACEMENT = "\ufffd"


@dataclass(frozen=True)
class FileContext:
    # The file's position in the run: the one thing about the file its records carry (staging
    # joins its name, platform, kind and sha256 from the run's `files` by it).
    file_idx: int
    default_region: str | None
    now: datetime
    slash_order: str | None = None


def split_address_lists(emails: pl.DataFrame) -> pl.DataFrame:
    """One record per address where a cell holds several (`a@x.com; b@y.com`), same line.

    Only cells with more than one `@` and a separator are split, on `;`/`,` when present (display
    names hold spaces), else on whitespace. Glued addresses without a separator stay whole, and
    are rejected as multiple_at.
    """
    raw = pl.col("raw_address")
    several = (raw.str.count_matches("@", literal=True) > 1) & raw.str.contains(r"[;,\s]")
    # A literal count of `@` rules out nearly every batch before any regex runs.
    if not emails.select((raw.str.count_matches("@", literal=True) > 1).any()).item():
        return emails
    if not emails.select(several.any()).item():
        return emails
    unified = (
        pl.when(raw.str.contains(r"[;,]"))
        .then(raw.str.replace_all(r"[;,]+", "\x1f"))
        .otherwise(raw.str.replace_all(r"\s+", "\x1f"))
    )
    return (
        emails.with_columns(pl.when(several).then(unified).otherwise(raw).str.split("\x1f").alias("raw_address"))
        .explode("raw_address")
        .filter(pl.col("raw_address").str.strip_chars() != "")
    )


def _unreadable(batch: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """Split off rows whose address cannot be one: over ADDRESS_MAX_BYTES (value_too_long) or
    holding U+FFFD, bytes the file's encoding could not decode (invalid_encoding).

    They skip address parsing (a huge value is never split or regex-scanned); their reject
    value is a short prefix. Returns (the other rows, the unreadable ones with address and error).
    """
    raw = pl.col("raw_address")
    too_long = raw.str.len_bytes() > ADDRESS_MAX_BYTES
    code = (pl.when(too_long).then(pl.lit("value_too_long"))
            .when(raw.str.contains(REPLACEMENT, literal=True)).then(pl.lit("invalid_encoding")))
    if not batch.select(code.is_not_null().any()).item():
        return batch, None
    marked = batch.with_columns(code.alias("_unreadable"))
    bad = marked.filter(pl.col("_unreadable").is_not_null()).with_columns(
        pl.when(too_long).then(raw.str.slice(0, VALUE_PREVIEW) + ELLIPSIS).otherwise(raw).alias("raw_address"),
        pl.lit(None, pl.String).alias("address"),
        pl.col("_unreadable").alias("error"),
    ).drop("_unreadable")
    return marked.filter(pl.col("_unreadable").is_null()).drop("_unreadable"), bad


def _addresses(batch: pl.DataFrame, region: str | None) -> pl.DataFrame:
    batch, unreadable = _unreadable(batch)
    out = _valid_addresses(batch, region)
    return out if unreadable is None else pl.concat([out, unreadable], how="diagonal_relaxed")


def _valid_addresses(batch: pl.DataFrame, region: str | None) -> pl.DataFrame:
    email_rows, other_rows = batch.select((pl.col("channel") == "email").sum().alias("email"),
                                          (pl.col("channel") != "email").sum().alias("other")).row(0)
    if email_rows == batch.height:  # the usual file: one channel, no need to split the batch
        emails, phones = batch, batch.clear()
    elif other_rows == batch.height:
        emails, phones = batch.clear(), batch
    else:
        emails, phones = batch.filter(pl.col("channel") == "email"), batch.filter(pl.col("channel") != "email")
    emails = split_address_lists(emails)
    parts = []
    if emails.height:
        parts.append(normalize_emails(emails, "raw_address", "address", "error"))
    if phones.height:
        parts.append(normalize_phones(phones, "raw_address", "address", "error", region))
    if not parts:
        return batch.with_columns(pl.lit(None, pl.String).alias("address"), pl.lit(None, pl.String).alias("error"))
    return pl.concat(parts, how="vertical_relaxed")


def resolve_smtp_reasons(batch: pl.DataFrame) -> pl.DataFrame:
    """Fill the reason of rows that left it to the SMTP classifier."""
    waiting = pl.col("reason").is_null() & pl.any_horizontal(
        pl.col("smtp_code").is_not_null(), pl.col("smtp_text").is_not_null(), pl.col("smtp_default").is_not_null()
    )
    if not batch.select(waiting.any()).item():
        return batch
    return batch.with_columns(pl.coalesce(pl.col("reason"), classify_rows(batch)).alias("reason"))


def normalize_batch(batch: pl.DataFrame, ctx: FileContext) -> pl.DataFrame:
    batch = resolve_smtp_reasons(batch.select(list(MAPPED_SCHEMA)).cast(MAPPED_SCHEMA))
    out = _addresses(batch, ctx.default_region)
    times = parse_times(out["occurred_raw"], now=ctx.now, order=ctx.slash_order)
    out = pl.concat([out, times], how="horizontal")

    is_suppression = pl.col("event") == EVENT_SUPPRESSION
    status = pl.col("status").str.strip_chars()
    reason_error = (
        pl.when(~is_suppression | pl.col("reason").is_in(REASONS))
        .then(pl.lit(None, pl.String))
        .when(status.is_null() | (status == ""))
        .then(pl.lit("missing_status"))
        .otherwise(pl.lit("unknown_status"))
    )
    # A status or list scope with undecodable bytes could name the wrong reason or list, even
    # where the vocabulary lookup (which drops punctuation) still finds one.
    garbled = pl.when(pl.any_horizontal(pl.col(c).str.contains(REPLACEMENT, literal=True) for c in ("status", "scope")))
    reason_error = pl.coalesce(garbled.then(pl.lit("invalid_encoding")), reason_error)
    detail = pl.col("detail").str.strip_chars()
    # Bytes first: O(1) a value, and all false in any real batch (Polars then skips the rest).
    cut = pl.when(detail.str.len_chars() > DETAIL_MAX_CHARS).then(detail.str.slice(0, DETAIL_MAX_CHARS) + ELLIPSIS)
    detail = pl.when(detail.str.len_bytes() > DETAIL_MAX_CHARS).then(cut.otherwise(detail)).otherwise(detail)
    # Ignored rows never load, so their address need not be valid either.
    error = pl.when(pl.col("event") == EVENT_IGNORED).then(pl.lit(None, pl.String)).otherwise(
        pl.coalesce(pl.col("error"), reason_error)
    )
    scope = (
        pl.when(pl.col("reason") == "unsubscribe")
        .then(pl.coalesce(pl.col("scope").str.strip_chars().replace("", None), pl.lit(SCOPE_MARKETING)))
        .otherwise(pl.lit(SCOPE_ALL))
    )
    return out.select(
        "channel",
        "address",
        "event",
        "reason",
        scope.alias("scope"),
        "occurred_at",
        "occurred_raw",
        "time_warning",
        pl.lit(ctx.file_idx, dtype=pl.Int32).alias("file_idx"),
        pl.col("_line").alias("source_line"),
        detail.alias("detail"),
        "status",
        "raw_address",
        "bounce_count",
        error.alias("error"),
    )
