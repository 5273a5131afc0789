"""Lineage kept on the row by the run that creates a key (sql/*/006): a first load writes no
lineage rows, and every rollback still removes exactly what no other live run asserts (SPEC 2.3).
Expected spans are written out from the files, never read back from the store first."""
from __future__ import annotations

import csv
import io

from pipelines.store import open_store


def _spans(cli) -> dict[tuple[str, str], tuple[str, str]]:
    rows = csv.DictReader(io.StringIO(cli("export", "--tenant", "t").stdout))
    return {(r["address"], r["reason"]): (r["first_seen_at"][:10], r["last_seen_at"][:10]) for r in rows}


def _lineage(store) -> tuple[int, list[tuple]]:
    """(rows in suppression_sources, every (address, run) assertion of the lineage view)."""
    with open_store(str(store)) as st:
        kept = st.con.execute("SELECT count(*) FROM suppression_sources").fetchall()[0][0]
        every = st.con.execute("SELECT address, run_id FROM suppression_lineage ORDER BY 1, 2").fetchall()
    return kept, [tuple(r) for r in every]


def _ingest(cli, *files) -> str:
    summary = cli("ingest", "--tenant", "t", "--json", *map(str, files)).json()
    assert summary["status"] == "succeeded", summary
    return summary["run_id"]


def _file(path, *rows: str):
    path.write_text("address,event,occurred_at\n" + "".join(r + "\n" for r in rows))
    return path


def test_a_first_load_writes_no_lineage_rows_yet_knows_every_assertion(cli, store, tmp_path):
    a = _file(tmp_path / "a.csv", "x@example.com,hard_bounce,2024-01-01", "y@example.com,hard_bounce,2024-02-01")
    run = _ingest(cli, a)
    assert _lineage(store) == (0, [("x@example.com", run), ("y@example.com", run)])


def test_rolling_back_a_later_run_leaves_the_creators_assertion(cli, store, tmp_path):
    a = _file(tmp_path / "a.csv", "x@example.com,hard_bounce,2024-01-01")
    b = _file(tmp_path / "b.csv", "x@example.com,hard_bounce,2025-06-01", "z@example.com,hard_bounce,2025-01-01")
    first = _ingest(cli, a)
    second = _ingest(cli, b)
    assert _spans(cli)[("x@example.com", "hard_bounce")] == ("2024-01-01", "2025-06-01")
    kept, every = _lineage(store)
    assert every == sorted([("x@example.com", first), ("x@example.com", second), ("z@example.com", second)])
    assert kept == 2  # x: the creator's assertion written out when the second run asserted it, and the second's

    assert cli("rollback", second).code == 0
    assert _spans(cli) == {("x@example.com", "hard_bounce"): ("2024-01-01", "2024-01-01")}
    assert _lineage(store)[1] == [("x@example.com", first)]


def test_rolling_back_the_creator_leaves_the_later_runs_assertion(cli, store, tmp_path):
    a = _file(tmp_path / "a.csv", "x@example.com,hard_bounce,2024-01-01", "y@example.com,hard_bounce,2024-03-01")
    b = _file(tmp_path / "b.csv", "x@example.com,hard_bounce,2025-06-01")
    first = _ingest(cli, a)
    second = _ingest(cli, b)
    assert cli("rollback", first).code == 0
    assert _spans(cli) == {("x@example.com", "hard_bounce"): ("2025-06-01", "2025-06-01")}
    assert _lineage(store)[1] == [("x@example.com", second)]
    assert cli("rollback", second).code == 0
    assert _spans(cli) == {}


def test_the_soft_bounce_policy_writes_the_creators_assertion_out_first(cli, store, tmp_path):
    a = _file(tmp_path / "a.csv", "x@example.com,hard_bounce,2024-01-01")
    b = _file(tmp_path / "b.csv", *(f"x@example.com,soft_bounce,2025-{m:02d}-01" for m in range(1, 13)))  # threshold 10
    first = _ingest(cli, a)
    second = _ingest(cli, b)  # enough soft bounces to block x again: the policy asserts the hard bounce too
    hard = [(addr, run) for addr, run in _lineage(store)[1] if addr == "x@example.com"]
    assert (("x@example.com", first) in hard) and (("x@example.com", second) in hard)
    assert cli("rollback", second).code == 0
    assert _spans(cli) == {("x@example.com", "hard_bounce"): ("2024-01-01", "2024-01-01")}
    assert _lineage(store)[1] == [("x@example.com", first)]


def test_a_key_seen_in_two_files_of_its_first_run_keeps_one_lineage_row_per_file(cli, store, tmp_path):
    a = _file(tmp_path / "a.csv", "x@example.com,hard_bounce,2024-01-01")
    b = _file(tmp_path / "b.csv", "x@example.com,hard_bounce,2024-05-01")
    run = _ingest(cli, a, b)
    assert _lineage(store) == (2, [("x@example.com", run), ("x@example.com", run)])
    assert cli("rollback", run).code == 0
    assert _spans(cli) == {} and _lineage(store) == (0, [])
