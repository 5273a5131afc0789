"""Airflow for the DAG tests: a throw-away AIRFLOW_HOME with a fresh SQLite metadata DB.

Airflow reads its configuration when it is first imported, so the environment is set here before
anything imports `airflow`; the test modules in this folder import Airflow only inside tests.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DAGS_FOLDER = ROOT / "dags"
SAMPLES = ROOT / "data" / "samples"


@pytest.fixture(scope="session", autouse=True)
def airflow_home(tmp_path_factory):
    """Point Airflow at a temp home and a new SQLite DB, then create the schema (session-wide)."""
    home = tmp_path_factory.mktemp("airflow_home")
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
    }
    if "airflow.configuration" in sys.modules and os.environ.get("AIRFLOW_HOME") != str(home):
        pytest.fail(
            "airflow was imported before the tests/dags conftest set AIRFLOW_HOME; "
            "import airflow only inside tests or fixtures"
        )
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)

    from airflow.utils import db

    db.resetdb()
    yield home
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
