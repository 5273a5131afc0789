"""Brevo adapter through `suppress detect` / `suppress ingest` on data/samples/brevo: the
transactional blocklist (CSV, and the blockedContacts API page the nightly sync saves), and the
semicolon contact export with EMAIL_BLACKLISTED / SMS_BLACKLISTED."""
from __future__ import annotations

import json

import pytest

from tests.conftest import SAMPLES
from tests.platforms import helpers
from tests.platforms.helpers import detect, ingest, write

DIR = SAMPLES / "brevo"
BLOCKLIST = DIR / "brevo_transactional_blocklist_2024-05.csv"
API_PAGE = DIR / "blockedContacts_2024-05-01_offset_0.json"
CONTACTS = DIR / "contacts_export_2024-05-01.csv"


def exported(cli) -> dict[tuple[str, str], list[dict]]:
    """(channel, address) -> its suppressions."""
    return helpers.exported(cli, key=lambda row: (row["channel"], row["address"]))


def reasons(rows: dict, address: str, channel: str = "email") -> list[tuple[str, str]]:
    return helpers.reasons(rows, (channel, address))


def rejects(cli, run_id: str) -> list[tuple[int, str, str]]:
    return [(line, value, error) for line, value, error, _ in helpers.rejects(cli, run_id)]


@pytest.mark.parametrize(
    ("path", "kind"),
    [(BLOCKLIST, "blocked_contacts"), (API_PAGE, "blocked_contacts_api"), (CONTACTS, "contacts")],
    ids=lambda v: getattr(v, "name", v),
)
def test_each_sample_is_detected_with_its_kind(path, kind):
    found = detect(path)
    assert (found["platform"], found["kind"]) == ("brevo", kind), found


def test_blocklist_reason_codes(cli):
    s = ingest(cli, BLOCKLIST)
    assert (s["rows_read"], s["rows_rejected"]) == (12, 2)
    assert s["rejects_by_error"] == {"unknown_status": 1, "missing_at": 1}
    rows = exported(cli)
    assert reasons(rows, "hb@example.com") == [("hard_bounce", "all")]
    assert reasons(rows, "unsub@example.org") == [("unsubscribe", "marketing")]  # unsubscribedViaEmail
    assert reasons(rows, "automation.leaver@example.net") == [("unsubscribe", "marketing")]  # unsubscribedViaMA
    assert reasons(rows, "api.leaver@example.com") == [("unsubscribe", "marketing")]  # unsubscribedViaApi
    assert reasons(rows, "blocked.by.admin@example.com") == [("manual", "all")]  # adminBlocked, padded
    assert reasons(rows, "spam.flag@example.org") == [("spam_complaint", "all")]
    assert reasons(rows, "marie.dupont@example.fr") == [("hard_bounce", "all")]  # display name unwrapped
    # Brevo has no soft-bounce code: `softBounce` is not guessed.
    assert ("email", "soft.maybe@example.net") not in rows
    assert sorted(rejects(cli, s["run_id"])) == [
        (11, "soft.maybe@example.net", "unknown_status"), (12, "no-at-sign.example.com", "missing_at"),
    ]
    (unsub,) = rows[("email", "unsub@example.org")]
    assert unsub["first_seen_at"].startswith("2024-05-01T08:00:00")  # two rows, two senders: one suppression
    assert unsub["last_seen_at"].startswith("2024-05-10T10:10:10")
    (hb,) = rows[("email", "hb@example.com")]
    assert hb["detail"] == "hardBounce: This contact's email address generated a hard bounce; sender: news@shop.example"
    assert not rows[("email", "late.time@example.com")][0]["first_seen_at"].startswith("2024")  # no blockedAt


def test_api_page_saved_by_the_sync_is_detected_and_mapped(cli, tmp_path):
    page = {
        "contacts": [
            {"email": "sync.hb@example.com", "senderEmail": "news@shop.example",
             "reason": {"code": "hardBounce", "message": "This contact's email address generated a hard bounce"},
             "blockedAt": "2024-06-01T12:30:00Z"},
            {"email": "sync.unsub@example.org", "senderEmail": None,
             "reason": {"code": "unsubscribedViaApi", "message": "Unsubscribed via the API"},
             "blockedAt": "2024-06-02T08:00:00.000Z"},
            {"email": "sync.spam@example.net", "senderEmail": "news@shop.example",
             "reason": {"code": "contactFlaggedAsSpam", "message": "Contact has flagged the email as spam"},
             "blockedAt": "2024-06-03T09:00:00.000Z"},
        ],
        "count": 3,
    }
    path = write(tmp_path, "page_0000.json", json.dumps(page))  # whatever the sync names it
    s = ingest(cli, "--platform", "brevo", path, API_PAGE)
    assert [(f["platform"], f["kind"], f["rows_read"]) for f in s["files"]] == [
        ("brevo", "blocked_contacts_api", 3), ("brevo", "blocked_contacts_api", 6),
    ]
    assert s["rows_rejected"] == 0
    rows = exported(cli)
    assert reasons(rows, "sync.hb@example.com") == [("hard_bounce", "all")]
    assert reasons(rows, "sync.unsub@example.org") == [("unsubscribe", "marketing")]
    assert reasons(rows, "sync.spam@example.net") == [("spam_complaint", "all")]
    assert rows[("email", "sync.hb@example.com")][0]["first_seen_at"].startswith("2024-06-01T12:30:00")
    assert rows[("email", "sync.unsub@example.org")][0]["detail"] == "unsubscribedViaApi: Unsubscribed via the API"
    assert reasons(rows, "api.spam@example.org") == [("spam_complaint", "all")]  # Api.Spam@Example.org
    assert reasons(rows, "api.admin@example.com") == [("manual", "all")]
    assert reasons(rows, "api.ma@example.org") == [("unsubscribe", "marketing")]
    # The same page again (the sync re-pulling a window) changes nothing.
    again = cli("ingest", "--tenant", "t", "--json", "--platform", "brevo", "--force", path)
    assert again.code == 0 and again.json()["suppressions_added"] == 0


def test_exhausted_api_page_adds_nothing_and_never_crashes(cli, tmp_path):
    last = write(tmp_path, "brevo_blocked_contacts_offset_100.json", '{"contacts": null, "count": 0}')
    found = detect(last)
    assert (found["platform"], found["kind"]) == ("brevo", "blocked_contacts_api")
    s = ingest(cli, "--platform", "brevo", API_PAGE, last)
    assert [f["rows_read"] for f in s["files"]] == [6, 0]
    assert s["suppressions_added"] == 6
    # The same empty page under a name that says nothing: not any known format, one clear line.
    anonymous = write(tmp_path, "page.json", '{"contacts": [], "count": 0}')
    refused = cli("ingest", "--tenant", "t", "--json", anonymous)
    assert refused.code == 3
    assert "page.json" in refused.stderr and "does not look like" in refused.stderr
    assert "Traceback" not in refused.stderr and "unexpected" not in refused.stderr


def test_contact_export_blacklisted_flags_per_channel(cli):
    s = ingest(cli, CONTACTS)
    (f,) = s["files"]
    assert (f["kind"], f["rows_read"], f["rows_rejected"], f["rows_ignored"]) == ("contacts", 10, 2, 3)
    rows = exported(cli)
    assert reasons(rows, "marie@example.fr") == [("unsubscribe", "marketing")]
    assert reasons(rows, "hélène@example.fr") == [("unsubscribe", "marketing")]  # cp1252 bytes decoded
    assert reasons(rows, "+33698765432", "sms") == [("unsubscribe", "marketing")]  # SMS_BLACKLISTED too
    assert reasons(rows, "+33611223344", "sms") == [("unsubscribe", "marketing")]  # a contact with no email
    assert reasons(rows, "+33612345678", "sms") == []  # SMS_BLACKLISTED No
    for fine in ("paul@example.fr", "sophie@example.fr", "emma@example.fr", "jean.martin@example.fr"):
        assert ("email", fine) not in rows  # EMAIL_BLACKLISTED No: nothing
    assert sorted(rejects(cli, s["run_id"])) == [
        (6, "3.36123E+10", "excel_mangled_phone"),  # Excel turned the SMS number into a float
        (10, "chloe@example.fr", "missing_status"),  # empty flag: no information, not "not blocked"
    ]
    # DD-MM-YYYY HH:MM: `13-04-2022` settles the day/month order for the whole file.
    assert rows[("email", "marie@example.fr")][0]["first_seen_at"].startswith("2022-04-13T10:00:00")
    assert rows[("email", "luc@example.fr")][0]["first_seen_at"].startswith("2023-09-21T16:30:00")
    assert rows[("email", "marie@example.fr")][0]["detail"] == "EMAIL_BLACKLISTED: Yes"
    assert s["time_warnings"] == {}


def test_sms_numbers_without_their_plus_are_international(cli, tmp_path):
    # Brevo writes the SMS attribute as the country code and number, digits only.
    path = write(
        tmp_path, "contacts_export.csv",
        "EMAIL;SMS;EMAIL_BLACKLISTED;SMS_BLACKLISTED;MODIFIED_TIME\n"
        ";33612345678;No;Yes;13-04-2022 10:00\n"  # FR
        ";447700900123;No;Yes;13-04-2022 10:00\n"  # GB
        ";14155550100;No;Yes;13-04-2022 10:00\n"  # US
        ";44 7700 900456;No;Yes;13-04-2022 10:00\n"  # spaced
        ";+33611111111;No;Yes;13-04-2022 10:00\n"  # already with its +
        ";0033622222222;No;Yes;13-04-2022 10:00\n"  # 00: international prefix of the default region
        ";0633333333;No;Yes;13-04-2022 10:00\n"  # national: no country code starts with 0
        ";12345;No;Yes;13-04-2022 10:00\n"  # too short for any country
        ";4915112345678;No;No;13-04-2022 10:00\n"  # not blocklisted: nothing
    )
    s = ingest(cli, "--default-region", "FR", path)
    (f,) = s["files"]
    assert (f["rows_read"], f["rows_rejected"], f["rows_ignored"]) == (9, 1, 1)
    rows = exported(cli)
    assert sorted(address for channel, address in rows if channel == "sms") == [
        "+14155550100", "+33611111111", "+33612345678", "+33622222222", "+33633333333",
        "+447700900123", "+447700900456",
    ]
    assert reasons(rows, "+447700900123", "sms") == [("unsubscribe", "marketing")]
    assert rows[("sms", "+33612345678")][0]["detail"] == "SMS_BLACKLISTED: Yes"
    assert rejects(cli, s["run_id"]) == [(9, "+12345", "invalid_phone")]


def test_api_contact_sms_number_without_its_plus(cli, tmp_path):
    path = write(tmp_path, "contacts.json", json.dumps({"contacts": [
        {"email": "api.sms1@example.com", "emailBlacklisted": False, "smsBlacklisted": True,
         "modifiedAt": "2024-02-01T10:00:00.000+02:00", "attributes": {"SMS": "447700900789"}},
        {"email": "api.sms2@example.com", "emailBlacklisted": False, "smsBlacklisted": True,
         "modifiedAt": "2024-02-01T10:00:00.000+02:00", "attributes": {"SMS": "14155550123"}},
    ], "count": 2}))
    s = ingest(cli, path)  # no default region: the country code is in the number
    assert s["rows_rejected"] == 0
    rows = exported(cli)
    assert reasons(rows, "+447700900789", "sms") == [("unsubscribe", "marketing")]
    assert reasons(rows, "+14155550123", "sms") == [("unsubscribe", "marketing")]


def test_contact_export_with_only_ambiguous_dates_keeps_the_rows_without_times(cli, tmp_path):
    path = write(tmp_path, "contacts.csv", "EMAIL;FIRSTNAME;EMAIL_BLACKLISTED;MODIFIED_TIME\n"
                 "a@example.com;A;Yes;03-04-2023 10:00\nb@example.com;B;Yes;05-06-2023 11:00\n")
    s = ingest(cli, path)
    assert s["suppressions_added"] == 2 and s["rows_rejected"] == 0
    assert s["time_warnings"] == {"ambiguous_day_month": 2}  # never guessed
    rows = exported(cli)
    assert not rows[("email", "a@example.com")][0]["first_seen_at"].startswith("2023")


def test_api_contacts_json(cli, tmp_path):
    path = write(tmp_path, "contacts.json", json.dumps({"contacts": [
        {"email": "api.c1@example.com", "id": 1, "emailBlacklisted": True, "smsBlacklisted": False,
         "createdAt": "2023-01-01T10:00:00.000+02:00", "modifiedAt": "2024-02-01T10:00:00.000+02:00",
         "attributes": {"FIRSTNAME": "C1", "SMS": "+33612345001"}, "listIds": [2, 7]},
        {"email": "api.c2@example.com", "id": 2, "emailBlacklisted": False, "smsBlacklisted": True,
         "createdAt": "2023-01-01T10:00:00.000+02:00", "modifiedAt": "2024-02-02T10:00:00.000+02:00",
         "attributes": {"FIRSTNAME": "C2", "SMS": "+33612345002"}, "listIds": []},
        {"email": "api.c3@example.com", "id": 3, "emailBlacklisted": False, "smsBlacklisted": False,
         "createdAt": "2023-01-01T10:00:00.000+02:00", "modifiedAt": "2024-02-03T10:00:00.000+02:00",
         "attributes": {"FIRSTNAME": "C3"}, "listIds": [2]},
    ], "count": 3}))
    found = detect(path)
    assert (found["platform"], found["kind"]) == ("brevo", "contacts")
    s = ingest(cli, path)
    assert (s["rows_read"], s["rows_rejected"], s["rows_ignored"]) == (3, 0, 1)
    rows = exported(cli)
    assert reasons(rows, "api.c1@example.com") == [("unsubscribe", "marketing")]
    assert rows[("email", "api.c1@example.com")][0]["first_seen_at"].startswith("2024-02-01T08:00:00")
    assert reasons(rows, "+33612345002", "sms") == [("unsubscribe", "marketing")]
    assert ("email", "api.c2@example.com") not in rows and ("email", "api.c3@example.com") not in rows


def test_contact_export_without_blocklist_columns_needs_a_reason(cli, tmp_path):
    path = write(tmp_path, "export.csv", "EMAIL;FIRSTNAME;LASTNAME;ADDED_TIME\nx@example.com;X;Y;12-04-2022 09:30\ny@example.com;Y;Z;13-04-2022 10:00\n")
    refused = cli("ingest", "--tenant", "t", "--json", path)
    assert refused.code == 3
    assert "--reason" in refused.stderr and "brevo" in refused.stderr
    s = ingest(cli, "--reason", "unsubscribe", path)
    assert s["suppressions_added"] == 2
    assert reasons(exported(cli), "x@example.com") == [("unsubscribe", "marketing")]


@pytest.mark.parametrize(
    ("name", "text", "platform"),
    [
        # hardBounce alone is anyone's word; Brevo's own codes or its columns say Brevo.
        ("list.csv", "email,reason\na@example.com,hardBounce\n", "generic"),
        ("x.csv", "email,reason,blockedAt\na@example.com,contactFlaggedAsSpam,2024-01-01T00:00:00Z\n", "brevo"),
        ("x.csv", "email,reason_code\na@example.com,adminBlocked\n", "brevo"),
        ("x.csv", "email,reason_code\na@example.com,bounced\n", "generic"),  # not a Brevo code
        ("x.csv", "Email,First Name,Status\na@example.com,A,Unsubscribed\n", "generic"),
    ],
)
def test_detection_on_small_files(tmp_path, name, text, platform):
    assert detect(write(tmp_path, name, text))["platform"] == platform
