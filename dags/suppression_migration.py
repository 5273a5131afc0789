"""suppression_migration: a manually triggered import of suppression-list exports into the store.

Thin on purpose: every decision lives in `pipelines` (imported inside the tasks, never at the top
of this file, so parsing stays fast); see `pipelines/airflow_tasks.py`.
"""
from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from airflow.sdk import Asset, Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException

SUPPRESSIONS = Asset("suppression_store://suppressions")  # "airflow://" is a reserved scheme
WRITER_POOL = "suppression_store_writer"  # create once: airflow pools set suppression_store_writer 1 "..."
log = logging.getLogger(__name__)

DOC = """
### Suppression migration

Loads bounce, complaint and unsubscribe exports from a previous email/SMS platform into the
suppression store, exactly like `suppress ingest` (SPEC 4.1): same detection, validation,
reject-rate limit and idempotency (the same input loaded twice is `skipped` the second time).

**Params**
- `tenant`: the tenant the suppressions belong to.
- `paths`: a list of files, or one directory / glob / `file://` URI (a list or a plain string),
  e.g. `file:///data/exports/*.csv`.
- `platform`: `auto` (detect each file) or a platform name.
- `default_region`: region for national phone numbers (e.g. `US`), or null.
- `max_reject_rate`: above this share of rejected rows the run is refused and nothing is loaded.
- `dry_run`: count what would change without loading.

**Store**: the Airflow connection `suppression_store` if defined (`duckdb:////path/store.duckdb`,
or a `postgresql://` URL), else the `SUPPRESSION_STORE` environment variable; with neither, `load`
fails (and retries) rather than write a default file on the worker.

**Tasks**: `resolve_inputs` expands the paths; `inspect_file` (mapped, read-only) detects every
file's format and fails the run early on an unknown one; `load` is the single writer (pool
`suppression_store_writer`, 1 slot: create it before the first run; DuckDB allows one writer);
`summarize` logs the result. Refused input fails without retries; other errors retry twice.
A `load` try may run 6 hours.
"""

LOAD_TIMEOUT = timedelta(hours=6)


def _fail_on_user_error(exc: Exception) -> Exception:
    """Refused input (bad params, unknown format, too many rejects) is not fixed by retrying; a
    store that could not be resolved for a moment may be."""
    if getattr(exc, "retryable", False):
        return exc
    from pipelines.airflow_tasks import refused_text

    log.error("%s", refused_text(exc))  # counts only: the summary's reject examples are addresses
    return AirflowFailException(str(exc))


@dag(
    dag_id="suppression_migration",
    description="Import suppression-list exports (bounces, complaints, unsubscribes) into the suppression store",
    doc_md=DOC,
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    tags=["suppression", "migration", "onboarding"],
    default_args={
        "owner": "data-platform",
        "retries": 2,
        "retry_delay": timedelta(seconds=20),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=2),
    },
    params={
        "tenant": Param(type="string", minLength=1, title="Tenant", description="Tenant the suppressions belong to"),
        # SPEC 4.2: "a list of files or a URI", so a plain string is taken as well as a list.
        "paths": Param(
            type=["array", "string"],
            items={"type": "string", "minLength": 1},
            minItems=1,
            minLength=1,
            title="Paths",
            description="Files, or one directory / glob / file:// URI such as file:///data/exports/*.csv",
        ),
        "platform": Param("auto", type="string", minLength=1, description="auto, or the source platform's name"),
        "default_region": Param(None, type=["null", "string"], description="Region for national phone numbers, e.g. US"),
        "max_reject_rate": Param(0.10, type="number", minimum=0, maximum=1, description="Refuse the run above this"),
        "dry_run": Param(False, type="boolean", description="Count what would change; load nothing"),
    },
)
def suppression_migration():
    @task
    def resolve_inputs() -> list[str]:
        from pipelines.airflow_tasks import build_request, resolve_paths
        from pipelines.errors import UserError

        params = get_current_context()["params"]
        try:
            files = resolve_paths(params["paths"])
            build_request(params, files)  # bad tenant/platform/region/rate: fail before any work
        except UserError as exc:
            raise _fail_on_user_error(exc) from None
        log.info("%d input file(s):\n  %s", len(files), "\n  ".join(files))
        return files

    @task
    def inspect_file(path: str) -> dict:
        from pipelines.airflow_tasks import inspect_file as inspect_one
        from pipelines.errors import UserError

        params = get_current_context()["params"]
        try:
            found = inspect_one(path, platform=params.get("platform") or "auto", tenant=params["tenant"])
        except UserError as exc:
            raise _fail_on_user_error(exc) from None
        log.info("%s: %s %s (%s)", path, found["platform"], found["kind"], found["why"])
        return found

    @task(pool=WRITER_POOL, pool_slots=1, outlets=[SUPPRESSIONS], execution_timeout=LOAD_TIMEOUT)
    def load(files: list[str]) -> dict:
        from pipelines.airflow_tasks import run_ingest, store_url_for_airflow
        from pipelines.errors import UserError

        context = get_current_context()
        try:
            summary = run_ingest(context["params"], files, store_url_for_airflow())
        except UserError as exc:
            raise _fail_on_user_error(exc) from None
        context["outlet_events"][SUPPRESSIONS].extra = {
            "tenant": summary.get("tenant"),
            "run_id": summary.get("run_id"),
            "status": summary.get("status"),
            "dry_run": bool(summary.get("dry_run")),
            "suppressions_added": summary.get("suppressions_added", 0),
            "suppressions_updated": summary.get("suppressions_updated", 0),
        }
        return summary

    @task
    def summarize(summary: dict) -> dict:
        from pipelines.airflow_tasks import summary_text

        log.info("%s", summary_text(summary))
        return summary

    files = resolve_inputs()
    inspected = inspect_file.expand(path=files)  # read-only, one per file; any failure stops the run
    loaded = load(files)
    inspected >> loaded
    summarize(loaded)


suppression_migration()
