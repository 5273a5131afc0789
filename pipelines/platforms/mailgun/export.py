"""Mailgun suppression lists (platform-formats section 3), per sending domain: CSV (the import/
export layout) or the API JSON `{"items": [...], "paging": {...}}` (the reader keeps `items`).

| kind | columns | reason |
| --- | --- | --- |
| bounces | address, code, error, created_at | from the SMTP code/text, default hard_bounce |
| unsubscribes | address, tag or tags, created_at | unsubscribe; tag `*` -> marketing, else list:<tag> |
| complaints | address, created_at | spam_complaint |

`code` may be a JSON number or a string; `created_at` is RFC 2822 (`Fri, 21 Oct 2011 11:02:55 GMT`).
An unsubscribe with several tags (`["newsletter","promo"]`) is one suppression per tag.
"""
from __future__ import annotations

import re

import polars as pl

from pipelines.platforms.base import Adapter, MapOptions, Match, Probe, col, mapped, norm_name, unsub_scope

KIND_COLUMNS: dict[str, frozenset[str]] = {
    "bounces": frozenset({"address", "code", "error", "createdat", "id", "mailingid"}),
    "unsubscribes": frozenset({"address", "tag", "tags", "createdat", "id"}),
    "complaints": frozenset({"address", "createdat", "count", "id"}),
}

NAME_HINTS: tuple[tuple[str, str], ...] = (
    ("complaints", r"complain|spam|abuse"),
    ("unsubscribes", r"unsub|opt.?out"),
    ("bounces", r"bounce"),
)

_RFC2822 = re.compile(r"^\s*(?:[A-Z][a-z]{2}, )?\d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d(?::\d\d)?\s+(?:[A-Z]{2,4}|[+-]\d{4})\s*$")
_TAG_JUNK = "[]\"' "


def _keys(probe: Probe) -> frozenset[str]:
    return frozenset(norm_name(c) for c in probe.columns if not re.fullmatch(r"_col\d+", c))


def _name_kind(probe: Probe) -> str | None:
    for kind, pattern in NAME_HINTS:
        if re.search(pattern, probe.lname):
            return kind
    return None


def _rfc2822_times(probe: Probe) -> bool:
    created = probe.column("created_at")
    if created is None or created not in probe.sample.columns:
        return False
    values = [v for v in probe.sample.get_column(created).drop_nulls().to_list() if v.strip()]
    return bool(values) and all(_RFC2822.match(v) for v in values)


class MailgunAdapter(Adapter):
    name = "mailgun"
    description = "Mailgun suppressions per domain: bounces, unsubscribes (tags), complaints; CSV or API JSON items"
    kinds = tuple(KIND_COLUMNS)

    def detect(self, probe: Probe) -> Match | None:
        keys = _keys(probe)
        if not {"address", "createdat"} <= keys:
            return None
        dates = _rfc2822_times(probe)
        hinted = _name_kind(probe)
        if keys & {"code", "error"} and keys <= KIND_COLUMNS["bounces"]:
            return Match("bounces", 95, "columns address, code, error, created_at")
        if keys & {"tag", "tags"} and keys <= KIND_COLUMNS["unsubscribes"]:
            return Match("unsubscribes", 95, "columns address, tag(s), created_at")
        if not keys <= KIND_COLUMNS["complaints"]:
            return None
        # `address,created_at` alone: the complaints layout, but any list trimmed to two columns too.
        if hinted is not None:
            return Match(hinted, 95 if hinted == "complaints" else 85, f"file name says {hinted}; columns address, created_at")
        if dates:
            return Match("complaints", 75, "columns address, created_at with Mailgun (RFC 2822) times")
        return Match("complaints", 50, "columns address, created_at (Mailgun complaints layout)")

    def map(self, frame: pl.LazyFrame, probe: Probe, match: Match, opts: MapOptions) -> pl.LazyFrame:
        address = pl.col(probe.column("address"))
        occurred = col(probe.column("created_at"))
        if match.kind == "bounces":
            code, error = col(probe.column("code")), col(probe.column("error"))
            return mapped(
                frame,
                address=address,
                reason=pl.lit(None, dtype=pl.String),
                status=code,
                occurred=occurred,
                detail=error,
                smtp=(code, error, "hard_bounce"),
            )
        if match.kind == "unsubscribes":
            tag_col = probe.column("tags", "tag")
            if tag_col is None:
                scope, detail = unsub_scope(None), None
            else:
                # One row per tag: `newsletter,promo` (or a joined JSON list) unsubscribes from both.
                frame = frame.with_columns(pl.col(tag_col).str.split(",").alias("_tag")).explode("_tag")
                scope, detail = unsub_scope(pl.col("_tag").str.strip_chars(_TAG_JUNK)), pl.col(tag_col)
            return mapped(
                frame,
                address=address,
                reason=pl.lit("unsubscribe"),
                status=pl.lit("unsubscribes"),
                scope=scope,
                occurred=occurred,
                detail=detail,
            )
        return mapped(
            frame,
            address=address,
            reason=pl.lit("spam_complaint"),
            status=pl.lit("complaints"),
            occurred=occurred,
        )


ADAPTER = MailgunAdapter()
