"""Shared fixtures: the samples, a store per test, and the real CLI run in-process."""
from __future__ import annotations

import io
import json
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "data" / "samples"


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


@pytest.fixture
def store(tmp_path) -> Path:
    return tmp_path / "store.duckdb"


@pytest.fixture
def cli(store):
    """`cli("ingest", ...)` runs the CLI against this test's own store."""

    def call(*args: str) -> CliResult:
        return run_cli(*args, "--store", str(store)) if args and args[0] not in ("formats", "detect") else run_cli(*args)

    call.store = store
    return call
