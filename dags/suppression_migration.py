"""suppression_migration: a manually triggered import of suppression-list exports into the store.

Wiring only: every task is one call into `pipelines.airflow.migration` (which documents the DAG).
"""
from __future__ import annotations

from airflow.sdk import Param, dag, get_current_context, task

from pipelines.airflow import common, migration


@dag(
    dag_id="suppression_migration",
    description="Import suppression-list exports (bounces, complaints, unsubscribes) into the suppression store",
    doc_md=migration.DOC,
    schedule=None,
    start_date=common.START_DATE,
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=migration.RUN_TIMEOUT,
    fail_fast=True,  # a refused file or a missing pool ends the run at once
    tags=["suppression", "migration", "onboarding"],
    default_args=common.default_args(),
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
        with common.refusals():
            return migration.resolve_inputs(get_current_context()["params"])

    @task(multiple_outputs=False)
    def inspect_files(paths: list[str]) -> list[dict]:
        params = get_current_context()["params"]
        with common.refusals():
            return migration.inspect_files(paths, platform=params.get("platform"), tenant=params["tenant"])

    @task(pool=common.WRITER_POOL, pool_slots=1, execution_timeout=migration.LOAD_TIMEOUT, outlets=[common.CHANGES],
          multiple_outputs=False)
    def load(files: list[str]) -> dict:
        context = get_current_context()
        with common.refusals():
            result = migration.load(context["params"], files)
        common.announce(context, migration.asset_extra(result))
        return result

    files = resolve_inputs()
    loaded = load(files)
    inspect_files(files) >> loaded
    [loaded, common.watch_pool_task("load")] >> common.verdict_task()


suppression_migration()
