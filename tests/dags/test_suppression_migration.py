"""suppression_migration end to end with `dag.test()`, plus the plain helpers in pipelines.airflow_tasks."""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest

from pipelines import airflow_tasks
from pipelines.errors import DataRefused, UsageError, UserError

from .conftest import DAGS_FOLDER, SAMPLES

DAG_ID = "suppression_migration"
TENANT = "acme"
EXPORT_KEY = ("tenant", "channel", "address", "reason", "scope", "source_platform")
ORDERS_CSV = "order_id,sku,quantity,price\n1001,SKU-1,2,9.99\n1002,SKU-7,1,24.50\n"  # no known export


# ---------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def migration_dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    assert bag.import_errors == {}
    return bag.get_dag(DAG_ID)


@pytest.fixture(scope="module")
def sample_files() -> list[str]:
    """Sample exports the DAG should load: data/samples/generic first, then other platform folders.

    A file joins only if the library detects it with no extra flags (e.g. not a contact export that
    needs --reason) and the set's reject rate stays under the default limit of 10%; the per-file
    counts come from a dry run of the library itself.
    """
    from pipelines.ingest import IngestRequest, ingest

    folders = [SAMPLES / "generic"] + sorted(
        p for p in SAMPLES.iterdir() if p.is_dir() and p.name not in ("generic", "refused")
    )
    candidates = []
    for folder in folders:
        for f in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix != ".md"):
            try:
                airflow_tasks.inspect_file(str(f))
            except UserError:
                continue
            candidates.append(str(f))
    assert candidates, "no loadable sample files under data/samples"
    def dry_run(paths: list[str]) -> list[dict]:
        with tempfile.TemporaryDirectory() as tmp:
            req = IngestRequest(TENANT, paths, max_reject_rate=1.0, dry_run=True)
            return ingest(req, str(Path(tmp) / "probe.duckdb"))["files"]

    try:
        files = dry_run(candidates)
    except UserError:  # one file spoils the set (e.g. fails validation): count file by file, keep the good ones
        files = []
        for path in candidates:
            try:
                files += dry_run([path])
            except UserError:
                pass
    with_counts = {f["path"]: (f["rows_read"], f["rows_rejected"]) for f in files}
    # Cleanest files first, so a file with a few rejects still fits in beside them.
    ranked = sorted(
        (p for p in candidates if with_counts.get(p, (0, 0))[0]),
        key=lambda p: with_counts[p][1] / with_counts[p][0],
    )
    chosen, read, rejected = [], 0, 0
    for path in ranked:
        r, j = with_counts[path]
        if (rejected + j) / (read + r) < 0.10:
            chosen.append(path)
            read, rejected = read + r, rejected + j
    assert any("/generic/" in p for p in chosen), f"no generic sample loadable under 10% rejects: {with_counts}"
    return [p for p in candidates if p in chosen]  # generic first, then by folder


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
        return {tuple(r[k] for k in EXPORT_KEY) for r in st.export(TENANT).iter_rows(named=True)}


# ---------------------------------------------------------------------------------------------
# End to end


@pytest.mark.slow
def test_loads_samples_and_second_run_is_skipped(migration_dag, sample_files, store_path, tmp_path):
    from pipelines.ingest import IngestRequest, ingest
    from pipelines.store import open_store

    conf = {"tenant": TENANT, "paths": sample_files}
    dr = migration_dag.test(run_conf=conf)

    states = _states(dr)
    assert str(dr.state) == "success", states
    assert set(states) == {"resolve_inputs", "inspect_file", "load", "summarize"}
    assert all(s == "success" for ss in states.values() for s in ss), states
    assert len(states["inspect_file"]) == len(sample_files)  # one mapped instance per file

    inspected = list(_xcom(dr, "inspect_file"))
    assert sorted(i["path"] for i in inspected) == sorted(str(Path(p).resolve()) for p in sample_files)
    assert all(i["platform"] and i["kind"] and i["why"] for i in inspected)

    summary = _xcom(dr, "load")
    assert summary["status"] == "succeeded"
    assert summary["tenant"] == TENANT
    assert summary["rows_accepted"] + summary["rows_rejected"] == summary["rows_read"] > 0
    assert summary["rows_rejected"] / summary["rows_read"] < 0.10
    assert summary["suppressions_added"] > 0
    assert _xcom(dr, "summarize") == summary
    [event] = _asset_events(dr)
    assert event["run_id"] == summary["run_id"] and event["status"] == "succeeded" and event["tenant"] == TENANT

    # The store holds exactly what the library itself loads from the same files.
    oracle = tmp_path / "oracle.duckdb"
    ingest(IngestRequest(TENANT, [str(Path(p).resolve()) for p in sample_files]), str(oracle))
    loaded = _export_keys(store_path)
    assert loaded == _export_keys(oracle)
    assert len(loaded) == summary["suppressions_added"]
    addresses = {k[2] for k in loaded}
    known = {"bounced_addresses.csv": {"bob@example.com", "carl@example.org"}, "no_header_crlf.txt": {"alice@example.com"}}
    for path in sample_files:
        assert known.get(Path(path).name, set()) <= addresses, path
    assert any(Path(p).name in known for p in sample_files)
    with open_store(str(store_path)) as st:
        runs = st.runs(TENANT)
    assert [r["status"] for r in runs] == ["succeeded"]
    assert runs[0]["run_id"] == summary["run_id"]

    # Same conf again: the load reports `skipped` and the store does not change.
    dr2 = migration_dag.test(run_conf=conf)
    states2 = _states(dr2)
    assert str(dr2.state) == "success", states2
    assert all(s == "success" for ss in states2.values() for s in ss), states2
    again = _xcom(dr2, "load")
    assert again["status"] == "skipped"
    assert again["skipped_because"] == summary["run_id"]
    assert again["suppressions_added"] == 0
    assert [e["status"] for e in _asset_events(dr2)] == ["skipped"]  # consumers can tell a no-op apart
    assert _export_keys(store_path) == loaded
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
    assert _states(dr)["inspect_file"] == ["success"]
    summary = _xcom(dr, "load")
    assert summary["status"] == "succeeded" and summary["dry_run"] is True
    assert summary["suppressions_added"] > 0
    assert [f["path"] for f in summary["files"]] == [str((exports / "bounces.csv").resolve())]
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
    assert [f["path"] for f in summary["files"]] == [str((exports / "bounces.csv").resolve())]
    assert "alice@example.com" in {k[2] for k in _export_keys(store_path)}
    for empty in ("", []):
        with pytest.raises(ParamValidationError):
            migration_dag.test(run_conf={"tenant": TENANT, "paths": empty})


def test_unknown_format_fails_early_without_retry_and_loads_nothing(migration_dag, sample_files, store_path,
                                                                    unknown_format):
    conf = {"tenant": TENANT, "paths": [sample_files[0], str(unknown_format)]}
    dr = migration_dag.test(run_conf=conf)

    assert str(dr.state) == "failed"
    tis = {(ti.task_id, ti.map_index): ti for ti in dr.get_task_instances()}
    inspect_states = {ti.state for (task, _), ti in tis.items() if task == "inspect_file"}
    assert "failed" in {str(s) for s in inspect_states}
    failed = [ti for (task, _), ti in tis.items() if task == "inspect_file" and str(ti.state) == "failed"]
    assert len(failed) == 1 and failed[0].try_number == 1  # refused input is not retried
    assert str(tis[("load", -1)].state) == "upstream_failed"
    assert str(tis[("summarize", -1)].state) == "upstream_failed"
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
# pipelines.airflow_tasks, without Airflow


@pytest.fixture
def export_dir(tmp_path) -> Path:
    d = tmp_path / "data exports"  # a space, to exercise URI quoting
    d.mkdir()
    for name in ("b.csv", "a.csv", "c.txt", ".DS_Store"):
        (d / name).write_text("email\nx@example.com\n")
    (d / "sub").mkdir()
    (d / "sub" / "d.csv").write_text("email\ny@example.com\n")
    return d


def test_resolve_plain_files_and_dedupe(export_dir):
    a, b = str(export_dir / "a.csv"), str(export_dir / "b.csv")
    assert airflow_tasks.resolve_paths([b, a, b]) == [b, a]
    assert airflow_tasks.resolve_paths(a) == [a]


def test_resolve_file_uri_glob(export_dir):
    uri = export_dir.as_uri() + "/*.csv"
    assert "%20" in uri
    assert airflow_tasks.resolve_paths([uri]) == [str(export_dir / "a.csv"), str(export_dir / "b.csv")]
    assert airflow_tasks.resolve_paths([export_dir.as_uri() + "/**/*.csv"]) == [
        str(export_dir / "a.csv"), str(export_dir / "b.csv"), str(export_dir / "sub" / "d.csv")
    ]
    assert airflow_tasks.resolve_paths(["file://localhost" + str(export_dir / "c.txt")]) == [str(export_dir / "c.txt")]


def test_resolve_directory_skips_hidden_and_subfolders(export_dir):
    expected = [str(export_dir / n) for n in ("a.csv", "b.csv", "c.txt")]
    assert airflow_tasks.resolve_paths([str(export_dir)]) == expected
    assert airflow_tasks.resolve_paths([export_dir.as_uri()]) == expected


def test_resolve_refuses_nothing_and_foreign_schemes(tmp_path):
    with pytest.raises(UsageError):
        airflow_tasks.resolve_paths([])
    with pytest.raises(UsageError):
        airflow_tasks.resolve_paths(["  "])
    with pytest.raises(UserError, match="matches no files"):
        airflow_tasks.resolve_paths([str(tmp_path / "*.csv")])
    with pytest.raises(UserError, match="no such file"):
        airflow_tasks.resolve_paths([str(tmp_path / "missing.csv")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="holds no files"):
        airflow_tasks.resolve_paths([str(tmp_path / "empty")])
    with pytest.raises(UserError, match="unsupported URI scheme"):
        airflow_tasks.resolve_paths(["s3://bucket/exports/*.csv"])
    with pytest.raises(UserError, match="local path"):
        airflow_tasks.resolve_paths(["file://otherhost/data/x.csv"])


def test_inspect_file_detects_and_refuses(unknown_format):
    found = airflow_tasks.inspect_file(str(SAMPLES / "generic" / "bounced_addresses.csv"))
    assert found["platform"] == "generic"
    assert found["kind"] and found["why"]
    assert found["inputs"] and found["inputs"][0]["platform"] == "generic"
    json.dumps(found)  # goes through XCom
    with pytest.raises(DataRefused, match="orders_not_an_export.csv"):
        airflow_tasks.inspect_file(str(unknown_format))


def test_build_request_checks_params():
    req = airflow_tasks.build_request({"tenant": " acme ", "max_reject_rate": 0.2, "default_region": None}, ["f.csv"])
    assert (req.tenant, req.platform, req.max_reject_rate, req.dry_run, req.paths) == ("acme", "auto", 0.2, False, ["f.csv"])
    with pytest.raises(UsageError):
        airflow_tasks.build_request({"tenant": "acme", "default_region": "XX"}, ["f.csv"])
    with pytest.raises(UserError):
        airflow_tasks.build_request({"tenant": "acme", "platform": "no-such-platform"}, ["f.csv"])


def test_store_from_env_without_a_connection_and_never_the_default_file(monkeypatch, tmp_path, caplog):
    import logging

    monkeypatch.delenv("AIRFLOW_CONN_SUPPRESSION_STORE", raising=False)
    monkeypatch.setenv("SUPPRESSION_STORE", str(tmp_path / "s.duckdb"))
    with caplog.at_level(logging.INFO, logger="pipelines.airflow_tasks"):
        assert airflow_tasks.store_url_for_airflow() == str(tmp_path / "s.duckdb")
    assert f"store: {tmp_path / 's.duckdb'} (from $SUPPRESSION_STORE)" in caplog.text
    monkeypatch.delenv("SUPPRESSION_STORE")
    with pytest.raises(airflow_tasks.StoreUnavailable, match="never fall back to ./suppressions.duckdb") as caught:
        airflow_tasks.store_url_for_airflow()
    assert caught.value.retryable


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
    with pytest.raises(airflow_tasks.StoreUnavailable) as caught:
        airflow_tasks.store_url_for_airflow()
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
    assert airflow_tasks.store_url_for_airflow() == str(tmp_path / "s.duckdb")
    monkeypatch.delenv("SUPPRESSION_STORE")
    with pytest.raises(airflow_tasks.StoreUnavailable):
        airflow_tasks.store_url_for_airflow()


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql://u:s3cret@db:5432/supp?sslmode=require", "postgresql://***@db:5432/supp?sslmode=require"),
    ("postgresql://u@db/supp?password=s3cret&sslmode=require", "postgresql://***@db/supp?password=***&sslmode=require"),
    ("postgresql://db/supp?sslmode=require&PassWord=s3cret", "postgresql://db/supp?sslmode=require&PassWord=***"),
    ("postgresql://u:s3cret@db/supp?sslpassword=s3cret", "postgresql://***@db/supp?sslpassword=***"),
    ("postgresql://u:a#b?c/d e@f%zz@db/supp", "postgresql://***@db/supp"),
    ("/data/suppressions.duckdb", "/data/suppressions.duckdb"),
])
def test_describe_store_hides_every_password(url, shown):
    from pipelines.redact import redact

    assert airflow_tasks.describe_store(url) == redact(url) == shown


def test_store_from_connection_wins_over_env(monkeypatch, tmp_path):
    monkeypatch.setenv("SUPPRESSION_STORE", str(tmp_path / "env.duckdb"))
    monkeypatch.setenv("AIRFLOW_CONN_SUPPRESSION_STORE", "duckdb:///" + str(tmp_path / "conn.duckdb"))
    assert airflow_tasks.store_url_for_airflow() == str(tmp_path / "conn.duckdb")


def test_store_url_from_connection_shapes():
    from airflow.sdk import Connection

    def conn(uri: str):
        return Connection.from_uri(uri, conn_id="suppression_store")

    assert airflow_tasks.store_url_from_connection(conn("duckdb:////data/s.duckdb")) == "/data/s.duckdb"
    assert airflow_tasks.store_url_from_connection(conn("duckdb:///s.duckdb")) == "s.duckdb"
    assert (
        airflow_tasks.store_url_from_connection(conn("postgresql://u:p@db:5432/supp?sslmode=require"))
        == "postgresql://u:p@db:5432/supp?sslmode=require"
    )
    assert airflow_tasks.store_url_from_connection(
        Connection(conn_id="suppression_store", conn_type="generic", extra=json.dumps({"path": "/x/s.duckdb"}))
    ) == "/x/s.duckdb"
    with pytest.raises(UsageError, match="has type"):
        airflow_tasks.store_url_from_connection(conn("mysql://u:p@db/x"))
    with pytest.raises(UsageError, match="names no store file"):
        airflow_tasks.store_url_from_connection(Connection(conn_id="suppression_store", conn_type="duckdb"))


def test_summary_text_reads_like_a_sentence():
    text = airflow_tasks.summary_text(
        {"run_id": "r1", "tenant": "acme", "status": "succeeded", "rows_read": 10, "rows_accepted": 9,
         "rows_rejected": 1, "reject_rate": 0.1, "suppressions_added": 8, "suppressions_updated": 0,
         "rejects_by_error": {"invalid_email": 1},
         "files": [{"path": "a.csv", "platform": "generic", "kind": "plain_list", "rows_read": 10, "rows_rejected": 1}]}
    )
    assert "run r1 for tenant acme: succeeded" in text
    assert "rejected 1 (10.0%)" in text and "invalid_email 1" in text and "a.csv: generic plain_list" in text
    skipped = airflow_tasks.summary_text({"run_id": "r2", "tenant": "acme", "status": "skipped", "message": "already loaded"})
    assert "skipped" in skipped and "already loaded" in skipped
