"""Per-run data-quality reports (SPEC 4.3): the JSON figures against known samples and the store,
reports for refused and dry runs, escaping, and the CSV formula guard."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import polars as pl
import pytest

from pipelines.store import open_store
from pipelines.writers import guard_formulas
from tests.conftest import SAMPLES

GENERIC = [SAMPLES / "generic" / "bounced_addresses.csv", SAMPLES / "generic" / "no_header_crlf.txt"]
UNSUBSCRIBES = SAMPLES / "sendgrid" / "global_unsubscribes.csv"
COMPLAINTS = SAMPLES / "mailgun" / "complaints.csv"
KNOWN = [*GENERIC, UNSUBSCRIBES, COMPLAINTS]


def _without_time(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k != "generated_at"}


def test_run_report_figures_match_the_samples_and_the_store(cli, tmp_path):
    result = cli("ingest", "--tenant", "acme", "--json", *KNOWN)
    assert result.code == 0, result.stderr
    summary = result.json()
    html_path = Path(summary["report"])
    assert html_path.name == "report.html" and html_path.parent.name == summary["run_id"]
    written = json.loads((html_path.parent / "report.json").read_text())

    out = tmp_path / "again"
    again = cli("report", summary["run_id"], "--output", out, "--json")
    assert again.code == 0, again.stderr
    r = again.json()
    assert _without_time(r) == _without_time(written)  # the report of a run is the same whenever it is written
    assert (out / "report.html").is_file() and json.loads((out / "report.json").read_text())["run_id"] == r["run_id"]

    # The known samples: 12 generic rows (1 bad), 5 SendGrid unsubscribes (one address twice),
    # 4 Mailgun complaints (the header word "To" as an address).
    assert (r["status"], r["tenant"], r["dry_run"]) == ("succeeded", "acme", False)
    assert (r["rows_read"], r["rows_accepted"], r["rows_rejected"]) == (21, 19, 2)
    assert r["reject_rate"] == pytest.approx(2 / 21, abs=1e-6)
    assert r["rejects_by_error"] == {"missing_at": 2}
    examples = {(Path(e["file"]).name, e["line"], e["value"]) for e in r["reject_examples"]["missing_at"]}
    # masked: a report never holds a raw value (the file and line lead to it)
    assert examples == {("bounced_addresses.csv", 4, "n***-a***-e***"), ("complaints.csv", 4, "T***")}
    assert r["duplicates_collapsed"] == 4
    assert (r["suppressions_in_run"], r["suppressions_added"], r["suppressions_updated"]) == (15, 15, 0)
    assert (r["suppressions_already_present"], r["suppressions_unchanged"]) == (0, 0)
    assert r["by_channel"] == {"email": 15}
    assert r["by_reason_total"] == {"hard_bounce": 8, "unsubscribe": 4, "spam_complaint": 3}
    assert r["by_scope"] == {"all": 11, "marketing": 4}
    assert [(p["platform"], p["files"], p["rows_read"], p["rows_accepted"], p["rows_rejected"]) for p in r["by_platform"]] == [
        ("generic", 2, 12, 11, 1), ("sendgrid", 1, 5, 5, 0), ("mailgun", 1, 4, 3, 1)]
    assert [(Path(f["path"]).name, f["platform"], f["rows_read"], f["rows_rejected"]) for f in r["files"]] == [
        ("bounced_addresses.csv", "generic", 7, 1), ("no_header_crlf.txt", "generic", 5, 0),
        ("global_unsubscribes.csv", "sendgrid", 5, 0), ("complaints.csv", "mailgun", 4, 1)]
    assert {s["suite"] for s in r["validation"]["suites"]} == {"canonical_suppression", "quarantine_record"}
    canonical = next(s for s in r["validation"]["suites"] if s["suite"] == "canonical_suppression")
    assert canonical["success"] and canonical["rows_total"] == 15 and canonical["failed"] == 0
    assert all(e["expectation"].startswith("expect_") and "observed" in e for e in canonical["results"])
    assert any(e["observed"].get("element_count") == 15 for e in canonical["results"])

    # ...and what the store holds says the same.
    with open_store(str(cli.store)) as st:
        rejects = st.rejects(r["run_id"])
        exported = st.export("acme")
        run_files = st.run_files(r["run_id"])
    assert dict(rejects.group_by("error").len().iter_rows()) == r["rejects_by_error"]
    assert exported.filter(pl.col("created_run_id") == r["run_id"]).height == r["suppressions_added"]
    assert dict(exported.group_by("reason").len().iter_rows()) == r["by_reason_total"]
    assert [(f["path"], f["rows_read"], f["rows_rejected"]) for f in run_files] == [
        (f["path"], f["rows_read"], f["rows_rejected"]) for f in r["files"]]

    # The same files again (--force): nothing new; every suppression was already present.
    forced = cli("ingest", "--tenant", "acme", "--json", "--force", *KNOWN).json()
    r2 = json.loads((Path(forced["report"]).parent / "report.json").read_text())
    assert (r2["suppressions_added"], r2["suppressions_already_present"], r2["suppressions_unchanged"]) == (0, 15, 15)


def test_html_shows_the_figures_and_contacts_when_tracked(cli):
    from pipelines.report.html import render_run
    from pipelines.report.run import build_run_report

    summary = cli("ingest", "--tenant", "acme", "--json", *KNOWN).json()
    html = Path(summary["report"]).read_text()
    assert 'data-figure="rows_read">21<' in html and 'data-figure="rows_rejected">2<' in html
    assert 'data-figure="suppressions_added">15<' in html and 'data-figure="duplicates_collapsed">4<' in html
    assert "n***-a***-e***" in html and "not-an-email" not in html
    assert "missing_at" in html and "expect_column_values_to_not_be_null" in html
    assert "<script" not in html and "http://" not in html and "https://" not in html  # self-contained
    assert html.count("<svg") >= 5

    with open_store(str(cli.store)) as st:
        doc = build_run_report(st, summary["run_id"])
    tracked = "contacts_blocked" in st_summary(cli.store, summary["run_id"])
    assert doc["contacts_tracked"] is tracked
    if not tracked:
        assert 'data-figure="contacts_blocked">not tracked<' in html
    doc.update(contacts_tracked=True, contacts_blocked=7,
               contacts_blocked_by={"email_suppressed": 4, "sms_suppressed": 1, "marketing_unsubscribed": 2})
    shown = render_run(doc)
    assert 'data-figure="contacts_blocked">7<' in shown and "unsubscribed 2" in shown and "email off 4" in shown


def st_summary(store, run_id: str) -> dict:
    with open_store(str(store)) as st:
        return st.run(run_id)["summary"]


def test_contacts_blocked_read_from_the_summary():
    from pipelines.report.run import _contacts

    assert _contacts({}) == {"contacts_tracked": False, "contacts_blocked": None, "contacts_blocked_by": None}
    got = _contacts({"contacts_blocked": 3, "contacts_blocked_by": {"email_suppressed": 3}})
    assert got == {"contacts_tracked": True, "contacts_blocked": 3,
                   "contacts_blocked_by": {"email_suppressed": 3, "sms_suppressed": 0, "marketing_unsubscribed": 0}}


def test_refused_run_has_a_report_that_says_why(cli):
    result = cli("ingest", "--tenant", "acme", "--json", GENERIC[0])  # 1 bad row in 7: over 10%
    assert result.code == 3
    summary = result.json()
    r = json.loads((Path(summary["report"]).parent / "report.json").read_text())
    assert r["status"] == "failed" and "over the limit" in r["error"]
    assert (r["rows_read"], r["rows_rejected"], r["rejects_by_error"]) == (7, 1, {"missing_at": 1})
    assert r["suppressions_added"] == 0 and r["validation"] is None
    html = Path(summary["report"]).read_text()
    assert "over the limit" in html and 'data-figure="status">failed<' in html


def test_dry_run_report_counts_what_would_change(cli):
    summary = cli("ingest", "--tenant", "acme", "--json", "--dry-run", *GENERIC).json()
    r = json.loads((Path(summary["report"]).parent / "report.json").read_text())
    assert r["dry_run"] is True and r["status"] == "succeeded" and r["suppressions_added"] == 8
    assert "would be new" in Path(summary["report"]).read_text()
    assert cli("export", "--tenant", "acme").stdout.count("\n") == 1  # header only: nothing loaded


def test_skipped_run_report_names_the_run_that_loaded_it(cli):
    first = cli("ingest", "--tenant", "acme", "--json", *GENERIC).json()
    again = cli("ingest", "--tenant", "acme", "--json", *GENERIC).json()
    assert again["status"] == "skipped" and again["report"], again
    r = json.loads((Path(again["report"]).parent / "report.json").read_text())
    assert (r["status"], r["skipped_because"], r["rows_read"], r["suppressions_added"]) == ("skipped", first["run_id"], 0, 0)
    assert first["run_id"] in Path(again["report"]).read_text()


def test_report_dir_option_and_a_failing_report_never_fails_the_load(cli, tmp_path, caplog):
    chosen = tmp_path / "mine"
    ok = cli("ingest", "--tenant", "acme", "--json", "--report-dir", chosen, *GENERIC).json()
    assert ok["report"] == str((chosen / "report.html").resolve()) and (chosen / "report.json").is_file()

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = cli("ingest", "--tenant", "other", "--json", "--report-dir", blocker / "sub", *GENERIC)
    assert result.code == 0, result.stderr
    s = result.json()
    assert s["status"] == "succeeded" and s["suppressions_added"] == 8
    assert s["report"] is None and "report_error" in s
    assert any("could not be written" in r.getMessage() for r in caplog.records)
    assert len(cli("export", "--tenant", "other").stdout.splitlines()) == 9  # loaded all the same


def test_report_command_usage(cli, tmp_path):
    run_id = cli("ingest", "--tenant", "acme", "--json", *GENERIC).json()["run_id"]
    assert cli("report", run_id, "--tenant", "acme").code == 2
    assert cli("report").code == 2
    missing = cli("report", "run_nope")
    assert missing.code == 1 and "no run run_nope" in missing.stderr and "Traceback" not in missing.stderr
    assert cli("report", "--tenant", "acme", "--since", "last tuesday").code == 2
    human = cli("report", run_id, "--output", tmp_path / "out")
    assert human.code == 0 and "report.html" in human.stdout


def test_values_are_escaped_and_nothing_executes(cli, tmp_path):
    nasty = tmp_path / "<img src=x onerror=alert(1)>.csv"
    nasty.write_text(
        "email\n"
        "<script>window.pwned=1</script>@example.com\n"
        "ok1@example.com\nok2@example.com\nok3@example.com\nok4@example.com\n"
        "ok5@example.com\nok6@example.com\nok7@example.com\nok8@example.com\nok9@example.com\n"
    )
    summary = cli("ingest", "--tenant", "acme", "--json", "--max-reject-rate", "0.5", nasty).json()
    assert summary["rows_rejected"] == 1
    html = Path(summary["report"]).read_text()
    assert "<script>window.pwned" not in html and "<img src=x" not in html
    assert "&lt;s***&gt;w***.p***=1&lt;/s***&gt;@e***.c***" in html  # masked, and escaped
    assert "&lt;img src=x onerror=alert(1)&gt;.csv" in html


# ---------------------------------------------------------------------------------------------
# CSV outputs: spreadsheet formulas are made inert


def test_guard_formulas_is_one_function_over_whole_columns():
    frame = pl.DataFrame({
        "value": ["=1+1", "+14155550100", "-jane@example.com", "@SUM(A1)", "plain", "\tx", None, "-1", "+1 415"],
        "line": list(range(9)),
    })
    guarded = guard_formulas(frame)
    assert guarded["value"].to_list() == [
        "'=1+1", "+14155550100", "'-jane@example.com", "'@SUM(A1)", "plain", "'\tx", None, "-1", "'+1 415"]
    assert guarded["line"].to_list() == list(range(9))


def test_rejects_and_export_csv_guard_formula_cells(cli, tmp_path):
    events = tmp_path / "events.csv"
    events.write_text(
        "address,event,occurred_at,detail\n"
        "jane@example.com,hard_bounce,2024-03-01T10:00:00Z,\"=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\"\n"
        "bob@example.com,hard_bounce,2024-03-01T10:00:00Z,@SUM(1+1)\n"
        "carl@example.com,hard_bounce,2024-03-01T10:00:00Z,550 5.1.1 unknown user\n"
        "=cmd|' /C calc'!A0,hard_bounce,2024-03-01T10:00:00Z,x\n"
        "+14155550100,unsubscribe,2024-03-01T10:00:00Z,STOP\n"
    )
    s = cli("ingest", "--tenant", "acme", "--json", "--platform", "events", "--default-region", "US",
            "--max-reject-rate", "0.5", events).json()
    assert s["status"] == "succeeded" and s["rows_rejected"] == 1, s

    rejects = list(csv.DictReader(io.StringIO(cli("rejects", s["run_id"], "--format", "csv").stdout)))
    assert [r["value"] for r in rejects] == ["'=cmd|' /C calc'!A0"]
    assert rejects[0]["line"] == "5"

    rows = {r["address"]: r for r in csv.DictReader(io.StringIO(cli("export", "--tenant", "acme", "--format", "csv").stdout))}
    assert rows["jane@example.com"]["detail"].startswith("'=HYPERLINK(")
    assert rows["bob@example.com"]["detail"] == "'@SUM(1+1)"
    assert rows["carl@example.com"]["detail"] == "550 5.1.1 unknown user"
    assert rows["+14155550100"]["channel"] == "sms"  # a number is not a formula: the phone stays exact
    out = tmp_path / "export.csv"
    assert cli("export", "--tenant", "acme", "--format", "csv", "--output", out).code == 0
    assert "'@SUM(1+1)" in out.read_text()
    jsonl = [json.loads(line) for line in cli("export", "--tenant", "acme", "--format", "jsonl").stdout.splitlines()]
    assert {r["detail"] for r in jsonl} >= {"@SUM(1+1)"}  # JSON is not a spreadsheet: values stay as they are
