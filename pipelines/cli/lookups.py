"""Lookups: may these addresses be mailed (`check`), the active suppressions (`export`), and the
sendable recipients of a send-out (`audience`)."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from pipelines.cli.options import JsonOpt, ListOpt, RegionOpt, StoreOpt, TenantOpt, store_at
from pipelines.cli.output import err, make_table, out, print_json
from pipelines.errors import UsageError
from pipelines.writers import guard_formulas, write_frame


def check(
    addresses: Annotated[Optional[list[str]], typer.Argument(help="Emails (with @) or phone numbers.")] = None,
    tenant: TenantOpt = ...,
    purpose: Annotated[str, typer.Option(help="marketing or transactional.")] = "marketing",
    default_region: Annotated[Optional[str], typer.Option("--default-region", help="Region for national phone numbers, e.g. US.")] = None,
    file: Annotated[Optional[Path], typer.Option("--file", help="One address a line.")] = None,
    send_list: ListOpt = None,
    as_json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Say whether addresses may be mailed."""
    from pipelines.lookup import check_frame, read_address_file
    from pipelines.model import PURPOSES

    if purpose not in PURPOSES:
        raise UsageError("--purpose must be marketing or transactional")
    inputs = list(addresses or [])
    if file is not None:
        inputs += read_address_file(file)
    if not inputs:
        raise UsageError("give addresses or --file")
    with store_at(store) as st:
        results = check_frame(st, tenant, inputs, purpose, default_region, send_list)
    if as_json:  # written by Polars: a million results in a second, not a minute
        sys.stdout.write(results.write_json() + "\n")
        return
    if results.height > 1000:  # a table of a million rows takes minutes to lay out: tab-separated lines
        import polars as pl

        guard_formulas(results.select(
            "input", pl.col("address").fill_null("(unparseable)"),
            pl.when(pl.col("suppressed")).then(pl.lit("yes")).otherwise(pl.lit("no")).alias("suppressed"),
            pl.col("reasons").list.join(","),
        )).write_csv(sys.stdout, separator="\t")
        return
    table = make_table("input", "address", "suppressed", "reasons")
    for r in results.iter_rows(named=True):
        table.add_row(r["input"], r["address"] or "(unparseable)", "yes" if r["suppressed"] else "no", ", ".join(r["reasons"]))
    out.print(table)


def export(
    tenant: TenantOpt,
    fmt: Annotated[str, typer.Option("--format", help="csv or jsonl.")] = "csv",
    output: Annotated[Optional[Path], typer.Option("--output", help="File to write (default: stdout).")] = None,
    store: StoreOpt = None,
) -> None:
    """Write a tenant's active suppressions."""
    if fmt not in ("csv", "jsonl"):
        raise UsageError("--format must be csv or jsonl")
    with store_at(store) as st:
        frame = st.export(tenant)
    write_frame(frame, fmt, output)


def audience(
    path: Annotated[Optional[Path], typer.Argument(help="CSV with an `email` or `phone` column.")] = None,
    tenant: TenantOpt = ...,
    purpose: Annotated[str, typer.Option(help="marketing or transactional.")] = ...,
    contacts: Annotated[bool, typer.Option("--contacts", help="Plan for the tenant's contacts in the store.")] = False,
    channel: Annotated[Optional[str], typer.Option("--channel", help="email or sms (default: email if the file has an email column).")] = None,
    default_region: RegionOpt = None,
    send_list: ListOpt = None,
    output: Annotated[Optional[Path], typer.Option("--output", help="CSV of the sendable recipients (default: stdout).")] = None,
    as_json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """The sendable recipients of a send-out: suppressed ones removed, each address once."""
    from pipelines.enforce import plan_audience

    if channel is not None and channel not in ("email", "sms"):
        raise UsageError("--channel must be email or sms")
    with store_at(store) as st:
        frame, summary = plan_audience(st, tenant, purpose, str(path) if path else None, contacts, channel,
                                       default_region, send_list)
    if as_json:
        if output:
            write_frame(frame, "csv", output)
        print_json({**summary, "output": str(output) if output else None})
        return
    write_frame(frame, "csv", output)
    removed = ", ".join(f"{k} {v:,}" for k, v in summary["removed"].items()) or "none"
    err.print(f"{summary['sendable']:,} sendable of {summary['recipients_in']:,}; removed: {removed}; "
              f"duplicates: {summary['duplicates']:,}")
