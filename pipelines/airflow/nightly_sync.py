"""The `suppression_nightly_sync` DAG's tasks, as plain functions (`dags/suppression_nightly_sync.py`
wires them): the store once, the plan, per source a pull and a load, maintenance."""
from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipelines.settings import Settings
from pipelines.summary import changed_store, public_summary, task_result

log = logging.getLogger(__name__)

PULL_TIMEOUT = timedelta(hours=3)
LOAD_TIMEOUT = timedelta(hours=2)
STORE_TASK_TIMEOUT = timedelta(minutes=30)  # plan and maintenance: a few queries
RUN_TIMEOUT = timedelta(hours=20)  # a hung night never holds back the next one
RETRY_DELAY, MAX_RETRY_DELAY = timedelta(minutes=5), timedelta(minutes=30)  # a platform that is down
# Marks a folder as ours: maintenance removes old pulls only where it finds this file, so that a
# SUPPRESSION_SYNC_DIR pointed at the wrong place never loses anything else.
SYNC_DIR_MARKER = ".suppression-sync"
SOURCES_VARIABLE = "suppression_sources"
SOURCES_PARAM_HELP = ("Sources TOML, relative to the DAG folder (default: the Variable suppression_sources, "
                      "else $SUPPRESSION_SOURCES)")
KEEP_PULLED_DAYS = 7  # files a failed or refused load left behind, kept this long to look into

DOC = """
### Suppression nightly sync

During the switch-over both platforms send, so every night each tenant's previous platform is
pulled for new bounces, complaints and unsubscribes, exactly like `suppress sync` (SPEC 4.2).

**Sources**: the `sources_file` Param (a TOML file, relative to the DAG folder or absolute), else
the Airflow Variable `suppression_sources` (the same tables as TOML or JSON text: nothing to copy
to every worker), else `$SUPPRESSION_SOURCES` on the workers (see `config/sources.example.toml`):
tenant, platform, source name, a credentials reference (`airflow:<conn_id>` or `env:<VAR>`) and
options. `tenant` (Param) limits a manual run to one tenant.

**Tasks**: `store` resolves the store once (the Airflow connection `suppression_store`, else
`$SUPPRESSION_STORE`; never a default file) and every later task checks it uses the same one;
`plan` reads every source's watermark (in the writer pool: DuckDB allows no reader beside a
writing process); per source (dynamic task mapping, named tenant/source), `pull` fetches the API
since the watermark minus the overlap into the sync folder (storage all workers share) without
touching the store, and `load` is the single writer (pool `suppression_store_writer`, 1 slot):
the one ingest path, which moves the watermark in the same transaction. One source failing does
not stop the others; its watermark stays, and the next night re-pulls from it. `publish` (a
teardown, in the writer pool) records each failed pull as its source's last error (`suppress
sources`) and sends one asset event for the night, naming the tenants whose store changed, so the
quality report runs once; none if nothing changed. `watch_pool` fails if the writer pool does not
exist. `maintenance` (writer pool, independent of the sources) removes the safety copies of
deleted contacts once their 3 days have passed (`suppress maintenance`), and pulled files that
failed or refused loads left behind, after 7 days.
`max_active_runs=1`: runs never overlap, so neither do a tenant's.

**Folders**: reports, pulls and safety copies go where `SUPPRESSION_REPORTS_DIR`,
`SUPPRESSION_SYNC_DIR` and `SUPPRESSION_SAFETY_DIR` say, else the `suppression_store`
connection's extra (`reports_dir`, `sync_dir`, `safety_dir`), else `$AIRFLOW_HOME/suppression/`.
XCom and logs carry ids, counts and watermarks, never an address.

**Retries**: each request retries 429s (honouring `Retry-After` / reset headers), 5xx, resets
and timeouts with capped backoff; a platform still down after that fails the task, which Airflow
retries later. A refusal (wrong key, bad config, data refused) fails at once, without retries.

**Timeouts**: a pull try may run 3 h, a load try 2 h, the whole run 20 h (before the next night).
"""


def _settings(settings: Settings | None, expected: Mapping | None = None, need_store: bool = True) -> Settings:
    from pipelines.airflow.resources import task_settings

    return settings or task_settings(expected, need_store=need_store)


def store(settings: Settings | None = None) -> dict:
    """The first task: which store this run uses (no password), for the later tasks to check."""
    from pipelines.airflow.resources import store_reference

    return store_reference(_settings(settings))


def sync_jobs(params: Mapping, settings: Settings | None = None, expected: Mapping | None = None,
              bundle: Path | None = None) -> list[dict]:
    """One job per configured source (of `params["tenant"]`, or all), with its stored watermark.

    The sources file is `params["sources_file"]`, else $SUPPRESSION_SOURCES. Reads the store once,
    before any pull: the pulls themselves never open it.
    """
    from pipelines.store import opened
    from pipelines.sync.config import select
    from pipelines.sync.run import plan

    settings = _settings(settings, expected)
    sources, origin = configured_sources(params, settings, bundle)
    sources = select(sources, params.get("tenant") or None, origin=origin)
    if not sources:
        return []
    with opened(settings.store) as st:
        jobs = plan(sources, st)
    for job in jobs:
        s = job["source"]
        log.info("%s/%s (%s): watermark %s", s["tenant"], s["name"], s["platform"], job["old_watermark"])
    return jobs


def configured_sources(params: Mapping, settings: Settings, bundle: Path | None = None, variable=None):
    """The sources and where they came from: the `sources_file` Param (a path, relative to the
    DAG bundle's folder), else the Airflow Variable `suppression_sources` (the sources as TOML or
    JSON text: nothing to copy to every worker), else $SUPPRESSION_SOURCES."""
    from pipelines.errors import UsageError
    from pipelines.sync.config import load_sources, parse_sources_text

    given = params.get("sources_file")
    if given:
        path = Path(given)
        if not path.is_absolute() and bundle is not None:
            path = bundle / path
        return load_sources(path, where=f"the sources_file Param ({given})"), str(path)
    text = (variable or _variable)(SOURCES_VARIABLE)
    if text:
        return parse_sources_text(text, f"the Airflow Variable {SOURCES_VARIABLE!r}"), f"Variable {SOURCES_VARIABLE}"
    if settings.sources_file:
        return load_sources(settings.sources_file), str(settings.sources_file)
    raise UsageError(f"no sources: set the DAG's `sources_file` Param, the Airflow Variable {SOURCES_VARIABLE!r} "
                     "(TOML or JSON) or $SUPPRESSION_SOURCES on the workers (see config/sources.example.toml)")


def _variable(key: str) -> str | None:
    from airflow.sdk import Variable

    try:
        return Variable.get(key, default=None)
    except Exception as exc:  # noqa: BLE001 - no Airflow here, or the secrets backend failed: as unset
        log.debug("Variable %r not available (%s)", key, type(exc).__name__)
        return None


def _run_folder(run_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id)


def pull_job(job: dict, run_id: str, settings: Settings | None = None,
             on_failure: Callable[[dict], None] | None = None) -> dict:
    """Pull one job into `<sync_dir>/<run>/<tenant>/<source>/`; returns what the writer needs.
    A pull that fails tells `on_failure` (the DAG keeps it in XCom for `publish`, which records
    it in the store: the source's last error) before it raises."""
    from pipelines.model import check_name
    from pipelines.sync.run import pull

    settings = _settings(settings, need_store=False)
    source = job["source"]
    root = settings.sync_dir
    out = root / _run_folder(run_id) / check_name("tenant", source["tenant"]) / check_name("source", source["name"])
    root.mkdir(parents=True, exist_ok=True)
    (root / SYNC_DIR_MARKER).touch()
    try:
        pulled = public_summary(pull(job, out, secrets=settings.secrets))
    except Exception as exc:
        if on_failure is not None:
            on_failure(failed_pull(job, exc))
        raise
    log.info("%s/%s: %s records in %s pages (%s retries, %s rate limited) since %s",
             source["tenant"], source["name"], pulled["records"], pulled["pages"], pulled["retries"],
             pulled["rate_limited"], pulled["since"] or "the beginning")
    return pulled


def load_pulled(pulled: dict, settings: Settings | None = None, expected: Mapping | None = None) -> dict:
    """The single writer: load one pulled source, then remove its files (they are loaded)."""
    from pipelines.store import opened
    from pipelines.sync.run import load, result_of

    settings = _settings(settings, expected)
    with opened(settings.store) as st:
        report = result_of(load(pulled, st, settings.reports_dir))
    for folder in {Path(f).parent for f in pulled["files"]}:
        shutil.rmtree(folder, ignore_errors=True)
        for parent in (folder.parent, folder.parent.parent):  # the tenant's and the run's, once empty
            try:
                parent.rmdir()
            except OSError:
                break
    log.info("%s", sync_text(report))
    return source_result(report)


def source_result(report: Mapping) -> dict:
    """What a source's load leaves in XCom: ids, counts, watermarks; no file names or addresses."""
    out = public_summary({k: v for k, v in report.items() if k not in ("files", "ingest")})
    return {**out, "files": len(report.get("files") or []), "ingest": task_result(report.get("ingest") or {})}


def asset_extra(results: list[Mapping]) -> dict | None:
    """The night's one asset event (the quality report runs once, for the tenants that changed),
    from the loads' results; None when no load changed the store."""
    changed = [r for r in results if changed_store(r.get("ingest") or {})]
    if not changed:
        log.info("no source changed the store tonight: no asset event")
        return None
    return {"tenants": sorted({r["tenant"] for r in changed}),
            "runs": [r["ingest"]["run_id"] for r in changed],
            "suppressions_added": sum(r["ingest"].get("suppressions_added", 0) for r in changed),
            "suppressions_updated": sum(r["ingest"].get("suppressions_updated", 0) for r in changed)}


def failed_pull(job: Mapping, exc: BaseException) -> dict:
    """What `publish` needs to record a failed pull: the source, the error's one line, the night."""
    from pipelines.platforms.client import Source
    from pipelines.sync.run import pull_error

    error = pull_error(Source.from_dict(job["source"]).label, exc)
    return {"source": dict(job["source"]), "error": error, "night": datetime.now(UTC).isoformat(),
            "stats": public_summary(getattr(exc, "stats", None) or {})}


def record_failed_pulls(ti, settings: Settings | None = None, expected: Mapping | None = None) -> list[str]:
    """The night's failed pulls (`failed_pull`, XCom key `failed_pull` of `source.pull`) recorded in
    the store as failed sync runs, each source's last error (`suppress sources`, the trends report).
    A source whose load succeeded after all (Airflow retried its pull) is not recorded."""
    from pipelines.errors import UserError
    from pipelines.platforms.client import Source
    from pipelines.store import opened
    from pipelines.sync.run import record_failed_pull

    failures = [f for f in _all(ti.xcom_pull(task_ids="source.pull", key="failed_pull")) if f]
    loaded = {(r["tenant"], r["source"]) for r in _all(ti.xcom_pull(task_ids="source.load")) if r}
    failures = [f for f in failures if (f["source"]["tenant"], f["source"]["name"]) not in loaded]
    if not failures:
        return []
    recorded = []
    with opened(_settings(settings, expected).store) as st:
        for f in failures:
            exc = UserError(f["error"])
            exc.stats = f.get("stats") or {}
            run_id = record_failed_pull(st, Source.from_dict(f["source"]), exc, datetime.fromisoformat(f["night"]))
            recorded += [run_id] if run_id else []
    log.info("recorded %d failed pull(s) as the sources' last error: %s", len(recorded), ", ".join(recorded))
    return recorded


def _all(value) -> list:
    """XCom of every map index: a list, or the one value of a single source."""
    return [value] if isinstance(value, Mapping) else list(value or [])


def night_changes(ti) -> dict | None:
    """The `publish` teardown's asset event: from every load's result (XCom), the tenants whose
    store changed tonight; None when none did."""
    return asset_extra([r for r in _all(ti.xcom_pull(task_ids="source.load")) if r])  # every map index


def source_label(job_or_pulled: Mapping) -> str:
    """A mapped task's name in the UI: tenant/source."""
    source = job_or_pulled.get("source") or {}
    return f"{source.get('tenant')}/{source.get('name')}"


def sync_text(report: Mapping) -> str:
    """A line a person reads in the task log."""
    ingest = report.get("ingest") or {}
    return (
        f"{report['tenant']}/{report['source']} ({report['platform']}): {report['status']}; "
        f"{report['records']} records in {report['pages']} pages ({report['retries']} retries, "
        f"{report['rate_limited']} rate limited); added {ingest.get('suppressions_added', 0)}, "
        f"run {ingest.get('run_id')}; watermark {report['old_watermark']} -> {report['new_watermark']}"
    )


def remove_old_pulls(root: Path, days: float = KEEP_PULLED_DAYS, now: float | None = None) -> list[str]:
    """Pulled files older than `days` under `root` (the sync folder): a load that failed or was
    refused leaves its files, and the next night pulls again into a new folder. A run's folder
    goes as a whole once nothing in it is newer. Only under a folder the pulls marked as theirs."""
    if not (root / SYNC_DIR_MARKER).is_file():
        return []
    cutoff = (time.time() if now is None else now) - days * 86400
    removed = []
    for run in sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink()):
        entries = [run, *run.rglob("*")]  # a run's folders: tenants, sources, a few files each
        if all(p.lstat().st_mtime < cutoff for p in entries):
            removed += [str(p) for p in entries if p.is_file() and not p.is_symlink()]
            shutil.rmtree(run)
        else:  # a folder touched lately may be a pull in progress: its old files only
            for path in entries:
                if path.is_file() and not path.is_symlink() and path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed.append(str(path))
    return removed


def maintenance(settings: Settings | None = None, expected: Mapping | None = None,
                keep_pulled_days: float = KEEP_PULLED_DAYS) -> dict:
    """`suppress maintenance` for the nightly DAG: expired safety copies removed, and pulled files
    older than `keep_pulled_days`."""
    from pipelines.enforce import maintenance as remove_expired_copies
    from pipelines.store import opened

    settings = _settings(settings, expected)
    with opened(settings.store) as st:
        done = remove_expired_copies(st)
    done = public_summary({**done, "pulled_files_removed": remove_old_pulls(settings.sync_dir, keep_pulled_days)})
    log.info("removed %d expired safety copies and %d old pulled files", len(done["safety_exports_removed"]),
             len(done["pulled_files_removed"]))
    return done
