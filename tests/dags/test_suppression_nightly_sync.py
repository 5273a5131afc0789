"""suppression_nightly_sync end to end with `dag.test()` against the fake platform APIs on
127.0.0.1 (tests/sync/fake_api.py), loading into a real store; plus its plain functions in
pipelines.airflow.nightly_sync and credentials from Airflow connections."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipelines.airflow import nightly_sync
from pipelines.airflow.resources import StoreUnavailable, task_settings
from pipelines.errors import UsageError, UserError
from pipelines.platforms.http import SyncError
from tests.sync.conftest import ENV, sources_toml
from tests.sync.fake_api import KEYS, FakeApis, record_at

from .conftest import DAGS_FOLDER

DAG_ID = "suppression_nightly_sync"
TENANT = "acme"
PLATFORMS = ("sendgrid", "mailchimp", "mailgun", "postmark", "ses", "brevo", "klaviyo")
# Three sources read their credentials from Airflow connections (env-defined, as in production
# with a secrets backend): a password, an extra api_key, and an AWS login/password pair.
CONNECTIONS = {
    "AIRFLOW_CONN_ACME_SENDGRID": {"conn_type": "generic", "password": KEYS["sendgrid"]},
    "AIRFLOW_CONN_ACME_KLAVIYO": {"conn_type": "generic", "extra": {"api_key": KEYS["klaviyo"]}},
    "AIRFLOW_CONN_ACME_SES": {"conn_type": "aws", "login": KEYS["ses"][0], "password": KEYS["ses"][1]},
}
VIA_AIRFLOW = {"sendgrid": "airflow:acme_sendgrid", "klaviyo": "airflow:acme_klaviyo", "ses": "airflow:acme_ses"}


@pytest.fixture(scope="module")
def sync_dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    assert bag.import_errors == {}
    dag = bag.get_dag(DAG_ID)
    for t in dag.tasks:  # the tests do not wait for Airflow's retry delays
        t.retry_delay = timedelta(0)
    return dag


@pytest.fixture
def apis():
    server = FakeApis(now=datetime.now(UTC) + timedelta(days=1)).start()
    yield server
    server.stop()


@pytest.fixture
def world(apis, tmp_path, monkeypatch):
    """Credentials, a sources file for every platform, the store and the pull folder."""
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    for k, v in CONNECTIONS.items():
        monkeypatch.setenv(k, json.dumps(v))
    sources = tmp_path / "sources.toml"
    sources.write_text(sources_toml(apis.url, PLATFORMS, credentials=VIA_AIRFLOW))
    monkeypatch.setenv("SUPPRESSION_SOURCES", str(sources))
    monkeypatch.setenv("SUPPRESSION_STORE", str(tmp_path / "suppressions.duckdb"))
    monkeypatch.setenv("SUPPRESSION_SYNC_DIR", str(tmp_path / "pulled"))
    monkeypatch.delenv("AIRFLOW_CONN_SUPPRESSION_STORE", raising=False)
    return {"sources": sources, "store": tmp_path / "suppressions.duckdb", "pulled": tmp_path / "pulled"}


def _tis(dr) -> dict[str, list]:
    found: dict[str, list] = {}
    for ti in sorted(dr.get_task_instances(), key=lambda t: (t.task_id, t.map_index)):
        found.setdefault(ti.task_id, []).append(ti)
    return found


def _states(dr) -> dict[str, list[str]]:
    return {task: [str(ti.state) for ti in tis] for task, tis in _tis(dr).items()}


def _loads(dr) -> dict[str, dict]:
    reports = [ti.xcom_pull(task_ids="source.load", map_indexes=ti.map_index)
               for ti in _tis(dr).get("source.load", []) if str(ti.state) == "success"]
    return {r["source"]: r for r in reports}


def _asset_events(dr) -> list[dict]:
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(select(AssetEvent).where(AssetEvent.source_run_id == dr.run_id)).all()
        return [dict(e.extra) for e in rows]


def _watermarks(store: Path, names) -> dict[str, str | None]:
    from pipelines.store import open_store

    with open_store(str(store)) as st:
        return {n: st.watermark(TENANT, n) for n in names}


def test_dag_shape(sync_dag):
    assert sync_dag.catchup is False and sync_dag.max_active_runs == 1
    assert sync_dag.schedule == "0 2 * * *"  # daily
    assert timedelta(0) < sync_dag.dagrun_timeout < timedelta(hours=24)  # a hung night never blocks the next
    assert set(sync_dag.params.keys()) == {"tenant", "sources_file"}
    tasks = sync_dag.task_dict
    assert set(tasks) == {"store", "plan", "watch_pool", "source.pull", "source.load", "publish", "maintenance"}
    assert tasks["store"].downstream_task_ids == {"plan", "watch_pool", "source.load", "publish", "maintenance"}
    assert tasks["source.load"].downstream_task_ids == {"publish"} and tasks["publish"].is_teardown
    assert tasks["publish"].pool == "suppression_store_writer"  # it records failed pulls in the store
    assert tasks["plan"].downstream_task_ids == {"source.pull"}
    assert tasks["source.pull"].downstream_task_ids == {"source.load"}
    assert tasks["maintenance"].upstream_task_ids == {"store"} and tasks["maintenance"].pool == "suppression_store_writer"
    for name in ("source.pull", "source.load", "plan", "maintenance"):
        assert timedelta(0) < tasks[name].execution_timeout <= timedelta(hours=3), name
    assert tasks["plan"].pool == tasks["source.load"].pool == "suppression_store_writer"
    assert tasks["source.load"].pool_slots == 1
    assert tasks["source.pull"].pool == "default_pool"  # pulls fan out; only the writer is serialised
    assert tasks["source.load"].outlets == []  # one event a night, from `publish`, only if something changed
    assert [o.name for o in tasks["publish"].outlets] == ["suppression_store_changes"]
    assert tasks["source.pull"].map_index_template == tasks["source.load"].map_index_template == "{{ label | default('') }}"
    assert all(t.retries >= 1 for t in sync_dag.tasks if t.task_id != "watch_pool")


@pytest.mark.slow
def test_two_nights_end_to_end(sync_dag, apis, world):
    apis.fail("/v3/suppression/bounces", 429, headers={"Retry-After": "0"})
    apis.fail("/3.0/lists/", 503)
    apis.fail("/api/profiles", "drop")

    # A contact deleted 4 days ago: its safety copy has expired, and the night's maintenance removes it.
    from pipelines.store import open_store

    contacts = world["pulled"].parent / "contacts.csv"
    contacts.write_text("id,email\nc1,old.customer@example.com\n")
    copies = world["pulled"].parent / "copies"
    from tests.conftest import run_cli

    assert run_cli("contacts", "import", "--tenant", TENANT, "--store", world["store"], contacts).code == 0
    deleted = run_cli("contacts", "delete", "--tenant", TENANT, "--yes", "--json", "--store", world["store"],
                      "--export-dir", copies, "c1").json()
    with open_store(str(world["store"])) as st:
        st.con.execute("UPDATE safety_exports SET expires_at = now() - INTERVAL 1 DAY")
    assert Path(deleted["safety_export"]).exists()

    every = {"tenant": None, "sources_file": None}  # explicit: dag.test() keeps an earlier run's conf
    dr = sync_dag.test(run_conf=every)
    states = _states(dr)
    assert str(dr.state) == "success", states
    assert len(states["source.pull"]) == len(states["source.load"]) == len(PLATFORMS)  # one mapped group per source
    assert all(s == "success" for ss in states.values() for s in ss), states
    first = _loads(dr)
    assert set(first) == {f"{p}-main" for p in PLATFORMS}
    assert all(r["status"] == "succeeded" and r["old_watermark"] is None and r["new_watermark"] for r in first.values())
    assert first["sendgrid-main"]["rate_limited"] == 1
    assert first["mailchimp-main"]["transient_errors"] == first["klaviyo-main"]["transient_errors"] == 1
    assert _watermarks(world["store"], first) == {n: r["new_watermark"] for n, r in first.items()}
    [event] = _asset_events(dr)  # one event for the night, naming the tenants that changed
    assert event["tenants"] == [TENANT]
    assert sorted(event["runs"]) == sorted(r["ingest"]["run_id"] for r in first.values())
    assert event["suppressions_added"] == sum(r["ingest"]["suppressions_added"] for r in first.values())
    assert all(r["files"] >= 1 and "@" not in json.dumps(r) for r in first.values())  # counts, never an address
    assert not any(world["pulled"].rglob("*.json"))  # loaded files are removed
    assert not Path(deleted["safety_export"]).exists()
    assert _tis(dr)["maintenance"][0].xcom_pull(task_ids="maintenance")["safety_exports_removed"] == [
        deleted["safety_export"]]

    # Night 2: one new record per platform since night 1; only that is pulled and loaded.
    apis.requests.clear()
    new = {}
    for platform in PLATFORMS:
        name, record = record_at(platform, f"night2.{platform}@example.com", datetime.now(UTC))
        apis.add(platform, name, record)
        new[f"{platform}-main"] = f"night2.{platform}@example.com"
    dr2 = sync_dag.test(run_conf=every)
    assert str(dr2.state) == "success", _states(dr2)
    assert _asset_events(dr2)[0]["suppressions_added"] == len(PLATFORMS)
    second = _loads(dr2)
    for name, report in second.items():
        assert report["old_watermark"] == first[name]["new_watermark"] and report["new_watermark"] > report["old_watermark"]
        assert report["records"] == 1 and report["ingest"]["suppressions_added"] == 1, (name, report)
    def since(name):  # each source's own watermark: the pulls may straddle a second
        return datetime.fromisoformat(first[name]["new_watermark"]) - timedelta(hours=6)

    assert {r.param("start_time") for r in apis.seen("sendgrid", "/v3/suppression/")} == {
        str(int(since("sendgrid-main").timestamp()))}
    assert {r.param("filter") for r in apis.seen("klaviyo")} == {
        f"greater-than(updated,{since('klaviyo-main').astimezone(UTC):%Y-%m-%dT%H:%M:%SZ})"}

    from pipelines.store import open_store

    with open_store(str(world["store"])) as st:
        addresses = set(st.export(TENANT)["address"].to_list())
    assert set(new.values()) <= addresses


def test_one_failing_source_does_not_stop_the_others(sync_dag, apis, tmp_path, world, monkeypatch):
    sources = tmp_path / "three.toml"
    sources.write_text(sources_toml(apis.url, ("ses", "brevo", "sendgrid"), credentials=VIA_AIRFLOW)
                       + sources_toml(apis.url, ("klaviyo",), tenant="globex").split("\n\n", 1)[1])
    monkeypatch.setenv("ACME_BREVO_KEY", "xkeysib-wrong-0001")  # refused: fails at once
    apis.fail("/v3/suppression/bounces", *[503] * 4)  # past the client's 4 attempts: Airflow retries the pull

    dr = sync_dag.test(run_conf={"tenant": TENANT, "sources_file": str(sources)})
    assert str(dr.state) == "failed"
    tis = _tis(dr)
    jobs = tis["plan"][0].xcom_pull(task_ids="plan")
    assert [j["source"]["name"] for j in jobs] == ["ses-main", "brevo-main", "sendgrid-main"]  # not globex's
    by_source = {j["source"]["name"]: i for i, j in enumerate(jobs)}
    pulls = {ti.map_index: ti for ti in tis["source.pull"]}
    loads = {ti.map_index: ti for ti in tis["source.load"]}
    brevo, sendgrid, ses = by_source["brevo-main"], by_source["sendgrid-main"], by_source["ses-main"]
    assert str(pulls[brevo].state) == "failed" and pulls[brevo].try_number == 1  # a wrong key is not retried
    assert str(loads[brevo].state) == "upstream_failed"
    assert str(pulls[sendgrid].state) == "success" and pulls[sendgrid].try_number == 2  # retried by Airflow
    assert str(loads[sendgrid].state) == str(loads[ses].state) == "success"
    marks = _watermarks(world["store"], ["ses-main", "brevo-main", "sendgrid-main"])
    assert marks["brevo-main"] is None and marks["ses-main"] and marks["sendgrid-main"]

    # `publish` recorded the failed pull, so `suppress sources` names the night's error; the pull
    # that Airflow retried and that then loaded is not recorded as failed.
    from pipelines.store import open_store
    from pipelines.sync.config import load_sources, select
    from pipelines.sync.state import source_states

    with open_store(str(world["store"]), read_only=True) as st:
        states = {s["source"]: s for s in source_states(st, TENANT, select(load_sources(sources), TENANT))}
    assert "401" in states["brevo-main"]["last_error"]["error"] and "xkeysib" not in json.dumps(states)
    assert states["brevo-main"]["last_run"]["status"] == "failed"
    assert states["sendgrid-main"]["last_error"] is None and states["sendgrid-main"]["last_run"]["status"] == "succeeded"


# ---------------------------------------------------------------------------------------------
# Helpers and credentials


def test_credentials_from_airflow_connections(world):
    from pipelines.sync.config import load_sources, resolve_credentials

    by_name = {s.name: s for s in load_sources(world["sources"])}
    secrets = task_settings(need_store=False).secrets
    assert resolve_credentials(by_name["sendgrid-main"], secrets).secret == KEYS["sendgrid"]
    assert resolve_credentials(by_name["klaviyo-main"], secrets).secret == KEYS["klaviyo"]  # extra api_key
    ses = resolve_credentials(by_name["ses-main"], secrets)
    assert (ses.login, ses.secret) == KEYS["ses"]
    missing = type(by_name["ses-main"])(**{**by_name["ses-main"].to_dict(), "credentials": "airflow:no_such_conn"})
    # Airflow reports a secrets backend that failed for a moment as "not found": retried
    with pytest.raises(SyncError, match="Airflow connection 'no_such_conn' is not available") as caught:
        resolve_credentials(missing, secrets)
    assert caught.value.retryable
    with pytest.raises(UsageError, match="need Airflow"):  # settings without Airflow's connections
        resolve_credentials(by_name["ses-main"])


def test_airflow_connection_secrets_are_stripped_and_control_characters_refused(world, monkeypatch):
    from pipelines.sync.config import load_sources, resolve_credentials

    by_name = {s.name: s for s in load_sources(world["sources"])}
    secrets = task_settings(need_store=False).secrets
    monkeypatch.setenv("AIRFLOW_CONN_ACME_SENDGRID", json.dumps({"conn_type": "generic", "password": KEYS["sendgrid"] + "\r\n"}))
    monkeypatch.setenv("AIRFLOW_CONN_ACME_SES", json.dumps(
        {"conn_type": "aws", "login": f" {KEYS['ses'][0]}\n", "password": KEYS["ses"][1] + "\n",
         "extra": {"session_token": "tok-0001\n"}}))
    assert resolve_credentials(by_name["sendgrid-main"], secrets).secret == KEYS["sendgrid"]
    ses = resolve_credentials(by_name["ses-main"], secrets)
    assert (ses.login, ses.secret, ses.extra) == (*KEYS["ses"], {"session_token": "tok-0001"})

    inner = "SG.pasted\nover-two-lines-0002"
    monkeypatch.setenv("AIRFLOW_CONN_ACME_SENDGRID", json.dumps({"conn_type": "generic", "password": inner}))
    with pytest.raises(UsageError, match="credentials airflow:acme_sendgrid: the secret holds a line break") as caught:
        resolve_credentials(by_name["sendgrid-main"], secrets)
    assert "over-two-lines" not in str(caught.value) and "\n" not in str(caught.value)


def test_a_key_with_a_trailing_line_break_still_pulls(apis, world, monkeypatch):
    """Pasted with its line break into a connection: stripped, it is sent and accepted."""
    monkeypatch.setenv("AIRFLOW_CONN_ACME_SENDGRID", json.dumps({"conn_type": "generic", "password": KEYS["sendgrid"] + "\n"}))
    jobs = nightly_sync.sync_jobs({"tenant": TENANT})
    sendgrid = next(j for j in jobs if j["source"]["platform"] == "sendgrid")
    pulled = nightly_sync.pull_job(sendgrid, "manual__x")
    assert pulled["records"] > 0
    assert {r.headers["authorization"] for r in apis.seen("sendgrid")} == {f"Bearer {KEYS['sendgrid']}"}


def test_pull_and_load_helpers(apis, world, tmp_path, monkeypatch):
    jobs = nightly_sync.sync_jobs({"tenant": TENANT})
    assert [j["source"]["name"] for j in jobs] == [f"{p}-main" for p in PLATFORMS]
    assert all(j["old_watermark"] is None for j in jobs)
    assert nightly_sync.sync_jobs({"tenant": TENANT, "sources_file": str(world["sources"])})
    with pytest.raises(UserError, match="no sources for tenant 'initech'"):
        nightly_sync.sync_jobs({"tenant": "initech"})

    ses = next(j for j in jobs if j["source"]["platform"] == "ses")
    pulled = nightly_sync.pull_job(ses, "scheduled__2026-11-30T02:00:00+00:00")
    [path] = pulled["files"]
    assert Path(path).parent == world["pulled"] / "scheduled__2026-11-30T02_00_00_00_00" / TENANT / "ses-main"
    json.dumps(pulled)  # goes through XCom

    monkeypatch.setenv("SUPPRESSION_SYNC_DIR", str(tmp_path / "elsewhere"))  # a worker that does not share it
    moved = {**pulled, "files": [str(tmp_path / "elsewhere" / "x.json")]}
    with pytest.raises(UserError, match="SUPPRESSION_SYNC_DIR on storage they share"):
        nightly_sync.load_pulled(moved)

    report = nightly_sync.load_pulled(pulled)
    assert report["status"] == "succeeded" and report["new_watermark"] == pulled["new_watermark"]
    assert not Path(path).exists() and not (world["pulled"] / "scheduled__2026-11-30T02_00_00_00_00").exists()
    assert "ses-main (ses): succeeded" in nightly_sync.sync_text(report)


# ---------------------------------------------------------------------------------------------
# The store: never a default file, the same one all run long


def test_without_a_store_the_night_fails_and_writes_no_default_file(sync_dag, world, tmp_path, monkeypatch):
    monkeypatch.delenv("SUPPRESSION_STORE")
    monkeypatch.chdir(tmp_path)
    dr = sync_dag.test(run_conf={"tenant": None, "sources_file": None})
    assert str(dr.state) == "failed"
    tis = _tis(dr)
    assert str(tis["store"][0].state) == "failed" and tis["store"][0].try_number == 3  # retried: may be a moment
    assert {str(tis[t][0].state) for t in ("plan", "maintenance")} == {"upstream_failed"}
    assert not (tmp_path / "suppressions.duckdb").exists() and not world["store"].exists()
    assert not world["pulled"].exists()  # nothing pulled either


def test_the_store_must_stay_the_one_the_run_started_with(world, monkeypatch, caplog):
    import logging

    monkeypatch.setenv("SUPPRESSION_STORE", "postgresql://sync:s3cret-pw@db:5432/supp?sslmode=require")
    with caplog.at_level(logging.INFO, logger="pipelines.airflow.resources"):
        ref = nightly_sync.store()
    assert ref == {"store": "postgresql://***@db:5432/supp?sslmode=require", "origin": "$SUPPRESSION_STORE"}
    assert "from $SUPPRESSION_STORE" in caplog.text and "s3cret-pw" not in caplog.text + json.dumps(ref)
    assert task_settings(ref).store.endswith("@db:5432/supp?sslmode=require")

    monkeypatch.setenv("SUPPRESSION_STORE", "postgresql://sync:s3cret-pw@other:5432/supp?sslmode=require")
    with pytest.raises(StoreUnavailable, match="but this run started with") as caught:
        task_settings(ref)
    assert caught.value.retryable and "s3cret-pw" not in str(caught.value)
    # the connection comes back from a failed lookup: also another store than the run's
    monkeypatch.setenv("AIRFLOW_CONN_SUPPRESSION_STORE", "postgresql://sync:s3cret-pw@db:5432/supp?sslmode=require")
    with pytest.raises(StoreUnavailable, match="from Airflow connection 'suppression_store'"):
        task_settings(ref)


# ---------------------------------------------------------------------------------------------
# Maintenance and task logs


def _age(path: Path, days: float) -> None:
    import os
    import time

    when = time.time() - days * 86400
    os.utime(path, (when, when))


def test_maintenance_removes_old_pulls_only_in_the_sync_folder(apis, world, tmp_path, monkeypatch):
    jobs = nightly_sync.sync_jobs({"tenant": TENANT})
    ses = next(j for j in jobs if j["source"]["platform"] == "ses")
    old = nightly_sync.pull_job(ses, "scheduled__old")  # its load was refused: the files stay
    new = nightly_sync.pull_job(ses, "scheduled__new")
    old_run = world["pulled"] / "scheduled__old"
    for path in [*old_run.rglob("*"), old_run]:
        _age(path, 8)
    mixed = world["pulled"] / "scheduled__new" / TENANT / "stale.json"  # an old file beside new ones
    mixed.write_text("{}")
    _age(mixed, 8)

    done = nightly_sync.maintenance()
    assert sorted(done["pulled_files_removed"]) == sorted([*old["files"], str(mixed)])
    assert not old_run.exists() and all(Path(f).exists() for f in new["files"])
    json.dumps(done)

    # A sync folder pointed at the wrong place: without the pulls' marker, nothing is touched.
    elsewhere = tmp_path / "home"
    (elsewhere / "a" / "b").mkdir(parents=True)
    precious = elsewhere / "a" / "b" / "precious.json"
    precious.write_text("{}")
    _age(precious, 30)
    monkeypatch.setenv("SUPPRESSION_SYNC_DIR", str(elsewhere))
    assert nightly_sync.maintenance()["pulled_files_removed"] == []
    assert precious.exists()


def test_a_refusal_logs_counts_never_the_rejected_addresses(caplog):
    import logging

    from airflow.sdk.exceptions import AirflowFailException

    from pipelines.airflow.common import fail_fast
    from pipelines.errors import DataRefused

    exc = DataRefused("12 of 20 rows rejected (60.0%), over the limit of 10%: nothing loaded")
    exc.summary = {"run_id": "run_1", "tenant": TENANT, "status": "failed", "rows_read": 20, "rows_accepted": 8,
                   "rows_rejected": 12, "reject_rate": 0.6, "rejects_by_error": {"invalid_email": 12},
                   "reject_examples": {"invalid_email": [{"value": "leaked.person@example", "line": 3}]}}
    with caplog.at_level(logging.DEBUG):
        failed = fail_fast(exc)
    assert isinstance(failed, AirflowFailException)
    assert "rejected 12 (60.0%)" in caplog.text and "invalid_email 12" in caplog.text
    assert "leaked.person" not in caplog.text
    retryable = StoreUnavailable("no suppression store")
    assert fail_fast(retryable) is retryable  # Airflow retries it
