"""The nightly sync from the command line (`sync`), and the data-quality reports (`report`)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from pipelines.cli.options import JsonOpt, StoreOpt, TenantOpt, cli_settings, store_at
from pipelines.cli.output import out, print_json


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

    settings = cli_settings(store=store, sources_file=sources)
    path = sources_path(None, settings)
    chosen = select(load_sources(path), tenant, source, str(path))
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
    run_id: Annotated[Optional[str], typer.Argument(help="The run to report on; leave out for the trends of --tenant.")] = None,
    tenant: Annotated[Optional[str], typer.Option("--tenant", help="Trends across this tenant's runs.")] = None,
    since: Annotated[Optional[str], typer.Option("--since", help="Trends from this date (2026-11-01), ISO time or days back (7d); default 30d.")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", help="Folder for report.html and report.json (default: ./reports/<run_id>/ or ./reports/trends/<tenant>/).")] = None,
    as_json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Write a run's data-quality report, or the trends across a tenant's runs (HTML + JSON)."""
    from pipelines.report import report as write_report

    with store_at(store) as st:
        doc, paths = write_report(st, run_id, tenant, since, output)
    if as_json:
        print_json(doc)
        return
    flags = doc.get("flags")
    out.print(f"report: {paths['html']}" + (f" ({len(flags)} flagged)" if flags is not None else ""))
