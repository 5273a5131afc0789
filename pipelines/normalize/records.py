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


@dataclass(frozen=True)
class FileContext:
    tenant: str
    platform: str
    kind: str
    file: str
    file_idx: int  # the file's position in the run: a small key for staging
    sha256: str
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


def _addresses(batch: pl.DataFrame, region: str | None) -> pl.DataFrame:
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
        pl.lit(ctx.tenant).alias("tenant"),
        "channel",
        "address",
        "event",
        "reason",
        scope.alias("scope"),
        "occurred_at",
        "occurred_raw",
        "time_warning",
        pl.lit(ctx.platform).alias("source_platform"),
        pl.lit(ctx.kind).alias("source_kind"),
        pl.lit(ctx.file).alias("source_file"),
        pl.lit(ctx.sha256).alias("source_sha256"),
        pl.lit(ctx.file_idx, dtype=pl.Int32).alias("file_idx"),
        pl.col("_line").alias("source_line"),
        pl.col("detail").str.strip_chars(),
        "status",
        "raw_address",
        "bounce_count",
        error.alias("error"),
    )
