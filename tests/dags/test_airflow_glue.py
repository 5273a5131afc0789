"""The Airflow glue without a scheduler: the pool watch, the verdict, where sources, folders and
asset events come from (pipelines.airflow.common, .nightly_sync, .quality_report, .resources).
The same behaviour on a real scheduler: tests/integration/test_airflow_scheduler.py."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from pipelines.errors import UsageError
from pipelines.settings import ROOT
from pipelines.summary import changed_store, task_result

RUN = "manual__1"


@pytest.fixture
def g():
    """The modules under test, imported once the tests/dags conftest has set AIRFLOW_HOME."""
    from airflow.sdk.exceptions import AirflowFailException

    from pipelines.airflow import common, nightly_sync, quality_report, resources

    return SimpleNamespace(AirflowFailException=AirflowFailException, common=common, nightly_sync=nightly_sync,
                           quality_report=quality_report, task_folders=resources.task_folders,
                           task_settings=resources.task_settings)


class FakeTI:
    """What `watch_writer` and `verdict` ask the API server, scripted: the writer's state at each
    poll, and how many writer tasks of any DAG run or are queued then."""

    def __init__(self, states, busy=None):
        self.states, self.busy, self.polls = list(states), list(busy or []), 0

    def get_task_states(self, dag_id, run_ids, task_ids=None):
        state = self.states[min(self.polls, len(self.states) - 1)]
        if task_ids is None:
            return {RUN: state}
        return {RUN: {task_ids[0]: state}} if state else {}

    def get_ti_count(self, dag_id, task_ids, states):
        busy = self.busy[min(self.polls, len(self.busy) - 1)] if self.busy else 0
        return busy if dag_id == "suppression_migration" else 0


def watch(g, ti, starved_for=30.0):
    clock = {"now": 0.0}

    def sleep(seconds):
        clock["now"] += seconds
        ti.polls += 1

    return g.common.watch_writer(ti, "suppression_migration", RUN, "load", starved_for=starved_for, poll=10,
                               clock=lambda: clock["now"], sleep=sleep), clock["now"]


def test_a_writer_that_starts_is_not_a_missing_pool(g):
    state, waited = watch(g, FakeTI([None, None, "scheduled", "queued"]))
    assert (state, waited) == ("queued", 30)


def test_a_writer_waiting_behind_another_writer_waits_as_long_as_that_one_runs(g):
    ti = FakeTI(["scheduled"] * 50 + ["running"], busy=[1] * 50 + [0])
    assert watch(g, ti) == ("running", 500)  # 8 minutes behind a busy pool, never refused


def test_a_writer_scheduled_with_the_pool_idle_fails_the_run_with_how_to_create_it(g):
    with pytest.raises(g.AirflowFailException) as failed:
        watch(g, FakeTI(["scheduled"]))
    assert "airflow pools import deploy/airflow/pools.json" in str(failed.value)


def test_idle_time_is_counted_from_when_the_pool_went_idle(g):
    ti = FakeTI(["scheduled"] * 10 + ["running"], busy=[1] * 3 + [0] * 7 + [0])
    # busy until 30 s, idle from then: at 90 s it has been idle 60 s (< 70), at 100 s it runs
    assert watch(g, ti, starved_for=70) == ("running", 100)


def test_the_verdict_fails_a_run_with_any_failed_task(g):
    g.common.verdict(FakeTI([{"resolve_inputs": "success", "load": "skipped", "watch_pool": "success"}]),
                   "suppression_migration", RUN)
    with pytest.raises(g.AirflowFailException, match="inspect_files"):
        g.common.verdict(FakeTI([{"inspect_files": "failed", "load": "skipped"}]), "suppression_migration", RUN)


def test_the_shipped_pool_file_is_what_the_dags_use(g):
    pools = json.loads((ROOT / g.common.POOL_FILE).read_text())
    assert pools == {g.common.WRITER_POOL: {"slots": 1, "description": pools[g.common.WRITER_POOL]["description"],
                                          "include_deferred": False}}


# -- sources: Param, Variable, environment ------------------------------------------------------

SOURCES_TOML = """
[[sources]]
tenant = "acme"
name = "sg"
platform = "sendgrid"
credentials = "env:ACME_SG"
"""


def test_sources_from_the_param_relative_to_the_dag_folder(g, tmp_path):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "sources.toml").write_text(SOURCES_TOML)
    sources, origin = g.nightly_sync.configured_sources({"sources_file": "config/sources.toml"}, g.task_settings(
        need_store=False), bundle=tmp_path, variable=lambda key: None)
    assert [(s.tenant, s.name) for s in sources] == [("acme", "sg")] and origin == str(tmp_path / "config/sources.toml")
    with pytest.raises(UsageError, match="the sources_file Param"):
        g.nightly_sync.configured_sources({"sources_file": "nope.toml"}, g.task_settings(need_store=False),
                                        bundle=tmp_path, variable=lambda key: None)


@pytest.mark.parametrize("text", [SOURCES_TOML, json.dumps({"sources": [
    {"tenant": "acme", "name": "sg", "platform": "sendgrid", "credentials": "env:ACME_SG"}]})])
def test_sources_from_an_airflow_variable_as_toml_or_json(g, text, monkeypatch):
    monkeypatch.delenv("SUPPRESSION_SOURCES", raising=False)
    asked = []
    sources, origin = g.nightly_sync.configured_sources({}, g.task_settings(need_store=False),
                                                      variable=lambda key: asked.append(key) or text)
    assert asked == ["suppression_sources"] and origin == "Variable suppression_sources"
    assert [(s.tenant, s.platform, s.credentials) for s in sources] == [("acme", "sendgrid", "env:ACME_SG")]


def test_no_sources_anywhere_names_the_param_and_the_variable(g, monkeypatch):
    monkeypatch.delenv("SUPPRESSION_SOURCES", raising=False)
    with pytest.raises(UsageError) as refused:
        g.nightly_sync.configured_sources({}, g.task_settings(need_store=False), variable=lambda key: None)
    assert "`sources_file` Param" in str(refused.value) and "suppression_sources" in str(refused.value)
    assert "--sources" not in str(refused.value)


# -- folders ------------------------------------------------------------------------------------

def test_task_folders_come_from_the_environment_then_the_connection_then_airflow_home(g, tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "home"))
    for name in ("SUPPRESSION_REPORTS_DIR", "SUPPRESSION_SYNC_DIR", "SUPPRESSION_SAFETY_DIR"):
        monkeypatch.delenv(name, raising=False)
    assert g.task_folders() == {"reports_dir": str(tmp_path / "home/suppression/reports"),
                              "sync_dir": str(tmp_path / "home/suppression/sync"),
                              "safety_dir": str(tmp_path / "home/suppression/safety-exports")}
    conn = SimpleNamespace(extra_dejson={"reports_dir": "/shared/reports"})
    assert g.task_folders(conn)["reports_dir"] == "/shared/reports"
    settings = g.task_settings(need_store=False)
    assert settings.reports_dir == tmp_path / "home/suppression/reports"  # never ./reports of the worker
    assert settings.sync_dir == tmp_path / "home/suppression/sync"
    monkeypatch.setenv("SUPPRESSION_REPORTS_DIR", str(tmp_path / "env-reports"))
    assert g.task_settings(need_store=False).reports_dir == tmp_path / "env-reports"


# -- what leaves a task ---------------------------------------------------------------------------

SUMMARY = {"run_id": "run_1", "tenant": "acme", "status": "succeeded", "dry_run": False, "rows_read": 3,
           "rows_rejected": 1, "suppressions_added": 2, "suppressions_updated": 0, "report": "/r/run_1/report.html",
           "files": [{"path": "/in/bob@example.com.csv", "rows_read": 3}],
           "reject_examples": [{"value": "not-an-email@", "line": 2}],
           "by_reason": [{"reason": "hard_bounce", "count": 2}], "time_warning_examples": {"x": ["01/02/2024"]}}


def test_a_task_result_is_ids_counts_and_report_paths(g):
    result = task_result(SUMMARY)
    assert result == {"run_id": "run_1", "tenant": "acme", "status": "succeeded", "dry_run": False, "rows_read": 3,
                      "rows_rejected": 1, "suppressions_added": 2, "suppressions_updated": 0,
                      "report": "/r/run_1/report.html", "files": 1}


@pytest.mark.parametrize(("change", "changed"), [({}, True), ({"dry_run": True}, False),
                                                   ({"status": "skipped"}, False),
                                                   ({"suppressions_added": 0}, False),
                                                   ({"suppressions_added": 0, "suppressions_updated": 4}, True)])
def test_only_a_run_that_changed_the_store_announces_itself(g, change, changed):
    assert changed_store({**task_result(SUMMARY), **change}) is changed


def test_the_night_sends_one_event_naming_the_tenants_that_changed(g):
    def loaded(tenant, added):
        return {"tenant": tenant, "source": "s", "ingest": {**task_result(SUMMARY), "run_id": f"run_{tenant}",
                                                          "suppressions_added": added}}

    class TI:
        def xcom_pull(self, task_ids):
            return [loaded("globex", 0), loaded("acme", 2), None, loaded("initech", 5)]

    assert g.nightly_sync.night_changes(TI()) == {"tenants": ["acme", "initech"], "runs": ["run_acme", "run_initech"],
                                                "suppressions_added": 7, "suppressions_updated": 0}
    assert g.nightly_sync.asset_extra([loaded("globex", 0)]) is None


def test_the_report_covers_the_tenants_the_events_name(g):
    events = {"asset": [SimpleNamespace(extra={"tenants": ["acme"]}), SimpleNamespace(extra={"tenants": ["initech"]})]}
    window = g.quality_report.report_window({"triggering_asset_events": events})
    assert window["tenants"] == ["acme", "initech"]
    assert g.quality_report.tenants_to_report(window) == ["acme", "initech"]  # no store read needed
    assert g.quality_report.report_window({})["tenants"] is None  # a manual run: recently active tenants


def test_the_pool_wait_comes_from_the_environment(g, monkeypatch):
    from pipelines.errors import UserError

    monkeypatch.delenv("SUPPRESSION_POOL_WAIT_SECONDS", raising=False)
    assert g.common.pool_wait() == 90.0
    monkeypatch.setenv("SUPPRESSION_POOL_WAIT_SECONDS", "12.5")
    assert g.common.pool_wait() == 12.5
    monkeypatch.setenv("SUPPRESSION_POOL_WAIT_SECONDS", "soon")
    with pytest.raises(UserError, match="SUPPRESSION_POOL_WAIT_SECONDS"):
        g.common.pool_wait()
