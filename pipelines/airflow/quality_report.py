"""The `suppression_quality_report` DAG's tasks, as plain functions
(`dags/suppression_quality_report.py` wires them): the window, the tenants, their trends.

Asset-triggered runs have no logical date (ecosystem R9): the window is anchored on the run's
`run_after` (else the data interval's end, else now). Values crossing XCom are JSON.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipelines.settings import Settings

log = logging.getLogger(__name__)

DOC = """
### Suppression quality report

Runs after each load that changed the suppression store (asset `suppression_store://suppressions`;
a nightly sync sends one event a night). For every tenant the triggering events name (a manual
run: every tenant with a run in the last `recent_days`), writes the trends across its runs of the
last `lookback_days` (`suppress report --tenant T --since ...`): volumes, reject rates and
reason mix per source and day, with empty nights, spikes, failed runs and stopped sources flagged.

**Params**: `lookback_days` (30), `recent_days` (1), `reports_dir` (default
`$SUPPRESSION_REPORTS_DIR`, else the `suppression_store` connection's extra `reports_dir`, else
`$AIRFLOW_HOME/suppression/reports`).

**Store**: the Airflow connection `suppression_store`, else `SUPPRESSION_STORE` (read-only).
"""


def _aware(value) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def report_window(context: Mapping, lookback_days: int = 30, recent_days: int = 1) -> dict:
    """{until, since, recent_since} (ISO) of a run, from its task context: the report covers
    `lookback_days` up to the run's anchor; the tenants reported are those with a run in the last
    `recent_days`."""
    anchor = getattr(context.get("dag_run"), "run_after", None) or context.get("data_interval_end")
    until = _aware(anchor) or datetime.now(UTC)
    return {
        "until": until.isoformat(),
        "since": (until - timedelta(days=int(lookback_days))).isoformat(),
        "recent_since": (until - timedelta(days=int(recent_days))).isoformat(),
        "tenants": changed_tenants(context),
    }


def changed_tenants(context: Mapping) -> list[str] | None:
    """The tenants the triggering asset events name (the loads that changed the store), or None
    for a run no event triggered (a manual run reports every recently active tenant)."""
    accessor = context.get("triggering_asset_events") or {}
    events = [event for found in accessor.values() for event in found]
    if not events:
        return None
    return sorted({t for e in events for t in ((getattr(e, "extra", None) or {}).get("tenants") or [])})


def _store(settings: Settings | None):
    from pipelines.airflow.resources import task_settings
    from pipelines.store import opened

    return opened((settings or task_settings()).store, read_only=True)


def tenants_to_report(window: dict, settings: Settings | None = None) -> list[str]:
    """The tenants the triggering events named, else those with a run since `recent_since`."""
    from pipelines.report.trends import recent_tenants

    if window.get("tenants") is not None:
        log.info("tenants whose store changed: %s", ", ".join(window["tenants"]) or "none")
        return list(window["tenants"])
    with _store(settings) as st:
        tenants = recent_tenants(st, _aware(window["recent_since"]))
    log.info("tenants with runs since %s: %s", window["recent_since"], ", ".join(tenants) or "none")
    return tenants


def write_tenant_trends(tenant: str, window: dict, reports_dir: str | None = None,
                        settings: Settings | None = None) -> dict:
    """Write one tenant's cross-run report under `reports_dir` (the Param), else the settings'
    reports folder; returns where, and what it flagged (JSON-safe)."""
    from pipelines.airflow.resources import task_settings
    from pipelines.report import trends_dir, write_trends

    settings = settings or task_settings()
    out_dir = Path(reports_dir or settings.reports_dir) / "trends" / trends_dir(tenant).name
    with _store(settings) as st:
        doc, paths = write_trends(st, tenant, _aware(window["since"]), _aware(window["until"]), out_dir)
    return {"tenant": tenant, **paths, "runs": len(doc["runs"]), "sources": len(doc["sources"]),
            "flags": [{k: f[k] for k in ("source", "day", "kind", "message")} for f in doc["flags"]]}


def summarize(results: list[dict]) -> list[dict]:
    results = list(results)
    log.info("%s", summary_text(results))
    return results


def summary_text(results: list[dict]) -> str:
    if not results:
        return "no tenant had a run in the window; no report written"
    lines = []
    for r in results:
        lines.append(f"{r['tenant']}: {r['runs']} run(s), {r['sources']} source(s), {len(r['flags'])} flag(s) -> {r['html']}")
        lines += [f"  {f['kind']} {f['source']} {f['day']}: {f['message']}" for f in r["flags"]]
    return "\n".join(lines)
