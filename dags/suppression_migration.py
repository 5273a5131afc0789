"""suppression_migration: a manually triggered import of suppression-list exports into the store.

Wiring only: every task is one call into `pipelines.airflow.migration` (which documents the DAG).
"""
from __future__ import annotations

from airflow.sdk import Param, dag, get_current_context, task

from pipelines.airflow import migration
from pipelines.airflow.common import START_DATE, SUPPRESSIONS, WRITER_POOL, default_args, refusals


@dag(
    dag_id="suppression_migration",
    description="Import suppression-list exports (bounces, complaints, unsubscribes) into the suppression store",
    doc_md=migration.DOC,
    schedule=None,
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    tags=["suppression", "migration", "onboarding"],
    default_args=default_args(),
    params={
        "tenant": Param(type="string", minLength=1, title="Tenant", description="Tenant the suppressions belong to"),
        # SPEC 4.2: "a list of files or a URI", so a plain string is taken as well as a list.
        "paths": Param(type=["array", "string"], items={"type": "string", "minLength": 1}, minItems=1, minLength=1,
                       title="Paths", description="Files or folders, or one glob / file:// URI such as file:///data/exports/*.csv"),
        "platform": Param("auto", type="string", minLength=1, description="auto, or the source platform's name"),
        "default_region": Param(None, type=["null", "string"], description="Region for national phone numbers, e.g. US"),
        "max_reject_rate": Param(0.10, type="number", minimum=0, maximum=1, description="Refuse the run above this"),
        "dry_run": Param(False, type="boolean", description="Count what would change; load nothing"),
    },
)
def suppression_migration():
    @task
    def resolve_inputs() -> list[str]:
        with refusals():
            return migration.resolve_inputs(get_current_context()["params"])

    @task
    def inspect_file(path: str) -> dict:
        params = get_current_context()["params"]
        with refusals():
            return migration.inspect_file(path, platform=params.get("platform"), tenant=params["tenant"])

    @task(pool=WRITER_POOL, pool_slots=1, outlets=[SUPPRESSIONS], execution_timeout=migration.LOAD_TIMEOUT)
    def load(files: list[str]) -> dict:
        context = get_current_context()
        with refusals():
            summary = migration.load(context["params"], files)
        context["outlet_events"][SUPPRESSIONS].extra = migration.asset_extra(summary)
        return summary

    @task
    def summarize(summary: dict) -> dict:
        return migration.summarize(summary)

    files = resolve_inputs()
    inspected = inspect_file.expand(path=files)  # read-only, one per file; any failure stops the run
    loaded = load(files)
    inspected >> loaded
    summarize(loaded)


suppression_migration()
