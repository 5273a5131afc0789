"""A real scheduler in the test suite (issue 15): the DAGs as a deployment runs them.

`airflow db migrate` on a fresh PostgreSQL database, the pool from the shipped
deploy/airflow/pools.json, then the scheduler (LocalExecutor), dag-processor and api-server as
processes on 127.0.0.1 (tests/integration/airflow_cluster.py), driven through the REST API:

1. a migration of data/samples/ as a folder, as `make demo` runs it: the store then holds what
   `suppress ingest` of the same folder gives another store;
2. the same as a dry run: the store does not change;
3. a file that is no known export: the run fails, at once (a refusal is never retried);
4. the nightly sync against the fake platform APIs (tests/sync/fake_api.py), two nights: the
   first is the one the scheduler starts when the DAG is unpaused (catchup=False runs the latest
   missed night), the second a manual trigger; the watermarks move, the second night brings
   exactly the new records.

Then: no task log and no XCom holds any address of the store, the services wrote nothing into
their working directory, and they all stop on SIGTERM.

One test, because the phases share one deployment (about a minute to start) and one store. The
checks that are about the DAGs' behaviour do not stop it: every phase runs, and the failure lists
every check that failed, with the run's task states and log tails, then the phase timings (also
printed: `pytest -s` or `-rP` shows them on success).
"""
from __future__ import annotations

import json
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import POSTGRES_URL, SAMPLES, postgres_or_skip, run_cli
from tests.sync.conftest import ENV as API_CREDENTIALS
from tests.sync.conftest import sources_toml
from tests.sync.fake_api import FakeApis, record_at

from .airflow_cluster import AIRFLOW, POOLS_FILE, AirflowCluster, ClusterError, fresh_postgres_database

pytestmark = pytest.mark.slow

MIGRATION, SYNC, REPORT = "suppression_migration", "suppression_nightly_sync", "suppression_quality_report"
DAG_IDS = (MIGRATION, SYNC, REPORT)
TENANT = "demo"  # the migration's, as `make demo`
SYNC_TENANT = "acme"  # the nightly sync's (tests/sync/conftest.py)
SYNC_PLATFORMS = ("sendgrid", "ses", "klaviyo")  # bearer key, AWS SigV4, cursor paging
MIGRATION_CONF = {"tenant": TENANT, "paths": [str(SAMPLES)], "default_region": "US", "max_reject_rate": 0.2}
NOT_AN_EXPORT = "order_id,sku\n1,a\n"
PER_RUN = ("created_run_id", "last_run_id")  # run ids: two stores never share them
OVERLAP = timedelta(hours=6)  # the sync's default overlap (pipelines/sync)

# Timeouts (seconds) on 2 cores; each is several times what the phase takes.
STARTUP, MIGRATION_RUN, DRY_RUN, REFUSED_RUN, NIGHT, IDLE = 180, 240, 180, 120, 180, 150


class Checks:
    """Assertions that let the test go on: all of them are reported at the end."""

    def __init__(self) -> None:
        self.failures: list[str] = []

    def __call__(self, ok, message) -> bool:
        if not ok:
            self.failures.append(message() if callable(message) else str(message))
        return bool(ok)


class Timings(dict):
    @contextmanager
    def __call__(self, phase: str):
        began = time.monotonic()
        try:
            yield
        finally:
            self[phase] = round(time.monotonic() - began, 1)

    def text(self) -> str:
        return "\n".join(f"  {phase:<44} {seconds:7.1f} s" for phase, seconds in self.items())


# ---------------------------------------------------------------------------------------------
# The store, read by the test between runs (only when no run is active: DuckDB has one writer)


def exported(store, tenant: str) -> list[dict]:
    frame = store.export(tenant)
    return frame.drop([c for c in PER_RUN if c in frame.columns]).to_dicts()


def snapshot(path: Path) -> dict:
    """What the store holds: both tenants' suppressions, the sync watermarks, the runs."""
    from pipelines.store import open_store

    if not path.exists():
        return {"suppressions": {TENANT: [], SYNC_TENANT: []}, "watermarks": {}, "runs": {TENANT: [], SYNC_TENANT: []}}
    with open_store(str(path), read_only=True, create=False) as st:
        return {
            "suppressions": {t: exported(st, t) for t in (TENANT, SYNC_TENANT)},
            "watermarks": {f"{p}-main": st.watermark(SYNC_TENANT, f"{p}-main") for p in SYNC_PLATFORMS},
            "runs": {t: st.runs(t) for t in (TENANT, SYNC_TENANT)},
        }


def with_load_times(rows: list[dict], runs: list[dict]) -> list[dict]:
    """`rows` with every first/last-seen time that is the loading run's own (a record without a
    time of its own is dated by its load) shown as such: two loads of the same files agree on
    which rows those are, not on the clock."""
    # The rows are dated by the ingest's start, which comes a moment before the run record's
    # `started_at` (seconds on a busy machine); no sample record is anywhere near today.
    before, after = timedelta(minutes=5), timedelta(seconds=1)
    windows = [(r["started_at"] - before, (r.get("finished_at") or r["started_at"]) + after)
               for r in runs if isinstance(r.get("started_at"), datetime)]

    def shown(value):
        if isinstance(value, datetime) and any(start <= value <= end for start, end in windows):
            return "<the loading run's time>"
        return value

    return [{k: shown(v) if k in ("first_seen_at", "last_seen_at") else v for k, v in row.items()} for row in rows]


def changed_by(events: list[dict]) -> int | None:
    """The suppressions added according to a run's asset events (None: they do not say)."""
    counts = [(e.get("extra") or {}).get("suppressions_added") for e in events]
    return sum(counts) if counts and all(isinstance(c, int) for c in counts) else None


def tenants_of(events: list[dict]) -> set[str]:
    found = set()
    for e in events:
        extra = e.get("extra") or {}
        found |= set(extra.get("tenants") or ([extra["tenant"]] if extra.get("tenant") else []))
    return found


def addresses(rows: list[dict]) -> set[str]:
    return {r["address"] for r in rows if r.get("address")}


def emails_in(snap: dict, *more: list[dict]) -> set[str]:
    """Every email address of the store (lower case): what must never reach a log or an XCom."""
    found = set()
    for rows in [*snap["suppressions"].values(), *more]:
        found |= {a.lower() for a in addresses(rows) if "@" in a}
    return found


def diff(before: list[dict], after: list[dict]) -> str:
    key = ("channel", "address", "reason", "scope")
    b, a = {tuple(r[k] for k in key): r for r in before}, {tuple(r[k] for k in key): r for r in after}
    gone, new = sorted(set(b) - set(a)), sorted(set(a) - set(b))
    changed = sorted(k for k in set(a) & set(b) if a[k] != b[k])
    parts = [f"{len(gone)} missing, e.g. {gone[:3]}" if gone else "", f"{len(new)} extra, e.g. {new[:3]}" if new else "",
             (f"{len(changed)} differ, e.g. {changed[0]}: {b[changed[0]]} vs {a[changed[0]]}" if changed else "")]
    return "; ".join(p for p in parts if p) or "same rows, different order"


# ---------------------------------------------------------------------------------------------


@pytest.fixture
def deployment(tmp_path):
    """The fake platform APIs, a fresh metadata database, and the cluster (not started yet);
    whatever is left running is stopped afterwards, and the database dropped."""
    postgres_or_skip()
    if not AIRFLOW.exists():
        pytest.skip(f"no {AIRFLOW}: install the airflow extra (make setup)")
    apis = FakeApis(now=datetime.now(UTC) + timedelta(days=1)).start()  # every recorded record is visible
    sources = tmp_path / "sources.toml"
    sources.write_text(sources_toml(apis.url, SYNC_PLATFORMS, tenant=SYNC_TENANT))
    store = tmp_path / "store.duckdb"
    try:
        with fresh_postgres_database(POSTGRES_URL) as db_url:
            cluster = AirflowCluster(tmp_path / "deployment", db_url, extra_env={
                "SUPPRESSION_STORE": str(store),
                "SUPPRESSION_SOURCES": str(sources),
                "SUPPRESSION_POOL_WAIT_SECONDS": "10",  # phase 0: a missing pool fails the run in seconds
                **API_CREDENTIALS,  # the sources' `env:VAR` credentials, for the workers
            })
            try:
                yield cluster, apis, store
            finally:
                cluster.kill_all()  # a no-op after the test's own stop
    finally:
        apis.stop()


def test_a_deployment_runs_the_migration_and_two_nights(deployment, tmp_path, record_property):
    cluster, apis, store = deployment
    check, timings = Checks(), Timings()
    try:
        _scenario(cluster, apis, store, tmp_path, check, timings)
    finally:
        record_property("timings", dict(timings))
        print("\nphase timings (issue 15: a scheduler-run migration of the samples):\n" + timings.text())
    assert not check.failures, (
        f"{len(check.failures)} check(s) failed:\n\n" + "\n\n".join(f"{i}. {f}" for i, f in enumerate(check.failures, 1))
        + "\n\nphase timings:\n" + timings.text()
    )


def _scenario(cluster: AirflowCluster, apis: FakeApis, store: Path, tmp_path: Path, check: Checks, timings: Timings):
    # -- the deployment -----------------------------------------------------------------------
    with timings("airflow db migrate (fresh PostgreSQL)"):
        cluster.migrate()
    with timings("startup: services healthy and DAGs parsed"):
        cluster.start()
        # While the services start: the CLI's migration of the same folder into another store.
        reference = tmp_path / "reference.duckdb"
        with timings("  (meanwhile) suppress ingest of the samples"):
            cli = run_cli("ingest", "--tenant", TENANT, "--store", str(reference), "--default-region", "US",
                          "--max-reject-rate", "0.2", "--json", str(SAMPLES))
        assert cli.code == 0, f"suppress ingest of the samples exited {cli.code}: {cli.stderr[-2000:]}"
        cli_summary = cli.json()
        cluster.wait_ready(STARTUP)
        cluster.wait_for_dags(DAG_IDS, STARTUP)
    from pipelines.store import open_store

    with open_store(str(reference), read_only=True, create=False) as st:
        want = exported(st, TENANT)
        want_runs = st.runs(TENANT)
    assert want, "the CLI's migration of the samples loaded nothing: nothing to compare with"

    # -- 0. no pool yet: the run fails fast, saying how to create it ----------------------------
    cluster.unpause(MIGRATION)
    run_id = no_pool_run = cluster.trigger(MIGRATION, {**MIGRATION_CONF, "dry_run": True})
    with timings("0. migration without the pool (until it failed)"):
        run = cluster.wait_for_run(MIGRATION, run_id, MIGRATION_RUN)
    states = {t["task_id"]: t["state"] for t in cluster.task_instances(MIGRATION, run_id)}
    check(run["state"] == "failed" and states.get("watch_pool") == "failed" and states.get("load") != "success",
          lambda: f"without the pool: run {run['state']}, tasks {states}\n" + cluster.run_report(MIGRATION, run_id))
    logs = "".join(p.read_text(errors="replace") for p in cluster.task_logs(MIGRATION, run_id, "watch_pool"))
    check("airflow pools import deploy/airflow/pools.json" in logs,
          "the watch_pool log does not say how to create the pool:\n" + logs[-1500:])
    with timings("  airflow pools import deploy/airflow/pools.json"):
        cluster.import_pools(POOLS_FILE)

    shipped = json.loads(POOLS_FILE.read_text())
    for name, spec in shipped.items():
        pool = cluster.api("GET", f"/pools/{name}", expect=(200, 404))
        check(pool.get("slots") == spec["slots"], f"pool {name} after `airflow pools import`: {pool}, shipped {spec}")
    for dag_id in (MIGRATION, REPORT):  # the nightly sync: in phase 4 (unpausing it starts a night)
        cluster.unpause(dag_id)

    # -- 1. the migration of the samples ------------------------------------------------------
    run_id = cluster.trigger(MIGRATION, MIGRATION_CONF)
    with timings("1. migration of data/samples/ (trigger to end)"):
        run = cluster.wait_for_run(MIGRATION, run_id, MIGRATION_RUN)
    _record_task_times(cluster, MIGRATION, run_id, timings, "1.")
    check(run["state"] == "success", lambda: f"the migration run is {run['state']}, not success\n"
          + cluster.run_report(MIGRATION, run_id))
    tis = cluster.task_instances(MIGRATION, run_id)
    not_ok = [f"{t['task_id']}[{t['map_index']}] {t['state']} (try {t['try_number']})" for t in tis
              if t["state"] not in ("success", "skipped")]
    check(not not_ok, f"migration task instances neither successful nor skipped: {not_ok}")
    unnamed = [f"{t['task_id']}[{t['map_index']}]" for t in tis
               if t["map_index"] >= 0 and t.get("rendered_map_index") in (None, "", str(t["map_index"]))]
    check(not unnamed, f"mapped task instances without a name (map_index_template): {unnamed[:5]} of {len(unnamed)}")
    events = cluster.asset_events(MIGRATION, run_id)
    check(len(events) == 1, f"the migration run should emit one asset event (the store changed); it emitted {len(events)}"
          + ("" if events else "\n" + cluster.run_report(MIGRATION, run_id)))
    if events:
        check(tenants_of(events) == {TENANT} and changed_by(events) == cli_summary["suppressions_added"],
              f"the migration's asset event says {[e.get('extra') for e in events]}; the CLI's run of the same folder "
              f"added {cli_summary['suppressions_added']} suppressions for {TENANT}")

    with timings("1. then until idle (quality report runs)"):
        cluster.wait_idle(timeout=IDLE)
    after_migration = snapshot(store)
    got = with_load_times(after_migration["suppressions"][TENANT], after_migration["runs"][TENANT])
    want = with_load_times(want, want_runs)
    check(got == want, lambda: f"the store after the scheduler's migration differs from `suppress ingest` of the same "
          f"folder ({len(got)} vs {len(want)} suppressions): {diff(want, got)}")
    loads = [r for r in after_migration["runs"][TENANT] if not r.get("dry_run")]
    check([r["status"] for r in loads] == ["succeeded"], f"store runs of {TENANT} after the migration: "
          f"{[(r['run_id'], r['status'], r.get('dry_run')) for r in after_migration['runs'][TENANT]]}")
    reports = cluster.runs(REPORT)
    check(reports, "no suppression_quality_report run followed the migration's asset event")
    check(all(r["state"] == "success" for r in reports), lambda: "quality report runs: "
          + "; ".join(f"{r['dag_run_id']} {r['state']}\n{cluster.run_report(REPORT, r['dag_run_id'])}"
                      for r in reports if r["state"] != "success"))
    reports_seen = {r["dag_run_id"] for r in reports}

    # -- 2. a dry run: nothing changes --------------------------------------------------------
    run_id = cluster.trigger(MIGRATION, {**MIGRATION_CONF, "dry_run": True})
    with timings("2. dry run of data/samples/"):
        run = cluster.wait_for_run(MIGRATION, run_id, DRY_RUN)
    check(run["state"] == "success", lambda: f"the dry run is {run['state']}\n" + cluster.run_report(MIGRATION, run_id))
    events = cluster.asset_events(MIGRATION, run_id)
    check(not events, f"the dry run emitted {len(events)} asset event(s) (the store did not change): "
          f"{[e.get('extra') for e in events]}")
    cluster.wait_idle(timeout=IDLE)
    after_dry = snapshot(store)
    check(after_dry["suppressions"] == after_migration["suppressions"], lambda: "the dry run changed the suppressions: "
          + diff(after_migration["suppressions"][TENANT], after_dry["suppressions"][TENANT]))
    check(after_dry["watermarks"] == after_migration["watermarks"], "the dry run moved sync watermarks")
    new_reports = [r for r in cluster.runs(REPORT) if r["dag_run_id"] not in reports_seen]
    check(not new_reports, f"the dry run triggered quality report run(s): {[r['dag_run_id'] for r in new_reports]}")
    reports_seen |= {r["dag_run_id"] for r in new_reports}

    # -- 3. a file that is no known export: refused, at once ----------------------------------
    refused = tmp_path / "inputs" / "orders.csv"
    refused.parent.mkdir()
    refused.write_text(NOT_AN_EXPORT)
    run_id = refused_run = cluster.trigger(MIGRATION, {"tenant": TENANT, "paths": [str(refused)], "default_region": "US"})
    with timings("3. refused file (until the run failed)"):
        run = cluster.wait_for_run(MIGRATION, run_id, REFUSED_RUN)
    check(run["state"] == "failed", lambda: f"the run of a file that is no known export is {run['state']}, not failed\n"
          + cluster.run_report(MIGRATION, run_id))
    tis = cluster.task_instances(MIGRATION, run_id)
    failed = [t for t in tis if t["state"] == "failed"]
    retried = [f"{t['task_id']}[{t['map_index']}] try {t['try_number']} {t['state']}" for t in tis
               if t["try_number"] > 1 or t["state"] == "up_for_retry"]
    check(failed, lambda: "no task failed in the refused run\n" + cluster.run_report(MIGRATION, run_id))
    check(not retried, f"a refusal was retried (it must fail at once): {retried}")
    check(not any(t["task_id"] == "load" and t["state"] == "success" for t in tis), "the refused run's load succeeded")
    check(not cluster.asset_events(MIGRATION, run_id), "the refused run emitted an asset event")
    cluster.wait_idle(timeout=IDLE)
    after_refused = snapshot(store)
    check(after_refused["suppressions"] == after_migration["suppressions"], "the refused run changed the suppressions")

    # -- 4. two nights of the sync ------------------------------------------------------------
    apis.fail("/v3/suppression/bounces", 429, headers={"Retry-After": "0"})  # the client waits and retries
    known = {r["dag_run_id"] for r in cluster.runs(SYNC)}
    cluster.unpause(SYNC)
    with timings("4. night 1 (scheduled on unpause, until it ended)"):
        night1 = cluster.wait_for_new_run(SYNC, known, timeout=45)
        if not check(night1 is not None, "unpausing suppression_nightly_sync started no run within 45 s (catchup=False "
                     "should run the latest missed 02:00 at once); night 1 is triggered by hand instead"):
            night1 = {"dag_run_id": cluster.trigger(SYNC, {})}
        check(night1.get("run_type", "scheduled") == "scheduled", f"night 1 is a {night1.get('run_type')} run")
        run = cluster.wait_for_run(SYNC, night1["dag_run_id"], NIGHT)
    _record_task_times(cluster, SYNC, night1["dag_run_id"], timings, "4. night 1:")
    _check_night(cluster, check, run, "night 1")
    with timings("4. night 1: then until idle (quality report)"):
        cluster.wait_idle(timeout=IDLE)
    night1_store = snapshot(store)
    marks1 = night1_store["watermarks"]
    check(all(marks1.values()), f"watermarks after night 1: {marks1}")
    loaded1 = len(night1_store["suppressions"][SYNC_TENANT])
    check(loaded1, "night 1 loaded no suppressions for acme")
    check(night1_store["suppressions"][TENANT] == after_migration["suppressions"][TENANT],
          "night 1 changed the migration tenant's suppressions")
    _check_night_events(cluster, check, night1["dag_run_id"], "night 1", loaded1)
    reports_seen = _check_reports(cluster, check, reports_seen, "night 1")

    new = {}
    for platform in SYNC_PLATFORMS:
        address = f"night2.{platform}@example.com"
        name, record = record_at(platform, address, datetime.now(UTC))
        apis.add(platform, name, record)
        new[f"{platform}-main"] = address
    apis.requests.clear()
    run_id = cluster.trigger(SYNC, {})  # the sources from $SUPPRESSION_SOURCES, as at night
    with timings("4. night 2 (manual trigger)"):
        run = cluster.wait_for_run(SYNC, run_id, NIGHT)
    _check_night(cluster, check, run, "night 2")
    with timings("4. night 2: then until idle (quality report)"):
        cluster.wait_idle(timeout=IDLE)
    night2_store = snapshot(store)
    marks2 = night2_store["watermarks"]
    moved = {n: (marks1.get(n), m) for n, m in marks2.items()
             if not (m and marks1.get(n) and datetime.fromisoformat(m) > datetime.fromisoformat(marks1[n]))}
    check(not moved, f"watermarks that did not move forward on night 2 (night 1, night 2): {moved}")
    added = addresses(night2_store["suppressions"][SYNC_TENANT]) - addresses(night1_store["suppressions"][SYNC_TENANT])
    check(added == set(new.values()), f"night 2 added {sorted(added)}; the platforms had {sorted(new.values())} new")
    if marks1.get("sendgrid-main"):
        since = str(int((datetime.fromisoformat(marks1["sendgrid-main"]) - OVERLAP).timestamp()))
        sent = {r.param("start_time") for r in apis.seen("sendgrid", "/v3/suppression/")}
        check(sent == {since}, f"night 2 asked SendGrid for start_time {sent}; from the watermark: {since}")
    _check_night_events(cluster, check, run_id, "night 2", len(new))
    reports_seen = _check_reports(cluster, check, reports_seen, "night 2")

    # -- 5. no address in a task log or an XCom -----------------------------------------------
    with timings("5. scan task logs and XComs for addresses"):
        emails = emails_in(night2_store, want)
        assert len(emails) > 50, f"only {len(emails)} addresses to look for: the scan would prove little"
        leaks = _files_with(emails, sorted(p for p in cluster.logs.rglob("*") if p.is_file()), cluster.logs)
        check(not leaks, lambda: f"{len(leaks)} file(s) under AIRFLOW_HOME/logs hold addresses of the store: "
              + "; ".join(f"{f}: {a}" for f, a in list(leaks.items())[:8]))
        service_leaks = _files_with(emails, sorted(cluster.service_logs.glob("*.log")), cluster.service_logs)
        check(not service_leaks, f"the services' own output holds addresses: {service_leaks}")
        runs = [r for d in DAG_IDS for r in cluster.runs(d)]
        xcom_leaks, xcoms = [], 0
        for r in runs:
            for entry in cluster.xcoms(r["dag_id"], r["dag_run_id"]):
                xcoms += 1
                text = json.dumps(entry.get("value"), default=str).lower()
                hits = sorted(a for a in emails if a in text)
                if hits:
                    xcom_leaks.append(f"{r['dag_id']} {r['dag_run_id']} {entry['task_id']}[{entry['map_index']}] "
                                      f"{entry['key']}: {len(hits)} address(es), e.g. {hits[0]}")
            for event in cluster.asset_events(r["dag_id"], r["dag_run_id"]):
                text = json.dumps(event.get("extra"), default=str).lower()
                if any(a in text for a in emails):
                    xcom_leaks.append(f"asset event of {r['dag_id']} {r['dag_run_id']}: {event.get('extra')}")
        check(not xcom_leaks, lambda: f"{len(xcom_leaks)} XCom(s)/asset events hold addresses of the store:\n  "
              + "\n  ".join(xcom_leaks[:10]))
        check(xcoms > 0, "no XCom read at all: the scan proved nothing")
        failed_runs = [f"{r['dag_id']} {r['dag_run_id']}: {r['state']}" for r in runs
                       if r["state"] != "success" and r["dag_run_id"] not in (refused_run, no_pool_run)]
        check(not failed_runs, f"runs that did not succeed (the refused and the pool-less one aside): {failed_runs}")

    # -- 6. where the tasks wrote (issue 15: reports and pulls in a home under AIRFLOW_HOME) ---
    stray = sorted(str(p.relative_to(cluster.workdir)) for p in cluster.workdir.rglob("*") if p.is_file())
    check(not stray, f"the tasks wrote {len(stray)} file(s) into the services' working directory "
          f"(relative defaults such as ./reports): {stray[:5]}")
    load_run = next((r["run_id"] for r in after_migration["runs"][TENANT] if not r.get("dry_run")), None)
    # Each run's report in a folder of its own (<reports>/<run_id>/report.html), as the CLI writes them.
    reports_home = [p for p in cluster.home.rglob("report.html") if not p.is_relative_to(cluster.logs)]
    check(any(p.parent.name == load_run for p in reports_home),
          lambda: f"no report of the migration's run {load_run} in a folder of its own under AIRFLOW_HOME "
          f"({cluster.home}); report.html files there: {[str(p.relative_to(cluster.home)) for p in reports_home]}, "
          f"elsewhere: {[str(p) for p in cluster.base.rglob('report.html') if not p.is_relative_to(cluster.home)]}")
    pulls = sorted(str(p.parent) for p in cluster.base.rglob(".suppression-sync"))
    check(pulls and all(Path(p).is_relative_to(cluster.home) for p in pulls),
          f"the pulls' folder (marked .suppression-sync) is not under AIRFLOW_HOME ({cluster.home}): {pulls or 'none'}")

    # -- 7. the services stop on SIGTERM ------------------------------------------------------
    with timings("7. stop (SIGTERM each service, wait)"):
        try:
            stopped = cluster.stop()
        except ClusterError as exc:
            check(False, str(exc))
        else:
            print("\nservices stopped:", stopped)
            check(all(s["returncode"] is not None for s in stopped.values()), f"services not exited: {stopped}")


def _check_night(cluster: AirflowCluster, check: Checks, run: dict, night: str) -> None:
    run_id = run["dag_run_id"]
    check(run["state"] == "success", lambda: f"{night} ({run_id}) is {run['state']}\n" + cluster.run_report(SYNC, run_id))
    tis = cluster.task_instances(SYNC, run_id)
    by_task: dict[str, list] = {}
    for t in tis:
        by_task.setdefault(t["task_id"], []).append(t)
    pulls, loads = by_task.get("source.pull", []), by_task.get("source.load", [])
    check(len(pulls) == len(loads) == len(SYNC_PLATFORMS),
          f"{night}: {len(pulls)} pulls and {len(loads)} loads for {len(SYNC_PLATFORMS)} sources")
    bad = [f"{t['task_id']}[{t['map_index']}] {t['state']} (try {t['try_number']})" for t in tis
           if t["state"] not in ("success", "skipped")]
    check(not bad, f"{night}: task instances neither successful nor skipped: {bad}")


def _check_night_events(cluster: AirflowCluster, check: Checks, run_id: str, night: str, added: int) -> None:
    """A night that changed the store sends (at least) one asset event naming the tenant, whose
    counts add up to what it added."""
    events = cluster.asset_events(SYNC, run_id)
    if not check(events, lambda: f"{night} added {added} suppressions but emitted no asset event (no quality report "
                 f"follows)\n" + cluster.run_report(SYNC, run_id)):
        return
    check(tenants_of(events) == {SYNC_TENANT} and changed_by(events) in (None, added),
          f"{night}'s asset events say {[e.get('extra') for e in events]}; it added {added} suppressions for {SYNC_TENANT}")


def _check_reports(cluster: AirflowCluster, check: Checks, seen: set[str], after: str) -> set[str]:
    """A quality report ran after `after` (asset-triggered), and every report run succeeded."""
    runs = cluster.runs(REPORT)
    new = [r for r in runs if r["dag_run_id"] not in seen]
    check(new, f"no suppression_quality_report run followed {after}")
    bad = [r for r in new if r["state"] != "success"]
    check(not bad, lambda: f"quality report runs after {after}: " + "\n".join(
        f"{r['dag_run_id']} {r['state']}\n{cluster.run_report(REPORT, r['dag_run_id'])}" for r in bad))
    return seen | {r["dag_run_id"] for r in runs}


def _record_task_times(cluster: AirflowCluster, dag_id: str, run_id: str, timings: Timings, prefix: str) -> None:
    """Per task of a run: how many instances, the sum of their durations and the wall time from
    the first start to the last end (mapped tasks: how much of the run they are)."""
    spans: dict[str, list] = {}
    for t in cluster.task_instances(dag_id, run_id):
        if t.get("start_date") and t.get("end_date"):
            spans.setdefault(t["task_id"], []).append(t)
    for task, tis in spans.items():
        start = min(datetime.fromisoformat(t["start_date"]) for t in tis)
        end = max(datetime.fromisoformat(t["end_date"]) for t in tis)
        busy = sum(t.get("duration") or 0 for t in tis)
        label = f"{prefix} {task} x{len(tis)} (wall; sum {busy:.0f} s)" if len(tis) > 1 else f"{prefix} {task}"
        timings[label] = round((end - start).total_seconds(), 1)


def _files_with(emails: set[str], files: list[Path], root: Path) -> dict[str, str]:
    """The files holding one of `emails` (any case): relative path -> how many, and one of them."""
    found = {}
    for path in files:
        try:
            text = path.read_text(errors="replace").lower()
        except OSError:
            continue
        hits = [a for a in emails if a in text]
        if hits:
            found[str(path.relative_to(root))] = f"{len(hits)} address(es), e.g. {sorted(hits)[0]}"
    return found
