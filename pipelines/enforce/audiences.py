"""Send-out planning (`suppress audience`): the sendable recipients of a send-out, suppressed ones
removed by the blocking rules of its purpose, each normalized address once, with how many were
removed and why.

Counting, the same for every purpose: each address is normalized first, and every later
occurrence of a normalized address already seen is a `duplicate`, whatever happened to the first
one (sent or removed). So each address is counted once, as sendable or as removed (by its
strongest reason), and `sendable + sum(removed) + duplicates` is the number of recipients in. A
recipient whose address does not normalize (`invalid_address`) has no address to repeat: each is
counted as removed. Whether the first occurrence is sent is decided for the address as a whole:
one contact that opted out speaks for every contact of its address.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import polars as pl

from pipelines.enforce.contacts import EMAIL_COLUMNS, PHONE_COLUMNS, contacts_for_list
from pipelines.errors import DataRefused, UsageError
from pipelines.lists import mapping_for
from pipelines.model import PURPOSES, blocks_expr
from pipelines.normalize.email import normalize_emails
from pipelines.normalize.phone import normalize_phones
from pipelines.platforms.base import Probe
from pipelines.readers import iter_inputs, read_table
from pipelines.store import Store

# Which reason a removed recipient is counted under when several apply: the strongest first.
REMOVAL_ORDER = ("spam_complaint", "hard_bounce", "invalid", "manual", "unsubscribe")


def _removal(reasons: pl.Expr) -> pl.Expr:
    """The strongest blocking reason of a list."""
    out = pl.lit(None, pl.String)
    for reason in reversed(REMOVAL_ORDER):
        out = pl.when(reasons.list.contains(reason)).then(pl.lit(reason)).otherwise(out)
    return out


def _blocked(store: Store, tenant: str, purpose: str, channel: str, addresses: pl.Series,
             send_list: str | None = None, mapping: dict[str, str] | None = None) -> pl.DataFrame:
    """(address, removed_because) for the distinct addresses the rules block for this purpose."""
    distinct = pl.DataFrame({"address": addresses}).drop_nulls().unique()
    inputs = distinct.with_row_index("idx").with_columns(pl.lit(channel).alias("channel"),
                                                         pl.col("address").alias("input"))
    hits = store.check(tenant, inputs.select("idx", "input", "channel", "address"))
    hits = (hits.filter(blocks_expr(purpose, send_list, mapping))
            .group_by("idx").agg(pl.col("reason").unique().alias("reasons")))
    return (inputs.join(hits, on="idx").select("address", _removal(pl.col("reasons")).alias("removed_because")))


def plan_audience(store: Store, tenant: str, purpose: str, path: str | None = None, use_contacts: bool = False,
                  channel: str | None = None, default_region: str | None = None,
                  send_list: str | None = None) -> tuple[pl.DataFrame, dict]:
    """The sendable recipients (each normalized address once) and `{sendable, removed, duplicates}`;
    `send_list`: the tenant's new list the send-out goes to (SPEC 2.2)."""
    if purpose not in PURPOSES:
        raise UsageError("--purpose must be marketing or transactional")
    if (path is None) == (not use_contacts):
        raise UsageError("give either an audience file or --contacts")
    mapping = mapping_for(store, tenant, send_list)
    if use_contacts:
        frame = contacts_for_list(store, tenant, send_list)
        channel = channel or "email"
        column = "email" if channel == "email" else "phone"
        recipients = frame.select("id", column, "marketing_consent").with_columns(pl.col(column).alias("address"),
                                                                                    pl.lit(None, pl.String).alias("_error"))
    else:
        with tempfile.TemporaryDirectory(prefix="suppress-audience-") as tmp:
            inputs = list(iter_inputs([path], Path(tmp)))
            if len(inputs) != 1:
                raise UsageError(f"{path}: an audience is one file ({len(inputs)} found)")
            source = inputs[0]
            table = read_table(source)
            probe = Probe.of(table)
            email_col, phone_col = probe.column(*EMAIL_COLUMNS), probe.column(*PHONE_COLUMNS)
            channel = channel or ("email" if email_col else "sms")
            column = email_col if channel == "email" else phone_col
            if column is None:
                raise DataRefused(f"{source.display}: an audience file needs an `email` or `phone` column "
                                  f"(columns: {', '.join(table.columns[:10])})")
            frame = table.frame.collect()
        if "address" in frame.columns:
            frame = frame.rename({"address": "address_original"})
            column = "address_original" if column == "address" else column
        raw = frame.select(pl.col(column).alias("_raw"))
        normalized = (normalize_emails(raw, "_raw", "address", "_error") if channel == "email"
                      else normalize_phones(raw, "_raw", "address", "_error", default_region))
        recipients = pl.concat([frame.drop("_line"), normalized.select("address", "_error")], how="horizontal")
    blocked = _blocked(store, tenant, purpose, channel, recipients["address"], send_list, mapping)
    consent = pl.col("marketing_consent") if use_contacts else pl.lit(None, pl.String)
    address_consent = pl.col("_consent")
    reason = (
        pl.when(pl.col("address").is_null()).then(pl.lit("invalid_address"))
        .when(pl.col("removed_because").is_not_null()).then(pl.col("removed_because"))
        .when(pl.lit(purpose == "marketing") & address_consent.is_not_null())
        .then(pl.concat_str(pl.lit("consent_"), address_consent))
        .otherwise(pl.lit(None, pl.String))
    )
    judged = recipients.join(blocked, on="address", how="left", maintain_order="left")
    # One contact that opted out (or waits for double opt-in) speaks for every contact of its address.
    judged = judged.with_columns(
        pl.when(consent.is_in(["unsubscribed", "pending_double_opt_in"])).then(consent).otherwise(None)
        .max().over("address").alias("_consent"))
    repeat = pl.col("address").is_not_null() & ~pl.col("address").is_first_distinct()
    judged = judged.with_columns(reason.alias("_removed"), repeat.alias("_repeat"))
    firsts = judged.filter(~pl.col("_repeat"))
    sendable = firsts.filter(pl.col("_removed").is_null())
    removed = dict(firsts.filter(pl.col("_removed").is_not_null()).group_by("_removed").len()
                   .sort(["len", "_removed"], descending=[True, False]).iter_rows())
    out = sendable.drop("_error", "removed_because", "_removed", "_consent", "_repeat")
    summary = {"tenant": tenant, "purpose": purpose, "channel": channel, "list": send_list,
               "recipients_in": recipients.height, "sendable": sendable.height, "removed": removed,
               "duplicates": judged.height - firsts.height}
    return out, summary
