"""Each platform's client against the fake API: paging and its quirks, incremental filters, rate
limits, and files that `suppress detect` takes for the right platform and kind. No store here."""
from __future__ import annotations

import itertools
import json
import logging
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from pipelines.sync.config import load_sources
from pipelines.sync.http import SyncError
from pipelines.sync.run import format_watermark, pull
from tests.conftest import run_cli

from .conftest import NIGHT1, NIGHT2, TENANT, sources_toml
from .fake_api import DROP, KEYS, record_at

NIGHT1_MARK = format_watermark(NIGHT1)
SINCE2 = NIGHT1 - timedelta(hours=6)  # night 2's window start: the watermark minus the default overlap


def source(apis, platform: str, tmp_path: Path, options: dict | None = None):
    path = tmp_path / f"{platform}.toml"
    path.write_text(sources_toml(apis.url, (platform,), options=options))
    [found] = load_sources(path)
    return found


def run_pull(apis, platform, tmp_path, watermark=None, now=NIGHT1, options=None, waits=None):
    src = source(apis, platform, tmp_path, options)
    return pull({"source": src.to_dict(), "old_watermark": watermark}, tmp_path / "out" / src.name, now=now,
                sleep=(waits if waits is not None else []).append)


def records(path: str, key: str | None) -> list[dict]:
    doc = json.loads(Path(path).read_text())
    return doc if key is None else doc[key]


def test_sendgrid_offset_paging_without_a_total_and_start_time(apis, api_env, tmp_path):
    first = run_pull(apis, "sendgrid", tmp_path)
    bounces = apis.seen("sendgrid", "/v3/suppression/bounces")
    assert [(r.param("limit"), r.param("offset")) for r in bounces] == [("2", "0"), ("2", "2"), ("2", "4")]
    assert all(r.param("start_time") is None for r in apis.seen("sendgrid"))  # first night: everything
    assert all(r.headers["authorization"] == f"Bearer {KEYS['sendgrid']}" for r in apis.seen("sendgrid"))
    names = [Path(f).name for f in first["files"]]
    assert names == [f"sendgrid_{n}.json" for n in
                     ("bounces", "blocks", "spam_reports", "invalid_emails", "unsubscribes", "group_unsubscribes")]
    assert len(records(first["files"][0], None)) == 4 and first["records"] == 10

    apis.requests.clear()
    apis.now = NIGHT2
    second = run_pull(apis, "sendgrid", tmp_path, NIGHT1_MARK, NIGHT2)
    starts = {r.param("start_time") for r in apis.seen("sendgrid", "/v3/suppression/")}
    assert starts == {str(int(SINCE2.timestamp()))}
    emails = {r["email"] for f in second["files"] for r in records(f, None)}
    # the overlap's late bounce comes again; the group list has no time filter: filtered here
    assert emails == {"late.bounce@example.com", "new.bounce@example.com", "new.angry@example.net",
                      "new.optout@example.com", "new.group@example.com"}
    assert second["since"] == format_watermark(SINCE2) and second["new_watermark"] == format_watermark(NIGHT2)


def test_mailchimp_statuses_since_last_changed_and_overlapping_pages_deduplicated(apis, api_env, tmp_path):
    for i in range(12):
        apis.add("mailchimp", "members_a1b2c3d4e5", {
            "id": f"bulk{i:028d}", "email_address": f"bulk{i}@example.com", "status": "cleaned", "list_id": "a1b2c3d4e5",
            "unique_email_id": "b", "last_changed": "2024-03-01T00:00:00+00:00", "timestamp_opt": ""})
    result = run_pull(apis, "mailchimp", tmp_path, options={"page_size": 10})
    seen = apis.seen("mailchimp")
    assert [(r.param("status"), r.param("offset")) for r in seen] == [("cleaned", "0"), ("cleaned", "9"), ("unsubscribed", "0")]
    assert all(r.param("sort_field") == "last_changed" and r.param("sort_dir") == "ASC" for r in seen)
    [path] = result["files"]
    members = records(path, "members")
    assert len(members) == len({m["id"] for m in members}) == 17  # the 10th came twice: kept once
    assert {m["status"] for m in members} == {"cleaned", "unsubscribed"}
    assert json.loads(Path(path).read_text())["list_id"] == "a1b2c3d4e5"

    apis.requests.clear()
    apis.now = NIGHT2
    second = run_pull(apis, "mailchimp", tmp_path, NIGHT1_MARK, NIGHT2)
    assert {r.param("since_last_changed") for r in apis.seen("mailchimp")} == {"2024-05-09T20:00:00+00:00"}
    assert {m["email_address"] for m in records(second["files"][0], "members")} == {
        "late.left@example.com", "new.cleaned@example.com", "new.left@example.org"}


def test_mailchimp_data_center_comes_from_the_key(apis, api_env, tmp_path, monkeypatch):
    src = source(apis, "mailchimp", tmp_path)
    from pipelines.sync.base import Credentials
    from pipelines.sync.mailchimp import MailchimpClient

    no_base = type(src)(**{**src.to_dict(), "options": {**src.options, "base_url": None}})
    assert MailchimpClient(no_base, Credentials("abc123-us6")).http.base_url == "https://us6.api.mailchimp.com"
    with pytest.raises(Exception, match="names no data center"):
        MailchimpClient(no_base, Credentials("abc123"))


def test_mailgun_cursor_paging_stops_on_the_empty_page_that_still_links_on(apis, api_env, tmp_path):
    result = run_pull(apis, "mailgun", tmp_path)
    bounces = apis.seen("mailgun", "/v3/mg.example.com/bounces")
    assert [(r.param("page"), r.param("address")) for r in bounces] == [
        (None, None), ("next", "beta.gone@example.org"), ("next", "gamma.gone@example.net")]
    assert result["records"] == 6
    unsub = records(next(f for f in result["files"] if f.endswith("_unsubscribes.json")), "items")
    assert {u["address"] for u in unsub} == {"all.mail@example.com", "some.tags@example.org"}

    apis.requests.clear()
    apis.now = NIGHT2
    second = run_pull(apis, "mailgun", tmp_path, NIGHT1_MARK, NIGHT2)
    # no time filter in the API: every page is read again, and only what is new is written
    assert len(apis.seen("mailgun")) == 8
    assert {r["address"] for f in second["files"] for r in records(f, "items")} == {
        "new.gone@example.com", "new.unsub@example.net"}
    assert [Path(f).name for f in second["files"]] == ["mailgun_mg.example.com_bounces.json",
                                                      "mailgun_mg.example.com_unsubscribes.json"]


def test_postmark_dump_per_stream_from_the_start_day(apis, api_env, tmp_path):
    result = run_pull(apis, "postmark", tmp_path)
    assert [r.path for r in apis.seen("postmark")] == ["/message-streams/outbound/suppressions/dump",
                                                       "/message-streams/broadcast/suppressions/dump"]
    broadcast = records(result["files"][1], "Suppressions")
    assert broadcast == [{"EmailAddress": "pm.unsub@example.net", "SuppressionReason": "ManualSuppression",
                          "Origin": "Recipient", "CreatedAt": "2024-04-28T12:45:00-05:00", "MessageStream": "broadcast"}]
    apis.requests.clear()
    apis.now = NIGHT2
    second = run_pull(apis, "postmark", tmp_path, NIGHT1_MARK, NIGHT2)
    assert {r.param("fromdate") for r in apis.seen("postmark")} == {"2024-05-08"}  # the start day, widened
    assert [Path(f).name for f in second["files"]] == ["postmark_suppressions_stream-outbound.json"]


def test_ses_signed_requests_next_token_and_start_date(apis, api_env, tmp_path):
    result = run_pull(apis, "ses", tmp_path)  # the fake server checks every SigV4 signature
    seen = apis.seen("ses")
    assert [r.param("NextToken") is None for r in seen] == [True, False]
    assert all(r.query["Reason"] == ["BOUNCE", "COMPLAINT"] and r.param("PageSize") == "2" for r in seen)
    assert result["records"] == 4
    apis.requests.clear()
    apis.now = NIGHT2
    second = run_pull(apis, "ses", tmp_path, NIGHT1_MARK, NIGHT2)
    assert {r.param("StartDate") for r in apis.seen("ses")} == {"2024-05-09T20:00:00Z"}
    assert {r["EmailAddress"] for r in records(second["files"][0], "SuppressedDestinationSummaries")} == {
        "ses.late@example.net", "ses.new@example.com"}


def test_ses_wrong_secret_is_refused(apis, api_env, tmp_path, monkeypatch):
    monkeypatch.setenv("ACME_SES_KEYS", f"{KEYS['ses'][0]}:not-the-secret-0099")
    with pytest.raises(SyncError, match="HTTP 401") as caught:
        run_pull(apis, "ses", tmp_path)
    assert "not-the-secret-0099" not in str(caught.value)


def test_brevo_null_page_ends_the_list_and_dates_go_together(apis, api_env, tmp_path):
    apis.fail("/v3/smtp/", 429, headers={"x-sib-ratelimit-reset": "3"})
    waits: list[float] = []
    result = run_pull(apis, "brevo", tmp_path, options={"rate_limit_max_wait": 60}, waits=waits)
    assert 3.0 <= waits[0] <= 3.01 and len(waits) == 1 and result["rate_limited"] == 1
    offsets = [r.param("offset") for r in apis.seen("brevo")]
    assert offsets == ["0", "0", "2"]  # the 429, then two pages: 4 contacts, `count` reached
    apis.requests.clear()
    apis.now = NIGHT2
    second = run_pull(apis, "brevo", tmp_path, NIGHT1_MARK, NIGHT2)
    seen = apis.seen("brevo")
    assert {(r.param("startDate"), r.param("endDate")) for r in seen} == {("2024-05-08", "2024-05-12")}
    doc = json.loads(Path(second["files"][0]).read_text())
    assert [c["email"] for c in doc["contacts"]] == ["br.admin@example.com", "br.new@example.com"]
    assert doc["count"] == 2


def test_brevo_stops_on_a_null_page_before_count(apis, api_env, tmp_path):
    # `count` says more than there is (contacts removed while reading): the null page ends it.
    from pipelines.sync.brevo import BrevoClient

    src = source(apis, "brevo", tmp_path)
    original = apis._brevo

    def overcounting(*args):
        status, body, headers = original(*args)
        return status, {**body, "count": 99}, headers

    apis._brevo = overcounting
    result = pull({"source": src.to_dict(), "old_watermark": None}, tmp_path / "b", now=NIGHT1, sleep=lambda s: None)
    assert [r.param("offset") for r in apis.seen("brevo")] == ["0", "2", "4"]
    assert result["records"] == 4
    assert BrevoClient.max_page_size == 100


def test_klaviyo_cursor_links_revision_and_updated_filter(apis, api_env, tmp_path):
    apis.fail("/api/profiles", DROP)
    result = run_pull(apis, "klaviyo", tmp_path)
    seen = apis.seen("klaviyo")
    assert [r.param("page[cursor]") for r in seen] == [None, None, "2"]  # dropped, first page, next link
    assert all(r.headers["revision"] == "2024-10-15" and r.param("additional-fields[profile]") == "subscriptions"
               for r in seen)
    assert result["transient_errors"] == 1 and result["records"] == 4
    apis.requests.clear()
    apis.now = NIGHT2
    second = run_pull(apis, "klaviyo", tmp_path, NIGHT1_MARK, NIGHT2)
    assert {r.param("filter") for r in apis.seen("klaviyo")} == {"greater-than(updated,2024-05-09T20:00:00Z)"}
    assert [p["attributes"]["email"] for p in records(second["files"][0], "data")] == ["kl.new@example.com"]


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


def test_mailchimp_members_without_an_id_are_not_collapsed(apis, api_env, tmp_path):
    for i in range(3):
        apis.add("mailchimp", "members_a1b2c3d4e5", {
            "email_address": f"noid{i}@example.com", "status": "cleaned", "list_id": "a1b2c3d4e5",
            "last_changed": f"2024-03-0{i + 1}T00:00:00+00:00", "timestamp_opt": ""})
    result = run_pull(apis, "mailchimp", tmp_path)
    members = records(result["files"][0], "members")
    assert {f"noid{i}@example.com" for i in range(3)} <= {m["email_address"] for m in members}
    with_id = [m["id"] for m in members if m.get("id")]
    assert len(with_id) == len(set(with_id))  # pages overlap: those with an id still come once


def test_request_urls_with_addresses_stay_out_of_the_logs(apis, api_env, tmp_path, caplog):
    """httpx logs each request's URL at INFO; Mailgun's next links carry addresses."""
    with caplog.at_level(logging.DEBUG):
        result = run_pull(apis, "mailgun", tmp_path)
    assert result["pages"] >= 3
    assert "%40" not in caplog.text and "@example" not in caplog.text
    assert not [r for r in caplog.records if r.name.startswith(("httpx", "httpcore"))]
