"""suppression_nightly_sync: every night, pull each configured tenant source's API since its watermark.

Wiring only: every task is one call into `pipelines.airflow.nightly_sync` (which documents the DAG).
"""
from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Param, dag, get_current_context, task, task_group

from pipelines.airflow import nightly_sync as sync
from pipelines.airflow.common import START_DATE, SUPPRESSIONS, WRITER_POOL, default_args, refusals


@dag(
    dag_id="suppression_nightly_sync",
    description="Pull each tenant's previous platform API since its watermark and load what is new",
    doc_md=sync.DOC,
    schedule="0 2 * * *",
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=sync.RUN_TIMEOUT,
    tags=["suppression", "sync", "onboarding"],
    default_args=default_args(retry_delay=timedelta(minutes=5), max_retry_delay=timedelta(minutes=30)),
    params={
        "tenant": Param(None, type=["null", "string"], description="Only this tenant's sources (default: all)"),
        "sources_file": Param(None, type=["null", "string"], description="Sources TOML (default: $SUPPRESSION_SOURCES)"),
    },
)
def suppression_nightly_sync():
    @task(execution_timeout=sync.STORE_TASK_TIMEOUT)
    def store() -> dict:
        with refusals():
            return sync.store()

    @task(pool=WRITER_POOL, pool_slots=1, execution_timeout=sync.STORE_TASK_TIMEOUT)
    def plan(store: dict) -> list[dict]:
        with refusals():
            return sync.sync_jobs(get_current_context()["params"], expected=store)

    @task_group(group_id="source")
    def per_source(job: dict, store: dict):
        @task(max_active_tis_per_dagrun=4, execution_timeout=sync.PULL_TIMEOUT)
        def pull(job: dict) -> dict:
            with refusals():
                return sync.pull_job(job, get_current_context()["run_id"])

        @task(pool=WRITER_POOL, pool_slots=1, outlets=[SUPPRESSIONS], execution_timeout=sync.LOAD_TIMEOUT)
        def load(pulled: dict, store: dict) -> dict:
            context = get_current_context()
            with refusals():
                report = sync.load_pulled(pulled, expected=store)
            context["outlet_events"][SUPPRESSIONS].extra = sync.asset_extra(report)
            return report

        load(pull(job), store)

    @task(pool=WRITER_POOL, pool_slots=1, execution_timeout=sync.STORE_TASK_TIMEOUT)
    def maintenance(store: dict) -> dict:
        """Housekeeping beside the loads (not after them: a failed source must still fail the run)."""
        with refusals():
            return sync.maintenance(expected=store)

    resolved = store()
    per_source.partial(store=resolved).expand(job=plan(resolved))
    maintenance(resolved)


suppression_nightly_sync()
