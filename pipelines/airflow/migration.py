"""The `suppression_migration` DAG's tasks, as plain functions (`dags/suppression_migration.py`
wires them): resolve the inputs, inspect each file, one load, a summary."""
from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

from pipelines.errors import UserError
from pipelines.settings import DEFAULT_MAX_REJECT_RATE, Settings
from pipelines.summary import public_summary, summary_text

log = logging.getLogger(__name__)

LOAD_TIMEOUT = timedelta(hours=6)

DOC = """
### Suppression migration

Loads bounce, complaint and unsubscribe exports from a previous email/SMS platform into the
suppression store, exactly like `suppress ingest` (SPEC 4.1): same detection, validation,
reject-rate limit and idempotency (the same input loaded twice is `skipped` the second time).

**Params**
- `tenant`: the tenant the suppressions belong to.
- `paths`: files, folders (read recursively) or `file://` URIs, as a list or one plain string;
  here (unlike the CLI, whose shell expands them) `*`, `?` and `[...]` are patterns, e.g.
  `file:///data/exports/*.csv`.
- `platform`: `auto` (detect each file) or a platform name.
- `default_region`: region for national phone numbers (e.g. `US`), or null.
- `max_reject_rate`: above this share of rejected rows the run is refused and nothing is loaded.
- `dry_run`: count what would change without loading.

**Store**: the Airflow connection `suppression_store` if defined (`duckdb:////path/store.duckdb`,
or a `postgresql://` URL), else the `SUPPRESSION_STORE` environment variable; with neither, `load`
fails (and retries) rather than write a default file on the worker.

**Tasks**: `resolve_inputs` expands the paths; `inspect_file` (mapped, read-only) detects every
file's format and fails the run early on an unknown one; `load` is the single writer (pool
`suppression_store_writer`, 1 slot: create it before the first run; DuckDB allows one writer)
and writes the run's report; `summarize` logs the result. Refused input fails without retries;
other errors retry twice. A `load` try may run 6 hours.
"""


def resolve_inputs(params: Mapping) -> list[str]:
    """The files behind `params["paths"]` (absolute: the tasks may run elsewhere), with the other
    params checked now (bad tenant, platform, region or rate: the run fails before any work)."""
    from pipelines.readers import resolve_paths

    files = [str(p.resolve()) for p in resolve_paths(params.get("paths") or [], globs=True)]
    build_request(params, files)
    log.info("%d input file(s):\n  %s", len(files), "\n  ".join(files))
    return files


def build_request(params: Mapping, files: list[str]):
    """An `IngestRequest` from the DAG's params and the resolved files; checked (raises UsageError)."""
    from pipelines.ingest import IngestRequest

    rate = params.get("max_reject_rate")
    req = IngestRequest(
        tenant=str(params.get("tenant") or "").strip(),
        paths=list(files),
        platform=params.get("platform") or "auto",
        reason=params.get("reason") or None,
        default_region=params.get("default_region") or None,
        max_reject_rate=DEFAULT_MAX_REJECT_RATE if rate is None else float(rate),
        dry_run=bool(params.get("dry_run", False)),
        force=bool(params.get("force", False)),
    )
    req.check()
    return req


def inspect_file(path: str, platform: str = "auto", reason: str | None = None, tenant: str = "-") -> dict:
    """Open one file (read-only) and detect its platform and list kind, as `ingest` will.

    Returns `{path, platform, kind, why, inputs}`; `inputs` lists every logical input (an archive
    may hold several members), and for several inputs `platform`/`kind` name each distinct value
    joined by `+`. Raises `DataRefused` for a file that matches no known format.
    """
    from pipelines.ingest import IngestRequest, plan_files

    req = IngestRequest(tenant=tenant, paths=[path], platform=platform or "auto", reason=reason)
    with tempfile.TemporaryDirectory(prefix="suppress-inspect-") as tmp:
        planned = plan_files(req, Path(tmp))
        inputs = [
            {"input": p.source.display, "platform": p.adapter.name, "kind": p.match.kind, "why": p.match.why}
            for p in planned
        ]
    if not inputs:
        raise UserError(f"{path}: holds no files to ingest")

    def joined(key: str) -> str:
        return "+".join(dict.fromkeys(str(i[key]) for i in inputs))

    found = {
        "path": path,
        "platform": joined("platform"),
        "kind": joined("kind"),
        "why": inputs[0]["why"] if len(inputs) == 1 else "; ".join(f"{i['input']}: {i['why']}" for i in inputs),
        "inputs": inputs,
    }
    log.info("%s: %s %s (%s)", path, found["platform"], found["kind"], found["why"])
    return found


def load(params: Mapping, files: list[str], settings: Settings | None = None) -> dict:
    """The single writer: one `ingest()` over all files, and its report; returns the public
    summary (no raw rejected values). Raises `UserError`/`DataRefused` (with `.summary`) for
    refused input, like the CLI."""
    from pipelines.airflow.resources import task_settings
    from pipelines.ingest import ingest
    from pipelines.report import with_report
    from pipelines.store import opened

    settings = settings or task_settings()
    req = build_request(params, files)
    with opened(settings.store) as st:
        return public_summary(with_report(st, lambda: ingest(req, st)))


def asset_extra(summary: Mapping) -> dict:
    """What the load's asset event tells its consumers (the quality report): counts and ids."""
    return {
        "tenant": summary.get("tenant"),
        "run_id": summary.get("run_id"),
        "status": summary.get("status"),
        "dry_run": bool(summary.get("dry_run")),
        "suppressions_added": summary.get("suppressions_added", 0),
        "suppressions_updated": summary.get("suppressions_updated", 0),
    }


def summarize(summary: dict) -> dict:
    log.info("%s", summary_text(summary))
    return summary
