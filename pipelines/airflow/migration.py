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
from pipelines.summary import changed_store, summary_text, task_result

log = logging.getLogger(__name__)

LOAD_TIMEOUT = timedelta(hours=6)
RUN_TIMEOUT = timedelta(hours=20)  # a load's three tries, and the wait for the writer slot

DOC = """
### Suppression migration

Loads bounce, complaint and unsubscribe exports from a previous email/SMS platform into the
suppression store, exactly like `suppress ingest` (SPEC 4.1): same detection, validation,
reject-rate limit and idempotency (the same input loaded twice is `skipped` the second time).

**Params**
- `tenant`: the tenant the suppressions belong to.
- `paths`: files, folders (read recursively) or `file://` URIs, as a list or one plain string;
  here (unlike the CLI, whose shell expands them) `*`, `?` and `[...]` are patterns, e.g.
  `file:///data/exports/*.csv`. Storage URIs too (`s3://bucket/prefix/`, `gs://...`, `sftp://...`,
  through fsspec; `s3://conn_id@bucket/prefix/` or `SUPPRESSION_STORAGE_CONN_ID` for an Airflow
  connection).
- `platform`: `auto` (detect each file) or a platform name.
- `default_region`: region for national phone numbers (e.g. `US`), or null.
- `max_reject_rate`: above this share of rejected rows the run is refused and nothing is loaded.
- `dry_run`: count what would change without loading.

**Store**: the Airflow connection `suppression_store` if defined (`duckdb:////path/store.duckdb`,
or a `postgresql://` URL), else the `SUPPRESSION_STORE` environment variable; with neither, `load`
fails (and retries) rather than write a default file on the worker.

**Tasks**: `resolve_inputs` expands the paths; `inspect_files` (read-only) detects every file's
format and fails the run early on an unknown one; `load` is the single writer (pool
`suppression_store_writer`, 1 slot, created from `deploy/airflow/pools.json`; DuckDB allows one
writer), writes the run's report, logs the summary and, only if the store changed, sends the
asset event the quality report runs on; `watch_pool` fails the run within two minutes if that
pool does not exist (Airflow would leave `load` waiting forever). Refused input fails without
retries and ends the run at once (`fail_fast`); other errors retry twice. A `load` try may run
6 hours, the run 20.

**What leaves the task**: XCom and the logs carry run ids, counts and report paths; never an
address (rejected rows are in the store: `suppress rejects RUN_ID`, and masked in the report).
"""


def resolve_inputs(params: Mapping, settings: Settings | None = None) -> list[str]:
    """The files behind `params["paths"]` (absolute: the tasks may run elsewhere), with the other
    params checked now (bad tenant, platform, region or rate: the run fails before any work)."""
    from pipelines.airflow.resources import task_settings
    from pipelines.readers import resolve_paths
    from pipelines.readers.remote import RemoteFile, shown

    settings = settings or task_settings(need_store=False)
    found = resolve_paths(params.get("paths") or [], globs=True, settings=settings)
    # Storage objects (s3://...) as their URIs: each task opens them again; logged without credentials.
    files = [p.uri if isinstance(p, RemoteFile) else str(p.resolve()) for p in found]
    build_request(params, files, settings)
    log.info("%d input file(s):\n  %s", len(files), "\n  ".join(shown(f) for f in files))
    return files


def build_request(params: Mapping, files: list[str], settings: Settings | None = None):
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
        settings=settings,
    )
    req.check()
    return req


def inspect_files(paths: list[str], platform: str = "auto", reason: str | None = None, tenant: str = "-",
                  settings: Settings | None = None) -> list[dict]:
    """`inspect_file` for every file, in one task: a folder of 60 exports is 60 quick detections,
    not 60 task starts. Returns per file its path, platform, kind and how many inputs it holds."""
    from pipelines.airflow.resources import task_settings

    settings = settings or task_settings(need_store=False)
    found = [inspect_file(path, platform, reason, tenant, settings) for path in paths]
    return [{"path": f["path"], "platform": f["platform"], "kind": f["kind"], "inputs": len(f["inputs"])} for f in found]


def inspect_file(path: str, platform: str = "auto", reason: str | None = None, tenant: str = "-",
                 settings: Settings | None = None) -> dict:
    """Open one file (read-only) and detect its platform and list kind, as `ingest` will.

    Returns `{path, platform, kind, why, inputs}`; `inputs` lists every logical input (an archive
    may hold several members), and for several inputs `platform`/`kind` name each distinct value
    joined by `+`. Raises `DataRefused` for a file that matches no known format.
    """
    from pipelines.ingest import IngestRequest, plan_files
    from pipelines.readers.remote import shown

    req = IngestRequest(tenant=tenant, paths=[path], platform=platform or "auto", reason=reason, settings=settings)
    with tempfile.TemporaryDirectory(prefix="suppress-inspect-") as tmp:
        planned = plan_files(req, Path(tmp))
        inputs = [
            {"input": p.source.display, "platform": p.adapter.name, "kind": p.match.kind, "why": p.match.why}
            for p in planned
        ]
    if not inputs:
        raise UserError(f"{shown(path)}: holds no files to ingest")

    def joined(key: str) -> str:
        return "+".join(dict.fromkeys(str(i[key]) for i in inputs))

    found = {
        "path": shown(path),
        "platform": joined("platform"),
        "kind": joined("kind"),
        "why": inputs[0]["why"] if len(inputs) == 1 else "; ".join(f"{i['input']}: {i['why']}" for i in inputs),
        "inputs": inputs,
    }
    log.info("%s: %s %s (%s)", found["path"], found["platform"], found["kind"], found["why"])
    return found


def load(params: Mapping, files: list[str], settings: Settings | None = None) -> dict:
    """The single writer: one `ingest()` over all files, and its report; logs the summary's
    counts and returns its `task_result` (ids, counts, report paths). Raises
    `UserError`/`DataRefused` (with `.summary`) for refused input, like the CLI."""
    from pipelines.airflow.resources import task_settings
    from pipelines.ingest import ingest
    from pipelines.report import with_report
    from pipelines.store import opened

    settings = settings or task_settings()
    req = build_request(params, files, settings)
    with opened(settings.store) as st:
        summary = with_report(st, lambda: ingest(req, st), root=settings.reports_dir)
    log.info("%s", summary_text(summary))
    return task_result(summary)



def asset_extra(result: Mapping) -> dict | None:
    """What the asset event tells the quality report (the tenant, the run, counts), or None when
    the load changed nothing (dry, skipped, nothing new): then no event, and no report run."""
    if not changed_store(result):
        log.info("run %s changed nothing in the store: no asset event", result.get("run_id"))
        return None
    return {"tenants": [result.get("tenant")], "runs": [result.get("run_id")],
            "suppressions_added": result.get("suppressions_added", 0),
            "suppressions_updated": result.get("suppressions_updated", 0)}
