"""Mailchimp adapter on the samples in data/samples/mailchimp: detection among all adapters, then
the mapped rows (reason, scope, status, time, detail, line) per address."""
from __future__ import annotations

import dataclasses

import polars as pl
import pytest

from pipelines.platforms.base import MapOptions, Probe
from pipelines.platforms.mailchimp.export import ADAPTER
from tests.conftest import SAMPLES
from tests.platforms.helpers import by_line, exported, ingest, tables, won

MC = SAMPLES / "mailchimp"


def run(table, kind: str):
    """Detected as Mailchimp's (the kind; the plain list lower), then mapped."""
    return won(ADAPTER, table, kind)


def one(path, tmp_path, kind):
    (table,) = tables(path, tmp_path)
    return table, *run(table, kind)


def test_cleaned_newer_generation(tmp_path):
    table, match, frame = one(MC / "cleaned_email_audience_export_a1b2c3d4e5.csv", tmp_path, "cleaned")
    assert match.score >= 90
    rows = by_line(frame)
    # line 6 is blank: not a row
    assert sorted(rows) == [2, 3, 4, 5, 7, 8, 9, 10, 11]
    assert set(frame["reason"]) == {"hard_bounce"}
    assert set(frame["event"]) == {"suppression"}
    assert set(frame["status"]) == {"cleaned"}
    assert frame["scope"].null_count() == frame.height
    assert rows[3]["raw_address"] == "Typo.User@Example.COM"
    assert rows[4]["raw_address"] == "jürgen@bücher.example"
    assert rows[8]["raw_address"] == "typo.user@example.com"
    assert rows[9]["raw_address"] == "gmail.com"
    assert rows[10]["raw_address"] == '"Ana Ruiz" <Ana.Ruiz@Example.com>'
    assert rows[2]["occurred_raw"] == "2024-02-02 02:02:02"
    assert rows[11]["occurred_raw"] is None  # empty CLEAN_TIME: time unknown, not an error
    # TAGS: doubled quotes inside one quoted field survive reading
    tags = table.frame.filter(pl.col("_line") == 10).select("TAGS").collect().item()
    assert tags == '"VIP","Spain","Q1 2024"'


def test_unsubscribed_is_scoped_to_the_audience_of_the_file_name(tmp_path):
    _, match, frame = one(MC / "unsubscribed_email_audience_export_a1b2c3d4e5.csv", tmp_path, "unsubscribed")
    rows = by_line(frame)
    assert sorted(rows) == [2, 3, 4, 5, 6]
    assert set(frame["reason"]) == {"unsubscribe"}
    assert set(frame["scope"]) == {"list:a1b2c3d4e5"}
    assert rows[2]["occurred_raw"] == "2023-07-01 08:00:05"
    assert rows[2]["detail"] == "I no longer want to receive these emails"
    assert rows[3]["detail"] == "N/A (Unsubscribed by an admin)"
    assert rows[4]["detail"] == "Other (fill in reason below): Too many emails, sorry"
    assert rows[4]["raw_address"] == "Mixed.Case@Example.NET"
    assert rows[5]["raw_address"] == "To"
    assert rows[6]["occurred_raw"] is None


def test_renamed_title_case_file_with_bom_and_email_not_first(tmp_path):
    table, match, frame = one(MC / "Unsubscribed Email Audience Export 9c62c33314.csv", tmp_path, "unsubscribed")
    assert table.columns[:3] == ["First Name", "Last Name", "Email Address"]  # BOM gone
    assert match.score >= 90
    rows = by_line(frame)
    assert [rows[n]["raw_address"] for n in (2, 3, 4)] == [
        '"Jane Doe" <Jane.Doe@Example.COM>', "carl@example.org ", "ana.ruiz@example.com",
    ]
    assert set(frame["scope"]) == {"list:9c62c33314"}
    # A merge field named UNSUB_REASON comes first; the system column (the later one) is used.
    assert rows[2]["detail"] == "I never signed up for this mailing list"
    assert rows[2]["occurred_raw"] == "2023-03-03 03:03:03"


@pytest.mark.parametrize(
    "name, kind, channel",
    [
        ("subscribed_email_audience_export_a1b2c3d4e5.csv", "subscribed", "email"),
        ("sms_only_audience_export_a1b2c3d4e5.csv", "sms_only", "sms"),
    ],
)
def test_status_less_exports_are_read_but_never_suppressed(tmp_path, name, kind, channel):
    _, match, frame = one(MC / name, tmp_path, kind)
    assert frame.height >= 2
    assert set(frame["event"]) == {"ignored"}
    assert frame["reason"].null_count() == frame.height
    assert set(frame["status"]) == {kind}
    assert set(frame["channel"]) == {channel}
    if kind == "subscribed":
        assert by_line(frame)[3]["raw_address"] == "Dup.Bounce@Example.com"
    else:
        assert by_line(frame)[2]["raw_address"] == "+14155550100"


def test_older_generation_zip_skips_macosx_junk(tmp_path):
    inputs = tables(MC / "members_export_3f9a1c2b7d.zip", tmp_path)
    names = [table.source.name for table in inputs]
    assert names == [
        "cleaned_members_export_3f9a1c2b7d.csv", "unsubscribed_members_export_3f9a1c2b7d.csv",
        "subscribed_members_export_3f9a1c2b7d.csv", "nonsubscribed_members_export_3f9a1c2b7d.csv",
    ]
    by_status = {table.source.name.split("_members")[0]: table for table in inputs}

    _, cleaned = run(by_status["cleaned"], "cleaned")
    rows = by_line(cleaned)
    assert rows[3]["raw_address"] == "Dup.Bounce@example.com"
    assert rows[3]["reason"] == "hard_bounce"
    assert rows[3]["occurred_raw"] == "2016-02-23 20:14:00"
    assert rows[4]["raw_address"] == "#02232014"

    _, unsub = run(by_status["unsubscribed"], "unsubscribed")
    rows = by_line(unsub)
    assert rows[2]["scope"] == "list:3f9a1c2b7d"
    assert rows[2]["detail"] == "The emails are inappropriate"
    assert rows[3]["detail"] is None

    for kind in ("subscribed", "nonsubscribed"):
        _, frame = run(by_status[kind], kind)
        assert frame["event"].to_list() == ["ignored"]
        assert frame["reason"].to_list() == [None]


def test_legacy_export_api_arrays(tmp_path):
    table, match, frame = one(MC / "legacy_export_api_5e6f7a8b9c.json", tmp_path, "unsubscribed")
    assert table.fmt == "json"
    assert match.score >= 80
    rows = by_line(frame)
    assert sorted(rows) == [2, 3]
    assert rows[3]["raw_address"] == "Legacy.Two@Example.org"
    assert rows[2]["reason"] == rows[3]["reason"] == "unsubscribe"
    assert rows[2]["scope"] == "list:5e6f7a8b9c"  # the 10-hex id in the file name
    assert rows[2]["occurred_raw"] == "2015-05-05 05:05:05"
    assert rows[3]["detail"] == "N/A (Unsubscribed by an admin)"


def test_api_members_status_vocabulary(tmp_path):
    _, match, frame = one(MC / "api_members_a1b2c3d4e5.json", tmp_path, "api_members")
    got = {r["raw_address"]: (r["event"], r["reason"], r["scope"], r["status"]) for r in frame.iter_rows(named=True)}
    assert got == {
        "api.cleaned@example.com": ("suppression", "hard_bounce", None, "cleaned"),
        "API.Unsub@Example.org": ("suppression", "unsubscribe", "list:a1b2c3d4e5", "unsubscribed"),
        "api.subscribed@example.net": ("ignored", None, None, "subscribed"),
        "api.pending@example.com": ("ignored", None, None, "pending"),
        "api.transactional@example.com": ("ignored", None, None, "transactional"),
        "api.archived@example.com": ("ignored", None, None, "archived"),
        # not a Mailchimp status: reason null, quarantined later as unknown_status
        "api.weird@example.com": ("suppression", None, None, "bounced"),
        "api.nostatus@example.com": ("suppression", None, None, ""),
        "jürgen@bücher.example": ("suppression", "hard_bounce", None, "cleaned"),
    }
    rows = by_line(frame)
    assert rows[2]["detail"] == "N/A (Unsubscribed by an admin)"
    assert rows[1]["detail"] is None
    assert rows[1]["occurred_raw"] == "2022-02-23T19:31:49+00:00"
    assert rows[4]["occurred_raw"] == "2020-01-01T00:00:00+00:00"  # empty last_changed: opt-in time


@pytest.fixture
def cleaned_probe(tmp_path):
    (table,) = tables(MC / "cleaned_email_audience_export_a1b2c3d4e5.csv", tmp_path)
    return Probe.of(table)


@pytest.mark.parametrize(
    "name, kind",
    [
        ("cleaned_members_export_3f9a1c2b7d.csv", "cleaned"),
        ("Cleaned Email Audience Export 9c62c33314.csv", "cleaned"),
        ("cleaned_email_audience_export_9c62c33314 (1).csv", "cleaned"),
        ("export.csv", "cleaned"),  # no name hint: CLEAN_TIME says it
    ],
)
def test_cleaned_file_names(cleaned_probe, name, kind):
    match = ADAPTER.detect(dataclasses.replace(cleaned_probe, name=name))
    assert match is not None and match.kind == kind


@pytest.mark.parametrize(
    "name, kind",
    [
        ("unsubscribed_members_export_3f9a1c2b7d.csv", "unsubscribed"),
        ("nonsubscribed_members_export_3f9a1c2b7d.csv", "nonsubscribed"),
        ("subscribed_members_export_3f9a1c2b7d.csv", "subscribed"),
        ("Subscribed Email Audience Export 9c62c33314.csv", "subscribed"),
        ("NONSUBSCRIBED_EMAIL_AUDIENCE_EXPORT_9c62c33314.CSV", "nonsubscribed"),
        ("sms-only-audience-export-9c62c33314.csv", "sms_only"),
    ],
)
def test_status_comes_from_the_file_name_prefix(name, kind):
    """`unsubscribed`/`nonsubscribed` contain `subscribed`: matched by prefix, not substring."""
    columns = ["Email Address", "First Name"]
    probe = Probe(name, "csv", columns, True, pl.DataFrame({c: ["a@example.com"] for c in columns}))
    match = ADAPTER.detect(probe)
    assert match is not None and (match.kind, match.score) == (kind, 80)


def test_renamed_file_whose_columns_disagree_follows_the_columns(cleaned_probe):
    match = ADAPTER.detect(dataclasses.replace(cleaned_probe, name="unsubscribed_members_export_3f9a1c2b7d.csv"))
    assert (match.kind, match.score) == ("cleaned", 70)


def test_plain_list_is_not_mailchimp():
    probe = Probe("bounced.csv", "csv", ["Email Address"], True, pl.DataFrame({"Email Address": ["a@example.com"]}))
    assert ADAPTER.detect(probe) is None


def test_same_address_in_mailchimp_cleaned_and_sendgrid_bounces_is_one_suppression(cli):
    summary = ingest(cli, MC / "cleaned_email_audience_export_a1b2c3d4e5.csv", SAMPLES / "sendgrid" / "bounces.csv")
    assert [(f["platform"], f["rows_read"]) for f in summary["files"]] == [("mailchimp", 9), ("sendgrid", 17)]
    rows = exported(cli)
    assert [(r["reason"], r["scope"]) for r in rows["dup.bounce@example.com"]] == [("hard_bounce", "all")]
    assert [r["reason"] for r in rows["jürgen@xn--bcher-kva.example"]] == ["hard_bounce"]


def test_unsubscribed_without_audience_id_in_the_name_is_marketing_wide(tmp_path):
    (table,) = tables(MC / "unsubscribed_email_audience_export_a1b2c3d4e5.csv", tmp_path)
    probe = dataclasses.replace(Probe.of(table), name="unsubscribes 2024-05-01.csv")
    match = ADAPTER.detect(probe)
    assert (match.kind, match.score) == ("unsubscribed", 85)
    frame = ADAPTER.map(table.frame, probe, match, MapOptions()).collect()
    assert set(frame["scope"]) == {"marketing"}
