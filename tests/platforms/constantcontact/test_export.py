"""Constant Contact adapter through `suppress detect` / `suppress ingest` on
data/samples/constantcontact: contacts by permission_to_send and opt-out source (CSV, bulk export,
API JSON) and campaign bounce reports by bounce code."""
from __future__ import annotations

import pytest

from tests.conftest import SAMPLES
from tests.platforms.helpers import detect, exported, ingest, reasons, rejects, write

DIR = SAMPLES / "constantcontact"
CONTACTS = DIR / "constantcontact_contacts_export_2024-05-01.csv"
API = DIR / "contacts_api_page_1.json"
BOUNCES = DIR / "email_campaign_bounces_7b5c6a9e.json"
BULK = DIR / "unsubscribed_contacts_bulk_export.csv"


@pytest.mark.parametrize(
    ("path", "kind"), [(CONTACTS, "contacts"), (API, "contacts"), (BOUNCES, "bounces"), (BULK, "contacts")],
    ids=lambda v: getattr(v, "name", v),
)
def test_each_sample_is_detected_with_its_kind(path, kind):
    found = detect(path)
    assert (found["platform"], found["kind"]) == ("constantcontact", kind), found


def test_permission_to_send_and_opt_out_source(cli):
    s = ingest(cli, CONTACTS)
    (f,) = s["files"]
    assert (f["rows_read"], f["rows_rejected"], f["rows_ignored"]) == (12, 2, 4)
    rows = exported(cli)
    assert reasons(rows, "pat@example.com") == [("unsubscribe", "marketing")]  # the recipient opted out
    assert reasons(rows, "lee@example.org") == [("manual", "all")]  # the account removed the contact
    assert reasons(rows, "spaced.out@example.org") == [("unsubscribe", "marketing")]  # `Unsubscribed `
    assert reasons(rows, "unknown.source@example.com") == [("unsubscribe", "marketing")]  # no source given
    for fine in ("happy@example.net", "implied@example.com", "waiting@example.org", "never.set@example.org"):
        assert fine not in rows
    pat = rows["pat@example.com"][0]
    assert pat["first_seen_at"].startswith("2024-01-15T10:11:12")
    assert pat["detail"] == "unsubscribed; opt_out_source: Contact; opt_out_reason: Not relevant"
    multi = rows["multi.line@example.com"][0]
    assert multi["first_seen_at"].startswith("2024-02-01T13:30:00")  # -05:00
    assert multi["detail"].endswith("Too many emails.\nAlso the content was not what I signed up for.")
    # Line numbers count the line inside the quoted reason: temp_hold is on line 9.
    assert rejects(cli, s["run_id"]) == [
        (9, "held@example.net", "unknown_status", "temp_hold"),  # undocumented: not guessed
        (14, "blank.permission@example.com", "missing_status", ""),  # empty: no information
    ]


def test_api_contacts_json(cli):
    s = ingest(cli, API)
    assert (s["rows_read"], s["rows_rejected"], s["rows_ignored"]) == (5, 0, 2)
    rows = exported(cli)
    assert reasons(rows, "api.optout@example.com") == [("unsubscribe", "marketing")]
    assert rows["api.optout@example.com"][0]["detail"].endswith("opt_out_reason: I get too much email")
    assert reasons(rows, "api.removed@example.org") == [("manual", "all")]
    assert rows["api.optout2@example.org"][0]["first_seen_at"].startswith("2024-04-03T16:00:00")  # -04:00
    assert "api.fine@example.net" not in rows and "api.implicit@example.com" not in rows


def test_bulk_export_with_opt_out_fields_only(cli, tmp_path):
    s = ingest(cli, BULK)
    assert (s["rows_read"], s["rows_rejected"], s["suppressions_added"]) == (4, 0, 4)
    rows = exported(cli)
    assert reasons(rows, "bulk.one@example.com") == [("unsubscribe", "marketing")]
    assert reasons(rows, "bulk.two@example.org") == [("manual", "all")]
    assert reasons(rows, "bulk.four@example.com") == [("unsubscribe", "marketing")]  # mailto: stripped
    # Without a permission column, a row with no opt-out at all says nothing: quarantined, never loaded.
    path = write(tmp_path, "export.csv", "email_address,email_optout_source,email_optout_date,first_name\n"
                 "quiet@example.com,,,Q\nleft@example.com,Contact,2024-01-01T00:00:00Z,L\n")
    s = ingest(cli, path)
    assert s["rejects_by_error"] == {"missing_status": 1} and s["suppressions_added"] == 1
    assert "quiet@example.com" not in exported(cli)


def test_bounce_codes(cli):
    s = ingest(cli, BOUNCES)
    assert (s["rows_read"], s["rows_rejected"]) == (9, 1)
    assert s["deliveries"] == 1  # V: the auto-reply proves the message was delivered
    rows = exported(cli)
    assert reasons(rows, "nonexistent@example.com") == [("hard_bounce", "all")]  # B
    assert reasons(rows, "suspended@example.org") == [("hard_bounce", "all")]  # S
    assert reasons(rows, "full.box@example.net") == [("soft_bounce", "all")]  # F
    assert reasons(rows, "undeliverable@example.com") == [("soft_bounce", "all")]  # D
    assert reasons(rows, "other.problem@example.com") == [("soft_bounce", "all")]  # X
    assert reasons(rows, "isp.blocked@example.net") == [("policy_block", "all")]  # Z
    assert "on.vacation@example.org" not in rows
    # The bounce happened on the address it was sent to, not on the contact's current one.
    assert reasons(rows, "moved@example.org") == [("hard_bounce", "all")] and "moved.new@example.org" not in rows
    assert rows["nonexistent@example.com"][0]["detail"] == "bounce_code B: non-existent address"
    assert rows["full.box@example.net"][0]["first_seen_at"].startswith("2024-04-10T08:00:02")
    assert rejects(cli, s["run_id"]) == [(9, "mystery@example.net", "unknown_status", "Q")]
    check = cli("check", "--tenant", "t", "--json", "--purpose", "transactional",
                "nonexistent@example.com", "isp.blocked@example.net", "full.box@example.net").json()
    assert [r["suppressed"] for r in check] == [True, False, False]  # policy blocks and soft bounces are evidence


@pytest.mark.parametrize(
    ("text", "platform"),
    [
        ("email_address,permission_to_send\na@example.com,unsubscribed\n", "constantcontact"),
        ("email_address,bounce_code,created_time\na@example.com,B,2024-01-01T00:00:00Z\n", "constantcontact"),
        ("email_address,bounce_code\na@example.com,550\n", "generic"),  # SMTP codes are not CC's letters
        ("email_address,permission_to_send\na@example.com,granted\n", "generic"),
    ],
)
def test_detection_on_small_files(tmp_path, text, platform):
    assert detect(write(tmp_path, "x.csv", text))["platform"] == platform
