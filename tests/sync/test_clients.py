"""Every platform's client against the fake API: files that `suppress detect` takes for the right
platform and kind, refused keys, shapes that are not the API, paging that never ends, day filters,
logs. Each client's own paging and filters: `tests/platforms/<name>/test_api.py`. No store here."""
from __future__ import annotations

import itertools
import logging
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from pipelines.platforms.http import SyncError
from pipelines.sync.config import load_sources
from pipelines.sync.run import format_watermark, pull
from tests.conftest import run_cli

from .conftest import NIGHT1, TENANT
from .fake_api import KEYS, record_at
from .pulls import records, run_pull, source

EXPECTED_KINDS = {
    "sendgrid_bounces.json": ("sendgrid", "bounces"),
    "sendgrid_blocks.json": ("sendgrid", "blocks"),
    "sendgrid_spam_reports.json": ("sendgrid", "spam_reports"),
    "sendgrid_invalid_emails.json": ("sendgrid", "invalid_emails"),
    "sendgrid_unsubscribes.json": ("sendgrid", "unsubscribes"),
    "sendgrid_group_unsubscribes.json": ("sendgrid", "group_unsubscribes"),
    "mailchimp_members_a1b2c3d4e5.json": ("mailchimp", "api_members"),
    "mailgun_mg.example.com_bounces.json": ("mailgun", "bounces"),
    "mailgun_mg.example.com_unsubscribes.json": ("mailgun", "unsubscribes"),
    "mailgun_mg.example.com_complaints.json": ("mailgun", "complaints"),
    "postmark_suppressions_stream-outbound.json": ("postmark", "suppressions"),
    "postmark_suppressions_stream-broadcast.json": ("postmark", "suppressions"),
    "ses_suppressed_destinations.json": ("ses", "suppression_list"),
    "brevo_blocked_contacts.json": ("brevo", "blocked_contacts_api"),
    "klaviyo_profiles.json": ("klaviyo", "api_profiles"),
}


def test_pulled_files_are_detected_as_their_platform(apis, api_env, tmp_path, sources_file):
    files = []
    for src in load_sources(sources_file):
        files += pull({"source": src.to_dict(), "old_watermark": None}, tmp_path / src.name, now=NIGHT1,
                      sleep=lambda s: None)["files"]
    result = run_cli("detect", "--json", *files)
    assert result.code == 0, result.stderr
    found = {Path(r["path"]).name: (r["platform"], r["kind"]) for r in result.json()}
    assert found == EXPECTED_KINDS


def test_a_shape_that_is_not_the_api_is_refused(apis, api_env, tmp_path):
    # base_url pointing at the wrong API: Klaviyo's path answered by something else
    apis._klaviyo = lambda *args: (200, {"unexpected": True}, {})
    with pytest.raises(SyncError, match=f"{TENANT}/klaviyo-main .*unexpected shape"):
        run_pull(apis, "klaviyo", tmp_path)


WRONG = {"sendgrid": ("ACME_SENDGRID_KEY", "SG.wrong-key-for-redaction-01"),
         "mailchimp": ("ACME_MAILCHIMP_KEY", "wrongkeyforredaction02-us6"),
         "mailgun": ("ACME_MAILGUN_KEY", "key-wrong-for-redaction-03"),
         "postmark": ("ACME_POSTMARK_TOKEN", "wrong-token-for-redaction-04"),
         "ses": ("ACME_SES_KEYS", f"{KEYS['ses'][0]}:wrong/secret+for=redaction05"),
         "brevo": ("ACME_BREVO_KEY", "xkeysib-wrong-for-redaction-06"),
         "klaviyo": ("ACME_KLAVIYO_KEY", "pk_wrong_for_redaction_07")}


@pytest.mark.parametrize("platform", sorted(WRONG))
def test_a_refused_key_never_reaches_the_error(apis, api_env, tmp_path, monkeypatch, caplog, platform):
    """The fake API echoes the credential it got in its 401 body, as careless APIs do."""
    var, wrong = WRONG[platform]
    monkeypatch.setenv(var, wrong)
    apis.fail("/", 503)  # one retry first: its log line must not carry the key either
    with pytest.raises(SyncError, match="HTTP 401") as caught:
        run_pull(apis, platform, tmp_path)
    secret = wrong.split(":")[-1]
    assert secret not in str(caught.value) and secret not in caplog.text
    assert not caught.value.retryable and caught.value.__cause__ is None


# ---------------------------------------------------------------------------------------------
# Paging that never ends, day filters and time zones, members without an id, logs


def _same_page(platform: str):
    """A handler that ignores the offset: every request gets the first page again."""
    def sendgrid(path, q, *args):
        return 200, [{"email": f"same{i}@example.com", "created": 1715000000} for i in range(int(q["limit"]))], {}

    def brevo(path, q, *args):  # and no `count` to stop at
        return 200, {"contacts": [{"email": f"same{i}@example.com", "reason": {"code": "hardBounce"},
                                   "blockedAt": "2024-05-01T00:00:00.000Z"} for i in range(int(q["limit"]))]}, {}

    def mailchimp(path, q, *args):
        return 200, {"members": [{"id": f"id{i}", "email_address": f"same{i}@example.com", "status": "cleaned",
                                  "last_changed": "2024-05-01T00:00:00+00:00"} for i in range(int(q["count"]))],
                     "total_items": 10_000}, {}

    return {"sendgrid": sendgrid, "brevo": brevo, "mailchimp": mailchimp}[platform]


@pytest.mark.parametrize("platform", ["sendgrid", "brevo", "mailchimp"])
def test_a_server_that_ignores_the_offset_fails_the_pull_instead_of_paging_forever(apis, api_env, tmp_path, platform):
    setattr(apis, f"_{platform}", _same_page(platform))
    with pytest.raises(SyncError, match="answered the same page twice") as caught:
        run_pull(apis, platform, tmp_path, options={"lists": ["bounces"]} if platform == "sendgrid" else None)
    assert len(apis.seen(platform)) == 2  # the first page, and its repeat
    assert not caught.value.retryable and caught.value.stats["pages"] == 2


def _looping_cursor(platform: str):
    """A handler whose pages are fresh but whose next cursor comes back: a paging loop."""
    counter = itertools.count()

    def page(name: str) -> list[dict]:
        n = next(counter)
        return [{"email": f"loop{n}@example.com", "address": f"loop{n}@example.com", "EmailAddress": f"loop{n}@example.com",
                 "name": name}]

    def klaviyo(path, q, query, headers, origin):
        return 200, {"data": page("klaviyo"), "links": {"next": f"{origin}/api/profiles?page%5Bcursor%5D=again"}}, {}

    def mailgun(path, q, query, headers, origin):
        return 200, {"items": page("mailgun"), "paging": {"next": f"{origin}{path}?page=next&address=again"}}, {}

    def ses(path, q, query, headers, origin):
        return 200, {"SuppressedDestinationSummaries": page("ses"), "NextToken": "again"}, {}

    return {"klaviyo": klaviyo, "mailgun": mailgun, "ses": ses}[platform]


@pytest.mark.parametrize("platform", ["klaviyo", "mailgun", "ses"])
def test_a_cursor_that_comes_back_fails_the_pull_instead_of_stopping_quietly(apis, api_env, tmp_path, platform):
    """Stopped quietly, what lies past the loop would be lost while the watermark moves on."""
    setattr(apis, f"_{platform}", _looping_cursor(platform))
    with pytest.raises(SyncError, match="answered a cursor it had already given") as caught:
        run_pull(apis, platform, tmp_path, options={"domains": ["mg.example.com"], "lists": ["bounces"]}
                 if platform == "mailgun" else None)
    assert len(apis.seen(platform)) == 2  # the first page, then its cursor, which comes back again
    assert not caught.value.retryable


def test_max_pages_bounds_a_pull(apis, api_env, tmp_path):
    with pytest.raises(SyncError, match=r"more than 2 pages \(option max_pages\)"):
        run_pull(apis, "sendgrid", tmp_path, options={"max_pages": 2})  # bounces alone take 3 pages of 2
    assert len(apis.seen("sendgrid")) == 2
    assert source(apis, "sendgrid", tmp_path).options["max_pages"] == 20_000  # the default


def test_day_filters_are_widened_so_that_no_time_zone_loses_a_record(apis, api_env, tmp_path):
    """Postmark's and Brevo's filters take days, which the server reads in its own time zone."""
    apis.tz |= {"postmark": timezone(timedelta(hours=-5)), "brevo": timezone(timedelta(hours=2))}
    # Postmark: the window starts at 00:30 UTC; a record at 01:00 UTC is still the day before there.
    apis.now = datetime(2024, 5, 11, 2, 0, tzinfo=UTC)
    apis.add("postmark", *record_at("postmark", "tz.postmark@example.com", datetime(2024, 5, 10, 1, 0, tzinfo=UTC)))
    pm = run_pull(apis, "postmark", tmp_path, format_watermark(datetime(2024, 5, 10, 6, 30, tzinfo=UTC)), apis.now)
    assert "tz.postmark@example.com" in {r["EmailAddress"] for f in pm["files"] for r in records(f, "Suppressions")}
    # Brevo: the pull starts at 23:00 UTC; a record at 22:30 UTC is already the next day there.
    apis.now = datetime(2024, 5, 10, 23, 0, tzinfo=UTC)
    apis.add("brevo", *record_at("brevo", "tz.brevo@example.com", datetime(2024, 5, 10, 22, 30, tzinfo=UTC)))
    br = run_pull(apis, "brevo", tmp_path, format_watermark(datetime(2024, 5, 10, 12, 0, tzinfo=UTC)), apis.now)
    assert "tz.brevo@example.com" in {c["email"] for c in records(br["files"][0], "contacts")}


def test_request_urls_with_addresses_stay_out_of_the_logs(apis, api_env, tmp_path, caplog):
    """httpx logs each request's URL at INFO; Mailgun's next links carry addresses."""
    with caplog.at_level(logging.DEBUG):
        result = run_pull(apis, "mailgun", tmp_path)
    assert result["pages"] >= 3
    assert "%40" not in caplog.text and "@example" not in caplog.text
    assert not [r for r in caplog.records if r.name.startswith(("httpx", "httpcore"))]
