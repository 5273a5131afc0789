"""`suppress sources`: the nightly sync's state per configured source (watermark, last run, last
error), and the same state in the trends report's Sources table. Two real nights against the fake
APIs, into each store: night 1 SendGrid and Brevo load; night 2 SendGrid loads what is new and
Brevo's key is wrong (HTTP 401); Postmark is configured but has never run."""
from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest

from pipelines.report.html import render_trends
from pipelines.report.trends import build_trends
from pipelines.store import open_store
from pipelines.sync.config import load_sources
from pipelines.sync.run import format_watermark, sync_tenant
from tests.conftest import run_cli
from tests.sync.conftest import ENV, NIGHT1, NIGHT2, sources_toml
from tests.sync.fake_api import FakeApis

MARK1, MARK2 = format_watermark(NIGHT1), format_watermark(NIGHT2)
WRONG_KEY = "xkeysib-wrong-but-secret-0666"
# What appeared on SendGrid between the nights (tests/sync/test_sync_store.py: NEW).
SENDGRID_NEW = 4


@pytest.fixture
def nights(store, tmp_path, monkeypatch):
    """Two nights of tenant acme (plus a globex source in the same file that never runs); returns
    (sources file, {night: {source: report}})."""
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    apis = FakeApis(now=NIGHT1).start()
    try:
        path = tmp_path / "sources.toml"
        path.write_text(sources_toml(apis.url, ("sendgrid", "brevo", "postmark"))
                        + sources_toml(apis.url, ("klaviyo",), tenant="globex").split("\n\n", 1)[1])
        acme = [s for s in load_sources(path) if s.tenant == "acme" and s.platform != "postmark"]
        reports = {}
        reports[1], errors = sync_tenant(acme, str(store), now=NIGHT1, sleep=lambda s: None)
        assert errors == []
        apis.now = NIGHT2
        monkeypatch.setenv("ACME_BREVO_KEY", WRONG_KEY)
        reports[2], errors = sync_tenant(acme, str(store), now=NIGHT2, sleep=lambda s: None)
        assert [str(e).split(": ", 1)[0] for e in errors] == ["acme/brevo-main (brevo)"]
    finally:
        apis.stop()
    return path, {n: {r["source"]: r for r in rs} for n, rs in reports.items()}


def test_sources_json_shows_each_configured_source_state(cli, nights):
    path, reports = nights
    result = cli("sources", "--tenant", "acme", "--sources", path, "--json")
    assert result.code == 0, result.stderr
    doc = result.json()
    assert (doc["tenant"], doc["sources_file"]) == ("acme", str(path))
    by_name = {s["source"]: s for s in doc["sources"]}
    assert list(by_name) == ["sendgrid-main", "brevo-main", "postmark-main"]  # the file's order; not globex's

    sendgrid = by_name["sendgrid-main"]
    night2 = reports[2]["sendgrid-main"]["ingest"]
    assert (sendgrid["platform"], sendgrid["watermark"], sendgrid["watermark_run_id"]) == (
        "sendgrid", MARK2, night2["run_id"])
    assert sendgrid["last_run"] | {"started_at": None, "finished_at": None} == {
        "run_id": night2["run_id"], "kind": "ingest", "status": "succeeded", "started_at": None,
        "finished_at": None, "rows_read": night2["rows_read"], "rows_rejected": 0, "suppressions_added": SENDGRID_NEW}
    assert sendgrid["last_error"] is None

    # Brevo: the watermark stays at night 1 (moved by night 1's load); night 2's pull failed, and
    # that failure is both its last run and its last error.
    brevo = by_name["brevo-main"]
    assert (brevo["watermark"], brevo["watermark_run_id"]) == (MARK1, reports[1]["brevo-main"]["ingest"]["run_id"])
    assert (brevo["last_run"]["kind"], brevo["last_run"]["status"], brevo["last_run"]["suppressions_added"]) == (
        "sync", "failed", 0)
    assert brevo["last_error"]["run_id"] == brevo["last_run"]["run_id"]
    assert brevo["last_error"]["error"] == reports[2]["brevo-main"]["error"]
    assert brevo["last_error"]["error"].startswith("acme/brevo-main (brevo): GET /v3/smtp/blockedContacts answered "
                                                   "HTTP 401")
    assert WRONG_KEY not in result.stdout

    assert by_name["postmark-main"] == {"tenant": "acme", "source": "postmark-main", "platform": "postmark",
                                        "watermark": None, "watermark_run_id": None, "last_run": None,
                                        "last_error": None}


def test_sources_plain_text_from_the_environment(nights, store, monkeypatch):
    path, reports = nights
    monkeypatch.setenv("SUPPRESSION_SOURCES", str(path))
    monkeypatch.setenv("SUPPRESSION_STORE", str(store))
    result = run_cli("sources", "--tenant", "acme")
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    brevo_run = reports[2]["brevo-main"]
    assert lines[0] == f"acme: 3 sync sources in {path}"
    assert lines[1] == "sendgrid-main (sendgrid)"
    assert lines[2] == "  watermark   2024-05-11 02:00:00 UTC"
    assert lines[3].startswith(f"  last run    {reports[2]['sendgrid-main']['ingest']['run_id']} succeeded at ")
    assert lines[3].endswith(f", {reports[2]['sendgrid-main']['ingest']['rows_read']} rows read, 4 added")
    assert lines[4] == "  last error  none"
    assert lines[5:7] == ["brevo-main (brevo)", "  watermark   2024-05-10 02:00:00 UTC"]
    assert re.fullmatch(r"  last run    run_\S+ failed at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC, "
                        r"the pull failed: nothing loaded", lines[7]), lines[7]
    assert lines[8].startswith("  last error  ") and lines[8].endswith(brevo_run["error"])
    assert lines[9:] == ["postmark-main (postmark)", "  watermark   none yet (never loaded)", "  last run    none yet",
                         "  last error  none"]


def test_a_store_that_does_not_exist_is_refused_and_not_created(tmp_path):
    path = tmp_path / "sources.toml"
    path.write_text(sources_toml("http://127.0.0.1:9", ("sendgrid",)))
    missing = tmp_path / "typo.duckdb"
    result = run_cli("sources", "--tenant", "acme", "--sources", path, "--store", missing)
    assert result.code == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "does not exist" in result.stderr
    assert not missing.exists()


def test_usage_errors(tmp_path, monkeypatch):
    path = tmp_path / "sources.toml"
    path.write_text(sources_toml("http://127.0.0.1:9", ("sendgrid",)))
    result = run_cli("sources", "--tenant", "initech", "--sources", path, "--store", tmp_path / "x.duckdb")
    assert result.code == 2 and "no sources for tenant 'initech'" in result.stderr
    monkeypatch.delenv("SUPPRESSION_SOURCES", raising=False)
    result = run_cli("sources", "--tenant", "acme", "--store", tmp_path / "x.duckdb")
    assert result.code == 2 and "--sources or $SUPPRESSION_SOURCES" in result.stderr


def test_trends_sources_table_shows_watermark_last_run_and_last_error(nights, store):
    _, reports = nights
    with open_store(str(store)) as st:
        t = build_trends(st, NIGHT1 - timedelta(days=1), None, "acme")
    rows = {s["source"]: s for s in t["sources"]}
    assert set(rows) == {"sync:sendgrid-main", "sync:brevo-main"}
    assert rows["sync:sendgrid-main"]["sync"]["watermark"] == MARK2
    assert rows["sync:brevo-main"]["sync"]["watermark"] == MARK1
    assert rows["sync:brevo-main"]["sync"]["last_error"]["error"] == reports[2]["brevo-main"]["error"]
    # The failed pull is a failed run, not a night that brought 0 rows.
    assert [(f["source"], f["kind"]) for f in t["flags"]] == [("sync:brevo-main", "failed_run")]
    assert [p["rows_read"] for p in t["series"] if p["source"] == "sync:brevo-main"] == [
        reports[1]["brevo-main"]["ingest"]["rows_read"]]
    assert [(s["source"], s["in_period"]) for s in t["sync_state"]] == [
        ("sync:brevo-main", True), ("sync:sendgrid-main", True)]
    json.dumps(t, default=str)

    html = render_trends(t)
    brevo_row = html.split('<tr data-sync="sync:brevo-main">')[1].split("</tr>")[0]
    assert '<td class="mono" data-cell="watermark">2024-05-10 02:00:00 UTC</td>' in brevo_row
    assert '<span class="badge failed">failed</span>' in brevo_row
    assert "answered HTTP 401" in brevo_row.split('data-cell="last-error"')[1]
    sendgrid_row = html.split('<tr data-sync="sync:sendgrid-main">')[1].split("</tr>")[0]
    assert "2024-05-11 02:00:00 UTC" in sendgrid_row and "4 added" in sendgrid_row
    assert '<td data-cell="last-error"><span class="muted">none</span></td>' in sendgrid_row


def test_trends_list_a_sync_source_without_runs_in_the_period(nights, store):
    with open_store(str(store)) as st:
        t = build_trends(st, NIGHT2 + timedelta(days=5), None, "acme")  # both nights are before the period
    assert t["sources"] == []
    idle = {s["source"]: s for s in t["sync_state"]}
    assert set(idle) == {"sync:sendgrid-main", "sync:brevo-main"} and not any(s["in_period"] for s in idle.values())
    assert idle["sync:sendgrid-main"]["watermark"] == MARK2 and idle["sync:sendgrid-main"]["platform"] == "sendgrid"
    html = render_trends(t)
    row = html.split('<tr data-sync="sync:sendgrid-main">')[1].split("</tr>")[0]
    assert "no runs in this period" in row and "2024-05-11 02:00:00 UTC" in row
