"""Contacts and enforcement (SPEC 3): the `contacts` group (import, export, delete, purge) and the
only ways to lift a suppression (`resubscribe`, `unblock`)."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from pipelines.cli.help import new_app
from pipelines.cli.options import JsonOpt, ListOpt, RegionOpt, StoreOpt, TenantOpt, YesOpt, store_at
from pipelines.cli.output import ProgressLine, err, out, print_json
from pipelines.errors import PipelineError, UsageError
from pipelines.writers import write_frame

contacts_app = new_app(help="The platform's contacts: import, export, delete, purge.")


@contacts_app.command("import")
def contacts_import(
    paths: Annotated[list[str], typer.Argument(metavar="PATH", help="CSV with an `id` column and `email` and/or `phone`; other columns are kept as attributes.", show_default=False)],
    tenant: TenantOpt,
    default_region: RegionOpt = None,
    as_json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Import contacts (an upsert by id); any with a suppressed address are blocked as they are created.

    \b
    Example:
      suppress contacts import --tenant acme --default-region US contacts.csv
    """
    from pipelines.enforce import import_contacts

    with store_at(store, create=True) as st, ProgressLine() as progress:
        summary = import_contacts(st, tenant, list(paths), default_region, progress)
    if as_json:
        print_json(summary)
        return
    out.print(f"run {summary['run_id']}: {summary['rows_read']:,} rows, {summary['contacts_created']:,} contacts created, "
              f"{summary['contacts_updated']:,} updated, {summary['blocked_at_creation']:,} blocked at creation, "
              f"{summary['rows_rejected']:,} rejected")
    if summary["rejects_by_error"]:
        out.print("rejected: " + ", ".join(f"{k} {v:,}" for k, v in summary["rejects_by_error"].items())
                  + f"  (suppress rejects {summary['run_id']})")


@contacts_app.command("export")
def contacts_export(
    tenant: TenantOpt,
    fmt: Annotated[str, typer.Option("--format", metavar="csv|jsonl", help="CSV, or one JSON object a line.")] = "csv",
    output: Annotated[Optional[Path], typer.Option("--output", metavar="FILE", help="File to write (default: stdout).")] = None,
    send_list: ListOpt = None,
    store: StoreOpt = None,
) -> None:
    """Write a tenant's contacts with their statuses and consent.

    \b
    Example:
      suppress contacts export --tenant acme --format jsonl --output contacts.jsonl
    """
    from pipelines.enforce import contacts_for_list

    if fmt not in ("csv", "jsonl"):
        raise UsageError("--format must be csv or jsonl")
    with store_at(store) as st:
        frame = contacts_for_list(st, tenant, send_list)
    write_frame(frame, fmt, output, json_columns=("attributes",))


def _confirm_deletion(planned, tenant: str, yes: bool, what: str) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError(f"{what} {planned.height:,} contact(s) of tenant {tenant}: pass --yes to confirm in scripts")
    err.print(f"{what} {planned.height:,} contact(s) of tenant {tenant}, e.g. "
              + ", ".join(planned["id"].head(5).to_list()))
    if not typer.confirm("A safety copy is written first and kept 3 days. Go on?", default=False, err=True):
        raise PipelineError("cancelled; nothing was deleted")


def _deleted(result: dict, as_json: bool) -> None:
    if as_json:
        print_json(result)
        return
    if not result["contacts_deleted"]:
        out.print("no contacts matched; nothing was deleted")
        return
    out.print(f"deleted {result['contacts_deleted']:,} contact(s); {result['addresses_hashed']:,} address(es) kept "
              f"only as keyed hashes in the suppressions")
    out.print(f"safety copy: {result['safety_export']} (removed by `suppress maintenance` after {result['expires_at']})")


SafetyDirOpt = Annotated[Optional[Path], typer.Option(
    "--export-dir", metavar="DIR", help="Where the safety copy goes (default: $SUPPRESSION_SAFETY_DIR or ./safety-exports).")]


@contacts_app.command("delete")
def contacts_delete(
    ids: Annotated[list[str], typer.Argument(metavar="ID", help="The ids of the contacts to delete.", show_default=False)],
    tenant: TenantOpt,
    yes: YesOpt = False,
    export_dir: SafetyDirOpt = None,
    as_json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Delete contacts and their records; their suppressions stay, as keyed hashes.

    \b
    Example:
      suppress contacts delete --tenant acme c1 c2
    """
    from pipelines.enforce import delete_contacts, plan_deletion

    with store_at(store) as st:
        planned = plan_deletion(st, tenant, ids=ids)
        _confirm_deletion(planned, tenant, yes, "delete")
        result = delete_contacts(st, tenant, planned, export_dir)
    _deleted(result, as_json)


@contacts_app.command("purge")
def contacts_purge(
    tenant: TenantOpt,
    segment: Annotated[str, typer.Option("--segment", metavar="SEGMENT", help="Which contacts: hard_bounced.")],
    yes: YesOpt = False,
    export_dir: SafetyDirOpt = None,
    as_json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Delete every contact of a segment (e.g. all hard-bounced contacts) after a safety copy.

    \b
    Example:
      suppress contacts purge --tenant acme --segment hard_bounced --yes
    """
    from pipelines.enforce import delete_contacts, plan_deletion

    with store_at(store) as st:
        planned = plan_deletion(st, tenant, segment=segment)
        if planned.height:
            _confirm_deletion(planned, tenant, yes, f"purge ({segment})")
        result = delete_contacts(st, tenant, planned, export_dir)
    _deleted(result, as_json)


def _lifted(result: dict, as_json: bool, verb: str) -> None:
    if as_json:
        print_json(result)
        return
    lifted = ", ".join(f"{r['reason']} ({r['scope']})" for r in result["lifted"])
    out.print(f"{result['address']}: {verb} {lifted}; {result['contacts_changed']:,} contact(s) updated")
    if result["still_suppressed_by"]:
        out.print("still suppressed by: " + ", ".join(f"{r['reason']} ({r['scope']})" for r in result["still_suppressed_by"]))


def resubscribe(
    address: Annotated[str, typer.Argument(metavar="ADDRESS", help="Email or phone number.", show_default=False)],
    tenant: TenantOpt,
    confirmed_at: Annotated[str, typer.Option("--confirmed-at", metavar="TIME", help="When the double opt-in was confirmed (ISO 8601).")],
    evidence: Annotated[str, typer.Option("--evidence", metavar="REF", help="Reference of the confirmation (e.g. its message id).")],
    default_region: RegionOpt = None,
    as_json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Lift an address's unsubscribes on double opt-in evidence (audited).

    \b
    Example:
      suppress resubscribe --tenant acme pat@example.com --confirmed-at 2026-11-30T12:00:00Z --evidence msg-4711
    """
    from pipelines.enforce import resubscribe as lift

    with store_at(store) as st:
        result = lift(st, tenant, address, confirmed_at, evidence, default_region)
    _lifted(result, as_json, "resubscribed, lifted")


def unblock(
    address: Annotated[str, typer.Argument(metavar="ADDRESS", help="Email or phone number.", show_default=False)],
    tenant: TenantOpt,
    reason: Annotated[str, typer.Option("--reason", metavar="TEXT", help="Why the address may be mailed again.")],
    default_region: RegionOpt = None,
    as_json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Lift an address's bounces, complaints and manual blocks with a stated reason (audited).

    \b
    Example:
      suppress unblock --tenant acme pat@example.com --reason "mailbox restored, ticket 123"
    """
    from pipelines.enforce import unblock as lift

    with store_at(store) as st:
        result = lift(st, tenant, address, reason, default_region)
    _lifted(result, as_json, "unblocked, lifted")
