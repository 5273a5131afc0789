"""Lineage kept on the row by the run that creates a key (sql/*/006): a first load writes no
lineage rows, and every rollback still removes exactly what no other live run asserts (SPEC 2.3).
Expected spans are written out from the files, never read back from the store first."""
from __future__ import annotations

import csv
import hashlib
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


def _old_schema_store(store, monkeypatch):
    """`store` at the schema before its creating file was named by position (sql/*/NNN_creator_file):
    rows then kept the file's sha256 on the row (`created_sha256`)."""
    import pipelines.store.base as base

    every = base.migrations

    def before(dialect: str) -> list[tuple[int, str, str]]:
        found = every(dialect)
        names = [name[4:] for _, name, _ in found]  # "008_creator_file" -> "creator_file"
        return found[:names.index("creator_file")]

    monkeypatch.setattr(base, "migrations", before)
    return open_store(str(store))


OLD_ROWS = [
    # Two runs of tenant t: r1 read a.csv (sha aaa) and b.csv (sha bbb), r2 read c.csv (sha ccc).
    """INSERT INTO import_runs (run_id, tenant, kind, status, started_at, finished_at)
       VALUES ('r1', 't', 'ingest', 'succeeded', CAST('2025-01-01 00:00:00+00' AS TIMESTAMPTZ),
               CAST('2025-01-01 00:01:00+00' AS TIMESTAMPTZ)),
              ('r2', 't', 'ingest', 'succeeded', CAST('2025-02-01 00:00:00+00' AS TIMESTAMPTZ),
               CAST('2025-02-01 00:01:00+00' AS TIMESTAMPTZ))""",
    """INSERT INTO run_files (run_id, path, sha256) VALUES ('r1', 'b.csv', 'bbb'), ('r1', 'a.csv', 'aaa'),
       ('r2', 'c.csv', 'ccc')""",
    # x from b.csv, y from a.csv (both r1, lineage on the row); z's file is missing from run_files;
    # w (r1) was re-asserted by r2, so both assertions are lineage rows already.
    """INSERT INTO suppressions (tenant, channel, address, reason, scope, first_seen_at, last_seen_at, source_platform,
                                 created_run_id, last_run_id, updated_at, time_known,
                                 created_sha256, created_first_line, created_row_count)
       SELECT 't', 'email', a, 'hard_bounce', 'all', CAST(d AS TIMESTAMPTZ), CAST(d AS TIMESTAMPTZ), 'generic',
              r, r, CAST('2025-03-01 00:00:00+00' AS TIMESTAMPTZ), true, sha, line, n
       FROM (VALUES ('x@example.com', '2024-01-01 00:00:00+00', 'r1', 'bbb', 3, 1),
                    ('y@example.com', '2024-02-01 00:00:00+00', 'r1', 'aaa', 2, 2),
                    ('z@example.com', '2024-03-01 00:00:00+00', 'r2', 'zzz', 7, 1),
                    ('w@example.com', '2024-04-01 00:00:00+00', 'r1', NULL, NULL, NULL)) v(a, d, r, sha, line, n)""",
    """INSERT INTO suppression_sources (tenant, channel, address, reason, scope, run_id, source_sha256, first_line,
                                       row_count, first_seen_at, last_seen_at, time_known)
       SELECT 't', 'email', 'w@example.com', 'hard_bounce', 'all', r, sha, 2, 1,
              CAST('2024-04-01 00:00:00+00' AS TIMESTAMPTZ), CAST('2024-04-01 00:00:00+00' AS TIMESTAMPTZ), true
       FROM (VALUES ('r1', 'aaa'), ('r2', 'ccc')) v(r, sha)""",
]
LINEAGE = "SELECT address, run_id, source_sha256, first_line, row_count FROM suppression_lineage ORDER BY 1, 2, 3"


def test_a_store_from_before_files_by_position_keeps_every_assertion(cli, store, tmp_path, monkeypatch):
    with monkeypatch.context() as patch, _old_schema_store(store, patch) as st:
        assert "created_sha256" in [c[0] for c in st.con.execute("SELECT * FROM suppressions LIMIT 0").description]
        with st._txn():
            for sql in OLD_ROWS:
                st.con.execute(sql)
    expected = [("w@example.com", "r1", "aaa", 2, 1), ("w@example.com", "r2", "ccc", 2, 1),
                ("x@example.com", "r1", "bbb", 3, 1), ("y@example.com", "r1", "aaa", 2, 2),
                ("z@example.com", "r2", "zzz", 7, 1)]
    with open_store(str(store)) as st:  # the migration
        assert [tuple(r) for r in st.con.execute(LINEAGE).fetchall()] == expected
        files = dict(st.con.execute("SELECT sha256, file_idx FROM run_files WHERE run_id = 'r1'").fetchall())
        assert sorted(files.values()) == [0, 1]
        on_row = dict(st.con.execute("SELECT address, created_file FROM suppressions").fetchall())
        # x and y name their files by position; z's lineage went out to suppression_sources
        assert on_row == {"x@example.com": files["bbb"], "y@example.com": files["aaa"], "z@example.com": None,
                          "w@example.com": None}
        assert st.con.execute("SELECT count(*) FROM suppression_sources").fetchall()[0][0] == 3

    # Today's code on the migrated rows: a run re-asserting y writes r1's assertion out first
    d = _file(tmp_path / "d.csv", "y@example.com,hard_bounce,2025-05-01")
    run = _ingest(cli, d)
    with open_store(str(store)) as st:
        got = [tuple(r) for r in st.con.execute(LINEAGE).fetchall()]
    d_sha = hashlib.sha256(d.read_bytes()).hexdigest()
    assert [r for r in got if r[0] == "y@example.com"] == sorted([("y@example.com", "r1", "aaa", 2, 2),
                                                                   ("y@example.com", run, d_sha, 2, 1)])
    # and rolling r1 back removes x (only r1 asserted it) and keeps y (the new run asserts it)
    assert cli("rollback", "r1").code == 0
    with open_store(str(store)) as st:
        left = sorted(r[0] for r in st.con.execute("SELECT address FROM suppressions").fetchall())
    assert left == ["w@example.com", "y@example.com", "z@example.com"]
