"""One night of a source: the window from its stored watermark, the pull, the load.

The steps are separate so the DAG can fan pulls out (they never touch the store) and funnel the
loads through one writer; `sync_source` does all of them in one process (the CLI, one task).

- The window starts `overlap_hours` before the watermark: records that reach a platform's list
  late, clocks that disagree. Loading the overlap again changes nothing.
- The new watermark is the time the pull started. The load writes it in the load's own
  transaction, so a failed pull or load leaves the old one and the next night re-pulls from it.
- A night with nothing new still loads: a succeeded run with no rows, and the watermark moves on.
  A pull identical to one loaded before is skipped as a duplicate, and the watermark moves on too.
- A source that fails in an unexpected way (a malformed record, a library error) fails alone: its
  error is one line (SyncError), and the other sources of the tenant still run.
- A pull that fails loads nothing, so no import run would say so: `sync_source` records the night
  as a failed run of kind `sync` (`record_failed_pull`), the source's last error in
  `suppress sources` and the trends report.
"""
from __future__ import annotations

import logging
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipelines.errors import UserError, first_line
from pipelines.model import check_name
from pipelines.platforms import client_class
from pipelines.platforms.client import Credentials, Source, Window
from pipelines.platforms.http import SyncError
from pipelines.settings import Secrets
from pipelines.store import opened
from pipelines.store.clock import new_run_id
from pipelines.summary import public_summary
from pipelines.sync.config import resolve_credentials
from pipelines.sync.state import FAILED_PULL

log = logging.getLogger(__name__)

STATS_KEYS = ("requests", "pages", "retries", "rate_limited", "transient_errors", "waited_seconds")


def format_watermark(value: datetime) -> str:
    """Fixed-width UTC ISO text: two watermarks compare as text as they do as times."""
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def parse_watermark(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def window_for(source: Source, old_watermark: str | None, now: datetime) -> Window:
    old = parse_watermark(old_watermark)
    since = None if old is None else old - timedelta(hours=source.options.get("overlap_hours") or 0)
    return Window(since, now)


def plan(sources: list[Source], store) -> list[dict]:
    """One job per source: the source (its credentials only as a reference) and its watermark."""
    return [{"source": s.to_dict(), "old_watermark": store.watermark(s.tenant, s.name)} for s in sources]


def pull(job: dict, out: Path, now: datetime | None = None, sleep: Callable[[float], None] = time.sleep,
         credentials: Credentials | None = None, secrets: Secrets | None = None) -> dict:
    """Pull one job's window into files under `out` (emptied first); no store access. The
    credentials are looked up in `secrets` (the entry point's settings) unless given.

    Raises SyncError (`.stats` attached) when the platform fails past the retries or refuses, and
    for anything unexpected (a malformed record): one redacted line, no chained traceback.
    """
    source = Source.from_dict(job["source"])
    check_name("tenant", source.tenant, source.label)  # part of `out`, which is emptied first
    check_name("source", source.name, source.label)
    now = now or datetime.now(UTC)
    window = window_for(source, job.get("old_watermark"), now)
    if out.exists():  # an earlier try's files
        shutil.rmtree(out)
    out.mkdir(parents=True)
    client = client_class(source.platform)(source, credentials or resolve_credentials(source, secrets), sleep=sleep)
    try:
        try:
            files = client.pull(window, out)
        except UserError:
            raise
        except Exception as exc:  # noqa: BLE001 - a malformed record or a library error: this source fails
            log.debug("%s", client.redact(traceback.format_exc()))
            raise SyncError(client.redact(f"{source.label}: the pull failed: {first_line(exc, with_type=True)}"),
                            retryable=True) from None
    except UserError as exc:
        exc.stats = {"records": client.records, **client.stats.as_dict(),
                     "since": format_watermark(window.since) if window.since else None}
        raise
    finally:
        client.close()
    return {
        **job,
        "since": format_watermark(window.since) if window.since else None,
        "new_watermark": format_watermark(window.until),
        "files": [str(f) for f in files],
        "records": client.records,
        **client.stats.as_dict(),
    }


def load(pulled: dict, store, reports_root: Path | str | None = None) -> dict:
    """Load one pulled source through the one ingest path, with its report; the watermark moves in
    the load's transaction."""
    from pipelines.ingest import IngestRequest, ingest
    from pipelines.report import with_report

    source = Source.from_dict(pulled["source"])
    missing = [f for f in pulled["files"] if not Path(f).exists()]
    if missing:
        raise UserError(f"{source.label}: pulled file {missing[0]} is not here; pulls and loads on different "
                        "machines need SUPPRESSION_SYNC_DIR on storage they share")
    req = IngestRequest(
        tenant=source.tenant,
        paths=list(pulled["files"]),
        platform=source.platform,
        default_region=source.options.get("default_region"),
        max_reject_rate=source.options["max_reject_rate"],
        watermarks={source.name: pulled["new_watermark"]},
    )
    with opened(store) as st:
        summary = with_report(st, lambda: ingest(req, st), root=reports_root)
        stored = st.watermark(source.tenant, source.name)
    return {**pulled, "status": summary["status"], "ingest": public_summary(summary), "new_watermark": stored}


def result_of(pulled_or_job: dict) -> dict:
    """The per-source report (`suppress sync --json`, the DAG's logs)."""
    source = pulled_or_job["source"]
    out = {
        "tenant": source["tenant"],
        "source": source["name"],
        "platform": source["platform"],
        "status": pulled_or_job.get("status", "failed"),
        "old_watermark": pulled_or_job.get("old_watermark"),
        "new_watermark": pulled_or_job.get("new_watermark", pulled_or_job.get("old_watermark")),
        "since": pulled_or_job.get("since"),
        "records": pulled_or_job.get("records", 0),
        **{k: pulled_or_job.get(k, 0) for k in STATS_KEYS},
        "files": [Path(f).name for f in pulled_or_job.get("files", [])],
    }
    if "ingest" in pulled_or_job:
        out["ingest"] = pulled_or_job["ingest"]
    if "error" in pulled_or_job:
        out["error"] = pulled_or_job["error"]
    return out


def sync_source(source: Source, store, now: datetime | None = None, sleep: Callable[[float], None] = time.sleep,
                workdir: Path | None = None, secrets: Secrets | None = None) -> dict:
    """Plan, pull and load one source in this process; returns its report (raises on failure)."""
    with opened(store) as st:
        [job] = plan([source], st)
        night = now or datetime.now(UTC)
        with tempfile.TemporaryDirectory(prefix="suppress-sync-", dir=workdir) as tmp:
            try:
                pulled = pull(job, Path(tmp) / source.name, now=night, sleep=sleep, secrets=secrets)
            except Exception as exc:  # noqa: BLE001 - recorded, then raised as it was
                record_failed_pull(st, source, exc, night)
                raise
            try:
                return result_of(load(pulled, st))
            except UserError as exc:  # refused: the report still says what was pulled
                exc.stats = {k: pulled[k] for k in ("records", "since", "files", *STATS_KEYS)}
                raise


def pull_error(label: str, exc: BaseException) -> str:
    """A failed pull's error as one line: ours as it is, anything else with its type."""
    return str(exc) if isinstance(exc, UserError) else f"{label}: the pull failed unexpectedly: {first_line(exc, with_type=True)}"


def record_failed_pull(store, source: Source, exc: Exception, night: datetime) -> str | None:
    """Record a night whose pull failed as a failed run of kind `sync`, with the pull's error and
    statistics: nothing was pulled to load, so no import run says it otherwise. Its options name
    the source under `watermarks` with the night's would-be watermark, as a load's do (the stored
    watermark does not move). Returns the run id; never raises: the pull's error is what matters."""
    error = pull_error(source.label, exc)
    stats = getattr(exc, "stats", None) or {}
    run_id = new_run_id()
    options = {"platform": source.platform, "watermarks": {source.name: format_watermark(night)},
               "since": stats.get("since")}
    summary = {"run_id": run_id, "tenant": source.tenant, "kind": FAILED_PULL, "source": source.name,
               "status": "failed", "error": error, "rows_read": 0, "rows_accepted": 0, "rows_rejected": 0,
               "suppressions_added": 0, "suppressions_updated": 0, "files": [],
               "pull": {k: stats[k] for k in ("records", *STATS_KEYS) if k in stats}}
    try:
        store.begin_run(run_id, source.tenant, FAILED_PULL, None, options)
        store.finish_run(run_id, "failed", summary, None, error)
    except Exception as failed:  # noqa: BLE001 - the store may be what failed
        log.warning("%s: the failed pull could not be recorded (%s)", source.label, first_line(failed, with_type=True))
        return None
    return run_id


def sync_tenant(sources: list[Source], store, now: datetime | None = None, sleep: Callable[[float], None] = time.sleep,
                secrets: Secrets | None = None) -> tuple[list[dict], list[UserError]]:
    """Every source in turn; one that fails, however, does not stop the others. Returns (reports,
    errors); an unexpected error is recorded as its source's SyncError."""
    reports, errors = [], []
    with opened(store) as st:
        for source in sources:
            try:
                reports.append(sync_source(source, st, now=now, sleep=sleep, secrets=secrets))
            except Exception as exc:  # noqa: BLE001 - whatever it was, the other sources still run
                if not isinstance(exc, UserError):
                    log.debug("%s", traceback.format_exc())
                    exc = SyncError(f"{source.label}: failed unexpectedly: {first_line(exc, with_type=True)}", retryable=True)
                errors.append(exc)
                old = st.watermark(source.tenant, source.name)
                failed = {"source": source.to_dict(), "old_watermark": old, "error": str(exc), **getattr(exc, "stats", {})}
                if getattr(exc, "summary", None):  # the load ran and was refused: its run summary
                    failed["ingest"] = public_summary(exc.summary)
                reports.append(result_of(failed))
    return reports, errors
