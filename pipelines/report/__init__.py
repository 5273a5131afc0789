"""Data-quality reports (SPEC 4.3): per run, and trends across runs; each a JSON summary plus one
self-contained HTML page (`report.json`, `report.html`) in a folder of its own.

Reports go under `$SUPPRESSION_REPORTS_DIR`, else a `reports/` folder beside the DuckDB store,
else (PostgreSQL) the user's `~/.local/share/suppress/reports` (`pipelines.settings.
default_reports_dir`): a run's in `<root>/<run_id>/`, a tenant's trends in `<root>/trends/<tenant>/`.
Airflow tasks pass their own root.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from pipelines.errors import UsageError, UserError
from pipelines.model import folder_name
from pipelines.store import Store

log = logging.getLogger(__name__)

def reports_root(store: Store | None = None) -> Path:
    """The reports folder of `store` (None: the environment's store): `$SUPPRESSION_REPORTS_DIR`,
    else beside a DuckDB file, else the user's data folder."""
    from pipelines.settings import Settings

    return Settings.from_env(store=getattr(store, "url", None)).reports_dir


def run_report_dir(run_id: str, store: Store | None = None) -> Path:
    return reports_root(store) / run_id


def trends_dir(tenant: str | None, store: Store | None = None) -> Path:
    name = folder_name(tenant) if tenant else "_all"
    return reports_root(store) / "trends" / name


def _write(doc: dict, html: str, out_dir: Path) -> dict:
    out_dir = out_dir.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"html": out_dir / "report.html", "json": out_dir / "report.json"}
    paths["json"].write_text(json.dumps(doc, indent=2, default=str) + "\n", encoding="utf-8")
    paths["html"].write_text(html, encoding="utf-8")
    return {k: str(v) for k, v in paths.items()}


def write_run_report(store: Store, run_id: str, out_dir: Path | str | None = None) -> tuple[dict, dict]:
    """Build and write one run's report; returns (the JSON summary, {html, json} paths)."""
    from pipelines.report.html import render_run
    from pipelines.report.run import build_run_report

    doc = build_run_report(store, run_id)
    return doc, _write(doc, render_run(doc), Path(out_dir) if out_dir else run_report_dir(run_id, store))


def write_trends(store: Store, tenant: str | None, since: datetime, until: datetime | None = None,
                 out_dir: Path | str | None = None) -> tuple[dict, dict]:
    """Build and write the cross-run report of a tenant (None: all tenants)."""
    from pipelines.report.html import render_trends
    from pipelines.report.trends import build_trends

    doc = build_trends(store, since, until, tenant)
    return doc, _write(doc, render_trends(doc), Path(out_dir) if out_dir else trends_dir(tenant, store))


def report(store: Store, run_id: str | None = None, tenant: str | None = None, since: str | None = None,
           output: Path | str | None = None) -> tuple[dict, dict]:
    """`suppress report`: a run's report (RUN_ID), or a tenant's trends (--tenant [--since])."""
    from pipelines.report.trends import parse_since

    if run_id and (tenant or since):
        raise UsageError("give either RUN_ID or --tenant/--since, not both")
    if run_id:
        return write_run_report(store, run_id, output)
    if not tenant:
        raise UsageError("give a RUN_ID, or --tenant (with --since) for the trends across runs")
    return write_trends(store, tenant, parse_since(since), out_dir=output)


def with_report(store: Store, run: Callable[[], dict], report_dir: Path | str | None = None, *,
                root: Path | str | None = None) -> dict:
    """Run an import (`run()`, an `ingest()` into `store`) and write its report: every recorded
    run gets one, refused ones included (their summary comes with the exception). The entry
    points (CLI, DAG, sync) call this; the run itself writes no report. Returns the summary,
    which names the page as `report`. The report goes to `report_dir`, else `<root>/<run_id>/`,
    else the store's reports folder (`reports_root`)."""
    try:
        summary = run()
    except UserError as exc:
        if getattr(exc, "summary", None):  # the run was recorded: its report says why it failed
            report_after_ingest(store, exc.summary, report_dir, root)
        raise
    return report_after_ingest(store, summary, report_dir, root)


def report_after_ingest(store: Store, summary: dict, report_dir: Path | str | None = None,
                        root: Path | str | None = None) -> dict:
    """Write the report of a run the ingest just closed and name it in the summary as `report`.

    Never raises: the run is already committed (or refused), and a report that cannot be written
    must not turn that into a failure. The reason goes to the log and the summary instead.
    """
    try:
        if report_dir is None and root is not None:
            report_dir = Path(root) / summary["run_id"]
        _, paths = write_run_report(store, summary["run_id"], report_dir)
        summary["report"] = paths["html"]
    except Exception as exc:  # noqa: BLE001 - any failure here is reported, never raised
        reason = str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
        log.warning("run %s: the report could not be written (%s)", summary.get("run_id"), reason)
        summary["report"] = None
        summary["report_error"] = reason
    return summary
