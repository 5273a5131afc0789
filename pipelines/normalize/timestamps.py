"""Event times to UTC as Polars expressions (SPEC 2.1, platform-formats section 18).

A time that cannot be used never rejects a row: it becomes null with a warning code, and the raw
string is kept by the caller.
"""
from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from pipelines.model import UTC_TS

EARLIEST = datetime(1995, 1, 1, tzinfo=UTC)

_ZONES = {
    "GMT": "+0000", "UTC": "+0000", "UT": "+0000", "Z": "+0000",
    "EST": "-0500", "EDT": "-0400", "CST": "-0600", "CDT": "-0500",
    "MST": "-0700", "MDT": "-0600", "PST": "-0800", "PDT": "-0700",
}
_NULLISH = r"(?i)^(|n/?a|null|none|-|0000-00-00( 00:00:00)?|0)$"


def _aware(s: pl.Expr, fmt: str) -> pl.Expr:
    return s.str.to_datetime(fmt, strict=False, time_unit="us", time_zone="UTC")


def _naive(s: pl.Expr, fmt: str) -> pl.Expr:
    return s.str.to_datetime(fmt, strict=False, time_unit="us").dt.replace_time_zone("UTC")


def slash_order(frame: pl.LazyFrame, column: str) -> str | None:
    """Decide D/M vs M/D once for a whole file's column: 'dmy', 'mdy', or None (never says).

    A day over 12 decides. A file that shows both orders is ambiguous too (None).
    """
    parts = pl.col(column).str.strip_chars().str.extract_groups(r"^(\d{1,2})[/-](\d{1,2})[/-]\d{2,4}")
    stats = frame.select(
        (parts.struct.field("1").cast(pl.Int32, strict=False) > 12).any().alias("dmy"),
        (parts.struct.field("2").cast(pl.Int32, strict=False) > 12).any().alias("mdy"),
    ).collect()
    dmy, mdy = bool(stats["dmy"][0]), bool(stats["mdy"][0])
    if dmy != mdy:
        return "dmy" if dmy else "mdy"
    return None


def parse_times(values: pl.Series, now: datetime | None = None, order: str | None = "auto") -> pl.DataFrame:
    """Parse a column of raw time strings; returns columns `occurred_at` and `time_warning`.

    `order` is the file's day/month order from `slash_order` ("auto" decides on these values).
    """
    now = now or datetime.now(UTC)
    frame = pl.DataFrame({"raw": values.cast(pl.String)})
    raw = pl.col("raw").str.strip_chars()
    cleaned = raw.str.replace(r"(?i)^[a-z]{3},\s*", "")  # RFC 2822 day name
    cleaned = cleaned.str.replace(r"(\d)T(\d)", "$1 $2").str.replace(r"\s*Z$", "+0000")
    for name, offset in _ZONES.items():
        cleaned = cleaned.str.replace(rf"\s+{name}$", f" {offset}")
    cleaned = cleaned.str.replace(r"([+-]\d{2}):(\d{2})$", "$1$2")
    s = pl.col("_s")

    epoch = raw.str.contains(r"^\d{9,10}(\.\d+)?$")
    epoch_ms = raw.str.contains(r"^\d{12,13}$")
    from_epoch = (
        pl.when(epoch)
        .then((raw.cast(pl.Float64, strict=False) * 1_000_000).cast(pl.Int64, strict=False))
        .when(epoch_ms)
        .then(raw.cast(pl.Int64, strict=False) * 1000)
        .cast(pl.Datetime("us"))
        .dt.replace_time_zone("UTC")
    )
    # The common shapes first, straight on the raw value; the cleaned value only for the rest.
    direct = [from_epoch, _naive(raw, "%Y-%m-%d %H:%M:%S")]
    candidates = [
        _aware(s, "%Y-%m-%d %H:%M:%S%.f%z"),
        _aware(s, "%Y-%m-%d %H:%M:%S %z"),
        _aware(s, "%Y-%m-%d %H:%M%z"),
        _naive(s, "%Y-%m-%d %H:%M:%S%.f"),
        _naive(s, "%Y-%m-%d %H:%M"),
        _naive(s, "%Y-%m-%d"),
        _naive(s, "%Y%m%d %H%M%S"),
        _aware(s, "%d %b %Y %H:%M:%S %z"),
        _naive(s, "%b %d, %Y"),
        _naive(s, "%B %d, %Y"),
    ]
    if order == "auto":
        order = slash_order(frame.lazy(), "raw")
    if order is not None:
        d, m = ("%d", "%m") if order == "dmy" else ("%m", "%d")
        for fmt in (f"{d}/{m}/%Y %H:%M:%S", f"{d}/{m}/%Y %H:%M", f"{d}/{m}/%Y", f"{d}/{m}/%y %I:%M %p", f"{d}/{m}/%y"):
            candidates.append(_naive(s, fmt))
    if order == "dmy":
        candidates += [_naive(s, "%d-%m-%Y %H:%M"), _naive(s, "%d-%m-%Y %H:%M:%S"), _naive(s, "%d-%m-%Y")]

    # Each format is tried only on the rows no earlier format could read: a file usually has
    # one format, so most columns are parsed once.
    parsed = pl.repeat(None, frame.height, dtype=UTC_TS, eager=True).alias("_t")
    todo = frame.with_row_index("_i").filter(pl.col("raw").is_not_null())
    for n, candidate in enumerate(direct + candidates):
        if todo.height == 0:
            break
        if n == len(direct):
            todo = todo.with_columns(cleaned.alias("_s"))
        got = todo.select("_i", candidate.cast(UTC_TS).alias("_t"))
        read = got["_t"].is_not_null()
        if not read.any():
            continue
        if n == 0 and read.all() and got.height == frame.height:  # the whole column in the first shape
            parsed = got["_t"]
            break
        parsed = parsed.scatter(got["_i"].filter(read), got["_t"].filter(read))
        todo = todo.filter(~read)
    out = frame.with_columns(parsed)
    if parsed.null_count():  # (a nullish value never parses, so only unread rows can be nullish)
        nullish = raw.is_null() | raw.str.contains(_NULLISH)
        unread = (
            pl.when(nullish)
            .then(pl.lit(None, dtype=pl.String))
            .when(raw.str.contains(r"^\d{1,2}[/-]\d{1,2}[/-]\d{2,4}"))
            .then(pl.lit("ambiguous_day_month"))
            .otherwise(pl.lit("unparseable_time"))
        )
    else:  # every row has a time: only its range can warn
        unread = pl.lit(None, dtype=pl.String)
    warning = (
        pl.when(pl.col("_t").is_null())
        .then(unread)
        .when(pl.col("_t") > now)
        .then(pl.lit("future_time"))
        .when(pl.col("_t") < EARLIEST)
        .then(pl.lit("time_before_1995"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    out = out.with_columns(warning.alias("time_warning"))
    return out.select(
        pl.when(pl.col("time_warning").is_null()).then(pl.col("_t")).otherwise(None).alias("occurred_at"),
        "time_warning",
    )
