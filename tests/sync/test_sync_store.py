"""Nights of the sync into a real store (DuckDB and PostgreSQL): every platform, the second night
pulling only what is new, re-runs, empty nights, duplicates, and failed nights resuming from the
old watermark. The watermark moves only when the load commits."""
from __future__ import annotations

from datetime import timedelta

import pytest

from pipelines.errors import DataRefused
from pipelines.platforms.http import SyncError
from pipelines.store import open_store
from pipelines.sync.config import load_sources
from pipelines.sync.run import format_watermark, sync_source, sync_tenant

from .conftest import NIGHT1, NIGHT2, TENANT, sources_toml
from .fake_api import record_at

MARK1, MARK2 = format_watermark(NIGHT1), format_watermark(NIGHT2)
KEY = ("channel", "address", "reason", "scope")
NEW = {  # what appeared on the platforms between the nights, and how many suppressions it makes
    "sendgrid-main": {"new.bounce@example.com", "new.angry@example.net", "new.optout@example.com", "new.group@example.com"},
    "mailchimp-main": {"new.cleaned@example.com", "new.left@example.org"},
    "mailgun-main": {"new.gone@example.com", "new.unsub@example.net"},
    "postmark-main": {"pm.new@example.com"},
    "ses-main": {"ses.new@example.com"},
    "brevo-main": {"br.new@example.com"},
    "klaviyo-main": {"kl.new@example.com"},
}


def no_sleep(seconds: float) -> None:
    pass


def exported(store) -> set[tuple]:
    with open_store(str(store)) as st:
        return {tuple(r[k] for k in KEY) for r in st.export(TENANT).iter_rows(named=True)}


def watermarks(store, sources) -> dict[str, str | None]:
    with open_store(str(store)) as st:
        return {s.name: st.watermark(s.tenant, s.name) for s in sources}


def night(sources, store, now):
    reports, errors = sync_tenant(sources, str(store), now=now, sleep=no_sleep)
    assert errors == [], [str(e) for e in errors]
    return {r["source"]: r for r in reports}


@pytest.mark.slow
def test_two_nights_every_platform_then_a_rerun_adds_nothing(apis, sources_file, store):
    sources = load_sources(sources_file)
    apis.fail("/v3/suppression/bounces", 429, headers={"Retry-After": "0"})
    apis.fail("/3.0/lists/", 503)
    first = night(sources, store, NIGHT1)
    assert all(r["status"] == "succeeded" and r["old_watermark"] is None and r["new_watermark"] == MARK1
               for r in first.values()), first
    assert first["sendgrid-main"]["rate_limited"] == 1 and first["mailchimp-main"]["transient_errors"] == 1
    before = exported(store)
    assert len(before) == sum(r["ingest"]["suppressions_added"] for r in first.values()) > 0
    assert not any(a in {k[1] for k in before} for new in NEW.values() for a in new)

    apis.requests.clear()
    apis.now = NIGHT2
    second = night(sources, store, NIGHT2)
    assert all(r["old_watermark"] == MARK1 and r["new_watermark"] == MARK2 for r in second.values())
    since = NIGHT1 - timedelta(hours=6)
    # every incremental filter the APIs have was sent, from the old watermark minus the overlap
    assert {r.param("start_time") for r in apis.seen("sendgrid", "/v3/suppression/")} == {str(int(since.timestamp()))}
    assert {r.param("since_last_changed") for r in apis.seen("mailchimp")} == {"2024-05-09T20:00:00+00:00"}
    assert {r.param("fromdate") for r in apis.seen("postmark")} == {"2024-05-08"}  # day filters: widened
    assert {r.param("StartDate") for r in apis.seen("ses")} == {"2024-05-09T20:00:00Z"}
    assert {(r.param("startDate"), r.param("endDate")) for r in apis.seen("brevo")} == {("2024-05-08", "2024-05-12")}
    assert {r.param("filter") for r in apis.seen("klaviyo")} == {"greater-than(updated,2024-05-09T20:00:00Z)"}
    after = exported(store)
    added = {k[1] for k in after - before}
    assert added == set().union(*NEW.values())
    for name, report in second.items():
        assert report["ingest"]["suppressions_added"] == len({k for k in after - before if k[1] in NEW[name]}), name
        assert report["records"] >= len(NEW[name])  # the overlap may bring a record again

    rerun = night(sources, store, NIGHT2)  # the same night once more: nothing changes
    assert all(r["ingest"]["suppressions_added"] == 0 and r["ingest"]["suppressions_updated"] == 0
               for r in rerun.values())
    assert {r["ingest"]["status"] for r in rerun.values()} <= {"succeeded", "skipped"}
    assert exported(store) == after
    assert set(watermarks(store, sources).values()) == {MARK2}


def test_a_night_with_nothing_new_is_a_succeeded_run_that_moves_the_watermark(apis, api_env, tmp_path, store):
    path = tmp_path / "s.toml"
    path.write_text(sources_toml(apis.url, ("ses", "klaviyo"), options={"overlap_hours": 0}))
    sources = load_sources(path)
    night(sources, store, NIGHT1)
    later = NIGHT1 + timedelta(hours=1)  # the platforms' lists did not change meanwhile
    reports = night(sources, store, later)
    for r in reports.values():
        assert r["records"] == 0 and r["files"] == []
        assert r["status"] == "succeeded" and r["ingest"]["rows_read"] == 0
        assert r["new_watermark"] == format_watermark(later)
    with open_store(str(store)) as st:
        runs = st.runs(TENANT)
    assert [r["status"] for r in runs] == ["succeeded"] * 4
    assert all(r["rows_read"] == 0 for r in runs[:2])


def test_a_pull_identical_to_a_loaded_one_is_skipped_and_still_moves_the_watermark(apis, api_env, tmp_path, store):
    path = tmp_path / "s.toml"
    path.write_text(sources_toml(apis.url, ("postmark",)))
    [pm] = load_sources(path)
    apis.now = NIGHT2
    sync_source(pm, str(store), now=NIGHT2, sleep=no_sleep)  # first night: everything so far
    again = sync_source(pm, str(store), now=NIGHT2 + timedelta(hours=1), sleep=no_sleep)
    assert again["ingest"]["status"] == "succeeded"  # since 2024-05-10: only pm.new, a new file
    third = sync_source(pm, str(store), now=NIGHT2 + timedelta(hours=2), sleep=no_sleep)
    assert third["ingest"]["status"] == "skipped" and third["ingest"]["skipped_because"] == again["ingest"]["run_id"]
    assert third["new_watermark"] == format_watermark(NIGHT2 + timedelta(hours=2))


def test_a_failed_pull_leaves_the_watermark_and_the_next_night_resumes(apis, api_env, tmp_path, store):
    path = tmp_path / "s.toml"
    path.write_text(sources_toml(apis.url, ("sendgrid",)))
    [sg] = load_sources(path)
    sync_source(sg, str(store), now=NIGHT1, sleep=no_sleep)
    apis.now = NIGHT2
    apis.fail("/v3/suppression/spam_reports", *[503] * 4)  # past the 4 attempts
    with pytest.raises(SyncError, match="failed after 4 attempts: HTTP 503") as caught:
        sync_source(sg, str(store), now=NIGHT2, sleep=no_sleep)
    assert caught.value.retryable and caught.value.stats["transient_errors"] == 4
    assert watermarks(store, [sg]) == {"sendgrid-main": MARK1}
    assert not NEW["sendgrid-main"] & {k[1] for k in exported(store)}  # bounces pulled before it: not loaded

    apis.requests.clear()
    resumed = sync_source(sg, str(store), now=NIGHT2 + timedelta(hours=1), sleep=no_sleep)
    assert {r.param("start_time") for r in apis.seen("sendgrid", "/v3/suppression/")} == {
        str(int((NIGHT1 - timedelta(hours=6)).timestamp()))}
    assert resumed["old_watermark"] == MARK1
    assert NEW["sendgrid-main"] <= {k[1] for k in exported(store)}


def test_a_refused_load_leaves_the_watermark_and_the_next_night_resumes(apis, api_env, tmp_path, store):
    path = tmp_path / "s.toml"
    path.write_text(sources_toml(apis.url, ("ses",), options={"max_reject_rate": 0.0}))
    [ses] = load_sources(path)
    sync_source(ses, str(store), now=NIGHT1, sleep=no_sleep)
    apis.now = NIGHT2
    name, bad = record_at("ses", "not-an-address", NIGHT2 - timedelta(hours=3))
    apis.add("ses", name, bad)
    [report], [error] = sync_tenant([ses], str(store), now=NIGHT2, sleep=no_sleep)
    assert isinstance(error, DataRefused) and "rows rejected" in str(error)
    assert report["status"] == "failed" and report["new_watermark"] == MARK1
    assert report["ingest"]["status"] == "failed" and report["ingest"]["rows_rejected"] == 1
    assert report["since"] == format_watermark(NIGHT1 - timedelta(hours=6)) and report["records"] == 3
    assert watermarks(store, [ses]) == {"ses-main": MARK1}
    with open_store(str(store)) as st:
        assert [r["status"] for r in st.runs(TENANT)][0] == "failed"

    apis.data[("ses", name)].remove(bad)  # the platform's list was cleaned up
    resumed = sync_source(ses, str(store), now=NIGHT2 + timedelta(hours=1), sleep=no_sleep)
    assert resumed["old_watermark"] == MARK1 and resumed["ingest"]["suppressions_added"] == 1
    assert "ses.new@example.com" in {k[1] for k in exported(store)}


def test_the_watermark_is_written_in_the_load_transaction(apis, api_env, tmp_path, store):
    """A load that fails after the watermark was written (marking the run succeeded) rolls both back."""
    path = tmp_path / "s.toml"
    path.write_text(sources_toml(apis.url, ("brevo",)))
    [brevo] = load_sources(path)
    with open_store(str(store)) as st:
        real_close = st._close_run

        def failing_close(run_id, status, *args, **kwargs):
            if status == "succeeded":
                raise RuntimeError("the store went away")
            return real_close(run_id, status, *args, **kwargs)

        st._close_run = failing_close
        with pytest.raises(RuntimeError, match="went away"):
            sync_source(brevo, st, now=NIGHT1, sleep=no_sleep)
        assert st.watermark(TENANT, "brevo-main") is None
        assert [r["status"] for r in st.runs(TENANT)] == ["failed"]
        st._close_run = real_close
    assert exported(store) == set()


def test_watermarks_never_move_back_and_dry_runs_write_none(store, tmp_path):
    from pipelines.ingest import IngestRequest, ingest

    with open_store(str(store)) as st:
        assert st.watermark(TENANT, "x") is None
        st.save_watermarks(TENANT, {"x": MARK2, "y": MARK1}, "run_a")
        st.save_watermarks(TENANT, {"x": MARK1}, "run_b")  # an older pull finishing late
        assert (st.watermark(TENANT, "x"), st.watermark(TENANT, "y")) == (MARK2, MARK1)
        assert st.watermark("globex", "x") is None  # per tenant
        export = tmp_path / "bounces.csv"
        export.write_text("email\ngone@example.com\n")
        ingest(IngestRequest(TENANT, [str(export)], dry_run=True, watermarks={"z": MARK1}), st)
        assert st.watermark(TENANT, "z") is None
        ingest(IngestRequest(TENANT, [str(export)], watermarks={"z": MARK1}), st)
        assert st.watermark(TENANT, "z") == MARK1


def test_an_unexpected_error_fails_its_source_only(apis, api_env, tmp_path, store, monkeypatch):
    """A malformed record in a pull, a library error in a load: that source fails, in one line,
    and the tenant's other sources still run."""
    import polars as pl

    import pipelines.sync.run as run

    path = tmp_path / "s.toml"
    path.write_text(sources_toml(apis.url, ("postmark", "ses", "brevo")))
    sources = load_sources(path)
    apis._postmark = lambda *args: (200, {"Suppressions": ["not-a-record"]}, {})
    real_load = run.load

    def load(pulled, st):
        if pulled["source"]["name"] == "brevo-main":
            raise pl.exceptions.ComputeError("a library error\nwith a second line")
        return real_load(pulled, st)

    monkeypatch.setattr(run, "load", load)
    reports, errors = sync_tenant(sources, str(store), now=NIGHT1, sleep=no_sleep)
    by_name = {r["source"]: r for r in reports}
    assert {n: r["status"] for n, r in by_name.items()} == {
        "postmark-main": "failed", "ses-main": "succeeded", "brevo-main": "failed"}
    assert [type(e) for e in errors] == [SyncError, SyncError] and all(e.retryable for e in errors)
    assert str(errors[0]) == ("acme/postmark-main (postmark): the pull failed: "
                              "AttributeError: 'str' object has no attribute 'setdefault'")
    assert str(errors[1]) == "acme/brevo-main (brevo): failed unexpectedly: ComputeError: a library error"
    assert by_name["postmark-main"]["error"] == str(errors[0]) and by_name["postmark-main"]["requests"] == 1
    assert errors[0].__cause__ is None and errors[0].__suppress_context__
    assert watermarks(store, sources) == {"postmark-main": None, "ses-main": MARK1, "brevo-main": None}
