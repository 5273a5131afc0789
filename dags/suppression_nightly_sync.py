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

**Tasks**: `plan` reads every source's watermark (in the writer pool: DuckDB allows no reader
beside a writing process); per source (dynamic task mapping), `pull` fetches the API since the
watermark minus the overlap into `$SUPPRESSION_SYNC_DIR` (storage all workers share; default the
machine's temp folder) without touching the store, and `load` is the single writer (pool
`suppression_store_writer`, 1 slot): the one ingest path, which moves the watermark in the same
transaction. One source failing does not stop the others; its watermark stays, and the next
night re-pulls from it. `maintenance` (writer pool, independent of the sources) removes the
safety copies of deleted contacts once their 3 days have passed (`suppress maintenance`). `max_active_runs=1`: runs never overlap, so neither do a tenant's.

**Retries**: each request retries 429s (honouring `Retry-After` / reset headers), 5xx, resets
and timeouts with capped backoff; a platform still down after that fails the task, which Airflow
retries later. A refusal (wrong key, bad config, data refused) fails at once, without retries.
"""


def _fail_fast(exc: Exception) -> Exception:
    """A refusal (bad config, wrong key, data refused) is not fixed by retrying; an outage may be."""
    if getattr(exc, "retryable", False):
        return exc
    summary = getattr(exc, "summary", None)
    if summary:
        import json

        log.error("refused; run summary: %s", json.dumps(summary, default=str, sort_keys=True))
    return AirflowFailException(str(exc))


@dag(
    dag_id="suppression_nightly_sync",
    description="Pull each tenant's previous platform API since its watermark and load what is new",
    doc_md=DOC,
    schedule="0 2 * * *",
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
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
    @task(pool=WRITER_POOL, pool_slots=1)
    def plan() -> list[dict]:
        from pipelines.airflow_tasks import describe_store, store_url_for_airflow, sync_jobs
        from pipelines.errors import UserError

        store = store_url_for_airflow()
        log.info("store: %s", describe_store(store))
        try:
            jobs = sync_jobs(get_current_context()["params"], store)
        except UserError as exc:
            raise _fail_fast(exc) from None
        for job in jobs:
            s = job["source"]
            log.info("%s/%s (%s): watermark %s", s["tenant"], s["name"], s["platform"], job["old_watermark"])
        return jobs

    @task_group(group_id="source")
    def per_source(job: dict):
        @task(max_active_tis_per_dagrun=4)
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

        @task(pool=WRITER_POOL, pool_slots=1, outlets=[SUPPRESSIONS])
        def load(pulled: dict) -> dict:
            from pipelines.airflow_tasks import describe_store, load_pulled, store_url_for_airflow, sync_text
            from pipelines.errors import UserError

            context = get_current_context()
            store = store_url_for_airflow()
            log.info("store: %s", describe_store(store))
            try:
                report = load_pulled(pulled, store)
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

        load(pull(job))

    @task(pool=WRITER_POOL, pool_slots=1)
    def maintenance() -> dict:
        """Housekeeping beside the loads (not after them: a failed source must still fail the run)."""
        from pipelines.airflow_tasks import run_maintenance, store_url_for_airflow

        done = run_maintenance(store_url_for_airflow())
        log.info("removed %d expired safety copies", len(done["safety_exports_removed"]))
        return done

    per_source.expand(job=plan())
    maintenance()


suppression_nightly_sync()
