"""The one small interface every platform adapter implements, plus helpers they share.

An adapter does two things:
- `detect(probe)`: from the file name and a sample of its content, say whether this is one of
  its exports (which kind, how sure, and why);
- `map(frame, probe, match, opts)`: turn the file's columns into the mapped columns of
  `pipelines.model.MAPPED_SCHEMA` with Polars expressions. Status vocabularies are plain dicts.
Normalization, validation and deduplication happen after, in one place for every platform.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import ClassVar

import polars as pl

from pipelines.model import (
    EVENT_IGNORED,
    EVENT_SUPPRESSION,
    MAPPED_SCHEMA,
    SCOPE_ALL,
    SCOPE_MARKETING,
)


def norm_name(name: str) -> str:
    """Header name for matching: lowercase letters and digits only (`E-mail Address` -> `emailaddress`)."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def norm_status(expr: pl.Expr) -> pl.Expr:
    """Status value for vocabulary lookup, normalized like header names."""
    return expr.str.to_lowercase().str.replace_all(r"[^a-z0-9]", "")


@dataclass(frozen=True)
class Probe:
    """What detection may look at: the file's name, its header and a sample of rows."""

    name: str  # base name of the file or archive member
    fmt: str  # csv | json | ndjson
    columns: list[str]
    has_header: bool
    sample: pl.DataFrame = field(repr=False)

    @classmethod
    def of(cls, table) -> Probe:
        """The probe of a `pipelines.readers.Table`."""
        return cls(table.source.name, table.fmt, table.columns, table.has_header, table.sample)

    @property
    def lname(self) -> str:
        return self.name.lower()

    @property
    def keys(self) -> set[str]:
        return {norm_name(c) for c in self.columns}

    def column(self, *candidates: str) -> str | None:
        """The actual column whose normalized name equals one of the candidates (first wins)."""
        by_key: dict[str, str] = {}
        for c in self.columns:
            by_key.setdefault(norm_name(c), c)
        for cand in candidates:
            found = by_key.get(norm_name(cand))
            if found is not None:
                return found
        return None

    def has(self, *candidates: str) -> bool:
        return all(self.column(c) is not None for c in candidates)

    def values(self, column: str | None) -> pl.Series:
        """Distinct non-empty sample values of a column (normalized as statuses)."""
        if column is None or column not in self.sample.columns:
            return pl.Series([], dtype=pl.String)
        return self.sample.select(norm_status(pl.col(column)).drop_nulls().unique()).to_series()


@dataclass(frozen=True)
class Match:
    """A detection verdict: which kind of export, how sure (0-100), and why, for `detect`."""

    kind: str
    score: int
    why: str


@dataclass(frozen=True)
class MapOptions:
    reason: str | None = None  # --reason: for plain lists and status-less exports
    default_region: str | None = None


class Adapter:
    """Base class: subclasses set `name`, `description`, `kinds` and implement detect/map."""

    name: ClassVar[str]
    description: ClassVar[str]
    kinds: ClassVar[tuple[str, ...]] = ()
    # Exports that carry no status of their own are refused unless --reason is given.
    needs_reason: ClassVar[frozenset[str]] = frozenset()

    def detect(self, probe: Probe) -> Match | None:  # pragma: no cover - interface
        raise NotImplementedError

    def map(self, frame: pl.LazyFrame, probe: Probe, match: Match, opts: MapOptions) -> pl.LazyFrame:
        raise NotImplementedError  # pragma: no cover - interface


def mapped(
    frame: pl.LazyFrame,
    *,
    address: pl.Expr,
    reason: pl.Expr,
    status: pl.Expr | None = None,
    channel: str | pl.Expr = "email",
    scope: pl.Expr | None = None,
    occurred: pl.Expr | None = None,
    detail: pl.Expr | None = None,
    event: pl.Expr | None = None,
    smtp: tuple[pl.Expr, pl.Expr, str | None] | None = None,
    bounce_count: pl.Expr | None = None,
) -> pl.LazyFrame:
    """Build the mapped frame every adapter returns, with defaults filled in.

    `reason` null with a non-empty `status` means the status was not understood (quarantined
    as unknown_status); `event` defaults to a suppression. `smtp=(code, text, default)` leaves
    the reason of rows whose `reason` is null to the SMTP classifier, which the normalizer runs
    once per distinct reply (reply texts repeat; millions of rows share a few hundred).
    `bounce_count`: the previous platform's consecutive soft-bounce count, on soft_bounce rows
    (strings such as "3" are cast; anything unparseable becomes null).
    """
    null = pl.lit(None, dtype=pl.String)
    code, text, default = smtp if smtp is not None else (null, null, None)
    out = frame.select(
        pl.col("_line").cast(pl.Int64),
        address.cast(pl.String).alias("raw_address"),
        (pl.lit(channel) if isinstance(channel, str) else channel).cast(pl.String).alias("channel"),
        (event if event is not None else pl.lit(EVENT_SUPPRESSION)).cast(pl.String).alias("event"),
        reason.cast(pl.String).alias("reason"),
        (status if status is not None else null).cast(pl.String).alias("status"),
        (scope if scope is not None else null).cast(pl.String).alias("scope"),
        (occurred if occurred is not None else null).cast(pl.String).alias("occurred_raw"),
        (detail if detail is not None else null).cast(pl.String).alias("detail"),
        code.cast(pl.String).alias("smtp_code"),
        text.cast(pl.String).alias("smtp_text"),
        pl.lit(default, dtype=pl.String).alias("smtp_default"),
        (bounce_count.cast(pl.String).str.strip_chars().cast(pl.Int64, strict=False) if bounce_count is not None
         else pl.lit(None, dtype=pl.Int64)).alias("bounce_count"),
    )
    return out.select(list(MAPPED_SCHEMA))


def lookup(expr: pl.Expr, vocabulary: dict[str, str | None]) -> pl.Expr:
    """Map a status column through a vocabulary whose keys are already `norm_status`-normalized."""
    keys = {norm_name(k): v for k, v in vocabulary.items()}
    return norm_status(expr).replace_strict(keys, default=None, return_dtype=pl.String)


def col(name: str | None) -> pl.Expr:
    """A column by name, or a null string column when the export lacks it."""
    return pl.col(name) if name is not None else pl.lit(None, dtype=pl.String)


def unsub_scope(list_id: pl.Expr | None) -> pl.Expr:
    """`list:<id>` where the export names a list/group/topic, `marketing` otherwise."""
    if list_id is None:
        return pl.lit(SCOPE_MARKETING)
    lid = list_id.str.strip_chars()
    return pl.when(lid.is_null() | (lid == "") | (lid == "*")).then(pl.lit(SCOPE_MARKETING)).otherwise("list:" + lid)


def record_per_entry(frame: pl.DataFrame, entries: list[pl.Expr], nothing: pl.Expr, **carry: pl.Expr) -> pl.DataFrame:
    """Rows that each say several things (a contact's flags per channel or subscription, its
    lists) as one record per entry: `entries` are structs with a boolean field `keep`; a row that
    keeps none gives one `nothing` struct instead, marked `_ignored` (counted, never dropped).
    `carry` are columns every record of the row takes (`_address=...`)."""
    none_kept = pl.concat_list([nothing])
    kept = pl.concat_list(entries).list.filter(pl.element().struct.field("keep")) if entries else none_kept.list.filter(pl.lit(False))
    return (
        frame.select(
            "_line",
            *(expr.alias(name) for name, expr in carry.items()),
            pl.when(kept.list.len() > 0).then(kept).otherwise(none_kept).alias("_entry"),
            (kept.list.len() == 0).alias("_ignored"),
        )
        .explode("_entry")
        .unnest("_entry")
    )


def event_unless_ignored(ignored: pl.Expr) -> pl.Expr:
    """The `event` of a record: a suppression, or `ignored` where the row says nothing."""
    return pl.when(ignored).then(pl.lit(EVENT_IGNORED)).otherwise(pl.lit(EVENT_SUPPRESSION))


__all__ = [
    "Adapter",
    "EVENT_IGNORED",
    "EVENT_SUPPRESSION",
    "MapOptions",
    "Match",
    "Probe",
    "SCOPE_ALL",
    "col",
    "event_unless_ignored",
    "lookup",
    "mapped",
    "norm_name",
    "norm_status",
    "record_per_entry",
    "unsub_scope",
]
