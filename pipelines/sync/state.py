"""The nightly sync's state per source (`suppress sources`, the trends report's Sources table): its
watermark, its last run and its last error, read from the store.

A source's runs are the import runs whose options name it under `watermarks` (the load of one of
its pulls: succeeded, skipped, refused or failed), and the `sync` runs that record a night whose
pull failed before anything could be loaded (`pipelines.sync.run.record_failed_pull`). The last
error is the newest failed one of these, kept even when a later night succeeded (its time says so).
"""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipelines.platforms.client import Source

FAILED_PULL = "sync"  # the kind of run that records a failed pull (it loaded nothing)


def sync_sources_of(run: dict) -> list[str]:
    """The sync sources a run belongs to (none for a run that is not the nightly sync's)."""
    marks = (run.get("options") or {}).get("watermarks")
    return sorted(marks) if isinstance(marks, dict) else []


def _iso(value) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def _last_run(run: dict | None) -> dict | None:
    if run is None:
        return None
    return {"run_id": run["run_id"], "kind": run["kind"], "status": run["status"],
            "started_at": _iso(run["started_at"]), "finished_at": _iso(run.get("finished_at")),
            "rows_read": run.get("rows_read") or 0, "rows_rejected": run.get("rows_rejected") or 0,
            "suppressions_added": run.get("suppressions_added") or 0}


def source_states(store, tenant: str | None = None, sources: list[Source] | None = None) -> list[dict]:
    """Per sync source: `tenant`, `source` (its name), `platform`, `watermark` (None: never pulled),
    `watermark_run_id`, `last_run` and `last_error` (`{run_id, at, error}`, None: never failed).

    With `sources` (the configured ones), those, in their order; without, every source the store
    knows of (a watermark or a run), by tenant and name.
    """
    marks = {(w["tenant"], w["source"]): w for w in store.sync_watermarks(tenant)}
    last_run: dict[tuple[str, str], dict] = {}
    last_error: dict[tuple[str, str], dict] = {}
    for run in store.sync_runs(tenant):  # newest first
        for name in sync_sources_of(run):
            key = (run["tenant"], name)
            last_run.setdefault(key, run)
            if run["status"] == "failed":
                last_error.setdefault(key, run)
    if sources is None:
        keys = sorted(marks.keys() | last_run.keys())
        platforms = {}
    else:
        keys = [(s.tenant, s.name) for s in sources]
        platforms = {(s.tenant, s.name): s.platform for s in sources}
    states = []
    for key in keys:
        mark, run, failed = marks.get(key), last_run.get(key), last_error.get(key)
        platform = platforms.get(key) or ((run or {}).get("options") or {}).get("platform")
        states.append({
            "tenant": key[0], "source": key[1], "platform": platform,
            "watermark": mark["watermark"] if mark else None,
            "watermark_run_id": mark["run_id"] if mark else None,
            "last_run": _last_run(run),
            "last_error": None if failed is None else {
                "run_id": failed["run_id"], "at": _iso(failed.get("finished_at") or failed["started_at"]),
                "error": failed.get("error") or "no reason recorded"},
        })
    return states
