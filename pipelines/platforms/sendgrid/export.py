"""SendGrid suppression lists (platform-formats section 2): UI "Download CSV" files and the v3 API
JSON arrays of the same shapes.

| kind | columns | reason |
| --- | --- | --- |
| bounces | email, created, status, reason | from the SMTP code/text, default hard_bounce |
| blocks | email, created, status, reason | policy_block whatever the code |
| spam_reports | email, created, ip | spam_complaint |
| invalid_emails | email, created, reason | invalid |
| unsubscribes | email, created | unsubscribe, scope marketing |
| group_unsubscribes | email, group_id, group_name, created_at | unsubscribe, scope list:<group_id> |

Bounces and blocks share their columns, and every list may arrive trimmed to `email,created`: the
file name says which list it is; without a name hint `email,created` is the global unsubscribes.
`created` is epoch seconds (or `YYYY-MM-DD HH:MM:SS` in old files) and passes through as is.
"""
from __future__ import annotations

import re

import polars as pl

from pipelines.platforms.base import Adapter, MapOptions, Match, Probe, col, mapped, norm_name, unsub_scope

KIND_COLUMNS: dict[str, frozenset[str]] = {
    "bounces": frozenset({"email", "created", "status", "reason"}),
    "blocks": frozenset({"email", "created", "status", "reason"}),
    "spam_reports": frozenset({"email", "created", "ip"}),
    "invalid_emails": frozenset({"email", "created", "reason"}),
    "unsubscribes": frozenset({"email", "created"}),
    "group_unsubscribes": frozenset({"email", "groupid", "groupname", "createdat", "created"}),
}

# File-name hints, first match wins (`group_unsubscribes` also contains `unsub`).
NAME_HINTS: tuple[tuple[str, str], ...] = (
    ("group_unsubscribes", r"group|asm"),
    ("spam_reports", r"spam"),
    ("invalid_emails", r"invalid"),
    ("blocks", r"block"),
    ("bounces", r"bounce"),
    ("unsubscribes", r"unsub|opt.?out"),
)

# Which kind a full set of columns means when the name does not say.
CONTENT_KINDS: tuple[tuple[frozenset[str], str, int], ...] = (
    (frozenset({"email", "created", "status", "reason"}), "bounces", 80),
    (frozenset({"email", "created", "ip"}), "spam_reports", 85),
    (frozenset({"email", "created", "reason"}), "invalid_emails", 80),
    (frozenset({"email", "created"}), "unsubscribes", 60),
)

FIXED_REASONS = {
    "blocks": "policy_block",
    "spam_reports": "spam_complaint",
    "invalid_emails": "invalid",
    "unsubscribes": "unsubscribe",
    "group_unsubscribes": "unsubscribe",
}

_SENDGRID_TIME = re.compile(r"^\s*(\d{9,10}|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\s*$")
_GROUP_ID = re.compile(r"(?:group|asm)\D{0,24}?(\d+)")


def _keys(probe: Probe) -> frozenset[str]:
    """Normalized header names, without empty trailing columns (`_col5`)."""
    return frozenset(norm_name(c) for c in probe.columns if not re.fullmatch(r"_col\d+", c))


def _name_kind(probe: Probe) -> str | None:
    for kind, pattern in NAME_HINTS:
        if re.search(pattern, probe.lname):
            return kind
    return None


def _created_looks_like_sendgrid(probe: Probe) -> bool:
    created = probe.column("created")
    if created is None or created not in probe.sample.columns:
        return False
    values = probe.sample.get_column(created).drop_nulls().to_list()
    return bool(values) and all(_SENDGRID_TIME.match(v) for v in values if v.strip())


class SendGridAdapter(Adapter):
    name = "sendgrid"
    description = (
        "SendGrid suppression lists: bounces, blocks, spam_reports, invalid_emails, (group) unsubscribes; "
        "UI CSV or API JSON"
    )
    kinds = tuple(KIND_COLUMNS)

    def detect(self, probe: Probe) -> Match | None:
        keys = _keys(probe)
        if "email" not in keys:
            return None
        hinted = _name_kind(probe)
        if "groupid" in keys and keys <= KIND_COLUMNS["group_unsubscribes"]:
            return Match("group_unsubscribes", 95, "columns email, group_id (ASM group suppressions)")
        if keys == {"email"}:
            # The one-group ASM endpoint returns bare addresses: only the name can say so.
            if hinted == "group_unsubscribes" and probe.fmt == "json":
                return Match("group_unsubscribes", 70, "JSON array of addresses named as an ASM group")
            return None
        if "created" not in keys:
            return None
        if hinted is not None and keys <= KIND_COLUMNS[hinted]:
            full = keys == KIND_COLUMNS[hinted] or hinted == "group_unsubscribes"
            return Match(hinted, 95 if full else 90, f"file name says {hinted}; columns {', '.join(sorted(keys))}")
        for columns, kind, score in CONTENT_KINDS:
            if keys == columns:
                if not _created_looks_like_sendgrid(probe):
                    score -= 10
                return Match(kind, score, f"columns {', '.join(sorted(keys))}")
        return None

    def map(self, frame: pl.LazyFrame, probe: Probe, match: Match, opts: MapOptions) -> pl.LazyFrame:
        kind = match.kind
        status_col, text_col = probe.column("status"), probe.column("reason")
        smtp = None
        if kind == "bounces":
            reason, smtp = pl.lit(None, dtype=pl.String), (col(status_col), col(text_col), "hard_bounce")
        else:
            reason = pl.lit(FIXED_REASONS[kind])
        status = col(status_col) if status_col is not None else pl.lit(kind)
        detail = col(text_col)
        scope = None
        if kind == "spam_reports":
            detail = col(probe.column("ip"))
        elif kind == "unsubscribes":
            scope = unsub_scope(None)
        elif kind == "group_unsubscribes":
            group_col = probe.column("group_id")
            if group_col is not None:
                scope = unsub_scope(pl.col(group_col))
            else:
                found = _GROUP_ID.search(probe.lname)
                scope = unsub_scope(pl.lit(found.group(1)) if found else None)
            detail = col(probe.column("group_name"))
        return mapped(
            frame,
            address=pl.col(probe.column("email")),
            reason=reason,
            status=status,
            scope=scope,
            occurred=col(probe.column("created", "created_at")),
            detail=detail,
            smtp=smtp,
        )


ADAPTER = SendGridAdapter()
