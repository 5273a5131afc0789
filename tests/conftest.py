"""Shared fixtures: the samples, a store per test, and the real CLI run in-process."""
from __future__ import annotations

import io
import json
import os
import secrets
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "data" / "samples"


@pytest.fixture(scope="session", autouse=True)
def reports_dir(tmp_path_factory):
    """Every ingest writes its run's report: into a temp folder during tests, never the repo."""
    path = tmp_path_factory.mktemp("reports")
    saved = os.environ.get("SUPPRESSION_REPORTS_DIR")
    os.environ["SUPPRESSION_REPORTS_DIR"] = str(path)
    yield path
    if saved is None:
        os.environ.pop("SUPPRESSION_REPORTS_DIR", None)
    else:
        os.environ["SUPPRESSION_REPORTS_DIR"] = saved


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)


def run_cli(*args: str) -> CliResult:
    """Run `suppress ARGS` through its real entry point (exit codes, error handling included)."""
    from pipelines.cli import main

    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = ["suppress", *map(str, args)]
    code = 0
    try:
        with redirect_stdout(out), redirect_stderr(err):
            main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = argv
    return CliResult(code, out.getvalue(), err.getvalue())


# The PostgreSQL server the postgres-parametrized tests use: a maintenance connection URL (each
# test gets a database of its own on that server). `.ci/run` and `make test` start the local one.
POSTGRES_URL = os.environ.get("SUPPRESSION_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
_postgres_down: list[str] = []  # the reason, once a connection attempt has failed


def _maintenance():
    import psycopg

    return psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=5)


def postgres_or_skip() -> None:
    """Skip when no PostgreSQL server is reachable, except under CI, where that is a failure:
    CI must never lose the PostgreSQL half of the suite silently."""
    if not _postgres_down:
        try:
            _maintenance().close()
            return
        except Exception as exc:  # noqa: BLE001 - any reason the server cannot be used
            _postgres_down.append(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
    message = f"PostgreSQL at {POSTGRES_URL} is unreachable ({_postgres_down[0]}); start it with .ci/postgres-up"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _with_database(url: str, name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    return urlunsplit(urlsplit(url)._replace(path="/" + name))


@pytest.fixture
def pg_database(monkeypatch):
    """A fresh, empty PostgreSQL database for this test (dropped afterwards); yields its URL.

    With SUPPRESSION_HMAC_KEY set, as in production: PostgreSQL never stores a key of its own."""
    postgres_or_skip()
    monkeypatch.setenv("SUPPRESSION_HMAC_KEY", "test-installation-secret")
    name = f"t_{secrets.token_hex(6)}"
    with _maintenance() as con:
        con.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(POSTGRES_URL, name)
    finally:
        with _maintenance() as con:
            con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["duckdb", "postgres"])
def store(request, tmp_path):
    """This test's own store: a .duckdb file, or the URL of a fresh PostgreSQL database."""
    if request.param == "duckdb":
        return tmp_path / "store.duckdb"
    return request.getfixturevalue("pg_database")


def duckdb_only(store) -> None:
    """For a test about the DuckDB store itself."""
    if not str(store).endswith(".duckdb"):
        pytest.skip("DuckDB-specific")


@pytest.fixture
def cli(store):
    """`cli("ingest", ...)` runs the CLI against this test's own store."""

    def call(*args: str) -> CliResult:
        return run_cli(*args, "--store", str(store)) if args and args[0] not in ("formats", "detect") else run_cli(*args)

    call.store = store
    return call
