"""Issue "Hostile and odd files", the store and output side: erased addresses leave no trace,
the HMAC key never lands in PostgreSQL, interrupted DuckDB runs are closed, user data prints as
plain text, tenant names are checked everywhere, spreadsheets never run an output cell."""
from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines.store import open_store
from tests.conftest import ROOT, run_cli

SUPPRESS = str(Path(sys.executable).parent / "suppress")


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# -- 6. erased addresses survive nowhere --------------------------------------------------------


def test_an_erased_address_is_gone_from_the_duckdb_file_and_the_reports(tmp_path, reports_dir):
    store = tmp_path / "store.duckdb"
    secret = "erase.me.please@example.com"
    # the glued line quotes the address in a rejected row: a reject example for the report
    bounces = write(tmp_path / "b.txt", f"{secret}\nkeep@example.com\n{secret}{secret}\n" + "".join(
        f"u{i}@example.com\n" for i in range(30)))
    people = write(tmp_path / "c.csv", f"id,email\nc1,{secret}\n")
    for args in (["ingest", "--tenant", "acme", str(bounces)], ["contacts", "import", "--tenant", "acme", str(people)]):
        result = run_cli(*args, "--store", str(store))
        assert result.code == 0, result.stderr
    assert secret.encode() in store.read_bytes()
    reports = list(reports_dir.rglob("report.*"))
    assert reports
    deleted = run_cli("contacts", "delete", "--tenant", "acme", "--yes", "--export-dir", str(tmp_path / "safety"),
                      "c1", "--store", str(store))
    assert deleted.code == 0, deleted.stderr
    assert secret.encode() not in store.read_bytes()
    assert not Path(str(store) + ".wal").exists() or secret.encode() not in Path(str(store) + ".wal").read_bytes()
    for report in reports:
        assert secret not in report.read_text(), report
    checked = run_cli("check", "--tenant", "acme", "--json", secret, "--store", str(store)).json()
    assert checked[0]["suppressed"] is True  # still blocked, by its keyed hash


def test_reports_show_masked_examples(cli, tmp_path, reports_dir):
    bad = write(tmp_path / "l.txt", "jane.doe@example\n" + "".join(
        f"u{i}@example.com\n" for i in range(20)))
    summary = cli("ingest", "--tenant", "acme", "--json", str(bad)).json()
    report = json.loads((Path(summary["report"]).parent / "report.json").read_text())
    (example,) = [e for rows in report["reject_examples"].values() for e in rows]
    assert example["line"] == 1 and "jane.doe" not in example["value"] and example["value"].startswith("j***")


def test_postgres_refuses_to_erase_without_a_key_and_never_stores_one(pg_database, tmp_path, monkeypatch):
    monkeypatch.delenv("SUPPRESSION_HMAC_KEY")
    people = write(tmp_path / "c.csv", "id,email\nc1,x@example.com\n")
    assert run_cli("contacts", "import", "--tenant", "acme", str(people), "--store", pg_database).code == 0
    with open_store(pg_database) as st:
        assert dict(st.con.execute("SELECT key, value FROM store_settings").fetchall()) == {}
    refused = run_cli("contacts", "delete", "--tenant", "acme", "--yes", "--export-dir", str(tmp_path), "c1",
                      "--store", pg_database)
    assert refused.code == 1 and "SUPPRESSION_HMAC_KEY" in refused.stderr
    assert "c1" in run_cli("contacts", "export", "--tenant", "acme", "--store", pg_database).stdout
    monkeypatch.setenv("SUPPRESSION_HMAC_KEY", "an-installation-secret")
    assert run_cli("contacts", "delete", "--tenant", "acme", "--yes", "--export-dir", str(tmp_path), "c1",
                   "--store", pg_database).code == 0
    with open_store(pg_database) as st:
        stored = dict(st.con.execute("SELECT key, value FROM store_settings").fetchall())
    assert list(stored) == ["hmac_key_fingerprint"]


# -- 5. interrupted DuckDB runs --------------------------------------------------------------------


def _big_list(tmp_path: Path, rows: int = 2_000_000) -> Path:
    path = tmp_path / "big.txt"
    with path.open("w") as fh:
        fh.writelines(f"user{i}@example.com\n" for i in range(rows))
    return path


def _start(tmp_path: Path, store: Path, source: Path) -> subprocess.Popen:
    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp"), "SUPPRESSION_REPORTS_DIR": str(tmp_path / "reports")}
    (tmp_path / "tmp").mkdir(exist_ok=True)
    return subprocess.Popen([SUPPRESS, "ingest", "--tenant", "acme", "--store", str(store), str(source)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)


def _wait_for_running(store: Path, proc: subprocess.Popen) -> None:
    """Until the run normalizes its file (it is recorded as running by then)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if list((Path(proc.args[-1]).parent / "tmp").glob("suppress-*/part_*")):
            return
        time.sleep(0.05)
    raise AssertionError("the run never started normalizing")


@pytest.mark.parametrize("how", ["kill", "term"])
def test_an_interrupted_duckdb_run_is_closed_as_failed(tmp_path, how):
    store = tmp_path / "store.duckdb"
    source = _big_list(tmp_path)
    proc = _start(tmp_path, store, source)
    _wait_for_running(store, proc)
    proc.send_signal(signal.SIGKILL if how == "kill" else signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    if how == "term":
        assert proc.returncode == 143
        assert err.count("\n") == 1 and "interrupted (SIGTERM)" in err
        assert not list((tmp_path / "tmp").glob("suppress-*"))  # temp folders removed
    # The next process that opens the store (every command opens it for writing) closes a dead run.
    runs = run_cli("runs", "--tenant", "acme", "--json", "--store", str(store)).json()
    assert [r["status"] for r in runs] == ["failed"] and runs[0]["error"].startswith("interrupted")
    assert run_cli("export", "--tenant", "acme", "--store", str(store)).stdout.count("\n") == 1  # header only


# -- 10. user data is plain text -------------------------------------------------------------------


def test_markup_and_control_characters_in_user_data_print_as_text(tmp_path):
    store = tmp_path / "s.duckdb"
    odd = tmp_path / "[red]bounces[x].txt"
    odd.write_text("fine@example.com\n[/]@example.com\n")
    result = run_cli("ingest", "--tenant", "acme", "--max-reject-rate", "0.9", str(odd), "--store", str(store))
    assert result.code == 0, result.stderr
    assert "[red]bounces[x].txt" in "".join(result.stdout.split())  # a folded table cell
    escaped = tmp_path / "new\nline\x1b[31m.txt"
    escaped.write_text("a@example.com\n")
    result = run_cli("ingest", "--tenant", "acme", str(escaped), "--store", str(store), "--platform", "ses")
    assert result.code == 3 and result.stderr.count("\n") == 1 and "\x1b" not in result.stderr
    assert "new\\nline\\x1b[31m.txt" in result.stderr


# -- 11. tenant names and formula guards --------------------------------------------------------


@pytest.mark.parametrize("tenant", ["a b", "..", "[x]", "a/b", "x" * 65, "", "-a"])
def test_tenant_names_are_checked_at_every_entry_point(tmp_path, tenant):
    store = tmp_path / "s.duckdb"
    bounces = write(tmp_path / "l.txt", "a@example.com\n")
    for args in (["ingest", "--tenant", tenant, str(bounces)], ["settings", "--tenant", tenant],
                 ["check", "--tenant", tenant, "a@example.com"]):
        result = run_cli(*args, "--store", str(store))
        assert result.code == 2 and "tenant" in result.stderr and result.stderr.count("\n") == 1, result.stderr
    from pipelines.errors import UsageError
    from pipelines.ingest import IngestRequest

    with pytest.raises(UsageError):
        IngestRequest(tenant=tenant, paths=[str(bounces)]).check()


def test_check_output_and_audience_headers_are_formula_guarded(tmp_path):
    store = tmp_path / "s.duckdb"
    assert run_cli("settings", "--tenant", "acme", "--store", str(store)).code == 0
    many = write(tmp_path / "many.txt", "=HYPERLINK(\"http://x\")@example.com\n" + "".join(
        f"u{i}@example.com\n" for i in range(1200)))
    result = run_cli("check", "--tenant", "acme", "--file", str(many), "--store", str(store))
    assert result.code == 0, result.stderr
    first = list(csv.reader(io.StringIO(result.stdout), delimiter="\t"))[1]
    assert first[0].startswith("'=")
    audience = write(tmp_path / "a.csv", "email,=cmd|' /C calc'!A0\nu1@example.com,x\n")
    out = run_cli("audience", "--tenant", "acme", "--purpose", "marketing", str(audience), "--store", str(store))
    assert out.code == 0, out.stderr
    header = next(csv.reader(io.StringIO(out.stdout)))
    assert header[1].startswith("'=")


def test_tenants_that_look_alike_do_not_share_a_trends_folder():
    from pipelines.report import trends_dir

    names = ["a b", "a_b", "a__b", "[x]", "..", "ok-name"]
    folders = {trends_dir(n).name for n in names}
    assert len(folders) == len(names) and "ok-name" in folders and ".." not in folders


def test_a_rewritten_duckdb_store_keeps_everything_else(tmp_path):
    store = tmp_path / "store.duckdb"
    bounces = write(tmp_path / "b.txt", "keep@example.com\ngone@example.com\n")
    people = write(tmp_path / "c.csv", "id,email\nc1,gone@example.com\nc2,keep@example.com\n")
    for args in (["ingest", "--tenant", "acme", str(bounces)], ["contacts", "import", "--tenant", "acme", str(people)]):
        assert run_cli(*args, "--store", str(store)).code == 0
    before = run_cli("runs", "--tenant", "acme", "--json", "--store", str(store)).json()
    assert run_cli("contacts", "delete", "--tenant", "acme", "--yes", "--export-dir", str(tmp_path), "c1",
                   "--store", str(store)).code == 0
    assert run_cli("runs", "--tenant", "acme", "--json", "--store", str(store)).json() == before
    rows = list(csv.DictReader(io.StringIO(run_cli("export", "--tenant", "acme", "--store", str(store)).stdout)))
    assert sorted((r["address"], bool(r["address_hash"])) for r in rows) == [("", True), ("keep@example.com", False)]
    with open_store(str(store)) as st:
        assert st.con.execute("SELECT count(*) FROM duckdb_indexes() WHERE index_name = 'suppressions_lookup'"
                              ).fetchall()[0][0] == 1
