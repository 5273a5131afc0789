"""Plain functions behind the `suppression_quality_report` DAG (no Airflow import here).

Asset-triggered runs have no logical date (ecosystem R9): the window is anchored on the run's
`run_after` (else the data interval's end, else now). Values crossing XCom are JSON.
"""
from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

log = logging.getLogger(__name__)


def _aware(value) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def report_window(anchor, lookback_days: int = 30, recent_days: int = 1) -> dict:
    """{until, since, recent_since} (ISO): the report covers `lookback_days` up to the anchor; the
    tenants reported are those with a run in the last `recent_days`."""
    until = _aware(anchor) or datetime.now(UTC)
    return {
        "until": until.isoformat(),
        "since": (until - timedelta(days=int(lookback_days))).isoformat(),
        "recent_since": (until - timedelta(days=int(recent_days))).isoformat(),
    }


def _store(store_url: str | None):
    from pipelines.airflow_tasks import store_url_for_airflow
    from pipelines.store import open_store

    return open_store(store_url or store_url_for_airflow(), read_only=True)


def tenants_to_report(window: dict, store_url: str | None = None) -> list[str]:
    """Tenants with a run since the window's `recent_since`."""
    from pipelines.report.trends import recent_tenants

    with _store(store_url) as st:
        return recent_tenants(st, _aware(window["recent_since"]))


def write_tenant_trends(tenant: str, window: dict, reports_dir: str | None = None,
                        store_url: str | None = None) -> dict:
    """Write one tenant's cross-run report; returns where, and what it flagged (JSON-safe)."""
    from pipelines.report import trends_dir, write_trends

    out_dir = Path(reports_dir) / "trends" / trends_dir(tenant).name if reports_dir else None
    with _store(store_url) as st:
        doc, paths = write_trends(st, tenant, _aware(window["since"]), _aware(window["until"]), out_dir)
    return {"tenant": tenant, **paths, "runs": len(doc["runs"]), "sources": len(doc["sources"]),
            "flags": [{k: f[k] for k in ("source", "day", "kind", "message")} for f in doc["flags"]]}


def summary_text(results: list[dict]) -> str:
    if not results:
        return "no tenant had a run in the window; no report written"
    lines = []
    for r in results:
        lines.append(f"{r['tenant']}: {r['runs']} run(s), {r['sources']} source(s), {len(r['flags'])} flag(s) -> {r['html']}")
        lines += [f"  {f['kind']} {f['source']} {f['day']}: {f['message']}" for f in r["flags"]]
    return "\n".join(lines)
