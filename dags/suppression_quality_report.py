"""suppression_quality_report: after every load, the trends across runs (SPEC 4.2, 4.3).

Scheduled on the asset `suppression_migration` (and any other loader) publishes. Writes each
recently active tenant's cross-run report (HTML + JSON) under $SUPPRESSION_REPORTS_DIR/trends/.
Thin on purpose: every task calls one function of `pipelines.report.dag_tasks`, imported inside
the task body so that parsing this file stays fast.
"""
from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from airflow.sdk import Asset, Param, dag, get_current_context, task

SUPPRESSIONS = Asset("suppression_store://suppressions")
# DuckDB allows no reader beside a writing process: the store's readers queue with its writer.
STORE_POOL = "suppression_store_writer"
log = logging.getLogger(__name__)

DOC = """
### Suppression quality report

Runs after each load of the suppression store (asset `suppression_store://suppressions`).
For every tenant with a run in the last `recent_days`, writes the trends across its runs of the
last `lookback_days` (`suppress report --tenant T --since ...`): volumes, reject rates and
reason mix per source and day, with empty nights, spikes, failed runs and stopped sources flagged.

**Params**: `lookback_days` (30), `recent_days` (1), `reports_dir` (default
`$SUPPRESSION_REPORTS_DIR`, else `./reports` of the worker).

**Store**: the Airflow connection `suppression_store`, else `SUPPRESSION_STORE` (read-only).
"""


@dag(
    dag_id="suppression_quality_report",
    description="Trends across import runs per tenant and source, after every load",
    doc_md=DOC,
    schedule=[SUPPRESSIONS],
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    tags=["suppression", "quality", "report"],
    default_args={
        "owner": "data-platform",
        "retries": 2,
        "retry_delay": timedelta(seconds=20),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=2),
    },
    params={
        "lookback_days": Param(30, type="integer", minimum=1, description="Days of runs each report covers"),
        "recent_days": Param(1, type="integer", minimum=1, description="Report the tenants with a run this recent"),
        "reports_dir": Param(None, type=["null", "string"], description="Folder for the reports"),
    },
)
def suppression_quality_report():
    @task
    def window() -> dict:
        from pipelines.report.dag_tasks import report_window

        context = get_current_context()
        # logical_date is None for asset-triggered runs: anchor on run_after
        anchor = getattr(context.get("dag_run"), "run_after", None) or context.get("data_interval_end")
        params = context["params"]
        return report_window(anchor, params["lookback_days"], params["recent_days"])

    @task(pool=STORE_POOL)
    def recent_tenants(span: dict) -> list[str]:
        from pipelines.report.dag_tasks import tenants_to_report

        tenants = tenants_to_report(span)
        log.info("tenants with runs since %s: %s", span["recent_since"], ", ".join(tenants) or "none")
        return tenants

    @task(pool=STORE_POOL)
    def write_trends(tenant: str, span: dict) -> dict:
        from pipelines.report.dag_tasks import write_tenant_trends

        return write_tenant_trends(tenant, span, get_current_context()["params"].get("reports_dir"))

    @task
    def summarize(results: list[dict]) -> list[dict]:
        from pipelines.report.dag_tasks import summary_text

        results = list(results)
        log.info("%s", summary_text(results))
        return results

    span = window()
    written = write_trends.partial(span=span).expand(tenant=recent_tenants(span))
    summarize(written)


suppression_quality_report()
