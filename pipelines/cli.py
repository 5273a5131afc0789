"""The `suppress` command line (SPEC 4.1): parsing and printing only; the work is in the library."""
from __future__ import annotations

import csv
import json
import os
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from pipelines.errors import PipelineError, UsageError

app = typer.Typer(
    name="suppress",
    help="Move bounce, complaint and unsubscribe history from a previous email/SMS platform into the suppression store.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, soft_wrap=True)  # one message, one line: greppable in logs
out = Console(highlight=False, soft_wrap=True)

StoreOpt = Annotated[
    Optional[str],
    typer.Option("--store", help="A .duckdb file or a postgresql:// URL (default: $SUPPRESSION_STORE or ./suppressions.duckdb)."),
]
TenantOpt = Annotated[str, typer.Option("--tenant", help="The customer account.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout and nothing else there.")]


def _json_default(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)


def _print_json(doc) -> None:
    sys.stdout.write(json.dumps(doc, default=_json_default, indent=2) + "\n")


def _table(*columns: str) -> Table:
    """A plain table that folds long values (file names, addresses) instead of cutting them."""
    table = Table(box=None)
    for name in columns:
        table.add_column(name, overflow="fold")
    return table


def _open(store: str | None):
    from pipelines.store import open_store

    return open_store(store)


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
            summary = run_ingest(req, store, progress=progress)
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
        out.print(f"[bold]skipped[/]: {s['message']}")
        return
    title = "dry run" if s.get("dry_run") else s["status"]
    out.print(f"run {s['run_id']} [bold]{title}[/] for tenant {s['tenant']}")
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
    if s.get("time_warnings"):
        out.print("time warnings (rows kept, time unknown): " + ", ".join(f"{k} {v:,}" for k, v in s["time_warnings"].items()))
    if s.get("message"):
        out.print(s["message"])


@app.command()
def check(
    addresses: Annotated[Optional[list[str]], typer.Argument(help="Emails (with @) or phone numbers.")] = None,
    tenant: TenantOpt = ...,
    purpose: Annotated[str, typer.Option(help="marketing or transactional.")] = "marketing",
    default_region: Annotated[Optional[str], typer.Option("--default-region")] = None,
    file: Annotated[Optional[Path], typer.Option("--file", help="One address a line.")] = None,
    as_json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Say whether addresses may be mailed."""
    from pipelines.lookup import check_addresses, read_address_file
    from pipelines.model import PURPOSES

    if purpose not in PURPOSES:
        raise UsageError("--purpose must be marketing or transactional")
    inputs = list(addresses or [])
    if file is not None:
        inputs += read_address_file(file)
    if not inputs:
        raise UsageError("give addresses or --file")
    with _open(store) as st:
        results = check_addresses(st, tenant, inputs, purpose, default_region)
    if as_json:
        _print_json(results)
        return
    table = _table("input", "address", "suppressed", "reasons")
    for r in results:
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
    target = output.open("w", newline="") if output else sys.stdout
    try:
        if fmt == "csv":
            frame.write_csv(target)
        else:
            frame.write_ndjson(target)
    finally:
        if output:
            target.close()


@app.command()
def runs(tenant: TenantOpt, as_json: JsonOpt = False, store: StoreOpt = None) -> None:
    """List a tenant's import runs, newest first."""
    with _open(store) as st:
        rows = st.runs(tenant)
    if as_json:
        _print_json(rows)
        return
    table = _table("run", "status", "started", "read", "rejected", "added", "updated")
    for r in rows:
        table.add_row(r["run_id"], r["status"], f"{r['started_at']:%Y-%m-%d %H:%M:%S}", str(r["rows_read"] or 0),
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
        writer.writerows(frame.iter_rows())
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


def _error(message: str) -> None:
    from rich.text import Text

    err.print(Text.assemble(("error: ", "bold red"), message), highlight=False)


def main() -> None:
    """Entry point: user errors become one line on stderr and an exit code, never a traceback.

    Usage errors are the CLI framework's own (exit 2, with a hint); it runs in standalone mode.
    """
    try:
        app()
    except PipelineError as exc:
        _error(str(exc))
        sys.exit(exc.exit_code)
    except Exception as exc:
        if os.environ.get("SUPPRESS_DEBUG"):
            raise
        _error(f"unexpected failure: {type(exc).__name__}: {exc} (set SUPPRESS_DEBUG=1 for a traceback)")
        sys.exit(1)


if __name__ == "__main__":
    main()
