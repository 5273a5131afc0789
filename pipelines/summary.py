"""What a run's summary may show outside the process: the CLI's `--json`, the sync's report,
XCom and task logs.

A summary's reject examples are raw rows (addresses): they stay in the store (`suppress rejects
RUN_ID`, cleaned by erasure), and the report shows them masked; nothing that leaves the process
carries them. Light on purpose: the DAG files' shared module imports it at parse time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime

PRIVATE_KEYS = frozenset({"reject_examples"})


def json_default(value):
    """Times as ISO text, anything else JSON does not know as its text."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def public_summary(summary: Mapping) -> dict:
    """A run summary without its raw rejected values, as plain JSON (times as ISO text)."""
    return json.loads(json.dumps({k: v for k, v in summary.items() if k not in PRIVATE_KEYS}, default=json_default))


# What a run's result may carry through Airflow's XCom and asset events: ids, counts and the
# report's paths. File names and examples stay in the report and the store.
RESULT_KEYS = (
    "run_id",
    "tenant",
    "status",
    "dry_run",
    "skipped_because",
    "rows_read",
    "rows_accepted",
    "rows_rejected",
    "rows_ignored",
    "reject_rate",
    "rejects_by_error",
    "suppressions_in_run",
    "duplicates_collapsed",
    "suppressions_added",
    "suppressions_updated",
    "soft_bounce_blocks",
    "contacts_blocked",
    "report",
    "report_json",
)


def task_result(summary: Mapping) -> dict:
    """A run summary cut to `RESULT_KEYS` (JSON-safe), plus how many files it read."""
    out = public_summary({k: summary[k] for k in RESULT_KEYS if k in summary})
    return {**out, "files": len(summary.get("files") or [])}


def changed_store(result: Mapping) -> bool:
    """Whether a run changed what the store holds (a dry or skipped run, or one that added and
    updated nothing, did not): only such a run announces itself to the quality report."""
    return (
        not result.get("dry_run")
        and result.get("status") == "succeeded"
        and bool(result.get("suppressions_added") or result.get("suppressions_updated"))
    )


def summary_text(summary: Mapping) -> str:
    """A run summary as a few lines a person reads in a log: counts, never a value."""
    status = summary.get("status", "?")
    lines = [
        f"run {summary.get('run_id')} for tenant {summary.get('tenant')}: {status}"
        + (" (dry run: nothing loaded)" if summary.get("dry_run") else "")
    ]
    if status == "skipped":
        lines.append(
            summary.get("message") or f"the same input was already loaded by run {summary.get('skipped_because')}"
        )
    else:
        lines.append(
            f"rows read {summary.get('rows_read', 0)}, accepted {summary.get('rows_accepted', 0)}, "
            f"rejected {summary.get('rows_rejected', 0)}"
            + (f" ({summary['reject_rate']:.1%})" if isinstance(summary.get("reject_rate"), int | float) else "")
        )
        lines.append(
            f"suppressions added {summary.get('suppressions_added', 0)}, updated {summary.get('suppressions_updated', 0)}"
        )
        by_error = summary.get("rejects_by_error") or {}
        if by_error:
            lines.append("rejects by error: " + ", ".join(f"{k} {v}" for k, v in by_error.items()))
    for f in summary.get("files") or []:
        lines.append(
            f"  {f.get('path')}: {f.get('platform')} {f.get('kind', '')}".rstrip()
            + (f", {f['rows_read']} rows, {f.get('rows_rejected', 0)} rejected" if "rows_read" in f else "")
        )
    return "\n".join(lines)


def refused_text(exc: Exception) -> str:
    """A refusal for a log: its message and, when the run was recorded, its counts only
    (`suppress rejects RUN_ID` shows the rejected rows)."""
    summary = getattr(exc, "summary", None)
    return f"refused: {exc}" + (f"\n{summary_text(summary)}" if summary else "")
