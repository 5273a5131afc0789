"""suppression_nightly_sync: every night, pull each configured tenant source's API since its watermark.

Thin on purpose: every decision lives in `pipelines.sync` (imported inside the tasks, never at
the top of this file, so parsing stays fast); see `pipelines/airflow_tasks.py`.
"""
from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from airflow.sdk import Asset, Param, dag, get_current_context, task, task_group
from airflow.sdk.exceptions import AirflowFailException

SUPPRESSIONS = Asset("suppression_store://suppressions")  # what the quality report is scheduled on
WRITER_POOL = "suppression_store_writer"  # create once: airflow pools set suppression_store_writer 1 "..."
log = logging.getLogger(__name__)

DOC = """
### Suppression nightly sync

During the switch-over both platforms send, so every night each tenant's previous platform is
pulled for new bounces, complaints and unsubscribes, exactly like `suppress sync` (SPEC 4.2).

**Sources**: the TOML file `sources_file` (Param), else `$SUPPRESSION_SOURCES` on the workers
(see `config/sources.example.toml`): tenant, platform, source name, a credentials reference
(`airflow:<conn_id>` or `env:<VAR>`) and options. `tenant` (Param) limits a manual run to one tenant.

**Tasks**: `store` resolves the store once (the Airflow connection `suppression_store`, else
`$SUPPRESSION_STORE`; never a default file) and every later task checks it uses the same one;
`plan` reads every source's watermark (in the writer pool: DuckDB allows no reader
beside a writing process); per source (dynamic task mapping), `pull` fetches the API since the
watermark minus the overlap into `$SUPPRESSION_SYNC_DIR` (storage all workers share; default the
machine's temp folder) without touching the store, and `load` is the single writer (pool
`suppression_store_writer`, 1 slot): the one ingest path, which moves the watermark in the same
transaction. One source failing does not stop the others; its watermark stays, and the next
night re-pulls from it. `maintenance` (writer pool, independent of the sources) removes the
safety copies of deleted contacts once their 3 days have passed (`suppress maintenance`), and
pulled files that failed or refused loads left behind, after 7 days.
`max_active_runs=1`: runs never overlap, so neither do a tenant's.

**Retries**: each request retries 429s (honouring `Retry-After` / reset headers), 5xx, resets
and timeouts with capped backoff; a platform still down after that fails the task, which Airflow
retries later. A refusal (wrong key, bad config, data refused) fails at once, without retries.

**Timeouts**: a pull try may run 3 h, a load try 2 h, the whole run 20 h (before the next night).
"""

PULL_TIMEOUT = timedelta(hours=3)
LOAD_TIMEOUT = timedelta(hours=2)
STORE_TASK_TIMEOUT = timedelta(minutes=30)  # plan and maintenance: a few queries
RUN_TIMEOUT = timedelta(hours=20)


def _fail_fast(exc: Exception) -> Exception:
    """A refusal (bad config, wrong key, data refused) is not fixed by retrying; an outage may be."""
    if getattr(exc, "retryable", False):
        return exc
    from pipelines.airflow_tasks import refused_text

    log.error("%s", refused_text(exc))  # counts only: the summary's reject examples are addresses
    return AirflowFailException(str(exc))


@dag(
    dag_id="suppression_nightly_sync",
    description="Pull each tenant's previous platform API since its watermark and load what is new",
    doc_md=DOC,
    schedule="0 2 * * *",
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=RUN_TIMEOUT,
    tags=["suppression", "sync", "onboarding"],
    default_args={
        "owner": "data-platform",
        "retries": 2,
        "retry_delay": timedelta(minutes=5),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=30),
    },
    params={
        "tenant": Param(None, type=["null", "string"], description="Only this tenant's sources (default: all)"),
        "sources_file": Param(None, type=["null", "string"], description="Sources TOML (default: $SUPPRESSION_SOURCES)"),
    },
)
def suppression_nightly_sync():
    @task(execution_timeout=STORE_TASK_TIMEOUT)
    def store() -> dict:
        from pipelines.airflow_tasks import store_reference
        from pipelines.errors import UserError

        try:
            return store_reference()
        except UserError as exc:
            raise _fail_fast(exc) from None

    @task(pool=WRITER_POOL, pool_slots=1, execution_timeout=STORE_TASK_TIMEOUT)
    def plan(store: dict) -> list[dict]:
        from pipelines.airflow_tasks import store_url_for_airflow, sync_jobs
        from pipelines.errors import UserError

        try:
            jobs = sync_jobs(get_current_context()["params"], store_url_for_airflow(expected=store))
        except UserError as exc:
            raise _fail_fast(exc) from None
        for job in jobs:
            s = job["source"]
            log.info("%s/%s (%s): watermark %s", s["tenant"], s["name"], s["platform"], job["old_watermark"])
        return jobs

    @task_group(group_id="source")
    def per_source(job: dict, store: dict):
        @task(max_active_tis_per_dagrun=4, execution_timeout=PULL_TIMEOUT)
        def pull(job: dict) -> dict:
            from pipelines.airflow_tasks import pull_job
            from pipelines.errors import UserError

            try:
                pulled = pull_job(job, get_current_context()["run_id"])
            except UserError as exc:
                raise _fail_fast(exc) from None
            log.info("%s/%s: %s records in %s pages (%s retries, %s rate limited) since %s",
                     job["source"]["tenant"], job["source"]["name"], pulled["records"], pulled["pages"],
                     pulled["retries"], pulled["rate_limited"], pulled["since"] or "the beginning")
            return pulled

        @task(pool=WRITER_POOL, pool_slots=1, outlets=[SUPPRESSIONS], execution_timeout=LOAD_TIMEOUT)
        def load(pulled: dict, store: dict) -> dict:
            from pipelines.airflow_tasks import load_pulled, store_url_for_airflow, sync_text
            from pipelines.errors import UserError

            context = get_current_context()
            try:
                report = load_pulled(pulled, store_url_for_airflow(expected=store))
            except UserError as exc:
                raise _fail_fast(exc) from None
            ingest = report.get("ingest") or {}
            context["outlet_events"][SUPPRESSIONS].extra = {
                "tenant": report["tenant"],
                "source": report["source"],
                "run_id": ingest.get("run_id"),
                "status": ingest.get("status"),
                "dry_run": False,
                "suppressions_added": ingest.get("suppressions_added", 0),
                "suppressions_updated": ingest.get("suppressions_updated", 0),
            }
            log.info("%s", sync_text(report))
            return report

        load(pull(job), store)

    @task(pool=WRITER_POOL, pool_slots=1, execution_timeout=STORE_TASK_TIMEOUT)
    def maintenance(store: dict) -> dict:
        """Housekeeping beside the loads (not after them: a failed source must still fail the run)."""
        from pipelines.airflow_tasks import run_maintenance, store_url_for_airflow
        from pipelines.errors import UserError

        try:
            done = run_maintenance(store_url_for_airflow(expected=store))
        except UserError as exc:
            raise _fail_fast(exc) from None
        log.info("removed %d expired safety copies and %d old pulled files", len(done["safety_exports_removed"]),
                 len(done["pulled_files_removed"]))
        return done

    resolved = store()
    per_source.partial(store=resolved).expand(job=plan(resolved))
    maintenance(resolved)


suppression_nightly_sync()
