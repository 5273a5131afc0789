"""Every DAG file parses, follows the house rules, and keeps heavy work out of parse time."""
from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from datetime import timedelta

import pytest

from .conftest import DAGS_FOLDER, ROOT

DAG_FILES = sorted(p for p in DAGS_FOLDER.glob("*.py") if not p.name.startswith("_"))
HEAVY = ("polars", "duckdb", "great_expectations", "pandas", "pipelines")
# The DAG files' own package: what they share and call, light at import by design (the parse test
# below proves it loads no heavy library); the rest of `pipelines` only inside task bodies.
DAG_PACKAGE = "pipelines.airflow"
# Airflow 3 forbids direct metadata-DB access from tasks; `dag.test()` does not (ecosystem R8).
ORM_PATTERNS = {
    "airflow.settings": re.compile(r"\bairflow\.settings\b|from\s+airflow\s+import\s+[^\n]*\bsettings\b"),
    "create_session": re.compile(r"\bcreate_session\b"),
    "provide_session": re.compile(r"\bprovide_session\b"),
    "from airflow.models": re.compile(r"\bfrom\s+airflow\.models\b|\bimport\s+airflow\.models\b"),
    "airflow.utils.session": re.compile(r"\bairflow\.utils\.session\b"),
}


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_FOLDER))


def test_dag_files_exist():
    names = {p.name for p in DAG_FILES}
    assert {"suppression_migration.py", "suppression_nightly_sync.py"} <= names


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}, "\n".join(f"{k}:\n{v}" for k, v in dagbag.import_errors.items())
    assert "suppression_migration" in dagbag.dag_ids
    assert "suppression_quality_report" in dagbag.dag_ids
    assert "suppression_nightly_sync" in dagbag.dag_ids
    # every DAG file defines the DAG it is named after, and nothing else
    assert {d.dag_id for d in dagbag.dags.values()} == {p.stem for p in DAG_FILES}


def test_every_dag_has_tags_and_retries(dagbag):
    assert dagbag.dags
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        for t in dag.tasks:
            if t.task_id == "watch_pool":  # a missing pool stays missing: retrying only waits longer
                assert t.retries == 0
                continue
            assert t.retries and t.retries >= 1, f"{dag_id}.{t.task_id} has no retries"


def test_migration_dag_shape(dagbag):
    dag = dagbag.get_dag("suppression_migration")
    assert dag.schedule is None
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert dag.doc_md
    assert set(dag.params.keys()) == {"tenant", "paths", "platform", "default_region", "max_reject_rate", "dry_run"}
    assert dag.params.get_param("platform").value == "auto"
    assert dag.params.get_param("max_reject_rate").value == pytest.approx(0.10)
    assert dag.params.get_param("dry_run").value is False
    assert dag.params.get_param("default_region").value is None
    tasks = dag.task_dict
    assert set(tasks) == {"resolve_inputs", "inspect_files", "load", "watch_pool", "verdict"}
    assert tasks["resolve_inputs"].downstream_task_ids == {"inspect_files", "load"}
    assert tasks["watch_pool"].upstream_task_ids == set()  # watches from the start: fail_fast stops it
    assert tasks["inspect_files"].downstream_task_ids == {"load"}
    assert tasks["load"].downstream_task_ids == tasks["watch_pool"].downstream_task_ids == {"verdict"}
    assert tasks["verdict"].is_teardown and tasks["verdict"].on_failure_fail_dagrun
    assert dag.fail_fast and dag.dagrun_timeout is not None
    load = tasks["load"]
    assert load.pool == "suppression_store_writer" and load.pool_slots == 1
    assert [o.name for o in load.outlets] == ["suppression_store_changes"]  # an alias: events only on change
    assert tasks["watch_pool"].pool == "default_pool" and tasks["watch_pool"].retries == 0
    assert tasks["load"].retries == 2
    assert timedelta(0) < load.execution_timeout <= timedelta(hours=6)


def _top_level_imports(tree: ast.Module) -> list[tuple[int, str]]:
    """Imports that run when the file is parsed: module level, and directly in a `@dag` function's body.

    Imports inside task bodies (or any other nested function) only run when that function runs.
    """
    found: list[tuple[int, str]] = []

    def names(node) -> list[str]:
        if isinstance(node, ast.Import):
            return [a.name for a in node.names]
        if isinstance(node, ast.ImportFrom):
            return [node.module or ""] if node.level == 0 else []
        return []

    def is_dag_function(node) -> bool:
        for d in getattr(node, "decorator_list", []):
            target = d.func if isinstance(d, ast.Call) else d
            if (isinstance(target, ast.Name) and target.id == "dag") or (
                isinstance(target, ast.Attribute) and target.attr == "dag"
            ):
                return True
        return False

    def visit(node, runs_at_parse: bool):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                visit(child, runs_at_parse and is_dag_function(child) and node is tree)
            elif isinstance(child, ast.ClassDef):
                visit(child, runs_at_parse)  # a class body runs at definition time
            else:
                if runs_at_parse:
                    found.extend((child.lineno, n) for n in names(child))
                visit(child, runs_at_parse)

    visit(tree, True)
    return found


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_dag_files_import_no_heavy_modules_at_top_level(path):
    imports = _top_level_imports(ast.parse(path.read_text(), filename=str(path)))
    bad = [(line, mod) for line, mod in imports
           if mod.split(".")[0] in HEAVY and not (mod == DAG_PACKAGE or mod.startswith(DAG_PACKAGE + "."))]
    assert not bad, f"{path.name} imports {bad} at parse time; import them inside task bodies"


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_dag_files_are_wiring_only(path):
    """A DAG file is its schedule, Params and task wiring; logic lives in pipelines.airflow."""
    assert len(path.read_text().splitlines()) <= 80, f"{path.name}: move logic into {DAG_PACKAGE}"


def test_airflow_is_imported_only_by_the_dags_and_their_package():
    """`pipelines` outside `pipelines/airflow/` never imports Airflow: the CLI and the library run
    without it, and what Airflow gives (connections) reaches them through the settings."""
    found = []
    for path in sorted((ROOT / "pipelines").rglob("*.py")):
        if (ROOT / "pipelines" / "airflow") in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            found += [f"{path.relative_to(ROOT)}:{node.lineno}: {n}" for n in names if n.split(".")[0] == "airflow"]
    assert not found, "\n".join(found)


def test_ast_check_catches_top_level_and_dag_body_imports():
    src = (
        "import polars as pl\n"
        "from airflow.sdk import dag, task\n"
        "@dag()\n"
        "def d():\n"
        "    import duckdb\n"
        "    @task\n"
        "    def t():\n"
        "        import great_expectations\n"
        "        from pipelines.ingest import ingest\n"
        "    t()\n"
        "def helper():\n"
        "    import pandas\n"
    )
    mods = [m for _, m in _top_level_imports(ast.parse(src))]
    assert mods == ["polars", "airflow.sdk", "duckdb"]


def _python_sources():
    for folder in (ROOT / "dags", ROOT / "pipelines"):
        yield from sorted(folder.rglob("*.py"))


_ORM_MODULES = ("airflow.models", "airflow.settings", "airflow.utils.session")


def orm_access(text: str) -> list[tuple[int, str]]:
    """(line, what) for each way a source reaches Airflow's ORM / metadata DB: the patterns above,
    plus what the syntax tree shows (`from airflow import settings, models`, aliased imports,
    `importlib.import_module("airflow.models...")`)."""
    hits = []
    for label, pattern in ORM_PATTERNS.items():
        for m in pattern.finditer(text):
            hits.append((text.count("\n", 0, m.start()) + 1, label))
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ImportFrom) and node.module == "airflow":
            hits += [(node.lineno, f"from airflow import {a.name}") for a in node.names if a.name in ("models", "settings")]
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            hits += [(node.lineno, f"import {n}") for n in names if n.startswith(_ORM_MODULES)]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith(_ORM_MODULES):
            hits.append((node.lineno, f"module name {node.value!r}"))
    return sorted(set(hits))


def test_no_orm_or_metadata_db_access_in_dags_or_pipelines():
    hits = []
    for path in _python_sources():
        hits += [f"{path.relative_to(ROOT)}:{line}: {what}" for line, what in orm_access(path.read_text(encoding="utf-8"))]
    assert not hits, "direct Airflow metadata-DB access (fails under the scheduler in Airflow 3):\n" + "\n".join(hits)


@pytest.mark.parametrize("src", [
    "from airflow.models import DagRun\n",
    "from airflow.models.taskinstance import TaskInstance\n",
    "import airflow.models.dagrun as dr\n",
    "from airflow import settings\n",
    "from airflow import models as m\n",
    "import airflow.settings\nairflow.settings.Session()\n",
    "from airflow.utils.session import create_session\n",
    "import importlib\nimportlib.import_module('airflow.models.variable')\n",
    "@provide_session\ndef f(session=None): ...\n",
])
def test_the_orm_check_catches_each_way_in(src):
    assert orm_access(src), src


def test_the_orm_check_allows_the_task_sdk():
    src = ("from airflow.sdk import Connection, Variable, get_current_context\n"
           "conn = Connection.get('x')\nmodel = 'a data model'\n")
    assert orm_access(src) == []


def parse_in_a_subprocess(path, watched) -> dict:
    """Parse a DAG file as the DAG processor does; report the heavy libraries it loaded, and which of
    the pipeline's files (under `watched`, where SUPPRESSION_* point) and sockets it touched."""
    env = {**os.environ, "SUPPRESSION_STORE": str(watched / "s.duckdb"), "SUPPRESSION_SOURCES": str(watched / "s.toml"),
           "SUPPRESSION_SYNC_DIR": str(watched / "pulled"), "SUPPRESSION_REPORTS_DIR": str(watched / "reports")}
    code = (
        "import json, runpy, sys\n"
        "touched = []\n"
        f"watched = {str(watched)!r}\n"
        "def hook(event, args):\n"
        "    if event == 'open' and isinstance(args[0], str) and args[0].startswith(watched):\n"
        "        touched.append('open ' + args[0])\n"
        "    elif event in ('socket.connect', 'socket.getaddrinfo'):\n"
        "        touched.append(event + ' ' + repr(args[1:2]))\n"
        "sys.addaudithook(hook)\n"
        f"runpy.run_path({str(path)!r})\n"
        "heavy = sorted(m for m in ('polars', 'duckdb', 'great_expectations') if m in sys.modules)\n"
        "print(json.dumps({'heavy': heavy, 'touched': touched}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=str(ROOT), timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_parsing_a_dag_file_does_no_work(path, tmp_path):
    """Parsing (every 30 s in the DAG processor) loads no heavy library, and opens neither a file of
    the pipeline's nor a socket: the store, the sources file and the pull folder are task business."""
    found = parse_in_a_subprocess(path, tmp_path / "watched")
    assert found == {"heavy": [], "touched": []}, f"parsing {path.name}: {found}"
    assert not (tmp_path / "watched").exists()


def test_the_parse_check_sees_top_level_work(tmp_path):
    bad = tmp_path / "bad_dag.py"
    bad.write_text("import os, socket\nimport polars\nopen(os.environ['SUPPRESSION_SOURCES'], 'a').close()\n"
                   "try:\n    socket.create_connection(('127.0.0.1', 9), timeout=0.1)\nexcept OSError:\n    pass\n")
    (tmp_path / "watched").mkdir()
    found = parse_in_a_subprocess(bad, tmp_path / "watched")
    assert found["heavy"] == ["polars"]
    assert any(t.startswith("open ") for t in found["touched"]) and any("socket" in t for t in found["touched"])
