"""suppression_quality_report end to end with `dag.test()`: the trends of the recently active
tenants are written from a real store, with what they flag."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.test_report_trends import expected_flags, make_history

from .conftest import DAGS_FOLDER

DAG_ID = "suppression_quality_report"


@pytest.fixture(scope="module")
def report_dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    assert bag.import_errors == {}
    return bag.get_dag(DAG_ID)


@pytest.fixture
def store_path(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "suppressions.duckdb"
    monkeypatch.setenv("SUPPRESSION_STORE", str(path))
    monkeypatch.delenv("AIRFLOW_CONN_SUPPRESSION_STORE", raising=False)
    return path


def _xcom(dr, task_id: str):
    ti = next(t for t in dr.get_task_instances() if t.task_id == task_id)
    return ti.xcom_pull(task_ids=task_id)


def test_dag_shape(report_dag):
    assert [a.uri for a in report_dag.timetable.asset_condition.objects] == ["suppression_store://suppressions"]
    assert report_dag.catchup is False and report_dag.max_active_runs == 1 and report_dag.doc_md
    assert set(report_dag.params.keys()) == {"lookback_days", "recent_days", "reports_dir"}
    tasks = report_dag.task_dict
    assert set(tasks) == {"window", "recent_tenants", "write_trends", "summarize"}
    assert tasks["window"].downstream_task_ids == {"recent_tenants", "write_trends"}
    assert tasks["recent_tenants"].downstream_task_ids == {"write_trends"}
    assert tasks["write_trends"].downstream_task_ids == {"summarize"}
    assert all(t.retries == 2 for t in report_dag.tasks)


def test_writes_the_trends_of_recently_active_tenants(report_dag, store_path, tmp_path):
    now = datetime.now(UTC)
    runs = make_history(str(store_path), tmp_path / "exports", now)
    reports = tmp_path / "reports"

    run_after = now + timedelta(minutes=1)
    # logical_date=None, as in an asset-triggered run (ecosystem R9)
    dr = report_dag.test(run_after=run_after, logical_date=None, run_conf={"reports_dir": str(reports)})
    states = {ti.task_id: str(ti.state) for ti in dr.get_task_instances()}
    assert str(dr.state) == "success", states
    assert set(states.values()) == {"success"}

    window = _xcom(dr, "window")
    assert dr.logical_date is None  # the window hangs on run_after
    assert datetime.fromisoformat(window["until"]) == run_after
    assert datetime.fromisoformat(window["until"]) - datetime.fromisoformat(window["since"]) == timedelta(days=30)
    assert _xcom(dr, "recent_tenants") == ["acme", "beta"]  # not "old": its only run is 40 days back
    results = {r["tenant"]: r for r in _xcom(dr, "summarize")}
    assert set(results) == {"acme", "beta"}

    acme = json.loads(Path(results["acme"]["json"]).read_text())
    assert Path(results["acme"]["html"]) == reports / "trends" / "acme" / "report.html"
    assert Path(results["acme"]["html"]).is_file()
    assert {(f["source"], f["day"], f["kind"]) for f in acme["flags"]} == expected_flags(now)
    assert {r["run_id"] for r in acme["runs"]} == set(runs["acme"])
    assert len(results["acme"]["flags"]) == len(acme["flags"]) == 5
    beta = json.loads(Path(results["beta"]["json"]).read_text())
    assert [r["run_id"] for r in beta["runs"]] == runs["beta"] and beta["flags"] == []


def test_no_recent_runs_writes_nothing(report_dag, store_path, tmp_path):
    from pipelines.store import open_store

    open_store(str(store_path)).close()  # an empty store
    dr = report_dag.test(run_after=datetime.now(UTC), run_conf={"reports_dir": str(tmp_path / "reports")})
    assert str(dr.state) == "success"
    assert _xcom(dr, "recent_tenants") == []
    assert not (tmp_path / "reports").exists()
