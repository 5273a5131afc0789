"""Great Expectations suites from expectations/: run on every ingest, stored, and able to refuse."""
from __future__ import annotations

import json
import os
import signal
import threading
from datetime import UTC, datetime
from pathlib import Path

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


# -- GX in a process of its own -------------------------------------------------------------------

def _failing_batches() -> list:
    return [(canonical(reason="bounced"), "canonical_suppression", 10),
            (canonical(address="a@example.com"), "canonical_suppression", None)]


def _failed(outcomes) -> list[set]:
    return [{(f.expectation, f.column) for f in o.critical_failures} for o in outcomes]


EXPECTED_FAILURES = [{("expect_column_values_to_be_in_set", "reason")},
                     {("expect_compound_columns_to_be_unique", "tenant,channel,address,reason,scope")}]


def test_the_gx_process_gives_what_this_process_gives():
    validate_module.preload()
    worker = validate_module._worker
    pending = validate_module.submit(_failing_batches())
    assert pending.number is not None  # asked of the other process, not here
    outcomes = pending.result()
    assert worker.proc.poll() is None and worker.proc.pid != __import__("os").getpid()
    assert _failed(outcomes) == EXPECTED_FAILURES
    assert [(o.rows_validated, o.rows_total) for o in outcomes] == [(2, 10), (2, 2)]
    here = validate_module.validate_suites(_failing_batches())
    assert [o.to_dict() for o in outcomes] == [o.to_dict() for o in here]


def test_the_gx_process_judges_a_real_run_as_this_process_does(cli, monkeypatch):
    # Every sample platform's staged suppressions and its quarantined rows, as a run hands them
    # over: the GX process reads them from Parquet without Polars and without SQLAlchemy, and must
    # still see the frames this process sees.
    import pipelines.ingest as ingest_module

    handed = []
    real = ingest_module._validate
    monkeypatch.setattr(ingest_module, "_validate",
                        lambda sample, total, rejects: handed.append((sample, total, rejects)) or real(sample, total, rejects))
    cli("ingest", "--tenant", "acme", "--default-region", "US", "--max-reject-rate", "0.5", SAMPLES)
    ((sample, total, rejects),) = handed
    assert sample.height > 100 and rejects.height > 0
    odd = sample.head(3).with_columns(address=pl.Series(["tab\tinside@example.com", "nbsp\u00a0@example.com",
                                                         "ünï@exämple.com"]))
    batches = [(sample, "canonical_suppression", total), (rejects, "quarantine_record", None),
               (odd, "canonical_suppression", None)]
    validate_module.preload()
    pending = validate_module.submit(batches)
    assert pending.number is not None
    there = [o.to_dict() for o in pending.result()]
    assert there == [o.to_dict() for o in validate_module.validate_suites(batches)]
    assert [s["success"] for s in there] == [True, True, False]  # the odd addresses fail the address regex
    failed = {(r["expectation"], r["column"]) for r in there[2]["results"] if not r["success"]}
    assert ("expect_column_values_to_match_regex", "address") in failed


def test_the_gx_process_loads_neither_sqlalchemy_nor_polars():
    # What it does without, seen in the real process once it has answered: the shared libraries
    # it has mapped (both packages load compiled modules on import).
    validate_module.preload()
    worker = validate_module._worker
    validate_module.submit([(canonical(), "canonical_suppression", None)]).result()
    maps = Path(f"/proc/{worker.proc.pid}/maps").read_text()
    assert "great_expectations" in maps or "pandas" in maps  # it did import GX's stack
    assert "sqlalchemy" not in maps and "polars" not in maps


def test_a_dead_gx_process_means_validating_here(caplog):
    validate_module.preload()
    validate_module._worker.proc.kill()
    validate_module._worker.proc.wait()
    outcomes = validate_module.submit(_failing_batches()).result()
    assert _failed(outcomes) == EXPECTED_FAILURES
    assert "GX runs in this process" in caplog.text
    validate_module.preload()  # a new process replaces the dead one
    assert validate_module._worker.proc.poll() is None
    assert validate_module.submit(_failing_batches()).number is not None


def test_an_abandoned_request_does_not_answer_the_next():
    validate_module.preload()
    validate_module.submit(_failing_batches())  # a run that failed before its audit
    clean = validate_module.submit([(canonical(), "canonical_suppression", None)]).result()
    assert len(clean) == 1 and clean[0].success and clean[0].rows_validated == 2


def test_closing_ends_the_gx_process_even_mid_import():
    validate_module._close_worker()
    validate_module.preload()
    proc = validate_module._worker.proc
    validate_module._close_worker()  # at once: it is still importing GX
    assert proc.poll() is not None
    assert validate_module._worker is None


def test_a_pipelines_package_in_the_working_directory_is_not_the_gx_process(tmp_path, monkeypatch, caplog):
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "__init__.py").write_text("")
    (tmp_path / "pipelines" / "validate.py").write_text("raise SystemExit(0)\n")
    monkeypatch.chdir(tmp_path)
    validate_module._close_worker()
    validate_module.preload()
    assert _failed(validate_module.submit(_failing_batches()).result()) == EXPECTED_FAILURES
    assert "GX runs in this process" not in caplog.text


def test_the_gx_process_keeps_no_addresses_on_disk():
    # A run's sample (addresses) is on disk only until the GX process has read it; its folder
    # goes when the run's process does, even one killed without cleaning up.
    validate_module._close_worker()
    validate_module.preload()
    worker = validate_module._worker
    validate_module.submit(_failing_batches()).result()
    assert not list(worker.dir.glob("*.parquet"))
    worker.proc.stdin.close()  # what a killed parent leaves: stdin at its end
    worker.proc.wait(timeout=60)
    assert not worker.dir.exists()
    validate_module._close_worker()


def test_unread_answers_never_block_the_gx_process():
    # Runs that fail before their audit leave answers nobody reads; more of them than a pipe
    # holds once hung the next run (both processes blocked writing to each other).
    validate_module._close_worker()
    validate_module.preload()
    for _ in range(60):
        validate_module.submit(_failing_batches())  # never asked for its result
    answered = []
    waiter = threading.Thread(daemon=True, target=lambda: answered.append(
        validate_module.submit([(canonical(), "canonical_suppression", None)]).result()))
    waiter.start()
    waiter.join(timeout=120)
    assert answered and answered[0][0].success
    assert not validate_module._worker.replies  # the unread answers were dropped


def test_a_gx_process_that_does_not_answer_is_not_waited_for(caplog):
    validate_module._close_worker()
    validate_module.preload()
    worker = validate_module._worker
    os.kill(worker.proc.pid, signal.SIGSTOP)  # wedged
    try:
        outcomes = validate_module.submit(_failing_batches()).result(timeout=2)
        assert _failed(outcomes) == EXPECTED_FAILURES  # validated here instead
        assert "no answer in 2 s" in caplog.text
        validate_module.preload()  # a retired process is replaced
        assert validate_module._worker is not worker
    finally:
        if worker.proc.poll() is None:
            worker.close()  # a stopped process too: it is killed after a grace time


def test_asking_ingest_for_help_starts_no_gx_process(cli):
    validate_module._close_worker()
    assert cli("ingest", "--help").code == 0
    assert validate_module._worker is None


def test_the_gx_process_reads_the_frame_polars_would_give(tmp_path):
    # Column types a suite could come to hold, nulls included: GX must judge the same frame in
    # either process.
    from datetime import date

    import pandas.testing

    frame = pl.DataFrame({
        "text": ["a", None, "ü"], "at": [T0, None, T0], "naive": [T0.replace(tzinfo=None), None, None],
        "day": [date(2024, 1, 1), None, date(1999, 12, 31)], "flag": [True, None, False], "n": [1, None, 3],
        "x": [0.5, None, float("nan")], "nothing": [None, None, None],
        "kind": pl.Series(["x", None, "y"], dtype=pl.Enum(["x", "y"])),
        "cat": pl.Series(["p", "q", None], dtype=pl.Categorical), "tags": [["a"], [], None],
    })
    path = tmp_path / "batch.parquet"
    frame.write_parquet(path)
    pandas.testing.assert_frame_equal(validate_module._read_batch(str(path)), frame.to_pandas())
    empty = frame.head(0).drop("kind")  # an empty Enum's categories are not in the Parquet file
    empty.write_parquet(path)
    pandas.testing.assert_frame_equal(validate_module._read_batch(str(path)), empty.to_pandas())
