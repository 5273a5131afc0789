"""ActiveCampaign adapter through `suppress detect` / `suppress ingest` on data/samples/activecampaign:
API v3 contacts (string counters, zero dates), contacts flattened per list (list:<id>), and the UI
contact export; plus the historic soft-bounce counter the adapter hands on."""
from __future__ import annotations

import json

import polars as pl
import pytest

from pipelines.platforms.activecampaign.export import ADAPTER
from tests.conftest import SAMPLES
from tests.platforms.helpers import as_detected, detect, exported, ingest, reasons, rejects, time_unknown, write

DIR = SAMPLES / "activecampaign"
API = DIR / "activecampaign_contacts_api.json"
FLAT = DIR / "activecampaign_contacts_lists_flat.csv"
EXPORT = DIR / "activecampaign_contacts_export_2024-05-01.csv"


@pytest.mark.parametrize(("path", "kind"), [(API, "contacts"), (FLAT, "contacts"), (EXPORT, "contacts_export")],
                         ids=lambda v: getattr(v, "name", v))
def test_each_sample_is_detected_with_its_kind(path, kind):
    found = detect(path)
    assert (found["platform"], found["kind"]) == ("activecampaign", kind), found


def test_api_contacts_string_counters_and_zero_dates(cli):
    s = ingest(cli, API)
    (f,) = s["files"]
    assert (f["rows_read"], f["rows_rejected"], f["rows_ignored"]) == (8, 2, 2)  # fine, deleted: ignored
    rows = exported(cli)
    assert reasons(rows, "hard.bounced@example.com") == [("hard_bounce", "all")]
    assert rows["hard.bounced@example.com"][0]["first_seen_at"].startswith("2024-02-10T00:00:00")
    assert reasons(rows, "soft.three@example.org") == [("soft_bounce", "all")]
    assert reasons(rows, "both@example.net") == [("hard_bounce", "all"), ("soft_bounce", "all")]
    assert "fine@example.com" not in rows and "deleted.contact@example.net" not in rows
    # bounced_date 0000-00-00: the time is unknown, which costs nothing but is counted (the file has
    # times elsewhere), with its line.
    assert reasons(rows, "zero.date@example.com") == [("hard_bounce", "all")]
    assert time_unknown(rows["zero.date@example.com"][0], s)
    assert s["time_warnings"] == {"missing_time": 1}
    assert rejects(cli, s["run_id"]) == [
        (6, "not-an-address", "missing_at", "bounced_hard=2"),
        (7, "odd.counter@example.org", "unknown_status", "bounced_soft=n/a"),  # a counter that is no number
    ]


def test_per_list_status_is_scoped_to_the_list(cli):
    s = ingest(cli, FLAT)
    (f,) = s["files"]
    assert (f["rows_read"], f["rows_rejected"], f["rows_ignored"]) == (11, 1, 3)
    rows = exported(cli)
    assert reasons(rows, "y@example.org") == [("unsubscribe", "list:3"), ("unsubscribe", "list:7")]
    by_list = {r["scope"]: r for r in rows["y@example.org"]}
    assert by_list["list:3"]["first_seen_at"].startswith("2024-03-01T12:30:11")  # the list's udate
    assert by_list["list:3"]["detail"] == "list 3; status 2; Too many emails"
    assert time_unknown(by_list["list:7"], s)  # udate 0000-00-00 00:00:00
    # Unsubscribed from list 5 only; still active on list 3.
    assert reasons(rows, "weekly.only@example.com") == [("unsubscribe", "list:5")]
    assert reasons(rows, "x@example.com") == [("hard_bounce", "all")]
    assert reasons(rows, "soft.list@example.net") == [("soft_bounce", "all")]
    assert reasons(rows, "bounced.on.list@example.org") == [("hard_bounce", "all")]  # status 3
    assert "pending@example.com" not in rows and "no.lists@example.com" not in rows
    assert rows["spaced@example.org"][0]["first_seen_at"].startswith("2024-03-06T13:00:00")  # -05:00 offset
    assert rejects(cli, s["run_id"]) == [(11, "strange@example.net", "unknown_status", "9")]


def test_ui_export_status(cli):
    s = ingest(cli, EXPORT)
    assert (s["rows_read"], s["rows_rejected"], s["rows_ignored"]) == (5, 0, 2)
    rows = exported(cli)
    assert reasons(rows, "leaver@example.org") == [("unsubscribe", "marketing")]
    assert reasons(rows, "jo.smith@example.com") == [("unsubscribe", "marketing")]
    assert reasons(rows, "dead.mailbox@example.net") == [("hard_bounce", "all")]
    assert "ann@example.com" not in rows and "waiting@example.com" not in rows


def test_soft_bounce_counter_is_handed_on_as_counter_state(tmp_path):
    """The previous platform's soft-bounce count rides on the soft_bounce record (SPEC 2.2)."""
    got = {}
    for path in (API, FLAT):
        out = as_detected(ADAPTER, path, tmp_path)
        for r in out.filter(pl.col("reason").is_in(["soft_bounce", "hard_bounce"])).iter_rows(named=True):
            got[(r["raw_address"], r["reason"])] = r["bounce_count"]
    assert got[("Soft.Three@Example.org", "soft_bounce")] == 3
    assert got[("both@example.net", "soft_bounce")] == 2
    assert got[("soft.list@example.net", "soft_bounce")] == 4
    assert got[("both@example.net", "hard_bounce")] is None  # only soft bounces carry a count


def test_numbers_as_strings_floats_and_padding(cli, tmp_path):
    path = write(tmp_path, "contacts.json", json.dumps({"contacts": [
        {"email": "a@example.com", "bounced_hard": "1.0", "bounced_soft": " 0 ", "bounced_date": "2024-01-02", "cdate": "2024-01-01"},
        {"email": "b@example.com", "bounced_hard": 0, "bounced_soft": 5, "bounced_date": "2024-01-03", "cdate": "2024-01-01"},
        {"email": "c@example.com", "bounced_hard": "", "bounced_soft": None, "bounced_date": "0000-00-00", "cdate": "2024-01-01"},
    ], "meta": {"total": "3"}}))
    s = ingest(cli, path)
    assert (s["rows_read"], s["rows_rejected"], s["rows_ignored"]) == (3, 0, 1)
    rows = exported(cli)
    assert reasons(rows, "a@example.com") == [("hard_bounce", "all")]
    assert reasons(rows, "b@example.com") == [("soft_bounce", "all")]
    assert "c@example.com" not in rows


@pytest.mark.parametrize(
    ("name", "text", "platform"),
    [
        ("x.csv", "email,bounced_hard\na@example.com,1\n", "activecampaign"),
        ("x.csv", "email,list_id,list_status\na@example.com,3,2\n", "activecampaign"),
        ("x.csv", "email,list_id,list_status\na@example.com,3,unsubscribed\n", "generic"),  # not AC's numbers
        # A Status column alone is any CRM's; AC's export columns or its name say ActiveCampaign.
        ("contacts.csv", "Email,Status\na@example.com,Unsubscribed\n", "generic"),
        ("activecampaign_export.csv", "Email,First Name,Status\na@example.com,A,Unsubscribed\n", "activecampaign"),
    ],
)
def test_detection_on_small_files(tmp_path, name, text, platform):
    assert detect(write(tmp_path, name, text))["platform"] == platform


def test_a_list_status_ac_does_not_write_is_quarantined_not_the_file(cli, tmp_path):
    path = write(tmp_path, "lists.csv", "email,list_id,list_status,udate\n" + "".join(
        f"u{i}@example.com,3,{s},2024-01-0{i + 1} 00:00:00\n" for i, s in enumerate(["2", "1", "2", "0", "2", "1", "2", "2", "1", "7"])))
    assert detect(path)["platform"] == "activecampaign"
    s = ingest(cli, path)
    assert s["rejects_by_error"] == {"unknown_status": 1}
    assert reasons(exported(cli), "u0@example.com") == [("unsubscribe", "list:3")]
