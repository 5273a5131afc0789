"""The nightly sync from the command line (`sync`), its state per source (`sources`), and the
data-quality reports (`report`)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from pipelines.cli.options import JsonOpt, StoreOpt, TenantOpt, cli_settings, store_at
from pipelines.cli.output import out, print_json

SourcesOpt = Annotated[Optional[Path], typer.Option(
    "--sources", metavar="FILE", help="The sources file, TOML (default: $SUPPRESSION_SOURCES).")]


def _configured(tenant: str, sources_file: Path | None, store: str | None, source: str | None = None):
    """The settings, the sources file, and the tenant's sources in it (one of them with `source`)."""
    from pipelines.sync.config import load_sources, select, sources_path

    settings = cli_settings(store=store, sources_file=sources_file)
    path = sources_path(None, settings)
    return settings, path, select(load_sources(path), tenant, source, str(path))


def sync(
    tenant: TenantOpt,
    sources: SourcesOpt = None,
    source: Annotated[Optional[str], typer.Option("--source", metavar="NAME", help="Only this source of the tenant (its name).")] = None,
    as_json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Pull a tenant's previous platforms' APIs since the last sync and load what is new.

    \b
    Example:
      suppress sync --tenant acme --sources config/sources.toml
    """
    from pipelines.errors import UserError
    from pipelines.sync.run import sync_tenant

    settings, _, chosen = _configured(tenant, sources, store, source)
    with store_at(settings, create=True) as st:
        reports, errors = sync_tenant(chosen, st, secrets=settings.secrets)
    if as_json:
        print_json({"tenant": tenant, "sources": reports})
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


def report(
    run_id: Annotated[Optional[str], typer.Argument(metavar="RUN_ID", help="The run to report on; leave out for the trends of --tenant.")] = None,
    tenant: Annotated[Optional[str], typer.Option("--tenant", metavar="TENANT", help="Trends across this tenant's runs.")] = None,
    since: Annotated[Optional[str], typer.Option("--since", metavar="WHEN", help="Trends from this date (2026-11-01), ISO time or days back (7d); default 30d.")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", metavar="DIR", help="Folder for report.html and report.json (default: <run_id>/ or trends/<tenant>/ in the store's reports folder, as for ingest --report-dir).")] = None,
    as_json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Write a run's data-quality report, or the trends across a tenant's runs (HTML + JSON).

    \b
    Example:
      suppress report --tenant acme --since 7d
    """
    from pipelines.report import report as write_report

    with store_at(store) as st:
        doc, paths = write_report(st, run_id, tenant, since, output)
    if as_json:
        print_json(doc)
        return
    flags = doc.get("flags")
    out.print(f"report: {paths['html']}" + (f" ({len(flags)} flagged)" if flags is not None else ""))


def sources(
    tenant: TenantOpt,
    sources_file: SourcesOpt = None,
    as_json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """The nightly sync's state: each source of a tenant with its watermark, last run and last error.

    \b
    Example:
      suppress sources --tenant acme --sources config/sources.toml
    """
    from pipelines.sync.state import FAILED_PULL, source_states

    settings, path, chosen = _configured(tenant, sources_file, store)
    with store_at(settings) as st:  # reads only: a store that does not exist is refused
        states = source_states(st, tenant, chosen)
    if as_json:
        print_json({"tenant": tenant, "sources_file": str(path), "sources": states})
        return
    out.print(f"{tenant}: {len(states)} sync source{'s' if len(states) != 1 else ''} in {path}")
    for s in states:
        run, error = s["last_run"], s["last_error"]
        out.print(f"{s['source']} ({s['platform']})")
        out.print(f"  watermark   {_when(s['watermark']) if s['watermark'] else 'none yet (never loaded)'}")
        if run is None:
            what = "none yet"
        else:
            what = f"{run['run_id']} {run['status']} at {_when(run['started_at'])}, " + (
                "the pull failed: nothing loaded" if run["kind"] == FAILED_PULL
                else f"{run['rows_read']:,} rows read, {run['suppressions_added']:,} added")
        out.print(f"  last run    {what}")
        out.print("  last error  " + ("none" if error is None else
                                      f"{_when(error['at'])} ({error['run_id']}): {error['error']}"))


def _when(value: str) -> str:
    """An ISO time as `2024-05-11 02:00:00 UTC`."""
    from datetime import UTC, datetime

    try:
        return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except ValueError:
        return value
