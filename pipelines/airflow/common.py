"""What the three DAG files share: the asset the loads publish, the writer pool, the start date,
default args, and the failure policy of every task. Imported at parse time: Airflow's task SDK
and light modules only.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from airflow.sdk import Asset, AssetAlias
from airflow.sdk.exceptions import AirflowFailException

from pipelines.errors import UserError
from pipelines.summary import refused_text

log = logging.getLogger(__name__)

# Every load of the store publishes this asset; the quality report is scheduled on it.
SUPPRESSIONS = Asset("suppression_store://suppressions")  # "airflow://" is a reserved scheme
# What the loaders declare: an event reaches SUPPRESSIONS through it only when a task adds one
# (`announce`), so a dry run, a skipped run or a night with nothing new starts no report.
CHANGES = AssetAlias("suppression_store_changes")
# Every task that writes (or, on DuckDB, reads beside a writer) the store runs in this pool: DuckDB
# allows one writing process per file. Created from the shipped file (README, "Airflow").
WRITER_POOL = "suppression_store_writer"
POOL_FILE = "deploy/airflow/pools.json"
MISSING_POOL = (f"the pool {WRITER_POOL!r} does not exist (or has no slots), so the store's writer can never start: "
                f"create it with `airflow pools import {POOL_FILE}` and trigger the run again")
# The tasks that take the writer pool's slot, per DAG: while none of them runs or is queued, a
# writer that stays `scheduled` is not waiting for a slot but for a pool that is not there.
WRITERS = {
    "suppression_migration": ["load"],
    "suppression_nightly_sync": ["plan", "source.load", "maintenance"],
    "suppression_quality_report": ["recent_tenants", "write_trends"],
}
# Seconds a writer may sit `scheduled` with the pool idle before the run fails (a scheduler loop
# queues a task within seconds once a slot is free); Settings.pool_wait overrides it.
STARVED_FOR = 90.0
START_DATE = datetime(2026, 1, 1, tzinfo=UTC)
# A mapped task's name in the UI (its map_index_template): the `label` each such task sets.
LABEL = "{{ label | default('') }}"


def default_args(retry_delay: timedelta = timedelta(seconds=20), max_retry_delay: timedelta = timedelta(minutes=2),
                 retries: int = 2) -> dict:
    """Every task retries (an outage, a secrets backend that failed for a moment), with backoff."""
    return {
        "owner": "data-platform",
        "retries": retries,
        "retry_delay": retry_delay,
        "retry_exponential_backoff": True,
        "max_retry_delay": max_retry_delay,
    }


def fail_fast(exc: Exception) -> Exception:
    """What a task raises for an error of ours: a refusal (bad params or config, a wrong key, an
    unknown format, too many rejects) fails it without retries, logged with counts only; an error
    that a later try may not meet (`retryable`: a store or platform out for a moment) as it is."""
    if getattr(exc, "retryable", False):
        return exc
    log.error("%s", refused_text(exc))
    return AirflowFailException(str(exc))


@contextmanager
def refusals() -> Iterator[None]:
    """Run a task's call under the failure policy (`fail_fast`); anything else is Airflow's to retry."""
    try:
        yield
    except UserError as exc:
        raise fail_fast(exc) from None


def watch_writer(ti, dag_id: str, run_id: str, task_id: str, *, starved_for: float = STARVED_FOR,
                 poll: float = 10.0, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> str:
    """Wait until this run's writer task leaves `scheduled`, and return its state. Airflow leaves
    a task whose pool does not exist `scheduled` forever, silently; so when the writer stays
    `scheduled` for `starved_for` seconds while no writer of any DAG runs or is queued (nothing
    holds the slot), fail with `MISSING_POOL`. `ti` is the task's RuntimeTaskInstance (its
    `get_task_states` / `get_ti_count` ask the API server: no metadata-DB access)."""
    def state() -> str | None:
        return ti.get_task_states(dag_id=dag_id, run_ids=[run_id], task_ids=[task_id]).get(run_id, {}).get(task_id)

    if _runs_in_process():
        return "not watched"
    starved_since = None
    while (current := state()) in (None, "scheduled"):
        busy = sum(ti.get_ti_count(dag_id=dag, task_ids=tasks, states=["queued", "running"])
                   for dag, tasks in WRITERS.items())
        if current == "scheduled" and not busy:
            starved_since = clock() if starved_since is None else starved_since
            if clock() - starved_since >= starved_for and state() == "scheduled":
                log.error("%s", MISSING_POOL)
                raise AirflowFailException(MISSING_POOL)
        else:
            starved_since = None
        sleep(poll)
    return current


def _runs_in_process() -> bool:
    """Whether the task runs under `dag.test()`, which runs one task at a time and ignores pools:
    waiting there for a sibling would wait forever, and no pool is needed."""
    try:
        from airflow.sdk.execution_time import task_runner
    except ImportError:
        return False
    return type(getattr(task_runner, "SUPERVISOR_COMMS", None)).__name__ == "InProcessSupervisorComms"


def announce(context, extra: dict | None) -> None:
    """Send the store's asset event with `extra` through the `CHANGES` alias; nothing for None."""
    if extra is not None:
        context["outlet_events"][CHANGES].add(SUPPRESSIONS, extra=extra)


def verdict(ti, dag_id: str, run_id: str) -> None:
    """A run's last word, for DAGs with `fail_fast` (whose skipped leaves would otherwise let a
    run with a failed task end as a success): fail if any task of the run failed."""
    states = ti.get_task_states(dag_id=dag_id, run_ids=[run_id]).get(run_id, {})
    failed = sorted(task for task, state in states.items() if state in ("failed", "upstream_failed"))
    if failed:
        raise AirflowFailException(f"the run failed at {', '.join(failed)} (see their logs)")


def pool_wait(settings=None) -> float:
    """How long a writer may wait with the pool idle: SUPPRESSION_POOL_WAIT_SECONDS, else STARVED_FOR."""
    from pipelines.airflow.resources import task_settings

    value = (settings or task_settings(need_store=False)).pool_wait
    try:
        return float(value) if value not in (None, "") else STARVED_FOR
    except ValueError:
        raise UserError(f"SUPPRESSION_POOL_WAIT_SECONDS must be a number of seconds, not {value!r}") from None


def watch_pool_task(writer: str):
    """A `watch_pool` task of the current DAG for its writer task `writer` (see `watch_writer`);
    no retries: a missing pool stays missing."""
    from airflow.sdk import get_current_context, task

    @task(task_id="watch_pool", retries=0)
    def watch_pool() -> str:
        context = get_current_context()
        with refusals():
            wait = pool_wait()
        return watch_writer(context["ti"], context["dag"].dag_id, context["run_id"], writer, starved_for=wait)

    return watch_pool()


def verdict_task():
    """The `verdict` teardown of a `fail_fast` DAG: it runs after everything, whatever failed, and
    the run's state is its state (see `verdict`)."""
    from airflow.sdk import get_current_context, task, teardown

    @teardown(on_failure_fail_dagrun=True)
    @task(task_id="verdict")
    def run_verdict() -> None:
        context = get_current_context()
        verdict(context["ti"], context["dag"].dag_id, context["run_id"])

    return run_verdict()
