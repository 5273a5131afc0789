"""Exports pulled from object storage: `suppress ingest s3://bucket/prefix/` against a real
S3-compatible server on 127.0.0.1 (moto's server mode), read exactly like the same local files.

Airflow is never imported in this process (the DAG tests' conftest must be first to import it): the
ObjectStoragePath branch runs in a subprocess of its own.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import os
import secrets
import subprocess
import sys
import textwrap
from dataclasses import dataclass

import pytest

from tests.conftest import ROOT, SAMPLES, run_cli

EXPORTS = {  # key under the drop prefix -> the local sample
    "bounced_addresses.csv": SAMPLES / "generic" / "bounced_addresses.csv",
    "2026/11/no_header_crlf.txt": SAMPLES / "generic" / "no_header_crlf.txt",
    "2026/11/spam_reports.csv.gz": SAMPLES / "sendgrid" / "spam_reports.csv.gz",
    "members_export.zip": SAMPLES / "mailchimp" / "members_export_3f9a1c2b7d.zip",
}
JUNK = {".DS_Store": b"\x00\x01", "__MACOSX/._bounced_addresses.csv": b"\x00\x05junk", ".tmp/partial.csv": b"email\n"}
AWS_VARIABLES = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL_S3",
                 "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                 "AWS_CONTAINER_CREDENTIALS_FULL_URI", "SUPPRESSION_STORAGE_OPTIONS", "SUPPRESSION_STORAGE_CONN_ID",
                 "SUPPRESSION_MAX_DOWNLOAD_BYTES")


@pytest.fixture(scope="module")
def s3_endpoint():
    """A real S3-compatible server (moto) on a free port of 127.0.0.1, for this module."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no request log lines in the test output
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@dataclass
class Bucket:
    name: str
    endpoint: str
    fs: object

    def uri(self, key: str = "") -> str:
        return f"s3://{self.name}/{key}"


@pytest.fixture
def bucket(s3_endpoint, monkeypatch, tmp_path):
    """A fresh bucket holding the exports (and junk) under `drop/`; the standard AWS variables point
    at the local server with made-up keys, as a user's shell would for an S3-compatible store."""
    import s3fs

    for name in AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never ask 169.254.169.254 for a role
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    fs = s3fs.S3FileSystem(key="testing", secret="testing", endpoint_url=s3_endpoint, skip_instance_cache=True)
    name = f"drop-{secrets.token_hex(4)}"
    fs.mkdir(name)
    for key, local in EXPORTS.items():
        fs.put_file(str(local), f"{name}/drop/{key}")
    fs.pipe({f"{name}/drop/{key}": data for key, data in JUNK.items()})
    return Bucket(name, s3_endpoint, fs)


def ingest(store, *paths, extra=()):
    return run_cli("ingest", "--tenant", "acme", "--json", "--max-reject-rate", "0.2", *extra, "--store", str(store),
                   *map(str, paths))


def exported(store) -> list[dict]:
    result = run_cli("export", "--tenant", "acme", "--store", str(store))
    assert result.code == 0, result.stderr
    return sorted(csv.DictReader(io.StringIO(result.stdout)), key=lambda r: (r["channel"], r["address"], r["reason"]))


def comparable(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if not k.endswith(("_at", "run_id"))} for r in rows]


def test_a_prefix_loads_what_the_same_local_files_load(bucket, tmp_path):
    remote = ingest(tmp_path / "remote.duckdb", bucket.uri("drop/"))
    assert remote.code == 0, remote.stderr
    local = ingest(tmp_path / "local.duckdb", *EXPORTS.values())
    assert local.code == 0, local.stderr
    r, lo = remote.json(), local.json()
    assert r["status"] == lo["status"] == "succeeded"
    assert r["input_hash"] == lo["input_hash"]  # by content: where the bytes came from does not matter
    for key in ("rows_read", "rows_accepted", "rows_rejected", "suppressions_added", "rejects_by_error"):
        assert r[key] == lo[key], key
    assert comparable(exported(tmp_path / "remote.duckdb")) == comparable(exported(tmp_path / "local.duckdb"))
    # Named by URI (sorted, recursive, archive members after `!`), junk and hidden objects skipped.
    assert [f["path"] for f in r["files"]] == [
        bucket.uri("drop/2026/11/no_header_crlf.txt"),
        bucket.uri("drop/2026/11/spam_reports.csv.gz"),
        bucket.uri("drop/bounced_addresses.csv"),
        *(bucket.uri("drop/members_export.zip") + "!" + f["path"].split("!")[1] for f in lo["files"][3:]),
    ]
    # The same objects again: the same input, skipped.
    again = ingest(tmp_path / "remote.duckdb", bucket.uri("drop"))
    assert again.code == 0 and again.json()["status"] == "skipped", again.stderr


def test_a_single_object_and_a_path_typed_uri(bucket, tmp_path):
    from pathlib import Path

    from pipelines.readers import resolve_paths

    result = ingest(tmp_path / "s.duckdb", bucket.uri("drop/2026/11/no_header_crlf.txt"))
    assert result.code == 0, result.stderr
    s = result.json()
    assert [(f["path"], f["rows_read"]) for f in s["files"]] == [(bucket.uri("drop/2026/11/no_header_crlf.txt"), 5)]
    # What a Path-typed argument makes of a URI (`s3:/bucket/...`) still names the object.
    (obj,) = resolve_paths([Path(bucket.uri("drop/bounced_addresses.csv"))])
    assert obj.uri == bucket.uri("drop/bounced_addresses.csv")
    local = SAMPLES / "generic" / "bounced_addresses.csv"
    assert resolve_paths([Path(local.as_uri())]) == [local]  # `file:/...`: the local file


def test_patterns_only_where_asked_for(bucket):
    from pipelines.errors import UsageError
    from pipelines.readers import resolve_paths

    found = resolve_paths([bucket.uri("drop/**/*.csv*")], globs=True)
    assert [f.uri for f in found] == [bucket.uri("drop/2026/11/spam_reports.csv.gz"),
                                      bucket.uri("drop/bounced_addresses.csv")]
    with pytest.raises(UsageError, match="no such object"):  # the CLI: literal, like local paths
        resolve_paths([bucket.uri("drop/*.csv")])
    with pytest.raises(UsageError, match="matches no objects"):
        resolve_paths([bucket.uri("drop/*.json")], globs=True)


def test_the_migration_dag_resolves_uris_for_its_tasks(bucket):
    from pipelines.airflow.migration import inspect_file, resolve_inputs
    from pipelines.settings import Settings

    settings = Settings.from_env()  # what a task's settings hold here (no Airflow imported in this process)
    files = resolve_inputs({"tenant": "acme", "paths": [bucket.uri("drop/2026/*/*")]}, settings)
    assert files == [bucket.uri("drop/2026/11/no_header_crlf.txt"), bucket.uri("drop/2026/11/spam_reports.csv.gz")]
    found = inspect_file(files[1], settings=settings)
    assert (found["platform"], found["kind"]) == ("sendgrid", "spam_reports")


def test_storage_options_from_the_settings(bucket, monkeypatch, tmp_path):
    """No AWS variables at all: endpoint and keys from SUPPRESSION_STORAGE_OPTIONS."""
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    options = {"s3": {"endpoint_url": bucket.endpoint, "key": "testing", "secret": "testing"}}
    monkeypatch.setenv("SUPPRESSION_STORAGE_OPTIONS", json.dumps(options))
    result = ingest(tmp_path / "o.duckdb", bucket.uri("drop/bounced_addresses.csv"))
    assert result.code == 0, result.stderr
    monkeypatch.setenv("SUPPRESSION_STORAGE_OPTIONS", "{not json")
    bad = ingest(tmp_path / "o.duckdb", bucket.uri("drop/bounced_addresses.csv"))
    assert bad.code == 2 and "SUPPRESSION_STORAGE_OPTIONS is not valid JSON" in bad.stderr


def one_line_error(result, code: int, *needles: str) -> None:
    assert result.code == code, (result.code, result.stderr)
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


def test_missing_objects_bad_keys_and_size_limit_are_one_line_errors(bucket, monkeypatch, tmp_path):
    store = tmp_path / "e.duckdb"
    one_line_error(ingest(store, bucket.uri("drop/nope.csv")), 2, bucket.uri("drop/nope.csv"), "no such object")
    one_line_error(ingest(store, "s3://no-such-bucket-here/x.csv"), 2, "s3://no-such-bucket-here/x.csv")
    one_line_error(ingest(store, bucket.uri("drop/__MACOSX/")), 2, "holds no files")  # junk only
    monkeypatch.setenv("SUPPRESSION_MAX_DOWNLOAD_BYTES", "100")
    one_line_error(ingest(store, bucket.uri("drop/bounced_addresses.csv")), 3, "SUPPRESSION_MAX_DOWNLOAD_BYTES")
    monkeypatch.delenv("SUPPRESSION_MAX_DOWNLOAD_BYTES")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "")  # moto checks no signature: a key it refuses is
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "")  # ... shown here by none at all
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    result = ingest(store, bucket.uri("drop/bounced_addresses.csv"))
    one_line_error(result, 2, bucket.uri("drop/bounced_addresses.csv"), "no credentials")


def test_unknown_schemes_and_missing_packages_name_what_to_do(tmp_path):
    store = tmp_path / "u.duckdb"
    one_line_error(ingest(store, "nosuchscheme://bucket/x.csv"), 2, "nosuchscheme://bucket/x.csv",
                   "unsupported URI scheme 'nosuchscheme'")
    try:
        import gcsfs  # noqa: F401
    except ImportError:
        one_line_error(ingest(store, "gs://bucket/exports/"), 2, "gs://bucket/exports", "pip install gcsfs")


def test_credentials_in_a_uri_are_never_shown(tmp_path):
    """A password in a URI reaches the storage library, never a message (127.0.0.1:9 answers no one)."""
    uri = "sftp://exporter:Hunter2-secret@127.0.0.1:9/drop/bounces.csv"
    result = ingest(tmp_path / "c.duckdb", uri)
    assert result.code in (1, 2) and "Traceback" not in result.stderr
    assert "Hunter2-secret" not in result.stderr and "exporter" not in result.stderr
    assert "sftp://***@127.0.0.1:9/drop/bounces.csv" in result.stderr


AIRFLOW_SCRIPT = textwrap.dedent('''
    import json, os, sys, tempfile
    from pathlib import Path

    import s3fs
    import airflow.sdk.io.fs as airflow_fs

    # What apache-airflow-providers-amazon registers for s3:// (not installed here): a filesystem
    # built from the Airflow connection's login, password and endpoint_url.
    def get_fs(conn_id, storage_options=None):
        from airflow.sdk import Connection

        conn = Connection.get(conn_id)
        return s3fs.S3FileSystem(key=conn.login, secret=conn.password, endpoint_url=conn.extra_dejson["endpoint_url"],
                                 skip_instance_cache=True, **(storage_options or {}))

    registered = {**airflow_fs._register_filesystems(), "s3": get_fs}
    airflow_fs._register_filesystems = lambda: registered

    from pipelines.airflow.resources import object_storage
    from pipelines.errors import UsageError
    from pipelines.readers import iter_inputs, resolve_paths
    from pipelines.settings import Settings

    bucket = sys.argv[1]
    try:  # outside an Airflow task's settings, a connection is refused
        resolve_paths([f"s3://dropzone@{bucket}/drop/2026/"])
    except UsageError as exc:
        out = {"without_airflow": str(exc)}
    settings = Settings.from_env(object_storage=object_storage)  # what an Airflow task's settings carry
    out["by_uri"] = [f.uri for f in resolve_paths([f"s3://dropzone@{bucket}/drop/2026/"], settings=settings)]
    with tempfile.TemporaryDirectory() as tmp:
        out["inputs"] = [(f.display, f.sha256) for f in iter_inputs([f"s3://dropzone@{bucket}/drop/2026/"], Path(tmp),
                                                                    settings)]
    os.environ["SUPPRESSION_STORAGE_CONN_ID"] = "dropzone"
    settings = Settings.from_env(object_storage=object_storage)
    out["by_setting"] = [f.uri for f in resolve_paths([f"s3://{bucket}/drop/bounced_addresses.csv"], settings=settings)]
    try:
        resolve_paths([f"s3://nosuch@{bucket}/drop/"], settings=settings)
    except UsageError as exc:
        out["missing_connection"] = str(exc)
    print(json.dumps(out))
''')


def test_an_airflow_connection_opens_uris_through_object_storage_path(bucket, tmp_path):
    """In a subprocess with its own AIRFLOW_HOME; no AWS variables: the keys are the connection's."""
    import hashlib

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AIRFLOW", "SUPPRESSION_STORAGE"))}
    env.update(AIRFLOW_HOME=str(tmp_path / "airflow"), AIRFLOW__CORE__LOAD_EXAMPLES="False",
               AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE=str(tmp_path / "none"),
               AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
               AIRFLOW_CONN_DROPZONE=json.dumps({"conn_type": "aws", "login": "testing", "password": "testing",
                                                 "extra": {"endpoint_url": bucket.endpoint}}))
    done = subprocess.run([sys.executable, "-c", AIRFLOW_SCRIPT, bucket.name], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    prefix = f"s3://dropzone@{bucket.name}/drop/2026/11/"
    assert out["by_uri"] == [prefix + "no_header_crlf.txt", prefix + "spam_reports.csv.gz"]
    shown = f"s3://***@{bucket.name}/drop/2026/11/"
    assert [d for d, _ in out["inputs"]] == [shown + "no_header_crlf.txt", shown + "spam_reports.csv.gz"]
    assert out["inputs"][0][1] == hashlib.sha256(EXPORTS["2026/11/no_header_crlf.txt"].read_bytes()).hexdigest()
    assert out["by_setting"] == [bucket.uri("drop/bounced_addresses.csv")]
    assert out["missing_connection"].startswith(f"s3://***@{bucket.name}/drop/: ")
    assert "read in Airflow tasks only" in out["without_airflow"]
