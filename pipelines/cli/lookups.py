"""Lookups: may these addresses be mailed (`check`), the active suppressions (`export`), and the
sendable recipients of a send-out (`audience`)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from pipelines.cli.options import JsonOpt, ListOpt, RegionOpt, StoreOpt, TenantOpt, store_at
from pipelines.cli.output import err, print_json
from pipelines.errors import UsageError
from pipelines.writers import write_frame


def check(
    addresses: Annotated[Optional[list[str]], typer.Argument(metavar="ADDRESS", help="Emails (with @) or phone numbers.", show_default=False)] = None,
    tenant: TenantOpt = ...,
    purpose: Annotated[str, typer.Option(metavar="PURPOSE", help="marketing or transactional: what the mail is for.")] = "marketing",
    default_region: RegionOpt = None,
    file: Annotated[Optional[Path], typer.Option("--file", metavar="FILE", help="Check the addresses in this file, one a line.")] = None,
    send_list: ListOpt = None,
    as_json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Say whether addresses may be mailed.

    An input that is neither an email address nor a phone number is reported as invalid; when
    every input is, the exit code is 3.

    \b
    Example:
      suppress check --tenant acme --default-region US bob@example.com "(415) 555-0142"
    """
    from pipelines.cli.checks import run_check

    run_check(addresses, tenant, purpose, default_region, file, send_list, as_json, store)


def export(
    tenant: TenantOpt,
    fmt: Annotated[str, typer.Option("--format", metavar="csv|jsonl", help="CSV, or one JSON object a line.")] = "csv",
    output: Annotated[Optional[Path], typer.Option("--output", metavar="FILE", help="File to write (default: stdout).")] = None,
    store: StoreOpt = None,
) -> None:
    """Write a tenant's active suppressions.

    \b
    Example:
      suppress export --tenant acme --format csv --output acme-suppressions.csv
    """
    if fmt not in ("csv", "jsonl"):
        raise UsageError("--format must be csv or jsonl")
    with store_at(store) as st:
        frame = st.export(tenant)
    write_frame(frame, fmt, output)


def audience(
    path: Annotated[Optional[Path], typer.Argument(metavar="FILE", help="CSV with an `email` or `phone` column.", show_default=False)] = None,
    tenant: TenantOpt = ...,
    purpose: Annotated[str, typer.Option(metavar="PURPOSE", help="marketing or transactional: what the send-out is for.")] = ...,
    contacts: Annotated[bool, typer.Option("--contacts", help="Plan for the tenant's contacts in the store instead of a file.")] = False,
    channel: Annotated[Optional[str], typer.Option("--channel", metavar="email|sms", help="Which address to send to (default: email if the file has an email column).")] = None,
    default_region: RegionOpt = None,
    send_list: ListOpt = None,
    output: Annotated[Optional[Path], typer.Option("--output", metavar="FILE", help="CSV of the sendable recipients (default: stdout).")] = None,
    as_json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """The sendable recipients of a send-out: suppressed ones removed, each address once.

    \b
    Example:
      suppress audience --tenant acme --purpose marketing --output sendable.csv recipients.csv
    """
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
