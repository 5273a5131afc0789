"""The core contract through the real CLI: ingest, idempotency, refusal, rollback, check, export."""
from __future__ import annotations

import csv
import io

import pytest

from tests.conftest import ROOT, SAMPLES

GENERIC = [SAMPLES / "generic" / "bounced_addresses.csv", SAMPLES / "generic" / "no_header_crlf.txt"]
EVENTS = SAMPLES / "events" / "delivery_events.csv"


def ingest_first_file(cli):
    """The first generic file alone has 1 bad row in 7: over the default 10% limit."""
    return cli("ingest", "--tenant", "acme", "--json", "--max-reject-rate", "0.2", GENERIC[0]).json()


def exported(cli, tenant="acme"):
    result = cli("export", "--tenant", tenant)
    assert result.code == 0, result.stderr
    return list(csv.DictReader(io.StringIO(result.stdout)))


def test_generic_lists_normalize_dedupe_and_quarantine(cli):
    result = cli("ingest", "--tenant", "acme", "--json", *GENERIC)
    assert result.code == 0, result.stderr
    s = result.json()
    assert s["status"] == "succeeded"
    assert (s["rows_read"], s["rows_accepted"], s["rows_rejected"]) == (12, 11, 1)
    assert s["rows_accepted"] + s["rows_rejected"] == s["rows_read"]
    assert s["rejects_by_error"] == {"missing_at": 1}
    assert s["suppressions_added"] == 8 and s["suppressions_updated"] == 0
    assert s["duplicates_collapsed"] == 3
    assert [(f["platform"], f["rows_read"], f["rows_rejected"]) for f in s["files"]] == [("generic", 7, 1), ("generic", 5, 0)]
    rows = exported(cli)
    assert sorted(r["address"] for r in rows) == [
        "alice@example.com", "bob@example.com", "carl@example.org", "dave@example.net",
        "jane.doe@example.com", "nbsp@example.com", "padded@example.net", "user@xn--bcher-kva.example",
    ]
    assert {(r["reason"], r["scope"], r["channel"]) for r in rows} == {("hard_bounce", "all", "email")}
    assert list(rows[0])[:8] == ["tenant", "channel", "address", "reason", "scope", "source_platform", "first_seen_at", "last_seen_at"]


def test_rejects_name_file_line_value_and_code(cli):
    run_id = cli("ingest", "--tenant", "acme", "--json", *GENERIC).json()["run_id"]
    result = cli("rejects", run_id, "--format", "csv")
    assert result.code == 0, result.stderr
    (row,) = list(csv.DictReader(io.StringIO(result.stdout)))
    assert row["file"].endswith("bounced_addresses.csv")
    assert (row["line"], row["value"], row["error"]) == ("4", "not-an-email", "missing_at")
    assert list(row)[:4] == ["file", "line", "value", "error"]


def test_same_input_twice_changes_nothing_and_says_so(cli):
    first = cli("ingest", "--tenant", "acme", "--json", *GENERIC).json()
    before = exported(cli)
    again = cli("ingest", "--tenant", "acme", "--json", *reversed(GENERIC))
    assert again.code == 0
    assert again.json()["status"] == "skipped"
    assert again.json()["skipped_because"] == first["run_id"]
    forced = cli("ingest", "--tenant", "acme", "--json", "--force", *GENERIC).json()
    assert forced["status"] == "succeeded"
    assert (forced["suppressions_added"], forced["suppressions_updated"]) == (0, 0)
    assert exported(cli) == before


def test_overlapping_exports_never_double_count(cli):
    ingest_first_file(cli)
    s = cli("ingest", "--tenant", "acme", "--json", *GENERIC).json()
    # bob and user@... were already there from the first file; alice, dave, nbsp are new
    assert (s["suppressions_added"], s["suppressions_updated"]) == (3, 0)
    assert len(exported(cli)) == 8


def test_tenants_never_leak(cli):
    cli("ingest", "--tenant", "acme", "--json", *GENERIC)
    assert exported(cli, "globex") == []
    check = cli("check", "--tenant", "globex", "--json", "bob@example.com").json()
    assert check[0]["suppressed"] is False


def test_dry_run_loads_nothing_but_counts(cli):
    s = cli("ingest", "--tenant", "acme", "--json", "--dry-run", *GENERIC).json()
    assert s["status"] == "succeeded" and s["dry_run"] is True
    assert s["suppressions_added"] == 8
    assert exported(cli) == []
    real = cli("ingest", "--tenant", "acme", "--json", *GENERIC).json()
    assert real["status"] == "succeeded" and real["suppressions_added"] == 8  # a dry run does not make it "seen"


def test_reject_rate_over_limit_refuses_and_loads_nothing(cli, tmp_path):
    bad = tmp_path / "half_bad.csv"
    bad.write_text("email\na@example.com\nnot-an-address\nb@example.com\ngmail.com\n")
    result = cli("ingest", "--tenant", "acme", "--json", bad)
    assert result.code == 3
    assert "over the limit of 10.0%" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.json()["status"] == "failed"
    assert exported(cli) == []
    runs = cli("runs", "--tenant", "acme", "--json").json()
    assert [r["status"] for r in runs] == ["failed"]
    rejected = cli("rejects", runs[0]["run_id"], "--format", "csv").stdout
    assert "not-an-address" in rejected and "gmail.com" in rejected  # the reviewer can still see why
    ok = cli("ingest", "--tenant", "acme", "--json", "--max-reject-rate", "0.5", bad)
    assert ok.code == 0 and ok.json()["suppressions_added"] == 2


def test_unknown_format_is_refused_with_its_name(cli):
    refused = ROOT / "tests" / "fixtures" / "refused" / "orders_not_an_export.csv"
    result = cli("ingest", "--tenant", "acme", *GENERIC, refused)
    assert result.code == 3
    assert "orders_not_an_export.csv" in result.stderr and "does not look like any known format" in result.stderr
    assert "Traceback" not in result.stderr
    assert exported(cli) == []


def test_failure_mid_load_leaves_the_store_as_it_was(cli, monkeypatch):
    ingest_first_file(cli)
    before = exported(cli)
    from pipelines.store.duckdb_store import DuckDBStore
    from pipelines.store.postgres_store import PostgresStore

    def boom(self, run_id, files):
        raise RuntimeError("disk full")

    with monkeypatch.context() as patched:
        for backend in (DuckDBStore, PostgresStore):  # the last write of the load, on either backend
            patched.setattr(backend, "_record_files", boom)
        result = cli("ingest", "--tenant", "acme", "--json", *GENERIC)
    assert result.code == 1
    assert "disk full" in result.stderr and "Traceback" not in result.stderr
    assert exported(cli) == before
    runs = cli("runs", "--tenant", "acme", "--json").json()
    assert [r["status"] for r in runs] == ["failed", "succeeded"]


def test_rollback_removes_only_what_the_run_added(cli):
    first = ingest_first_file(cli)
    second = cli("ingest", "--tenant", "acme", "--json", GENERIC[1]).json()
    assert second["suppressions_added"] == 3
    result = cli("rollback", second["run_id"], "--json")
    assert result.code == 0, result.stderr
    assert result.json()["suppressions_removed"] == 3
    assert len(exported(cli)) == 5  # bob and user@... stay: the first run asserted them too
    assert cli("rollback", second["run_id"]).code == 2  # twice is refused (a bad value)
    again = cli("ingest", "--tenant", "acme", "--json", GENERIC[1]).json()
    assert again["status"] == "succeeded" and again["suppressions_added"] == 3
    assert first["status"] == "succeeded"


def test_events_file_reasons_scopes_and_unknown_status(cli):
    s = cli("ingest", "--tenant", "acme", "--json", "--max-reject-rate", "0.2", EVENTS).json()
    assert s["rejects_by_error"] == {"unknown_status": 1}
    assert s["deliveries"] == 2
    assert s["time_warnings"] == {"unparseable_time": 1}
    (example,) = s["time_warning_examples"]["unparseable_time"]  # the raw string is kept, with its line
    from pipelines.store import open_store

    with open_store(str(cli.store)) as st:
        stored = st.con.execute("SELECT line, value, warning FROM row_warnings WHERE run_id = %s"
                                .replace("%s", "?" if st.dialect == "duckdb" else "%s"), [s["run_id"]]).fetchall()
    assert stored == [(example["line"], example["value"], "unparseable_time")]
    assert example["value"] and example["file"].endswith("delivery_events.csv")
    rows = {(r["address"], r["reason"], r["scope"]) for r in exported(cli)}
    assert rows == {
        ("soft.bounce@example.com", "soft_bounce", "all"),
        ("gone@example.org", "hard_bounce", "all"),
        ("angry@example.net", "spam_complaint", "all"),
        ("leaver@example.com", "unsubscribe", "marketing"),
        ("+14155550142", "unsubscribe", "marketing"),
    }
    soft = next(r for r in exported(cli) if r["address"] == "soft.bounce@example.com")
    assert soft["first_seen_at"].startswith("2025-01-03") and soft["last_seen_at"].startswith("2025-01-04")


def test_check_follows_the_blocking_rules(cli):
    cli("ingest", "--tenant", "acme", "--json", "--max-reject-rate", "0.2", EVENTS)
    inputs = ["GONE@example.org", "leaver@example.com", "soft.bounce@example.com", "nobody@example.com",
              "not an address", "(415) 555-0142"]
    marketing = cli("check", "--tenant", "acme", "--json", "--default-region", "US", *inputs).json()
    assert [r["input"] for r in marketing] == inputs
    assert [r["suppressed"] for r in marketing] == [True, True, False, False, False, True]
    assert marketing[0]["address"] == "gone@example.org" and marketing[0]["reasons"] == ["hard_bounce"]
    assert marketing[2]["reasons"] == ["soft_bounce"]  # evidence, not a block
    assert marketing[4]["address"] is None
    assert marketing[5]["channel"] == "sms" and marketing[5]["address"] == "+14155550142"
    transactional = cli("check", "--tenant", "acme", "--json", "--purpose", "transactional", "--default-region", "US", *inputs).json()
    assert [r["suppressed"] for r in transactional] == [True, False, False, False, False, False]


def test_check_reads_a_file(cli, tmp_path):
    cli("ingest", "--tenant", "acme", "--json", *GENERIC)
    f = tmp_path / "to_check.txt"
    f.write_text("bob@example.com\n\nalice@example.com\nfresh@example.com\n")
    got = cli("check", "--tenant", "acme", "--json", "--file", f).json()
    assert [(r["address"], r["suppressed"]) for r in got] == [
        ("bob@example.com", True), ("alice@example.com", True), ("fresh@example.com", False)]


@pytest.mark.parametrize("args", [
    ["ingest", "--tenant", "acme", "--reason", "bounced", "x.csv"],
    ["ingest", "x.csv"],
    ["ingest", "--tenant", "acme", "--max-reject-rate", "2", "x.csv"],
    ["check", "--tenant", "acme", "--purpose", "sales", "a@example.com"],
    ["export", "--tenant", "acme", "--format", "xml"],
])
def test_bad_usage_exits_2(cli, args, tmp_path):
    (tmp_path / "x.csv").write_text("email\na@example.com\n")
    args = [str(tmp_path / a) if a == "x.csv" else a for a in args]
    result = cli(*args)
    assert result.code == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr


def test_runs_lists_newest_first(cli):
    ingest_first_file(cli)
    ingest_first_file(cli)
    runs = cli("runs", "--tenant", "acme", "--json").json()
    assert [r["status"] for r in runs] == ["skipped", "succeeded"]


def test_the_same_file_twice_in_one_run_is_read_once(cli, tmp_path):
    copy = tmp_path / "copy_of_bounces.csv"
    copy.write_bytes(GENERIC[1].read_bytes())
    s = cli("ingest", "--tenant", "acme", "--json", GENERIC[1], copy).json()
    assert s["status"] == "succeeded"
    assert s["duplicate_files"] == {str(copy): str(GENERIC[1])}
    assert s["rows_read"] == 5 and s["suppressions_added"] == 5


def test_key_seen_in_several_files_keeps_lineage_per_file(cli, tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("address,event,occurred_at\nx@example.com,hard_bounce,2024-01-01T00:00:00Z\nx@example.com,hard_bounce,2024-02-01T00:00:00Z\n")
    b.write_text("address,event,occurred_at\nX@example.com,hard_bounce,2023-06-01T00:00:00Z\ny@example.com,hard_bounce,\n")
    s = cli("ingest", "--tenant", "acme", "--json", a, b).json()
    assert (s["suppressions_added"], s["duplicates_collapsed"]) == (2, 2)
    rows = {r["address"]: r for r in exported(cli)}
    assert rows["x@example.com"]["first_seen_at"].startswith("2023-06-01")
    assert rows["x@example.com"]["last_seen_at"].startswith("2024-02-01")
    from pipelines.store import open_store

    with open_store(str(cli.store)) as st:
        lineage = st.con.execute(
            "SELECT s.address, r.path, l.first_line, l.row_count FROM suppression_lineage l "
            "JOIN run_files r ON r.run_id = l.run_id AND r.sha256 = l.source_sha256 "
            "JOIN suppressions s ON s.address = l.address ORDER BY 1, 2").fetchall()
    assert lineage == [("x@example.com", str(a), 2, 2), ("x@example.com", str(b), 2, 1), ("y@example.com", str(b), 3, 1)]


def test_the_key_aggregate_in_slices_gives_the_same_store(tmp_path, monkeypatch):
    """Staging aggregates big runs in slices of the addresses (run/stage.py key_slices), and carries
    text columns as enums unless they have too many values (ENUM_MAX): every slicing, with enums or
    text, must give the same suppressions, lineage and counts as one aggregate."""
    from pipelines.run import stage
    from tests.conftest import run_cli

    rows = [f"{'U' if i % 3 == 0 else 'u'}ser{i % 40}@example.com,{'hard_bounce' if i % 3 else 'spam_complaint'},"
            f"2024-0{1 + i % 9}-0{1 + i % 7}T00:00:00Z" for i in range(200)]
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("address,event,occurred_at\n" + "\n".join(rows[:120]) + "\n")
    b.write_text("address,event,occurred_at\n" + "\n".join(rows[80:]) + "\n")  # 40 rows in both files
    results = []
    # 1 slice, 4, 32, 64 (the most there are); text columns as enums, then as text (0 values allowed)
    for per_slice, enum_max in ((10**9, 65_536), (50, 65_536), (7, 65_536), (1, 65_536), (10**9, 0), (7, 0)):
        monkeypatch.setattr(stage, "ROWS_PER_SLICE", per_slice)
        monkeypatch.setattr(stage, "ENUM_MAX", enum_max)
        store = tmp_path / f"store-{per_slice}-{enum_max}.duckdb"
        summary = run_cli("ingest", "--tenant", "acme", "--json", "--store", store, a, b).json()
        export = run_cli("export", "--tenant", "acme", "--store", store).stdout
        results.append((summary["suppressions_in_run"], summary["duplicates_collapsed"], summary["by_reason"],
                        [r for r in csv.DictReader(io.StringIO(export))]))
    assert results[0][0] == 80  # 40 addresses, each with both reasons (40 = 1 mod 3)
    for other in results[1:]:
        assert [x for x in other[:3]] == [x for x in results[0][:3]]
        assert [{k: v for k, v in r.items() if k not in ("created_run_id", "last_run_id")} for r in other[3]] == [
            {k: v for k, v in r.items() if k not in ("created_run_id", "last_run_id")} for r in results[0][3]]
