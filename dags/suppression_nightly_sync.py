"""suppression_nightly_sync: every night, pull each configured tenant source's API since its watermark.

Wiring only: every task is one call into `pipelines.airflow.nightly_sync` (which documents the DAG).
"""
from __future__ import annotations

from pathlib import Path

from airflow.sdk import Param, dag, get_current_context, task, task_group, teardown

from pipelines.airflow import common
from pipelines.airflow import nightly_sync as sync


@dag(
    dag_id="suppression_nightly_sync",
    description="Pull each tenant's previous platform API since its watermark and load what is new",
    doc_md=sync.DOC,
    schedule="0 2 * * *",
    start_date=common.START_DATE,
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=sync.RUN_TIMEOUT,
    tags=["suppression", "sync", "onboarding"],
    default_args=common.default_args(retry_delay=sync.RETRY_DELAY, max_retry_delay=sync.MAX_RETRY_DELAY),
    params={
        "tenant": Param(None, type=["null", "string"], description="Only this tenant's sources (default: all)"),
        "sources_file": Param(None, type=["null", "string"], description=sync.SOURCES_PARAM_HELP),
    },
)
def suppression_nightly_sync():
    @task(execution_timeout=sync.STORE_TASK_TIMEOUT, multiple_outputs=False)
    def store() -> dict:
        with common.refusals():
            return sync.store()

    @task(pool=common.WRITER_POOL, pool_slots=1, execution_timeout=sync.STORE_TASK_TIMEOUT, multiple_outputs=False)
    def plan(store: dict) -> list[dict]:
        with common.refusals():
            return sync.sync_jobs(get_current_context()["params"], expected=store, bundle=Path(__file__).parent)

    @task_group(group_id="source")
    def per_source(job: dict, store: dict):
        @task(max_active_tis_per_dagrun=4, execution_timeout=sync.PULL_TIMEOUT, map_index_template=common.LABEL,
              multiple_outputs=False)
        def pull(job: dict) -> dict:
            context = get_current_context()
            context["label"] = sync.source_label(job)
            with common.refusals():
                return sync.pull_job(job, context["run_id"], on_failure=lambda f: context["ti"].xcom_push("failed_pull", f))

        @task(pool=common.WRITER_POOL, pool_slots=1, execution_timeout=sync.LOAD_TIMEOUT,
              map_index_template=common.LABEL, multiple_outputs=False)
        def load(pulled: dict, store: dict) -> dict:
            get_current_context()["label"] = sync.source_label(pulled)
            with common.refusals():
                return sync.load_pulled(pulled, expected=store)

        return load(pull(job), store)

    @teardown  # runs after every load, whatever their state; a failed source still fails the run
    @task(outlets=[common.CHANGES], pool=common.WRITER_POOL, multiple_outputs=False)
    def publish(store: dict) -> None:  # also records failed pulls: their sources' last error
        context = get_current_context()
        sync.record_failed_pulls(context["ti"], expected=store)
        common.announce(context, sync.night_changes(context["ti"]))

    @task(pool=common.WRITER_POOL, pool_slots=1, execution_timeout=sync.STORE_TASK_TIMEOUT, multiple_outputs=False)
    def maintenance(store: dict) -> dict:
        with common.refusals():
            return sync.maintenance(expected=store)

    resolved = store()
    jobs = plan(resolved)
    resolved >> common.watch_pool_task("plan")
    per_source.partial(store=resolved).expand(job=jobs) >> publish(resolved)
    maintenance(resolved)


suppression_nightly_sync()
