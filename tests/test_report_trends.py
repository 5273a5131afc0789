"""Trends across runs (SPEC 4.3): a made-up fortnight of nightly runs, loaded through the real
ingest into each store, with a spike, a reject spike, an empty night and a source that stopped."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipelines.errors import UsageError
from pipelines.ingest import IngestRequest, ingest
from pipelines.report.trends import build_trends, parse_since
from pipelines.store import open_store

# Per night (days back): generic rows and how many of them are bad. Night 0 is an empty export.
GENERIC_NIGHTS = {6: (10, 0), 5: (12, 0), 4: (11, 0), 3: (10, 0), 2: (45, 0), 1: (10, 5), 0: (0, 0)}
SENDGRID_NIGHTS = (6, 5, 4)  # three nights, then the feed stops
SENDGRID_ROWS = 3


def night(now: datetime, days_back: int) -> datetime:
    return now - timedelta(days=days_back, minutes=5)


def _backdate(st, run_id: str, when: datetime) -> None:
    sql = "UPDATE import_runs SET started_at = {p}, finished_at = {p} WHERE run_id = {p}"
    if st.dialect == "duckdb":
        st.con.execute(sql.format(p="?"), [when, when, run_id])
    else:
        st.con.execute(sql.format(p="%s"), (when, when, run_id))


def _load(st, tenant: str, path: Path, when: datetime, **options) -> dict:
    try:
        summary = ingest(IngestRequest(tenant, [str(path)], **options), st)
    except Exception as exc:  # a refused night is part of the history too
        summary = exc.summary
    if summary["status"] != "skipped":
        _backdate(st, summary["run_id"], when)
    return summary


def make_history(store_url: str, folder: Path, now: datetime) -> dict[str, list[str]]:
    """Tenant acme's nightly runs (plus beta's one tonight and old's one long ago); run ids per tenant."""
    folder.mkdir(parents=True, exist_ok=True)
    runs: dict[str, list[str]] = {"acme": [], "beta": [], "old": []}
    with open_store(store_url) as st:
        for back, (rows, bad) in GENERIC_NIGHTS.items():
            path = folder / f"bounces_night_{back}.csv"
            lines = [f"n{back}_{i}@example.com" for i in range(rows - bad)] + [f"bad{back}_{i}" for i in range(bad)]
            path.write_text("email\n" + "".join(line + "\n" for line in lines))
            runs["acme"].append(_load(st, "acme", path, night(now, back), max_reject_rate=1.0)["run_id"])
        for back in SENDGRID_NIGHTS:
            path = folder / f"sendgrid_{back}" / "bounces.csv"
            path.parent.mkdir(exist_ok=True)
            path.write_text("email,created,status,reason\n" + "".join(
                f"sg{back}_{i}@example.org,1700000000,5.1.1,\"550 5.1.1 unknown user\"\n" for i in range(SENDGRID_ROWS)))
            runs["acme"].append(_load(st, "acme", path, night(now, back))["run_id"])
        # The same export as three nights ago, again: skipped, and not counted as volume.
        runs["acme"].append(_load(st, "acme", folder / "bounces_night_3.csv", now)["run_id"])
        beta = folder / "beta.csv"
        beta.write_text("email\nb1@example.com\nb2@example.com\n")
        runs["beta"].append(_load(st, "beta", beta, night(now, 0))["run_id"])
        old = folder / "old.csv"
        old.write_text("email\nold@example.com\n")
        runs["old"].append(_load(st, "old", old, night(now, 40))["run_id"])
    return runs


def day(now: datetime, back: int) -> str:
    return night(now, back).date().isoformat()


def expected_flags(now: datetime) -> set[tuple[str, str, str]]:
    return {
        ("generic", day(now, 2), "volume_spike"),
        ("generic", day(now, 1), "reject_spike"),
        ("generic", day(now, 0), "zero_rows"),
        ("generic", day(now, 0), "failed_run"),
        ("sendgrid", now.date().isoformat(), "source_stopped"),
    }


def test_trends_flag_spikes_empty_nights_and_stopped_sources(cli, tmp_path):
    now = datetime.now(UTC)
    runs = make_history(str(cli.store), tmp_path / "exports", now)

    result = cli("report", "--tenant", "acme", "--since", "14d", "--json", "--output", tmp_path / "trends")
    assert result.code == 0, result.stderr
    t = result.json()
    assert t["report"] == "trends" and t["tenant"] == "acme"
    assert {(f["source"], f["day"], f["kind"]) for f in t["flags"]} == expected_flags(now)
    assert all(f["tenant"] == "acme" and f["message"] for f in t["flags"])
    spike = next(f for f in t["flags"] if f["kind"] == "volume_spike")
    assert "45 rows" in spike["message"] and "10" in spike["message"]  # median of 10, 12, 11, 10 = 10.5

    series = {(p["source"], p["day"]): p for p in t["series"]}
    generic = [series[("generic", day(now, b))] for b in sorted(GENERIC_NIGHTS, reverse=True)]
    assert [p["rows_read"] for p in generic] == [10, 12, 11, 10, 45, 10, 0]
    assert [p["rows_rejected"] for p in generic] == [0, 0, 0, 0, 0, 5, 0]
    assert generic[5]["reject_rate"] == 0.5 and generic[4]["median_rows"] == 10.5
    assert [p["runs"] for p in generic] == [1] * 7  # tonight's skipped repeat is not counted
    assert [series[("sendgrid", day(now, b))]["rows_read"] for b in SENDGRID_NIGHTS] == [SENDGRID_ROWS] * 3

    sources = {s["source"]: s for s in t["sources"]}
    assert sources["sendgrid"]["status"] == "stopped" and sources["sendgrid"]["last_day"] == day(now, 4)
    assert sources["generic"]["status"] == "flagged" and sources["generic"]["rows_read"] == 98
    assert sources["generic"]["reject_rate"] == pytest.approx(5 / 98, abs=1e-6)

    mix = {m["day"]: m["reasons"] for m in t["reason_mix"]}
    assert mix[day(now, 6)] == {"hard_bounce": 10 + SENDGRID_ROWS}
    assert mix[day(now, 2)] == {"hard_bounce": 45}
    assert day(now, 0) not in mix  # the failed night loaded nothing

    listed = {r["run_id"]: r for r in t["runs"]}
    assert set(listed) == set(runs["acme"])  # not beta's, not old's
    skipped = [r for r in t["runs"] if r["status"] == "skipped"]
    assert len(skipped) == 1 and skipped[0]["counted"] is False

    html = (tmp_path / "trends" / "report.html").read_text()
    assert json.loads((tmp_path / "trends" / "report.json").read_text())["flags"] == t["flags"]
    for kind in ("volume spike", "reject spike", "zero rows", "failed run", "source stopped"):
        assert kind in html
    assert "<script" not in html and html.count("<svg") >= 5

    # All tenants at once (what the DAG reads), and a window that excludes the early nights.
    with open_store(str(cli.store)) as st:
        everyone = build_trends(st, now - timedelta(days=60))
        recent = build_trends(st, now - timedelta(days=2, hours=1), tenant="acme")
        assert {r["tenant"] for r in everyone["runs"]} == {"acme", "beta", "old"}
        assert [r["run_id"] for r in st.runs_since(now - timedelta(days=1, hours=1), "beta")] == runs["beta"]
        assert {r["tenant"] for r in st.runs_since(now - timedelta(days=30))} == {"acme", "beta"}
    assert {p["day"] for p in recent["series"]} == {day(now, 2), day(now, 1), day(now, 0)}
    assert {f["kind"] for f in recent["flags"]} == {"zero_rows", "failed_run"}  # too little history for spikes


def test_runs_since_returns_summaries_oldest_first(cli):
    from tests.test_report import GENERIC

    first = cli("ingest", "--tenant", "acme", "--json", GENERIC[1]).json()
    second = cli("ingest", "--tenant", "acme", "--json", *GENERIC).json()
    cli("ingest", "--tenant", "zed", "--json", GENERIC[1])
    with open_store(str(cli.store)) as st:
        rows = st.runs_since(datetime.now(UTC) - timedelta(hours=1), "acme")
        assert st.runs_since(datetime.now(UTC) + timedelta(hours=1)) == []
    assert [r["run_id"] for r in rows] == [first["run_id"], second["run_id"]]
    assert rows[1]["summary"]["rows_read"] == 12 and rows[1]["summary"]["by_reason"][0]["reason"] == "hard_bounce"
    assert rows[1]["options"]["max_reject_rate"] == 0.10 and rows[1]["status"] == "succeeded"


def test_parse_since():
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    assert parse_since("7d", now) == datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert parse_since("2026-11-01", now) == datetime(2026, 11, 1, tzinfo=UTC)
    assert parse_since("2026-11-01T06:00:00+01:00", now) == datetime(2026, 11, 1, 5, 0, tzinfo=UTC)
    assert parse_since(None, now) == datetime(2026, 10, 31, 12, 0, tzinfo=UTC)
    with pytest.raises(UsageError, match="--since"):
        parse_since("yesterday-ish", now)


def test_sync_nights_are_trended_per_sync_source_quiet_and_repeated_nights_included(store, tmp_path, monkeypatch):
    """Real `sync_tenant` nights against the fake APIs: a night with nothing new (no files) and a
    pull identical to the night before (`skipped`) are nights that ran with 0 new rows, under the
    sync source's name; a one-off import of the same platform's files stays a series of its own."""
    from pipelines.sync.config import load_sources
    from pipelines.sync.run import sync_tenant
    from tests.sync.conftest import ENV, sources_toml
    from tests.sync.fake_api import FakeApis, record_at

    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    start = datetime(2024, 5, 1, 2, 0, tzinfo=UTC)  # night d is start + d days
    nights = 6
    apis = FakeApis(now=start).start()
    try:
        path = tmp_path / "sources.toml"
        path.write_text(sources_toml(apis.url, ("sendgrid", "postmark"), options={"overlap_hours": 0}))
        sources = load_sources(path)
        for d in (1, 2):  # a SendGrid bounce an hour before nights 1 and 2
            apis.add("sendgrid", *record_at("sendgrid", f"sg.night{d}@example.com", start + timedelta(days=d, hours=-1)))
        # Postmark's filter is by day: night 1 and night 2 both read this one (night 2: identical, skipped)
        apis.add("postmark", *record_at("postmark", "pm.noon@example.com", start + timedelta(hours=10)))
        statuses = []
        for d in range(nights):
            apis.now = start + timedelta(days=d)
            reports, errors = sync_tenant(sources, str(store), now=apis.now, sleep=lambda s: None)
            assert errors == [], [str(e) for e in errors]
            statuses.append({r["source"]: (r["ingest"]["status"], r["records"]) for r in reports})
    finally:
        apis.stop()
    assert [s["postmark-main"][0] for s in statuses] == ["succeeded", "succeeded", "skipped"] + ["succeeded"] * 3
    assert [s["sendgrid-main"][1] for s in statuses[1:]] == [1, 1, 0, 0, 0]  # no files on the quiet nights
    with open_store(str(store)) as st:  # a one-off migration of SendGrid files, on night 2
        export = tmp_path / "sendgrid_bounces.csv"
        export.write_text("email,created,status,reason\nmig@example.org,1700000000,5.1.1,\"550 5.1.1 unknown user\"\n")
        _load(st, "acme", export, start + timedelta(days=2, hours=9))
        t = build_trends(st, start - timedelta(days=1), start + timedelta(days=nights - 1, hours=3), "acme")

    sources_by = {s["source"]: s for s in t["sources"]}
    assert set(sources_by) == {"sync:sendgrid-main", "sync:postmark-main", "sendgrid"}
    for name in ("sync:sendgrid-main", "sync:postmark-main"):
        assert sources_by[name]["feed"] == "sync" and sources_by[name]["status"] == "ok", sources_by[name]
        assert sources_by[name]["days_with_runs"] == sources_by[name]["runs"] == nights
    assert sources_by["sendgrid"]["feed"] == "files" and sources_by["sendgrid"]["rows_read"] == 1
    assert t["flags"] == []  # neither stopped nor missed: quiet nights ran
    series = {(p["source"], p["day"]): p for p in t["series"]}
    days = [(start + timedelta(days=d)).date().isoformat() for d in range(nights)]
    assert [series[("sync:sendgrid-main", d)]["rows_read"] for d in days[1:]] == [1, 1, 0, 0, 0]
    assert [series[("sync:postmark-main", d)]["rows_read"] for d in days[1:]] == [1, 0, 0, 0, 0]
    skipped = [r for r in t["runs"] if r["status"] == "skipped"]
    assert len(skipped) == 1 and skipped[0]["counted"] and skipped[0]["sources"] == ["sync:postmark-main"]
    assert skipped[0]["day"] == days[2]  # the night its pull started, not when it was loaded


def test_a_quiet_night_is_flagged_only_for_a_sync_source_that_usually_brings_rows():
    from pipelines.report.trends import QUIET_NIGHT_MEDIAN, _flags, _run_rows, _series

    start = datetime(2024, 5, 1, 2, 0, tzinfo=UTC)

    def runs(source: str, rows: list[int]) -> list[dict]:
        return [{"run_id": f"{source}{d}", "tenant": "acme", "status": "succeeded", "started_at": start,
                 "rows_read": n, "rows_rejected": 0, "summary": {"files": []},
                 "options": {"watermarks": {source: (start + timedelta(days=d)).isoformat()}}}
                for d, n in enumerate(rows)]

    busy = [QUIET_NIGHT_MEDIAN] * 4 + [0]
    per_run, per_source, _ = _run_rows(runs("busy", busy) + runs("small", [1, 2, 1, 1, 0]))
    flags = _flags(_series(per_source), per_run, (start + timedelta(days=4)).date())
    assert [(f["source"], f["kind"]) for f in flags] == [("sync:busy", "zero_rows")]
    assert "nothing new" in flags[0]["message"] and f"usually {QUIET_NIGHT_MEDIAN}" in flags[0]["message"]
