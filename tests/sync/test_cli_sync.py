"""`suppress sync` end to end through the real CLI entry point, against the fake APIs."""
from __future__ import annotations

import pytest

from tests.conftest import run_cli

from .conftest import NIGHT1, TENANT, sources_toml
from .fake_api import KEYS

STATS = {"records", "pages", "requests", "retries", "rate_limited", "transient_errors", "waited_seconds"}


@pytest.fixture
def two_sources(apis, api_env, tmp_path):
    path = tmp_path / "sources.toml"
    path.write_text(sources_toml(apis.url, ("ses", "brevo")) + sources_toml(apis.url, ("klaviyo",), tenant="globex")
                    .split("\n\n", 1)[1])
    return path


def test_sync_json_reports_each_source(apis, two_sources, cli):
    apis.fail("/v3/smtp/", 429, headers={"x-sib-ratelimit-reset": "0"})
    result = cli("sync", "--tenant", TENANT, "--sources", two_sources, "--json")
    assert result.code == 0, result.stderr
    doc = result.json()
    assert doc["tenant"] == TENANT
    by_name = {r["source"]: r for r in doc["sources"]}
    assert set(by_name) == {"ses-main", "brevo-main"}  # globex's source is not this tenant's
    for r in by_name.values():
        assert STATS <= set(r) and r["status"] == "succeeded"
        assert r["old_watermark"] is None and r["new_watermark"]
        assert r["ingest"]["status"] == "succeeded" and r["ingest"]["run_id"]
        assert r["ingest"]["rows_read"] == r["records"] > 0
    assert by_name["brevo-main"]["rate_limited"] == 1 and by_name["brevo-main"]["retries"] == 1
    assert by_name["ses-main"]["files"] == ["ses_suppressed_destinations.json"]

    again = cli("sync", "--tenant", TENANT, "--sources", two_sources, "--source", "ses-main", "--json").json()
    [ses] = again["sources"]
    assert ses["old_watermark"] == by_name["ses-main"]["new_watermark"] and ses["since"] is not None
    checked = cli("check", "--tenant", TENANT, "--json", "ses.bounced@example.com", "br.hard@example.com")
    assert [r["suppressed"] for r in checked.json()] == [True, True]


def test_sources_from_the_environment_and_plain_output(apis, two_sources, tmp_path, monkeypatch):
    monkeypatch.setenv("SUPPRESSION_SOURCES", str(two_sources))
    monkeypatch.setenv("SUPPRESSION_STORE", str(tmp_path / "env.duckdb"))
    result = run_cli("sync", "--tenant", "globex")
    assert result.code == 0, result.stderr
    assert "klaviyo-main" in result.stdout and "succeeded" in result.stdout


def test_one_failing_source_does_not_stop_the_others(apis, two_sources, tmp_path, monkeypatch):
    monkeypatch.setenv("ACME_BREVO_KEY", "xkeysib-wrong-but-secret-0666")
    result = run_cli("sync", "--tenant", TENANT, "--sources", two_sources, "--json", "--store", tmp_path / "s.duckdb")
    assert result.code == 1
    by_name = {r["source"]: r for r in result.json()["sources"]}
    assert by_name["ses-main"]["status"] == "succeeded"
    assert by_name["brevo-main"]["status"] == "failed" and "HTTP 401" in by_name["brevo-main"]["error"]
    assert by_name["brevo-main"]["new_watermark"] is None  # never moved
    assert result.stderr.count("\n") == 1 and "1 of 2 sources failed" in result.stderr
    assert "wrong-but-secret" not in result.stdout + result.stderr and KEYS["brevo"] not in result.stdout


@pytest.mark.parametrize(("args", "message"), [
    (("--tenant", TENANT, "--source", "nope"), "tenant 'acme' has no source 'nope'"),
    (("--tenant", "initech"), "no sources for tenant 'initech'"),
])
def test_usage_errors(two_sources, args, message):
    result = run_cli("sync", "--sources", str(two_sources), *args)
    assert result.code == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_no_sources_file_named(monkeypatch):
    monkeypatch.delenv("SUPPRESSION_SOURCES", raising=False)
    result = run_cli("sync", "--tenant", TENANT)
    assert result.code == 2 and "--sources or $SUPPRESSION_SOURCES" in result.stderr


def test_night_clock_is_the_pull_start(apis, two_sources, tmp_path):
    apis.now = NIGHT1
    result = run_cli("sync", "--tenant", TENANT, "--sources", two_sources, "--source", "ses-main", "--json",
                     "--store", tmp_path / "s.duckdb").json()
    [ses] = result["sources"]
    assert ses["new_watermark"] > NIGHT1.isoformat()  # real time: the CLI pulls now
