"""Every DAG file parses, follows the house rules, and keeps heavy work out of parse time."""
from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys

import pytest

from .conftest import DAGS_FOLDER, ROOT

DAG_FILES = sorted(p for p in DAGS_FOLDER.glob("*.py") if not p.name.startswith("_"))
HEAVY = ("polars", "duckdb", "great_expectations", "pandas", "pipelines")
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
    assert any(p.name == "suppression_migration.py" for p in DAG_FILES)


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}, "\n".join(f"{k}:\n{v}" for k, v in dagbag.import_errors.items())
    assert "suppression_migration" in dagbag.dag_ids


def test_every_dag_has_tags_and_retries(dagbag):
    assert dagbag.dags
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        for t in dag.tasks:
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
    assert set(tasks) == {"resolve_inputs", "inspect_file", "load", "summarize"}
    assert tasks["resolve_inputs"].downstream_task_ids == {"inspect_file", "load"}
    assert tasks["inspect_file"].downstream_task_ids == {"load"}
    assert tasks["load"].downstream_task_ids == {"summarize"}
    load = tasks["load"]
    assert load.pool == "suppression_store_writer" and load.pool_slots == 1
    assert [o.uri for o in load.outlets] == ["suppression_store://suppressions"]
    assert tasks["load"].retries == 2


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
    bad = [(line, mod) for line, mod in imports if mod.split(".")[0] in HEAVY]
    assert not bad, f"{path.name} imports {bad} at parse time; import them inside task bodies"


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


def test_no_orm_or_metadata_db_access_in_dags_or_pipelines():
    hits = []
    for path in _python_sources():
        text = path.read_text(encoding="utf-8")
        for label, pattern in ORM_PATTERNS.items():
            for m in pattern.finditer(text):
                line = text.count("\n", 0, m.start()) + 1
                hits.append(f"{path.relative_to(ROOT)}:{line}: {label}")
    assert not hits, "direct Airflow metadata-DB access (fails under the scheduler in Airflow 3):\n" + "\n".join(hits)


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_parsing_a_dag_file_loads_no_heavy_libraries(path):
    code = (
        "import json, runpy, sys\n"
        f"runpy.run_path({str(path)!r})\n"
        "print(json.dumps(sorted(m for m in ('polars', 'duckdb', 'great_expectations') if m in sys.modules)))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ), cwd=str(ROOT), timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert loaded == [], f"parsing {path.name} imported {loaded}"
