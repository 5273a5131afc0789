"""suppression_migration end to end with `dag.test()`, plus its plain functions in
pipelines.airflow.migration and the task settings in pipelines.airflow.resources."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pipelines.airflow import migration, resources
from pipelines.airflow.resources import StoreUnavailable, store_url_from_connection, task_settings
from pipelines.errors import DataRefused, UsageError, UserError

from .conftest import DAGS_FOLDER, SAMPLES

DAG_ID = "suppression_migration"
TENANT = "acme"
ORDERS_CSV = "order_id,sku,quantity,price\n1001,SKU-1,2,9.99\n1002,SKU-7,1,24.50\n"  # no known export

# Fixed inputs, one folder per platform, and what they hold, counted by hand: 11 rows, of which
# `not-an-email` is rejected (1 of 11: 9.1%, under the default limit of 10%); bob bounced on two
# platforms, so the 10 accepted rows are 9 suppressions.
EXPORTS = {
    "generic/bounced.csv": (
        'Email\nbob@example.com\n"Jane Doe" <Jane.Doe@Example.COM>\nnot-an-email\ncarl@example.org\n'
        "dave@example.net\nerin@example.com\n"
    ),
    "sendgrid/bounces.csv": (
        "email,created,status,reason\n"
        'gone@example.com,1700000000,5.1.1,"550 5.1.1 The email account does not exist."\n'
        'BOB@example.com,1700003600,5.1.1,"550 5.1.1 User unknown"\n'
    ),
    "postmark/suppressions.json": json.dumps({"Suppressions": [
        {"EmailAddress": "bounced@example.com", "SuppressionReason": "HardBounce", "Origin": "Recipient",
         "CreatedAt": "2024-03-01T09:15:00-05:00"},
        {"EmailAddress": "Unsub@Example.org", "SuppressionReason": "ManualSuppression", "Origin": "Recipient",
         "CreatedAt": "2024-03-02T11:00:00-05:00"},
        {"EmailAddress": "complainer@example.net", "SuppressionReason": "SpamComplaint", "Origin": "Recipient",
         "CreatedAt": "2024-03-03T14:20:00-05:00"},
    ]}),
}
EXPECTED_FILES = {  # name: (platform, kind, rows read, rows rejected)
    "bounced.csv": ("generic", "plain_list", 6, 1),
    "bounces.csv": ("sendgrid", "bounces", 2, 0),
    "suppressions.json": ("postmark", "suppressions", 3, 0),
}
EXPECTED_COUNTS = {"rows_read": 11, "rows_accepted": 10, "rows_rejected": 1, "suppressions_in_run": 9,
                   "duplicates_collapsed": 1, "suppressions_added": 9, "rejects_by_error": {"missing_at": 1}}
EXPECTED_SUPPRESSIONS = {  # (address, reason, scope)
    ("bob@example.com", "hard_bounce", "all"),
    ("jane.doe@example.com", "hard_bounce", "all"),
    ("carl@example.org", "hard_bounce", "all"),
    ("dave@example.net", "hard_bounce", "all"),
    ("erin@example.com", "hard_bounce", "all"),
    ("gone@example.com", "hard_bounce", "all"),
    ("bounced@example.com", "hard_bounce", "all"),
    ("unsub@example.org", "unsubscribe", "marketing"),
    ("complainer@example.net", "spam_complaint", "all"),
}


# ---------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def migration_dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    assert bag.import_errors == {}
    return bag.get_dag(DAG_ID)


@pytest.fixture
def exports(tmp_path) -> Path:
    """EXPORTS written under one folder, a subfolder per platform."""
    root = tmp_path / "exports"
    for name, text in EXPORTS.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.fixture
def unknown_format(tmp_path) -> Path:
    path = tmp_path / "orders_not_an_export.csv"
    path.write_text(ORDERS_CSV)
    return path


@pytest.fixture
def store_path(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "suppressions.duckdb"
    monkeypatch.setenv("SUPPRESSION_STORE", str(path))
    monkeypatch.delenv("AIRFLOW_CONN_SUPPRESSION_STORE", raising=False)
    return path


def _states(dr) -> dict[str, list[str]]:
    states: dict[str, list[str]] = {}
    for ti in dr.get_task_instances():
        states.setdefault(ti.task_id, []).append(str(ti.state))
    return states


def _xcom(dr, task_id: str):
    ti = next(t for t in dr.get_task_instances() if t.task_id == task_id)
    return ti.xcom_pull(task_ids=task_id)


def _asset_events(dr) -> list[dict]:
    """The `extra` of the asset events this run's `load` emitted (read from the test's metadata DB)."""
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(
            select(AssetEvent).where(AssetEvent.source_run_id == dr.run_id, AssetEvent.source_task_id == "load")
        ).all()
        return [dict(e.extra) for e in rows]


def _export_keys(path: Path) -> set[tuple]:
    from pipelines.store import open_store

    with open_store(str(path)) as st:
        return {(r["address"], r["reason"], r["scope"]) for r in st.export(TENANT).iter_rows(named=True)}


# ---------------------------------------------------------------------------------------------
# End to end


@pytest.mark.slow
def test_loads_a_folder_of_exports_and_a_second_run_is_skipped(migration_dag, exports, store_path):
    from pipelines.store import open_store

    conf = {"tenant": TENANT, "paths": str(exports)}  # one folder: read recursively
    dr = migration_dag.test(run_conf=conf)

    states = _states(dr)
    assert str(dr.state) == "success", states
    assert set(states) == {"resolve_inputs", "inspect_files", "load", "watch_pool", "verdict"}
    assert all(s == "success" for ss in states.values() for s in ss), states
    assert len(states["inspect_files"]) == 1  # one task inspects every file

    inspected = {Path(i["path"]).name: (i["platform"], i["kind"]) for i in _xcom(dr, "inspect_files")}
    assert inspected == {name: found[:2] for name, found in EXPECTED_FILES.items()}

    summary = _xcom(dr, "load")
    assert summary["status"] == "succeeded" and summary["tenant"] == TENANT
    assert {k: summary[k] for k in EXPECTED_COUNTS} == EXPECTED_COUNTS
    assert summary["files"] == len(EXPECTED_FILES)  # a count: names and rows stay in the report
    assert summary["report"].endswith("report.html")
    assert "not-an-email" not in json.dumps(summary) and "@" not in json.dumps(summary)  # no value, no address
    [event] = _asset_events(dr)
    assert event == {"tenants": [TENANT], "runs": [summary["run_id"]],
                     "suppressions_added": EXPECTED_COUNTS["suppressions_added"], "suppressions_updated": 0}

    assert _export_keys(store_path) == EXPECTED_SUPPRESSIONS
    with open_store(str(store_path)) as st:
        runs = st.runs(TENANT)
    assert [(r["run_id"], r["status"]) for r in runs] == [(summary["run_id"], "succeeded")]

    # Same conf again: the load reports `skipped` and the store does not change.
    dr2 = migration_dag.test(run_conf=conf)
    states2 = _states(dr2)
    assert str(dr2.state) == "success", states2
    assert all(s == "success" for ss in states2.values() for s in ss), states2
    again = _xcom(dr2, "load")
    assert again["status"] == "skipped"
    assert again["skipped_because"] == summary["run_id"]
    assert again["suppressions_added"] == 0
    assert _asset_events(dr2) == []  # nothing changed: no event, so no report run
    assert _export_keys(store_path) == EXPECTED_SUPPRESSIONS
    with open_store(str(store_path)) as st:
        assert sorted(r["status"] for r in st.runs(TENANT)) == ["skipped", "succeeded"]


def test_directory_uri_and_dry_run(migration_dag, store_path, tmp_path):
    """`paths` as a single file:// glob URI; a dry run counts but loads nothing."""
    exports = tmp_path / "exports"
    exports.mkdir()
    shutil.copy(SAMPLES / "generic" / "no_header_crlf.txt", exports / "bounces.csv")
    (exports / "notes.txt").write_text("not matched by the glob\n")
    conf = {"tenant": TENANT, "paths": [exports.as_uri() + "/*.csv"], "dry_run": True}

    dr = migration_dag.test(run_conf=conf)
    assert str(dr.state) == "success", _states(dr)
    assert _xcom(dr, "inspect_files") == [
        {"path": str((exports / "bounces.csv").resolve()), "platform": "generic", "kind": "plain_list", "inputs": 1}]
    summary = _xcom(dr, "load")
    assert summary["status"] == "succeeded" and summary["dry_run"] is True
    assert summary["suppressions_added"] > 0 and summary["files"] == 1
    assert _asset_events(dr) == []  # a dry run changes nothing: no event
    assert _export_keys(store_path) == set()


def test_paths_as_one_uri_string(migration_dag, store_path, tmp_path):
    """SPEC 4.2: `paths` is a list of files or a URI; a plain string is taken as the URI."""
    from airflow.sdk.exceptions import ParamValidationError

    exports = tmp_path / "exports"
    exports.mkdir()
    shutil.copy(SAMPLES / "generic" / "no_header_crlf.txt", exports / "bounces.csv")
    # explicit dry_run: dag.test() keeps the params of the DAG object's previous run conf
    dr = migration_dag.test(run_conf={"tenant": TENANT, "paths": exports.as_uri() + "/*.csv", "dry_run": False})
    assert str(dr.state) == "success", _states(dr)
    summary = _xcom(dr, "load")
    assert summary["status"] == "succeeded" and summary["suppressions_added"] > 0
    assert [i["path"] for i in _xcom(dr, "inspect_files")] == [str((exports / "bounces.csv").resolve())]
    assert "alice@example.com" in {k[0] for k in _export_keys(store_path)}
    for empty in ("", []):
        with pytest.raises(ParamValidationError):
            migration_dag.test(run_conf={"tenant": TENANT, "paths": empty})


def test_unknown_format_fails_early_without_retry_and_loads_nothing(migration_dag, exports, store_path,
                                                                    unknown_format):
    conf = {"tenant": TENANT, "paths": [str(exports / "generic" / "bounced.csv"), str(unknown_format)]}
    dr = migration_dag.test(run_conf=conf)

    assert str(dr.state) == "failed"
    tis = {ti.task_id: ti for ti in dr.get_task_instances()}
    assert str(tis["inspect_files"].state) == "failed"
    assert tis["inspect_files"].try_number == 1  # refused input is not retried
    assert str(tis["load"].state) in ("upstream_failed", "skipped")  # never started
    assert str(tis["verdict"].state) == "failed"  # what fails the run
    assert _export_keys(store_path) == set()


def test_missing_input_fails_in_resolve_inputs(migration_dag, store_path, tmp_path):
    dr = migration_dag.test(run_conf={"tenant": TENANT, "paths": [str(tmp_path / "nope" / "*.csv")]})
    assert str(dr.state) == "failed"
    tis = {ti.task_id: ti for ti in dr.get_task_instances()}
    assert str(tis["resolve_inputs"].state) == "failed"
    assert tis["resolve_inputs"].try_number == 1


def test_params_are_validated(migration_dag, store_path):
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError):
        migration_dag.test(run_conf={"tenant": TENANT, "paths": ["x.csv"], "max_reject_rate": 1.5})
    with pytest.raises(ParamValidationError):
        migration_dag.test(run_conf={"tenant": "", "paths": ["x.csv"]})


# ---------------------------------------------------------------------------------------------
# pipelines.airflow.migration and the task settings, without a scheduler


def test_resolve_inputs_is_the_one_resolver_with_patterns_and_absolute_paths(exports, monkeypatch):
    monkeypatch.chdir(exports)
    found = migration.resolve_inputs({"tenant": TENANT, "paths": ["generic/*.csv", "sendgrid"]})
    assert found == [str(exports / "generic" / "bounced.csv"), str(exports / "sendgrid" / "bounces.csv")]
    assert migration.resolve_inputs({"tenant": TENANT, "paths": exports.as_uri()}) == [
        str(exports / name) for name in sorted(EXPORTS)]
    with pytest.raises(UsageError, match="not a known region"):
        migration.resolve_inputs({"tenant": TENANT, "paths": "generic", "default_region": "XX"})


def test_inspect_file_detects_and_refuses(unknown_format):
    found = migration.inspect_file(str(SAMPLES / "generic" / "bounced_addresses.csv"))
    assert found["platform"] == "generic"
    assert found["kind"] and found["why"]
    assert found["inputs"] and found["inputs"][0]["platform"] == "generic"
    json.dumps(found)  # goes through XCom
    with pytest.raises(DataRefused, match="orders_not_an_export.csv"):
        migration.inspect_file(str(unknown_format))


def test_build_request_checks_params():
    req = migration.build_request({"tenant": " acme ", "max_reject_rate": 0.2, "default_region": None}, ["f.csv"])
    assert (req.tenant, req.platform, req.max_reject_rate, req.dry_run, req.paths) == ("acme", "auto", 0.2, False, ["f.csv"])
    with pytest.raises(UsageError):
        migration.build_request({"tenant": "acme", "default_region": "XX"}, ["f.csv"])
    with pytest.raises(UserError):
        migration.build_request({"tenant": "acme", "platform": "no-such-platform"}, ["f.csv"])


def test_store_from_env_without_a_connection_and_never_the_default_file(monkeypatch, tmp_path, caplog):
    import logging

    monkeypatch.delenv("AIRFLOW_CONN_SUPPRESSION_STORE", raising=False)
    monkeypatch.setenv("SUPPRESSION_STORE", str(tmp_path / "s.duckdb"))
    with caplog.at_level(logging.INFO, logger="pipelines.airflow.resources"):
        assert task_settings().store == str(tmp_path / "s.duckdb")
    assert f"store: {tmp_path / 's.duckdb'} (from $SUPPRESSION_STORE)" in caplog.text
    monkeypatch.delenv("SUPPRESSION_STORE")
    with pytest.raises(StoreUnavailable, match="never fall back to ./suppressions.duckdb") as caught:
        task_settings()
    assert caught.value.retryable
    assert task_settings(need_store=False).store is None  # a pull never needs one


def test_a_failing_connection_lookup_never_means_the_default_store(monkeypatch, tmp_path):
    """Airflow turns a secrets backend error into "not found": with no $SUPPRESSION_STORE either,
    the task fails (and is retried) instead of writing ./suppressions.duckdb on the worker."""
    from airflow.sdk import Connection

    def backend_down(conn_id):
        raise RuntimeError("secrets backend timed out")

    monkeypatch.setenv("AIRFLOW_CONN_SUPPRESSION_STORE", "duckdb:///" + str(tmp_path / "conn.duckdb"))
    monkeypatch.setattr(Connection, "get", staticmethod(backend_down))
    monkeypatch.delenv("SUPPRESSION_STORE", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StoreUnavailable) as caught:
        task_settings()
    assert caught.value.retryable and not (tmp_path / "suppressions.duckdb").exists()


def test_store_from_env_when_airflow_is_missing(monkeypatch, tmp_path):
    import builtins

    real_import = builtins.__import__

    def no_airflow(name, *args, **kwargs):
        if name == "airflow" or name.startswith("airflow."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_airflow)
    monkeypatch.setenv("SUPPRESSION_STORE", str(tmp_path / "s.duckdb"))
    assert task_settings().store == str(tmp_path / "s.duckdb")
    monkeypatch.delenv("SUPPRESSION_STORE")
    with pytest.raises(StoreUnavailable):
        task_settings()


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql://u:s3cret@db:5432/supp?sslmode=require", "postgresql://***@db:5432/supp?sslmode=require"),
    ("postgresql://u@db/supp?password=s3cret&sslmode=require", "postgresql://***@db/supp?password=***&sslmode=require"),
    ("postgresql://db/supp?sslmode=require&PassWord=s3cret", "postgresql://db/supp?sslmode=require&PassWord=***"),
    ("postgresql://u:s3cret@db/supp?sslpassword=s3cret", "postgresql://***@db/supp?sslpassword=***"),
    ("postgresql://u:a#b?c/d e@f%zz@db/supp", "postgresql://***@db/supp"),
    ("/data/suppressions.duckdb", "/data/suppressions.duckdb"),
])
def test_the_store_is_logged_without_any_password(url, shown, monkeypatch, caplog):
    import logging

    monkeypatch.delenv("AIRFLOW_CONN_SUPPRESSION_STORE", raising=False)
    monkeypatch.setenv("SUPPRESSION_STORE", url)
    with caplog.at_level(logging.INFO, logger="pipelines.airflow.resources"):
        settings = task_settings()
    assert f"store: {shown} (from $SUPPRESSION_STORE)" in caplog.text
    assert resources.store_reference(settings) == {"store": shown, "origin": "$SUPPRESSION_STORE"}


def test_store_from_connection_wins_over_env(monkeypatch, tmp_path):
    monkeypatch.setenv("SUPPRESSION_STORE", str(tmp_path / "env.duckdb"))
    monkeypatch.setenv("AIRFLOW_CONN_SUPPRESSION_STORE", "duckdb:///" + str(tmp_path / "conn.duckdb"))
    assert task_settings().store == str(tmp_path / "conn.duckdb")


def test_store_url_from_connection_shapes():
    from airflow.sdk import Connection

    def conn(uri: str):
        return Connection.from_uri(uri, conn_id="suppression_store")

    assert store_url_from_connection(conn("duckdb:////data/s.duckdb")) == "/data/s.duckdb"
    assert store_url_from_connection(conn("duckdb:///s.duckdb")) == "s.duckdb"
    assert (
        store_url_from_connection(conn("postgresql://u:p@db:5432/supp?sslmode=require"))
        == "postgresql://u:p@db:5432/supp?sslmode=require"
    )
    assert store_url_from_connection(
        Connection(conn_id="suppression_store", conn_type="generic", extra=json.dumps({"path": "/x/s.duckdb"}))
    ) == "/x/s.duckdb"
    with pytest.raises(UsageError, match="has type"):
        store_url_from_connection(conn("mysql://u:p@db/x"))
    with pytest.raises(UsageError, match="names no store file"):
        store_url_from_connection(Connection(conn_id="suppression_store", conn_type="duckdb"))


def test_summary_text_reads_like_a_sentence():
    from pipelines.summary import summary_text

    text = summary_text(
        {"run_id": "r1", "tenant": "acme", "status": "succeeded", "rows_read": 10, "rows_accepted": 9,
         "rows_rejected": 1, "reject_rate": 0.1, "suppressions_added": 8, "suppressions_updated": 0,
         "rejects_by_error": {"invalid_email": 1},
         "files": [{"path": "a.csv", "platform": "generic", "kind": "plain_list", "rows_read": 10, "rows_rejected": 1}]}
    )
    assert "run r1 for tenant acme: succeeded" in text
    assert "rejected 1 (10.0%)" in text and "invalid_email 1" in text and "a.csv: generic plain_list" in text
    skipped = summary_text({"run_id": "r2", "tenant": "acme", "status": "skipped", "message": "already loaded"})
    assert "skipped" in skipped and "already loaded" in skipped
