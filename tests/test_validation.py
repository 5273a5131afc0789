"""Great Expectations suites from expectations/: run on every ingest, stored, and able to refuse."""
from __future__ import annotations

import json
from datetime import UTC, datetime

import polars as pl

import pipelines.validate as validate_module
from pipelines.validate import validate
from tests.conftest import ROOT, SAMPLES

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def canonical(**overrides) -> pl.DataFrame:
    row = {"tenant": "acme", "channel": "email", "address": "a@example.com", "reason": "hard_bounce", "scope": "all",
           "first_seen_at": T0, "last_seen_at": T0, "source_platform": "sendgrid"}
    rows = [row, {**row, "address": "b@example.com"}]
    for key, value in overrides.items():
        rows[1][key] = value
    return pl.DataFrame(rows)


def test_clean_batch_passes():
    outcome = validate(canonical(), "canonical_suppression")
    assert outcome.success
    assert outcome.rows_validated == 2
    assert not outcome.critical_failures


def test_unknown_reason_duplicate_key_and_bad_address_fail_critically():
    assert {f.expectation for f in validate(canonical(reason="bounced"), "canonical_suppression").critical_failures} == {
        "expect_column_values_to_be_in_set"}
    dup = validate(canonical(address="a@example.com"), "canonical_suppression")
    assert "expect_compound_columns_to_be_unique" in {f.expectation for f in dup.critical_failures}
    bad = validate(canonical(address="Not An Address"), "canonical_suppression")
    failed = {(f.expectation, f.column) for f in bad.critical_failures}
    assert ("expect_column_values_to_match_regex", "address") in failed
    regex = next(r for r in bad.results if r.expectation == "expect_column_values_to_match_regex" and r.column == "address")
    assert regex.observed["unexpected_count"] == 1 and regex.observed["partial_unexpected_list"] == ["Not An Address"]


def test_ingest_stores_the_validation_with_the_run(cli):
    s = cli("ingest", "--tenant", "acme", "--json", SAMPLES / "sendgrid" / "blocks.csv").json()
    from pipelines.store import open_store

    with open_store(str(cli.store)) as st:
        run = st.run(s["run_id"])
    suites = {v["suite"]: v for v in run["validation"]["suites"]}
    assert suites["canonical_suppression"]["success"] is True
    assert suites["canonical_suppression"]["rows_validated"] == s["suppressions_in_run"]
    assert len(suites["canonical_suppression"]["results"]) == len(
        json.loads((ROOT / "expectations" / "canonical_suppression.json").read_text())["expectations"])


def test_failed_critical_expectation_refuses_the_run(cli, tmp_path, monkeypatch):
    # The audit runs inside the load's transaction, after the merge: a refusal must undo all of it.
    earlier = tmp_path / "earlier.csv"
    earlier.write_text("address,event,occurred_at\nkept@example.com,manual,2024-01-01T00:00:00Z\n")
    assert cli("ingest", "--tenant", "acme", earlier).code == 0
    before = cli("export", "--tenant", "acme").stdout
    suite = json.loads((ROOT / "expectations" / "canonical_suppression.json").read_text())
    for e in suite["expectations"]:
        if e["type"] == "expect_column_values_to_be_in_set" and e["kwargs"]["column"] == "reason":
            e["kwargs"]["value_set"] = ["manual"]  # a suite that no bounce list can pass
    (tmp_path / "canonical_suppression.json").write_text(json.dumps(suite))
    (tmp_path / "quarantine_record.json").write_text((ROOT / "expectations" / "quarantine_record.json").read_text())
    monkeypatch.setattr(validate_module, "EXPECTATIONS_DIR", tmp_path)
    result = cli("ingest", "--tenant", "acme", "--json", SAMPLES / "sendgrid" / "blocks.csv")
    assert result.code == 3
    assert "validation failed: expect_column_values_to_be_in_set(reason)" in result.stderr
    assert result.json()["status"] == "failed"
    assert cli("export", "--tenant", "acme").stdout == before  # the store exactly as it was
    from pipelines.store import open_store

    with open_store(str(cli.store)) as st:
        failed = st.run(result.json()["run_id"])
    assert failed["status"] == "failed" and not failed["validation"]["success"]  # the audit is kept


def test_quarantine_suite_knows_every_error_code():
    from pipelines.model import ERROR_CODES

    suite = json.loads((ROOT / "expectations" / "quarantine_record.json").read_text())
    (in_set,) = [e for e in suite["expectations"] if e["type"] == "expect_column_values_to_be_in_set"]
    assert sorted(in_set["kwargs"]["value_set"]) == sorted(ERROR_CODES)
