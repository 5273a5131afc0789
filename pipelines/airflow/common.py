"""What the three DAG files share: the asset the loads publish, the writer pool, the start date,
default args, and the failure policy of every task. Imported at parse time: Airflow's task SDK
and light modules only.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from airflow.sdk import Asset
from airflow.sdk.exceptions import AirflowFailException

from pipelines.errors import UserError
from pipelines.summary import refused_text

log = logging.getLogger(__name__)

# Every load of the store publishes this asset; the quality report is scheduled on it.
SUPPRESSIONS = Asset("suppression_store://suppressions")  # "airflow://" is a reserved scheme
# Every task that writes (or, on DuckDB, reads beside a writer) the store runs in this pool: DuckDB
# allows one writing process per file. Create it once: airflow pools set suppression_store_writer 1 "..."
WRITER_POOL = "suppression_store_writer"
START_DATE = datetime(2026, 1, 1, tzinfo=UTC)


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
