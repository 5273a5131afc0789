"""`suppress ingest` and its runs: `runs`, `rejects`, `rollback`; what is supported (`formats`)
and what a file would be taken for (`detect`)."""
from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from pipelines.cli.options import JsonOpt, RegionOpt, StoreOpt, TenantOpt, store_at
from pipelines.cli.output import ProgressLine, make_table, on_terminal, out, print_json
from pipelines.errors import PipelineError, UsageError
from pipelines.summary import public_summary
from pipelines.writers import guard_formulas


def ingest(
    paths: Annotated[list[str], typer.Argument(metavar="PATH", help="Export files or folders (CSV/TSV/semicolon, JSON, NDJSON, .gz, .zip), or storage URIs (s3://bucket/prefix/).", show_default=False)],
    tenant: TenantOpt,
    platform: Annotated[str, typer.Option(metavar="NAME", help="The platform the files come from (see `suppress formats`), or auto to detect each file.")] = "auto",
    reason: Annotated[Optional[str], typer.Option(metavar="REASON", help="Reason for plain lists and status-less exports (plain lists default to hard_bounce).")] = None,
    default_region: RegionOpt = None,
    max_reject_rate: Annotated[float, typer.Option("--max-reject-rate", metavar="SHARE", help="Refuse the run, loading nothing, when more than this share of rows is rejected.")] = 0.10,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Do everything but load; report what would change.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Run even if the same input was loaded before.")] = False,
    mapping: Annotated[Optional[Path], typer.Option("--mapping", metavar="FILE", help="TOML file describing an export we have no adapter for.")] = None,
    report_dir: Annotated[Optional[Path], typer.Option("--report-dir", metavar="DIR", help="Folder for the run's report.html and report.json (default: <run_id>/ in $SUPPRESSION_REPORTS_DIR, else in reports/ beside a DuckDB store, else in ~/.local/share/suppress/reports).")] = None,
    no_report: Annotated[bool, typer.Option("--no-report", help="Write no report for this run.")] = False,
    as_json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Import exports into the store for one tenant.

    \b
    Example:
      suppress ingest --tenant acme --default-region US --dry-run exports/
    """
    from pipelines.errors import UserError
    from pipelines.ingest import IngestRequest
    from pipelines.ingest import ingest as run_ingest
    from pipelines.report import with_report

    if no_report and report_dir is not None:
        raise UsageError("give --report-dir or --no-report, not both")
    req = IngestRequest(tenant=tenant, paths=list(paths), platform=platform, reason=reason,
                        default_region=default_region, max_reject_rate=max_reject_rate, dry_run=dry_run, force=force,
                        mapping=str(mapping) if mapping else None)
    req.check()  # before the store is opened: bad usage creates no store
    try:
        with ProgressLine() as progress, store_at(store, create=True) as st:
            if no_report:
                summary = run_ingest(req, st, progress=progress)
            else:
                summary = with_report(st, lambda: run_ingest(req, st, progress=progress), report_dir)
    except UserError as exc:
        if as_json and getattr(exc, "summary", None):
            print_json(public_summary(exc.summary))
        raise
    if as_json:
        print_json(public_summary(summary))
        return
    _print_summary(summary)


def _print_summary(s: dict) -> None:
    """On a terminal a table of the files; elsewhere (logs, pipes) one line a file, never wrapped."""
    if s["status"] == "skipped":
        out.print(f"skipped: {s['message']}")
        return
    title = "dry run" if s.get("dry_run") else s["status"]
    out.print(f"run {s['run_id']} {title} for tenant {s['tenant']}")
    if on_terminal():
        table = make_table("file", "platform", "kind", "rows", "rejected")
        for f in s["files"]:
            table.add_row(f["path"], f["platform"], f["kind"], f"{f.get('rows_read', 0):,}", f"{f.get('rows_rejected', 0):,}")
        out.print(table)
    else:
        for f in s["files"]:
            out.print(f"{f['path']}: {f['platform']} {f['kind']}, {f.get('rows_read', 0):,} rows, "
                      f"{f.get('rows_rejected', 0):,} rejected" + (f", {_encoding(f)}" if _encoding(f) else ""))
    out.print(
        f"rows read {s['rows_read']:,}, accepted {s['rows_accepted']:,}, rejected {s['rows_rejected']:,}; "
        f"{s['duplicates_collapsed']:,} duplicates collapsed into {s['suppressions_in_run']:,} suppressions"
    )
    verb = "would add" if s.get("dry_run") else "added"
    out.print(f"suppressions {verb} {s['suppressions_added']:,}, strengthened {s['suppressions_updated']:,}")
    if s["rejects_by_error"]:
        out.print("rejected: " + ", ".join(f"{k} {v:,}" for k, v in s["rejects_by_error"].items())
                  + f"  (suppress rejects {s['run_id']})")
    if on_terminal():
        for f in s["files"]:
            if _encoding(f):
                out.print(f"{f['path']}: {_encoding(f)}")
    if s.get("suppressions_time_unknown"):
        out.print(f"{s['suppressions_time_unknown']:,} suppressions with no event time (the load time stands in)")
    if s.get("time_warnings"):
        out.print("time warnings (rows kept, time unknown): " + ", ".join(f"{k} {v:,}" for k, v in s["time_warnings"].items()))
    if s.get("message"):
        out.print(s["message"])
    if s.get("report"):
        out.print(f"report: {s['report']}")
    elif s.get("report_error"):
        out.print(f"report not written: {s['report_error']}")


def _encoding(f: dict) -> str:
    """`read as cp1252`, `read as utf-8 (3 invalid byte sequences: ...)`; nothing for clean UTF-8."""
    if f.get("encoding") in (None, "utf-8") and not f.get("invalid_sequences"):
        return ""
    bad = f" ({f['invalid_sequences']:,} invalid byte sequences: their rows quarantined)" if f.get(
        "invalid_sequences") else ""
    return f"read as {f.get('encoding')}{bad}"


def runs(tenant: TenantOpt, as_json: JsonOpt = False, store: StoreOpt = None) -> None:
    """List a tenant's import runs, newest first.

    \b
    Example:
      suppress runs --tenant acme
    """
    with store_at(store) as st:
        rows = st.runs(tenant)
    if as_json:
        print_json(rows)
        return
    table = make_table("run", "status", "dry run", "started", "read", "rejected", "added", "updated")
    for r in rows:
        table.add_row(r["run_id"], r["status"], "yes" if r.get("dry_run") else "", f"{r['started_at']:%Y-%m-%d %H:%M:%S}",
                      str(r["rows_read"] or 0),
                      str(r["rows_rejected"] or 0), str(r["suppressions_added"] or 0), str(r["suppressions_updated"] or 0))
    out.print(table)


def rejects(
    run_id: Annotated[str, typer.Argument(metavar="RUN_ID", help="The run (see `suppress runs`).")],
    fmt: Annotated[str, typer.Option("--format", metavar="table|csv", help="A table, or CSV for a spreadsheet.")] = "table",
    store: StoreOpt = None,
) -> None:
    """Show the rows a run quarantined: file, line, value, error.

    \b
    Example:
      suppress rejects run_20261103T101500_1a2b --format csv > rejects.csv
    """
    with store_at(store) as st:
        if st.run(run_id) is None:
            raise PipelineError(f"no run {run_id}")
        frame = st.rejects(run_id)
    if fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(frame.columns)
        writer.writerows(guard_formulas(frame).iter_rows())
        return
    table = make_table(*frame.columns)
    for row in frame.iter_rows():
        table.add_row(*("" if v is None else str(v) for v in row))
    out.print(table)


def rollback(run_id: Annotated[str, typer.Argument(metavar="RUN_ID", help="The succeeded run to undo (see `suppress runs`).")],
             as_json: JsonOpt = False, store: StoreOpt = None) -> None:
    """Undo a succeeded run: remove what only it added, narrow what it widened.

    \b
    Example:
      suppress rollback run_20261103T101500_1a2b
    """
    with store_at(store) as st:
        result = st.rollback_run(run_id)
    if as_json:
        print_json(result)
        return
    out.print(f"run {run_id} rolled back: {result['suppressions_removed']:,} suppressions removed, "
              f"{result['suppressions_narrowed']:,} narrowed back")


def formats(as_json: JsonOpt = False) -> None:
    """List the platforms and export kinds `ingest` understands.

    \b
    Example:
      suppress formats --json
    """
    from pipelines import platforms

    rows = [{"platform": a.name, "kinds": list(a.kinds), "description": a.description} for a in platforms.adapters()]
    if as_json:
        print_json(rows)
        return
    table = make_table("platform", "kinds", "what")
    for r in rows:
        table.add_row(r["platform"], ", ".join(r["kinds"]), r["description"])
    out.print(table)


def detect(
    paths: Annotated[list[str], typer.Argument(metavar="PATH", help="Files, folders or storage URIs, as for ingest.", show_default=False)],
    platform: Annotated[str, typer.Option(metavar="NAME", help="Only consider this platform, or auto.")] = "auto",
    mapping: Annotated[Optional[Path], typer.Option("--mapping", metavar="FILE", help="TOML file describing the export.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Say what each file would be taken for, and why.

    \b
    Example:
      suppress detect exports/bounces.csv
    """
    import tempfile

    from pipelines import platforms
    from pipelines.platforms.base import Probe
    from pipelines.platforms.mapping import MappingAdapter
    from pipelines.readers import iter_inputs, read_table

    custom = MappingAdapter.from_file(mapping) if mapping else None
    rows = []
    with tempfile.TemporaryDirectory(prefix="suppress-") as tmp:
        for source in iter_inputs(list(paths), Path(tmp)):
            table = read_table(source)
            found = platforms.detect(Probe.of(table), platform, only=custom)
            rows.append({"path": source.display, "platform": found[0].name if found else None,
                         "kind": found[1].kind if found else None, "why": found[1].why if found else "matches no known format",
                         "columns": table.columns})
    if as_json:
        print_json(rows)
        return
    for r in rows:
        out.print(f"{r['path']}: {r['platform'] or 'UNKNOWN'} {r['kind'] or ''} - {r['why']}")
