"""Campaign Monitor adapter on the samples in data/samples/campaignmonitor: client suppression list
(API JSON and CSV), list-state exports and campaign bounces, detected against every registered
adapter and mapped to reasons, scopes and lines."""
from __future__ import annotations

import json
from functools import partial

import polars as pl
import pytest

from pipelines.platforms.campaignmonitor.export import ADAPTER, list_id_from_name
from pipelines.platforms.postmark.export import ADAPTER as POSTMARK
from tests.conftest import SAMPLES
from tests.platforms.helpers import (
    by_line,
    exported,
    file_id,
    ingest,
    load,
    never_outbids,
    other_files,
    run_adapter,
    write,
)

DIR = SAMPLES / "campaignmonitor"
LIST_ID = "654523a5855b4a440bae3fb295641546"
run = partial(run_adapter, ADAPTER)


def test_suppression_list_api_json(tmp_path):
    out = run(DIR / "suppressionlist.json", tmp_path, "suppression_list")
    got = {r["raw_address"]: (r["reason"], r["scope"]) for r in out.iter_rows(named=True)}
    assert got == {
        "left@example.com": ("unsubscribe", "marketing"),  # client-wide list: all marketing mail
        "hb@example.org": ("hard_bounce", None),
        "Spam.Reporter@Example.net": ("spam_complaint", None),
        "blocked.by.admin@example.com": ("manual", None),  # "Suppressed": added by hand
        "fbl@example.org": ("spam_complaint", None),
        "example+1@example.com": ("unsubscribe", "marketing"),
    }
    rows = by_line(out)
    assert rows[1]["occurred_raw"] == "2024-02-01 10:55:31"
    assert rows[3]["status"] == "Marked as Spam"
    assert set(out["event"]) == {"suppression"}


def test_suppression_list_csv_quirks(tmp_path):
    out = run(DIR / "client_suppression_list.csv", tmp_path, "suppression_list")
    rows = by_line(out)
    assert sorted(rows) == [2, 3, 4, 5, 7, 8, 9, 10, 11, 12]  # line 6 is blank
    # `Bounced ` with a trailing space is still Bounced; the raw status is kept trimmed.
    assert (rows[3]["reason"], rows[3]["status"]) == ("hard_bounce", "Bounced")
    assert rows[4]["raw_address"] == " Spam.Reporter@Example.net " and rows[4]["reason"] == "spam_complaint"
    assert rows[5]["reason"] == "manual"
    # Junk address passed on for the normalizer to quarantine.
    assert rows[8]["raw_address"] == "not-an-email" and rows[8]["reason"] == "hard_bounce"
    # Not Campaign Monitor vocabulary: reason null (unknown_status), never guessed.
    assert rows[9]["reason"] is None and rows[9]["status"] == "Quarantined"
    assert rows[10]["raw_address"] == '"Dana Reyes" <dana.reyes@example.com>'
    assert (rows[10]["reason"], rows[10]["scope"]) == ("unsubscribe", "marketing")
    assert rows[11]["occurred_raw"] is None
    # The same address with two reasons is two records.
    assert [r["reason"] for r in out.filter(pl.col("raw_address") == "hb@example.org").iter_rows(named=True)] == [
        "hard_bounce", "unsubscribe",
    ]


def test_list_state_csv_scopes_unsubscribes_to_the_list_in_the_file_name(tmp_path):
    out = run(DIR / f"list_{LIST_ID}_states.csv", tmp_path, "list_states")
    rows = by_line(out)
    assert (rows[2]["reason"], rows[2]["scope"]) == ("unsubscribe", f"list:{LIST_ID}")
    assert (rows[3]["reason"], rows[3]["scope"]) == ("hard_bounce", None)
    # Deleted from the list by the account: an unsubscribe from that list, not a block.
    assert (rows[4]["reason"], rows[4]["scope"], rows[4]["detail"]) == (
        "unsubscribe", f"list:{LIST_ID}", f"Deleted; list {LIST_ID}",
    )
    assert (rows[5]["event"], rows[5]["reason"]) == ("ignored", None)  # Active
    assert (rows[6]["raw_address"], rows[6]["reason"], rows[6]["status"]) == (
        "  Trailing.Space@Example.com  ", "unsubscribe", "Unsubscribed",
    )
    assert (rows[7]["event"], rows[7]["reason"]) == ("ignored", None)  # Unconfirmed
    assert (rows[8]["event"], rows[8]["reason"], rows[8]["status"]) == ("suppression", None, "Paused")
    assert rows[9]["raw_address"] == "N/A"
    assert rows[10]["occurred_raw"] == "2024-03-09 17:00:00"
    assert out.filter(pl.col("event") == "ignored").height == 2


def test_list_state_api_json_without_a_list_id_is_marketing_wide(tmp_path):
    out = run(DIR / "unsubscribed_subscribers.json", tmp_path, "list_states")
    assert out["reason"].to_list() == ["unsubscribe"] * 3
    assert out["scope"].to_list() == ["marketing"] * 3
    assert out["_line"].to_list() == [1, 2, 3]
    assert by_line(out)[2]["raw_address"] == "Subscriber.Two@Example.org"


def test_campaign_bounces_hard_and_soft(tmp_path):
    out = run(DIR / "campaign_bounces.csv", tmp_path, "campaign_bounces")
    rows = by_line(out)
    assert sorted(rows) == [2, 3, 4, 5, 6, 8, 9]
    assert [rows[n]["reason"] for n in (2, 3, 4, 5, 6, 9)] == [
        "soft_bounce", "hard_bounce", "soft_bounce", "hard_bounce", "soft_bounce", "hard_bounce",
    ]
    # CM's own fixture text carries a trailing space: trimmed, the words kept.
    assert rows[2]["detail"] == "Soft: Bounce - But No Email Address Returned"
    assert rows[5]["status"] == "Hard"  # `Hard ` trimmed
    assert (rows[8]["reason"], rows[8]["status"]) == (None, "Transient")
    assert rows[3]["scope"] is None and rows[3]["occurred_raw"] == "2024-04-01 16:47:00"


def test_bounced_subscribers_take_state_changed_date_and_list_id_column(tmp_path):
    path = write(tmp_path, "bounced.json", json.dumps({"Results": [
        {"EmailAddress": "b@example.com", "Name": "B", "StateChangedDate": "2010-10-25 13:11:00",
         "ListJoinedDate": "2010-10-25 13:11:00", "State": "Bounced", "CustomFields": [], "ReadsEmailWith": ""},
        {"EmailAddress": "u@example.com", "Name": "U", "StateChangedDate": "2010-10-26 13:11:00",
         "ListJoinedDate": "2010-10-25 13:11:00", "State": "Unsubscribed", "CustomFields": [], "ReadsEmailWith": "",
         "ListID": "abc123"},
    ], "PageNumber": 1, "NumberOfPages": 1}))
    out = run(path, tmp_path, "list_states")
    assert out["occurred_raw"].to_list() == ["2010-10-25 13:11:00", "2010-10-26 13:11:00"]
    assert out["reason"].to_list() == ["hard_bounce", "unsubscribe"]
    assert out["scope"].to_list() == [None, "list:abc123"]


def test_deleted_subscribers_are_unsubscribed_from_their_list_through_the_cli(cli, tmp_path):
    # lists/{id}/deleted.json saved without the list id in its name or content: marketing-wide.
    deleted_page = write(tmp_path, "deleted.json", json.dumps({"Results": [
        {"EmailAddress": "removed@example.org", "Name": "Removed", "Date": "2024-03-10 09:00:00",
         "State": "Deleted", "CustomFields": [], "ReadsEmailWith": ""},
        {"EmailAddress": "removed.too@example.com", "Name": "Removed Too", "Date": "2024-03-11 09:00:00",
         "State": "Deleted ", "CustomFields": [], "ReadsEmailWith": ""},
    ], "PageNumber": 1, "NumberOfPages": 1}))
    s = ingest(cli, DIR / f"list_{LIST_ID}_states.csv", deleted_page)
    assert [(f["platform"], f["kind"]) for f in s["files"]] == [("campaignmonitor", "list_states")] * 2
    rows = {address: found[-1] for address, found in exported(cli).items()}
    got = {a: (rows[a]["reason"], rows[a]["scope"], rows[a]["detail"])
           for a in ("deleted.one@example.net", "removed@example.org", "removed.too@example.com")}
    assert got == {
        "deleted.one@example.net": ("unsubscribe", f"list:{LIST_ID}", f"Deleted; list {LIST_ID}"),
        "removed@example.org": ("unsubscribe", "marketing", "Deleted"),
        "removed.too@example.com": ("unsubscribe", "marketing", "Deleted"),
    }
    assert rows["deleted.one@example.net"]["first_seen_at"].startswith("2024-03-03T11:00:00")
    # SPEC 2.2: an unmapped list unsubscribe keeps all marketing away, and transactional mail goes.
    for purpose, blocked in (("marketing", True), ("transactional", False)):
        checked = cli("check", "--tenant", "t", "--purpose", purpose, "--json", "deleted.one@example.net")
        assert checked.code == 0, checked.stderr
        assert [r["suppressed"] for r in checked.json()] == [blocked], purpose


def test_postmark_dump_is_not_campaign_monitor(tmp_path):
    path = write(tmp_path, "dump.csv", "EmailAddress,SuppressionReason,CreatedAt\n"
                 "a@example.com,HardBounce,2024-01-01\nb@example.com,ManualSuppression,2024-01-01\n")
    _, probe = load(path, tmp_path)
    assert ADAPTER.detect(probe) is None
    assert POSTMARK.detect(probe) is not None


@pytest.mark.parametrize(
    ("name", "list_id"),
    [(f"list_{LIST_ID}_states.csv", LIST_ID), (f"Unsubscribed-{LIST_ID.upper()}.csv", LIST_ID),
     ("unsubscribed.csv", None), (f"x{LIST_ID}.csv", None)],
)
def test_list_id_from_file_name(name, list_id):
    assert list_id_from_name(name) == list_id


@pytest.mark.parametrize("path", other_files("campaignmonitor"), ids=file_id)
def test_never_outbids_the_adapter_that_claims_another_sample(path, tmp_path):
    never_outbids(ADAPTER, path, tmp_path)
