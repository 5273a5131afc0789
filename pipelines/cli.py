"""The `suppress` command line (SPEC 4.1): parsing and printing only; the work is in the library."""
from __future__ import annotations

import csv
import errno
import io
import json
import os
import re
import signal
import sys
import threading
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from pipelines.errors import Interrupted, PipelineError, UsageError, first_line, interrupted_text
from pipelines.report.csv_guard import guard_formulas

app = typer.Typer(
    name="suppress",
    help="Move bounce, complaint and unsubscribe history from a previous email/SMS platform into the suppression store.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _plain(text: str) -> str:
    """User data (file names, values, tenants) as plain text: control characters and escape codes
    shown escaped, never sent to the terminal or log raw."""
    return _CONTROL.sub(lambda m: repr(m[0])[1:-1], text)


class _PlainConsole(Console):
    """No markup in what is printed (a value such as `[/]` is text), and no raw control characters."""

    def print(self, *objects, **kwargs):
        super().print(*(_plain(o) if isinstance(o, str) else o for o in objects), **kwargs)


class _PlainTable(Table):
    def add_row(self, *cells, **kwargs):
        super().add_row(*(_plain(c) if isinstance(c, str) else c for c in cells), **kwargs)


err = _PlainConsole(stderr=True, soft_wrap=True, markup=False, emoji=False, highlight=False)  # one line each
out = _PlainConsole(highlight=False, soft_wrap=True, markup=False, emoji=False)

StoreOpt = Annotated[
    Optional[str],
    typer.Option("--store", help="A .duckdb file or a postgresql:// URL (default: $SUPPRESSION_STORE or ./suppressions.duckdb)."),
]
def _tenant(value):
    from pipelines.model import check_tenant

    return value if value is None else check_tenant(value)


TenantOpt = Annotated[str, typer.Option("--tenant", help="The customer account.", callback=_tenant)]
ListOpt = Annotated[
    Optional[str],
    typer.Option("--list", help="Mail to this new list of the tenant: unsubscribes of previous lists mapped to other lists do not block it (see `suppress lists`)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout and nothing else there.")]


def _json_default(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)


def _print_json(doc) -> None:
    sys.stdout.write(json.dumps(doc, default=_json_default, indent=2) + "\n")


def _table(*columns: str) -> Table:
    """A plain table that folds long values (file names, addresses) instead of cutting them."""
    table = _PlainTable(box=None)
    for name in columns:
        table.add_column(name, overflow="fold")
    return table


def _open(store: str | None, create: bool = False):
    """Only the commands that write (ingest, contacts import, settings) may create a store."""
    from pipelines.store import open_store

    return open_store(store, create=create)


class _Progress:
    """A rich progress line on stderr, only when stderr is a terminal."""

    def __init__(self):
        self.enabled = sys.stderr.isatty() and not os.environ.get("CI")
        self._progress = None
        self._task = None

    def __enter__(self):
        if self.enabled:
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}"),
                                      TextColumn("{task.completed:,} rows"), TimeElapsedColumn(), console=err,
                                      transient=True)
            self._progress.__enter__()
            self._task = self._progress.add_task("reading", total=None)
        return self

    def __call__(self, what: str, rows: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, description=what, completed=rows)

    def __exit__(self, *exc):
        if self._progress is not None:
            self._progress.__exit__(*exc)


# ---------------------------------------------------------------------------------------------


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Export files: CSV/TSV/semicolon, JSON, NDJSON, .gz, .zip.")],
    tenant: TenantOpt,
    platform: Annotated[str, typer.Option(help="Platform name, or auto to detect each file.")] = "auto",
    reason: Annotated[Optional[str], typer.Option(help="Reason for plain lists and status-less exports (plain lists default to hard_bounce).")] = None,
    default_region: Annotated[Optional[str], typer.Option("--default-region", help="Region for national phone numbers, e.g. US.")] = None,
    max_reject_rate: Annotated[float, typer.Option("--max-reject-rate", help="Refuse the run above this share of rejected rows.")] = 0.10,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Do everything but load; report what would change.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Run even if the same input was loaded before.")] = False,
    mapping: Annotated[Optional[Path], typer.Option("--mapping", help="TOML file describing an export we have no adapter for.")] = None,
    report_dir: Annotated[Optional[Path], typer.Option("--report-dir", help="Folder for the run's report.html and report.json (default: ./reports/<run_id>/ or $SUPPRESSION_REPORTS_DIR/<run_id>/).")] = None,
    as_json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Import exports into the store for one tenant."""
    from pipelines.errors import UserError
    from pipelines.ingest import IngestRequest
    from pipelines.ingest import ingest as run_ingest

    req = IngestRequest(tenant=tenant, paths=[str(p) for p in paths], platform=platform, reason=reason,
                        default_region=default_region, max_reject_rate=max_reject_rate, dry_run=dry_run, force=force,
                        mapping=str(mapping) if mapping else None)
    try:
        with _Progress() as progress:
            summary = run_ingest(req, store, progress=progress, report_dir=report_dir)
    except UserError as exc:
        if as_json and getattr(exc, "summary", None):
            _print_json(_public_summary(exc.summary))
        raise
    if as_json:
        _print_json(_public_summary(summary))
        return
    _print_summary(summary)


def _public_summary(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if k != "reject_examples"}


def _print_summary(s: dict) -> None:
    if s["status"] == "skipped":
        out.print(f"skipped: {s['message']}")
        return
    title = "dry run" if s.get("dry_run") else s["status"]
    out.print(f"run {s['run_id']} {title} for tenant {s['tenant']}")
    table = _table("file", "platform", "kind", "rows", "rejected")
    for f in s["files"]:
        table.add_row(f["path"], f["platform"], f["kind"], f"{f.get('rows_read', 0):,}", f"{f.get('rows_rejected', 0):,}")
    out.print(table)
    out.print(
        f"rows read {s['rows_read']:,}, accepted {s['rows_accepted']:,}, rejected {s['rows_rejected']:,}; "
        f"{s['duplicates_collapsed']:,} duplicates collapsed into {s['suppressions_in_run']:,} suppressions"
    )
    verb = "would add" if s.get("dry_run") else "added"
    out.print(f"suppressions {verb} {s['suppressions_added']:,}, strengthened {s['suppressions_updated']:,}")
    if s["rejects_by_error"]:
        out.print("rejected: " + ", ".join(f"{k} {v:,}" for k, v in s["rejects_by_error"].items())
                  + f"  (suppress rejects {s['run_id']})")
    for f in s["files"]:
        if f.get("encoding") not in (None, "utf-8") or f.get("invalid_sequences"):
            bad = f" ({f['invalid_sequences']:,} invalid byte sequences: their rows quarantined)" if f.get(
                "invalid_sequences") else ""
            out.print(f"{f['path']}: read as {f.get('encoding')}{bad}")
    if s.get("suppressions_time_unknown"):
        out.print(f"{s['suppressions_time_unknown']:,} suppressions with no event time (the load time stands in)")
    if s.get("time_warnings"):
        out.print("time warnings (rows kept, time unknown): " + ", ".join(f"{k} {v:,}" for k, v in s["time_warnings"].items()))
    if s.get("message"):
        out.print(s["message"])
    if s.get("report"):
        out.print(f"report: {s['report']}")


@app.command()
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
    with _open(store) as st:
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
    table = _table("input", "address", "suppressed", "reasons")
    for r in results.iter_rows(named=True):
        table.add_row(r["input"], r["address"] or "(unparseable)", "yes" if r["suppressed"] else "no", ", ".join(r["reasons"]))
    out.print(table)


@app.command()
def export(
    tenant: TenantOpt,
    fmt: Annotated[str, typer.Option("--format", help="csv or jsonl.")] = "csv",
    output: Annotated[Optional[Path], typer.Option("--output", help="File to write (default: stdout).")] = None,
    store: StoreOpt = None,
) -> None:
    """Write a tenant's active suppressions."""
    if fmt not in ("csv", "jsonl"):
        raise UsageError("--format must be csv or jsonl")
    with _open(store) as st:
        frame = st.export(tenant)
    _write_frame(frame, fmt, output)


@app.command()
def runs(tenant: TenantOpt, as_json: JsonOpt = False, store: StoreOpt = None) -> None:
    """List a tenant's import runs, newest first."""
    with _open(store) as st:
        rows = st.runs(tenant)
    if as_json:
        _print_json(rows)
        return
    table = _table("run", "status", "dry run", "started", "read", "rejected", "added", "updated")
    for r in rows:
        table.add_row(r["run_id"], r["status"], "yes" if r.get("dry_run") else "", f"{r['started_at']:%Y-%m-%d %H:%M:%S}",
                      str(r["rows_read"] or 0),
                      str(r["rows_rejected"] or 0), str(r["suppressions_added"] or 0), str(r["suppressions_updated"] or 0))
    out.print(table)


@app.command()
def rejects(
    run_id: Annotated[str, typer.Argument()],
    fmt: Annotated[str, typer.Option("--format", help="table or csv.")] = "table",
    store: StoreOpt = None,
) -> None:
    """Show the rows a run quarantined: file, line, value, error."""
    with _open(store) as st:
        if st.run(run_id) is None:
            raise PipelineError(f"no run {run_id}")
        frame = st.rejects(run_id)
    if fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(frame.columns)
        writer.writerows(guard_formulas(frame).iter_rows())
        return
    table = _table(*frame.columns)
    for row in frame.iter_rows():
        table.add_row(*("" if v is None else str(v) for v in row))
    out.print(table)


@app.command()
def rollback(run_id: Annotated[str, typer.Argument()], as_json: JsonOpt = False, store: StoreOpt = None) -> None:
    """Undo a succeeded run: remove what only it added, narrow what it widened."""
    with _open(store) as st:
        result = st.rollback_run(run_id)
    if as_json:
        _print_json(result)
        return
    out.print(f"run {run_id} rolled back: {result['suppressions_removed']:,} suppressions removed, "
              f"{result['suppressions_narrowed']:,} narrowed back")


@app.command()
def report(
    run_id: Annotated[Optional[str], typer.Argument(help="The run to report on; leave out for the trends of --tenant.")] = None,
    tenant: Annotated[Optional[str], typer.Option("--tenant", help="Trends across this tenant's runs.")] = None,
    since: Annotated[Optional[str], typer.Option("--since", help="Trends from this date (2026-11-01), ISO time or days back (7d); default 30d.")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", help="Folder for report.html and report.json (default: ./reports/<run_id>/ or ./reports/trends/<tenant>/).")] = None,
    as_json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Write a run's data-quality report, or the trends across a tenant's runs (HTML + JSON)."""
    from pipelines.report import report as write_report

    with _open(store) as st:
        doc, paths = write_report(st, run_id, tenant, since, output)
    if as_json:
        _print_json(doc)
        return
    flags = doc.get("flags")
    out.print(f"report: {paths['html']}" + (f" ({len(flags)} flagged)" if flags is not None else ""))


@app.command()
def sync(
    tenant: TenantOpt,
    sources: Annotated[Optional[Path], typer.Option("--sources", help="The sources file, TOML (default: $SUPPRESSION_SOURCES).")] = None,
    source: Annotated[Optional[str], typer.Option("--source", help="Only this source of the tenant (its name).")] = None,
    as_json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Pull a tenant's previous platforms' APIs since the last sync and load what is new."""
    from pipelines.errors import UserError
    from pipelines.sync.config import load_sources, select, sources_path
    from pipelines.sync.run import sync_tenant

    path = sources_path(sources)
    chosen = select(load_sources(path), tenant, source, str(path))
    with _open(store, create=True) as st:
        reports, errors = sync_tenant(chosen, st)
    if as_json:
        _print_json({"tenant": tenant, "sources": reports})
    else:
        for r in reports:
            what = r.get("error") or (f"{r['records']:,} records in {r['pages']} pages ({r['retries']} retries, "
                                      f"{r['rate_limited']} rate limited), {r['ingest'].get('suppressions_added', 0):,} "
                                      f"suppressions added")
            out.print(f"{r['source']} ({r['platform']}): {r['status']}, {what}; watermark {r['new_watermark'] or 'none yet'}")
    if errors:  # the other sources ran; the exit code is the first failure's
        failure = UserError(f"{len(errors)} of {len(reports)} sources failed; first: {errors[0]}")
        failure.exit_code = errors[0].exit_code
        raise failure


@app.command("migrate-store")
def migrate_store(
    source: Annotated[str, typer.Option("--from", help="The store to copy: a .duckdb file or a postgresql:// URL.")],
    target: Annotated[str, typer.Option("--to", help="The new, empty store to fill: a .duckdb file or a postgresql:// URL.")],
    as_json: JsonOpt = False,
) -> None:
    """Copy a whole store to another backend (e.g. DuckDB to PostgreSQL), counts checked per table."""
    from pipelines.migrate_store import migrate_store as run_migration

    with _Progress() as progress:
        result = run_migration(source, target, progress=progress)
    if as_json:
        _print_json(result)
        return
    table = _table("table", "rows")
    for name, rows in result["tables"].items():
        table.add_row(name, f"{rows:,}")
    out.print(f"copied {result['from']} to {result['to']}; every table's row count matches the source")
    out.print(table)


@app.command()
def formats(as_json: JsonOpt = False) -> None:
    """List the platforms and export kinds `ingest` understands."""
    from pipelines import sources

    rows = [{"platform": a.name, "kinds": list(a.kinds), "description": a.description} for a in sources.adapters()]
    if as_json:
        _print_json(rows)
        return
    table = _table("platform", "kinds", "what")
    for r in rows:
        table.add_row(r["platform"], ", ".join(r["kinds"]), r["description"])
    out.print(table)


@app.command()
def detect(
    paths: Annotated[list[Path], typer.Argument()],
    platform: Annotated[str, typer.Option(help="Platform name, or auto.")] = "auto",
    mapping: Annotated[Optional[Path], typer.Option("--mapping", help="TOML file describing the export.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Say what each file would be taken for, and why."""
    import tempfile

    from pipelines import sources
    from pipelines.readers import iter_inputs, read_table
    from pipelines.sources.base import Probe
    from pipelines.sources.mapping import MappingAdapter

    custom = MappingAdapter.from_file(mapping) if mapping else None
    rows = []
    with tempfile.TemporaryDirectory(prefix="suppress-") as tmp:
        for source in iter_inputs([str(p) for p in paths], Path(tmp)):
            table = read_table(source)
            found = sources.detect(Probe.of(table), platform, only=custom)
            rows.append({"path": source.display, "platform": found[0].name if found else None,
                         "kind": found[1].kind if found else None, "why": found[1].why if found else "matches no known format",
                         "columns": table.columns})
    if as_json:
        _print_json(rows)
        return
    for r in rows:
        out.print(f"{r['path']}: {r['platform'] or 'UNKNOWN'} {r['kind'] or ''} - {r['why']}")


# -- contacts and enforcement (SPEC 3) ----------------------------------------------------------

contacts_app = typer.Typer(help="The platform's contacts: import, export, delete, purge.", no_args_is_help=True)
app.add_typer(contacts_app, name="contacts")
YesOpt = Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation (scripts).")]
RegionOpt = Annotated[Optional[str], typer.Option("--default-region", help="Region for national phone numbers, e.g. US.")]


@contacts_app.command("import")
def contacts_import(
    paths: Annotated[list[Path], typer.Argument(help="CSV with an `id` column and `email` and/or `phone`.")],
    tenant: TenantOpt,
    default_region: RegionOpt = None,
    as_json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Import contacts (an upsert by id); any with a suppressed address are blocked as they are created."""
    from pipelines.enforce import import_contacts

    with _open(store, create=True) as st, _Progress() as progress:
        summary = import_contacts(st, tenant, [str(p) for p in paths], default_region, progress)
    if as_json:
        _print_json(summary)
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
    fmt: Annotated[str, typer.Option("--format", help="csv or jsonl.")] = "csv",
    output: Annotated[Optional[Path], typer.Option("--output", help="File to write (default: stdout).")] = None,
    send_list: ListOpt = None,
    store: StoreOpt = None,
) -> None:
    """Write a tenant's contacts with their statuses and consent."""
    from pipelines.enforce import contacts_for_list

    if fmt not in ("csv", "jsonl"):
        raise UsageError("--format must be csv or jsonl")
    with _open(store) as st:
        frame = contacts_for_list(st, tenant, send_list)
    _write_frame(frame, fmt, output)


def _write_frame(frame, fmt: str, output: Path | None) -> None:
    target = output.open("w", newline="") if output else sys.stdout
    try:
        if fmt == "csv":
            guard_formulas(frame).write_csv(target)
        else:
            frame.write_ndjson(target)
    finally:
        if output:
            target.close()


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
        _print_json(result)
        return
    if not result["contacts_deleted"]:
        out.print("no contacts matched; nothing was deleted")
        return
    out.print(f"deleted {result['contacts_deleted']:,} contact(s); {result['addresses_hashed']:,} address(es) kept "
              f"only as keyed hashes in the suppressions")
    out.print(f"safety copy: {result['safety_export']} (removed by `suppress maintenance` after {result['expires_at']})")


@contacts_app.command("delete")
def contacts_delete(
    ids: Annotated[list[str], typer.Argument(help="Contact ids.")],
    tenant: TenantOpt,
    yes: YesOpt = False,
    export_dir: Annotated[Optional[Path], typer.Option("--export-dir", help="Where the safety copy goes (default: $SUPPRESSION_SAFETY_DIR or ./safety-exports).")] = None,
    as_json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Delete contacts and their records; their suppressions stay, as keyed hashes."""
    from pipelines.enforce import delete_contacts, plan_deletion

    with _open(store) as st:
        planned = plan_deletion(st, tenant, ids=ids)
        _confirm_deletion(planned, tenant, yes, "delete")
        result = delete_contacts(st, tenant, planned, export_dir)
    _deleted(result, as_json)


@contacts_app.command("purge")
def contacts_purge(
    tenant: TenantOpt,
    segment: Annotated[str, typer.Option("--segment", help="Which contacts: hard_bounced.")],
    yes: YesOpt = False,
    export_dir: Annotated[Optional[Path], typer.Option("--export-dir", help="Where the safety copy goes (default: $SUPPRESSION_SAFETY_DIR or ./safety-exports).")] = None,
    as_json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Delete every contact of a segment (e.g. all hard-bounced contacts) after a safety copy."""
    from pipelines.enforce import delete_contacts, plan_deletion

    with _open(store) as st:
        planned = plan_deletion(st, tenant, segment=segment)
        if planned.height:
            _confirm_deletion(planned, tenant, yes, f"purge ({segment})")
        result = delete_contacts(st, tenant, planned, export_dir)
    _deleted(result, as_json)


def _lifted(result: dict, as_json: bool, verb: str) -> None:
    if as_json:
        _print_json(result)
        return
    lifted = ", ".join(f"{r['reason']} ({r['scope']})" for r in result["lifted"])
    out.print(f"{result['address']}: {verb} {lifted}; {result['contacts_changed']:,} contact(s) updated")
    if result["still_suppressed_by"]:
        out.print("still suppressed by: " + ", ".join(f"{r['reason']} ({r['scope']})" for r in result["still_suppressed_by"]))


@app.command()
def resubscribe(
    address: Annotated[str, typer.Argument(help="Email or phone number.")],
    tenant: TenantOpt,
    confirmed_at: Annotated[str, typer.Option("--confirmed-at", help="When the double opt-in was confirmed (ISO 8601).")],
    evidence: Annotated[str, typer.Option("--evidence", help="Reference of the confirmation (e.g. its message id).")],
    default_region: RegionOpt = None,
    as_json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Lift an address's unsubscribes on double opt-in evidence (audited)."""
    from pipelines.enforce import resubscribe as lift

    with _open(store) as st:
        result = lift(st, tenant, address, confirmed_at, evidence, default_region)
    _lifted(result, as_json, "resubscribed, lifted")


@app.command()
def unblock(
    address: Annotated[str, typer.Argument(help="Email or phone number.")],
    tenant: TenantOpt,
    reason: Annotated[str, typer.Option("--reason", help="Why the address may be mailed again.")],
    default_region: RegionOpt = None,
    as_json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Lift an address's bounces, complaints and manual blocks with a stated reason (audited)."""
    from pipelines.enforce import unblock as lift

    with _open(store) as st:
        result = lift(st, tenant, address, reason, default_region)
    _lifted(result, as_json, "unblocked, lifted")


@app.command()
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
    with _open(store) as st:
        frame, summary = plan_audience(st, tenant, purpose, str(path) if path else None, contacts, channel,
                                       default_region, send_list)
    if as_json:
        if output:
            _write_frame(frame, "csv", output)
        _print_json({**summary, "output": str(output) if output else None})
        return
    _write_frame(frame, "csv", output)
    removed = ", ".join(f"{k} {v:,}" for k, v in summary["removed"].items()) or "none"
    err.print(f"{summary['sendable']:,} sendable of {summary['recipients_in']:,}; removed: {removed}; "
              f"duplicates: {summary['duplicates']:,}")


@app.command()
def maintenance(as_json: JsonOpt = False, store: StoreOpt = None) -> None:
    """Housekeeping: remove safety copies of deleted contacts once their 3 days have passed."""
    from pipelines.enforce import maintenance as run_maintenance

    with _open(store) as st:
        result = run_maintenance(st)
    if as_json:
        _print_json(result)
        return
    out.print(f"removed {len(result['safety_exports_removed'])} expired safety copies")


@app.command()
def settings(
    tenant: TenantOpt,
    soft_bounce_threshold: Annotated[Optional[int], typer.Option("--soft-bounce-threshold", min=1, help="Consecutive soft bounces that block an email address (default 10).")] = None,
    as_json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Show or change a tenant's settings."""
    from pipelines.store.base import TENANT_SETTINGS

    with _open(store, create=True) as st:
        if soft_bounce_threshold is not None:
            st.set_setting(tenant, "soft_bounce_threshold", str(soft_bounce_threshold))
        values = {**{k: str(v) for k, v in TENANT_SETTINGS.items()}, **st.settings(tenant)}
        mapping = st.list_mappings(tenant)
    if as_json:
        _print_json({"tenant": tenant, **values, "list_mappings": mapping})
        return
    for key, value in values.items():
        out.print(f"{key} = {value}")
    for previous, new in mapping.items():
        out.print(f"list {previous} -> {new}")


# -- previous lists mapped to new ones (SPEC 2.2) ----------------------------------------------

lists_app = typer.Typer(help="Previous platforms' lists and the tenant's new lists they map to.", no_args_is_help=True)
app.add_typer(lists_app, name="lists")


@lists_app.command("show")
def lists_show(tenant: TenantOpt, as_json: JsonOpt = False, store: StoreOpt = None) -> None:
    """The previous lists the tenant's suppressions name, and the new list each maps to."""
    import polars as pl

    with _open(store) as st:
        scopes = st.list_scopes(tenant)
        mapping = st.list_mappings(tenant)
    seen = scopes.group_by("previous_list", maintain_order=True).agg(pl.col("suppressions").sum())
    rows = [{"previous_list": r["previous_list"], "suppressions": r["suppressions"], "new_list": mapping.get(r["previous_list"])}
            for r in seen.iter_rows(named=True)]
    rows += [{"previous_list": k, "suppressions": 0, "new_list": v} for k, v in mapping.items()
             if k not in set(seen["previous_list"].to_list())]
    if as_json:
        _print_json({"tenant": tenant, "lists": rows})
        return
    table = _table("previous list", "active suppressions", "new list")
    for r in rows:
        table.add_row(r["previous_list"], f"{r['suppressions']:,}", r["new_list"] or "(unmapped: blocks all marketing)")
    out.print(table)


@lists_app.command("map")
def lists_map(
    tenant: TenantOpt,
    previous: Annotated[Optional[str], typer.Argument(help="The previous list's id, as in list:<id>.")] = None,
    new: Annotated[Optional[str], typer.Argument(help="The tenant's new list it becomes.")] = None,
    file: Annotated[Optional[Path], typer.Option("--file", help="CSV `previous_list,new_list`, or TOML with a [lists] table.")] = None,
    as_json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Map a previous list to a new list: with --list, its unsubscribes then block only that list's mail."""
    from pipelines.lists import new_list, previous_list, read_mapping_file

    if file is not None and (previous or new):
        raise UsageError("give PREVIOUS NEW or --file, not both")
    if file is None and not (previous and new):
        raise UsageError("give the previous list id and the new list name, or --file")
    mapping = read_mapping_file(file) if file is not None else {previous_list(previous): new_list(new)}
    with _open(store, create=True) as st:
        st.map_lists(tenant, mapping)
        current = st.list_mappings(tenant)
    if as_json:
        _print_json({"tenant": tenant, "list_mappings": current})
        return
    for k, v in mapping.items():
        out.print(f"list {k} -> {v}")


@lists_app.command("unmap")
def lists_unmap(
    tenant: TenantOpt,
    previous: Annotated[str, typer.Argument(help="The previous list's id, as in list:<id>.")],
    store: StoreOpt = None,
) -> None:
    """Remove a previous list's mapping: its unsubscribes block all marketing again."""
    from pipelines.lists import previous_list

    key = previous_list(previous)
    with _open(store) as st:
        if key not in st.list_mappings(tenant):
            raise UsageError(f"{key} is not mapped for tenant {tenant}")
        st.map_lists(tenant, {key: None})
    out.print(f"list {key} unmapped: its unsubscribes block all marketing")


def _store_urls() -> list[str]:
    """The PostgreSQL URLs this command was given (an error must never show their secrets)."""
    argv = sys.argv[1:]
    given = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a in ("--store", "--from", "--to")]
    given += [a.split("=", 1)[1] for a in argv if a.startswith(("--store=", "--from=", "--to="))]
    given.append(os.environ.get("SUPPRESSION_STORE") or "")
    return [u for u in given if "://" in u]


def _error(message: str) -> None:
    from rich.text import Text

    from pipelines.redact import scrub

    for url in _store_urls():
        message = scrub(message, url)
    err.print(Text.assemble(("error: ", "bold red"), _plain(message)), highlight=False)


def main() -> None:
    """Entry point: errors become one line on stderr and an exit code, never a traceback.

    The CLI framework runs outside its standalone mode so that its usage errors are one line
    too (exit 2); a reader that closes the pipe (`| head`) ends the command quietly.
    """
    from typer.exceptions import Abort, Exit, TyperException

    if threading.current_thread() is threading.main_thread():  # unwind: temp folders go, a run is closed
        signal.signal(signal.SIGTERM, _on_signal)
        signal.signal(signal.SIGINT, _on_signal)
    try:
        code = app(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except Exit as exc:
        sys.exit(exc.exit_code)
    except Abort:
        _error("aborted")
        sys.exit(1)
    except TyperException as exc:  # the framework's usage errors: unknown option, missing value...
        ctx = getattr(exc, "ctx", None)
        message = " ".join(exc.format_message().split())
        if message:  # none after a bare command, whose help has been shown
            _error(message + (f" (see `{ctx.command_path} --help`)" if ctx is not None else ""))
        sys.exit(exc.exit_code)
    except OSError as exc:
        if not _broken_pipe(exc):
            _error(f"unexpected failure: {first_line(exc, with_type=True)} (set SUPPRESS_DEBUG=1 for a traceback)")
            sys.exit(1)
        _quiet_stdout()
        sys.exit(0)
    except (Interrupted, KeyboardInterrupt) as exc:
        _error(interrupted_text(exc))
        sys.exit(143 if getattr(exc, "signal_name", "") == "SIGTERM" else 130)
    except PipelineError as exc:
        _error(str(exc))
        sys.exit(exc.exit_code)
    except Exception as exc:
        if os.environ.get("SUPPRESS_DEBUG"):
            raise
        # One line: a database error's CONTEXT/DETAIL lines can quote rows (addresses) into logs.
        _error(f"unexpected failure: {first_line(exc, with_type=True)} (set SUPPRESS_DEBUG=1 for a traceback)")
        sys.exit(1)


def _on_signal(signum, _frame) -> None:
    raise Interrupted(signal.Signals(signum).name)


def _broken_pipe(exc: OSError) -> bool:
    """The reader closed the pipe (`| head`): Python's own error, or a writer's in Rust (Polars)."""
    return isinstance(exc, BrokenPipeError) or exc.errno == errno.EPIPE or "Broken pipe" in str(exc)


def _quiet_stdout() -> None:
    """After a closed pipe: point stdout at /dev/null so the interpreter's final flush is silent."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        pass


if __name__ == "__main__":
    main()
