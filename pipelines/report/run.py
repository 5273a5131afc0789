"""One run's data-quality summary (SPEC 4.3), from its record in the store.

The ingest writes the run's summary JSON with the run record; the figures the store keeps in
columns (rows, suppressions) and tables (run_files, quarantine) win over it where both have them,
so the report says what the store says.
"""
from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from pipelines.errors import UserError
from pipelines.redact import mask_value
from pipelines.store import Store

EXAMPLES_PER_ERROR = 5
CONTACT_STATUSES = ("email_suppressed", "sms_suppressed", "marketing_unsubscribed")
_COUNTS = ("rows_read", "rows_accepted", "rows_rejected", "suppressions_added", "suppressions_updated")


def _iso(value) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _files(store: Store, run_id: str, summary: dict) -> list[dict]:
    stored = store.run_files(run_id)
    listed = {f.get("path"): f for f in summary.get("files") or []}
    rows = stored or list(listed.values())
    out = []
    for f in rows:
        extra = listed.get(f.get("path"), {})
        read = f.get("rows_read") if f.get("rows_read") is not None else extra.get("rows_read")
        rejected = f.get("rows_rejected") if f.get("rows_rejected") is not None else extra.get("rows_rejected")
        out.append({
            "path": f.get("path"),
            "platform": f.get("platform"),
            "kind": f.get("kind"),
            "detected_why": f.get("detected_why") or extra.get("detected_why"),
            "rows_read": read,
            "rows_accepted": None if read is None else read - (rejected or 0),
            "rows_rejected": rejected,
            "rows_ignored": extra.get("rows_ignored"),
        })
    return out


def _by_platform(files: list[dict]) -> list[dict]:
    if not files:
        return []
    frame = pl.DataFrame(files, schema={"platform": pl.String, "rows_read": pl.Int64, "rows_rejected": pl.Int64,
                                        "rows_ignored": pl.Int64, "path": pl.String}, strict=False)
    return (
        frame.group_by("platform")
        .agg(pl.len().alias("files"), pl.col("rows_read").sum(), pl.col("rows_rejected").sum(),
             pl.col("rows_ignored").sum())
        .with_columns((pl.col("rows_read") - pl.col("rows_rejected")).alias("rows_accepted"))
        .sort(["rows_read", "platform"], descending=[True, False])
        .select("platform", "files", "rows_read", "rows_accepted", "rows_rejected", "rows_ignored")
        .to_dicts()
    )


def _totals(by_reason: list[dict], key: str) -> dict[str, int]:
    if not by_reason:
        return {}
    frame = pl.DataFrame(by_reason).group_by(key).agg(pl.col("count").sum()).sort(["count", key], descending=[True, False])
    return dict(zip(frame[key].to_list(), frame["count"].to_list(), strict=True))


def _examples(store: Store, run_id: str, summary: dict, by_error: dict) -> dict[str, list[dict]]:
    """Examples of each error, their values masked (`redact.mask_value`)."""
    examples = summary.get("reject_examples")
    if examples is None and by_error:
        # An older run record without examples: take them from its quarantined rows.
        rejects = store.rejects(run_id)
        picked = rejects.group_by("error", maintain_order=True).head(EXAMPLES_PER_ERROR)
        examples = {code: picked.filter(pl.col("error") == code).select("file", "line", "value").to_dicts()
                    for code in by_error}
    return {code: [{**e, "value": mask_value(e.get("value"))} for e in rows] for code, rows in (examples or {}).items()}


def _contacts(summary: dict) -> dict:
    blocked = summary.get("contacts_blocked")
    by = summary.get("contacts_blocked_by")
    return {
        "contacts_tracked": blocked is not None,
        "contacts_blocked": blocked,
        "contacts_blocked_by": {k: (by or {}).get(k, 0) for k in CONTACT_STATUSES} if by is not None else None,
    }


def _validation(validation: dict | None) -> dict | None:
    if not validation:
        return None
    suites = []
    for s in validation.get("suites", []):
        results = [{**r, "observed": {**r.get("observed", {}), "partial_unexpected_list": [
            mask_value(str(v)) for v in r.get("observed", {}).get("partial_unexpected_list", [])]}}
            if r.get("observed", {}).get("partial_unexpected_list") else r for r in s.get("results", [])]
        suites.append({**s, "results": results, "expectations": len(results),
                       "failed": sum(1 for r in results if not r.get("success"))})
    return {"success": validation.get("success"), "suites": suites}


def build_run_report(store: Store, run_id: str) -> dict:
    """The JSON summary of one run: the figures a reviewer needs to accept or refuse an import."""
    run = store.run(run_id)
    if run is None:
        raise UserError(f"no run {run_id}")
    summary = run.get("summary") or {}
    options = run.get("options") or {}
    counts = {k: run.get(k) if run.get(k) is not None else summary.get(k, 0) for k in _COUNTS}
    by_error = summary.get("rejects_by_error") or {}
    by_reason = summary.get("by_reason") or []
    files = _files(store, run_id, summary)
    in_run = summary.get("suppressions_in_run")
    added, updated = counts["suppressions_added"] or 0, counts["suppressions_updated"] or 0
    read = counts["rows_read"] or 0
    return {
        "report": "run",
        "generated_at": datetime.now(UTC).isoformat(),
        "run_id": run_id,
        "tenant": run["tenant"],
        "kind": run.get("kind"),
        "status": run["status"],
        "dry_run": bool(run.get("dry_run") or summary.get("dry_run", options.get("dry_run", False))),
        "started_at": _iso(run.get("started_at")),
        "finished_at": _iso(run.get("finished_at")),
        "error": run.get("error"),
        "message": summary.get("message"),
        "skipped_because": summary.get("skipped_because"),
        "options": options,
        "input_hash": run.get("input_hash"),
        **counts,
        "rows_ignored": summary.get("rows_ignored", 0),
        "reject_rate": round(counts["rows_rejected"] / read, 6) if read else 0.0,
        "max_reject_rate": options.get("max_reject_rate"),
        "duplicates_collapsed": summary.get("duplicates_collapsed", 0),
        "suppressions_in_run": in_run,
        # Of the run's suppressions: new ones, and those the store already had (strengthened or not).
        "suppressions_already_present": None if in_run is None else max(in_run - added, 0),
        "suppressions_unchanged": None if in_run is None else max(in_run - added - updated, 0),
        "deliveries": summary.get("deliveries", 0),
        "rejects_by_error": by_error,
        "reject_examples": _examples(store, run_id, summary, by_error),
        "time_warnings": summary.get("time_warnings") or {},
        "by_reason": by_reason,
        "by_channel": _totals(by_reason, "channel"),
        "by_reason_total": _totals(by_reason, "reason"),
        "by_scope": _totals(by_reason, "scope"),
        "by_platform": _by_platform(files),
        "files": files,
        "duplicate_files": summary.get("duplicate_files") or {},
        **_contacts(summary),
        "validation": _validation(run.get("validation")),
    }
