"""suppression_quality_report: after every load, the trends across runs (SPEC 4.2, 4.3).

Wiring only: every task is one call into `pipelines.airflow.quality_report` (which documents the DAG).
"""
from __future__ import annotations

from airflow.sdk import Param, dag, get_current_context, task

from pipelines.airflow import quality_report as report
from pipelines.airflow.common import LABEL, START_DATE, SUPPRESSIONS, WRITER_POOL, default_args

# DuckDB allows no reader beside a writing process: the store's readers queue with its writer.
STORE_POOL = WRITER_POOL


@dag(
    dag_id="suppression_quality_report",
    description="Trends across import runs per tenant and source, after every load",
    doc_md=report.DOC,
    schedule=[SUPPRESSIONS],
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    tags=["suppression", "quality", "report"],
    default_args=default_args(),
    params={
        "lookback_days": Param(30, type="integer", minimum=1, description="Days of runs each report covers"),
        "recent_days": Param(1, type="integer", minimum=1, description="Report the tenants with a run this recent"),
        "reports_dir": Param(None, type=["null", "string"], description="Folder for the reports"),
    },
)
def suppression_quality_report():
    @task(multiple_outputs=False)
    def window() -> dict:
        context = get_current_context()
        params = context["params"]
        return report.report_window(context, params["lookback_days"], params["recent_days"])

    @task(pool=STORE_POOL)
    def recent_tenants(span: dict) -> list[str]:
        return report.tenants_to_report(span)

    @task(pool=STORE_POOL, map_index_template=LABEL, multiple_outputs=False)
    def write_trends(tenant: str, span: dict) -> dict:
        context = get_current_context()
        context["label"] = tenant
        return report.write_tenant_trends(tenant, span, context["params"].get("reports_dir"))

    @task
    def summarize(results: list[dict]) -> list[dict]:
        return report.summarize(results)

    span = window()
    written = write_trends.partial(span=span).expand(tenant=recent_tenants(span))
    summarize(written)


suppression_quality_report()
