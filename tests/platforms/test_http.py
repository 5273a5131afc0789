"""The HTTP layer of the API clients against a real local server: retries that are safe to repeat,
rate limits (Retry-After, reset headers, a spent quota), transient errors, and no secret in any
message."""
from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from pipelines.errors import UsageError
from pipelines.platforms.http import Http, Redactor, RetryPolicy, SyncError, retry_after
from tests.sync.fake_api import DROP, KEYS, SLOW

BOUNCES = "/v3/suppression/bounces"


def client(apis, waits: list, key: str = KEYS["sendgrid"], **policy) -> Http:
    policy = {"attempts": 4, "backoff_initial": 0.5, "backoff_max": 4.0, "rate_limit_max_wait": 300.0, "timeout": 5.0,
              **policy}
    return Http(apis.url, label="acme/sg", headers={"Authorization": f"Bearer {key}"}, redactor=Redactor([key]),
                policy=RetryPolicy(**policy), sleep=waits.append)


def test_429_waits_what_retry_after_says(apis):
    waits: list[float] = []
    apis.fail(BOUNCES, 429, headers={"Retry-After": "7"})
    with client(apis, waits) as http:
        body = http.get_json(BOUNCES, {"limit": 500})
    assert [r["email"] for r in body][-1] == "gone@example.com"
    assert 7.0 <= waits[0] <= 7.25 and len(waits) == 1  # plus a little jitter (a quarter of the backoff)
    assert (http.stats.requests, http.stats.retries, http.stats.rate_limited) == (2, 1, 1)


def test_429_wait_from_the_platforms_reset_headers(apis):
    waits: list[float] = []
    reset_at = int(time.time()) + 40  # SendGrid: a Unix time
    apis.fail(BOUNCES, 429, headers={"X-RateLimit-Reset": str(reset_at)})
    apis.fail(BOUNCES, 429, headers={"x-sib-ratelimit-reset": "12"})  # Brevo: seconds from now
    with client(apis, waits, rate_limit_max_wait=60) as http:
        http.get_json(BOUNCES)
    assert 35 <= waits[0] <= 40.25
    assert 12.0 <= waits[1] <= 12.5
    assert http.stats.rate_limited == 2


def test_a_wait_longer_than_the_cap_fails_at_once_as_retryable(apis):
    """Retrying before the platform's time only meets another 429; Airflow's retry comes later."""
    waits: list[float] = []
    apis.fail(BOUNCES, 429, headers={"Retry-After": "3600"})
    with client(apis, waits, rate_limit_max_wait=60) as http, pytest.raises(SyncError) as caught:
        http.get_json(BOUNCES)
    assert caught.value.retryable and waits == [] and http.stats.requests == 1
    assert "asks to wait 3600s, longer than rate_limit_max_wait (60s)" in str(caught.value)


@pytest.mark.parametrize("headers", [{"Retry-After": "0"}, {"X-RateLimit-Reset": str(int(time.time()) - 30)}])
def test_retry_after_zero_or_a_past_reset_still_backs_off(apis, headers):
    """Without a floor, six tries would go in milliseconds and the pull fail for nothing."""
    waits: list[float] = []
    apis.fail(BOUNCES, *[429] * 3, headers=headers)
    with client(apis, waits, backoff_initial=1.0, backoff_max=60.0) as http:
        http.get_json(BOUNCES)
    assert len(waits) == 3
    for attempt, wait in enumerate(waits):  # the backoff of each attempt, plus jitter
        assert 2 ** attempt <= wait <= 2 ** attempt * 1.5
    assert len(set(waits)) == 3


@pytest.mark.parametrize("status", [408, 520, 521, 522, 523, 524])
def test_timeouts_and_cloudflare_errors_are_retried(apis, status):
    waits: list[float] = []
    apis.fail(BOUNCES, status)
    with client(apis, waits) as http:
        assert http.get_json(BOUNCES)
    assert http.stats.transient_errors == 1 and len(waits) == 1


def test_a_garbled_body_is_retried(apis):
    waits: list[float] = []
    apis.fail(BOUNCES, 200, headers={"Content-Encoding": "gzip"})  # a JSON body that claims to be gzip
    with client(apis, waits) as http:
        assert http.get_json(BOUNCES)
    assert http.stats.transient_errors == 1 and http.stats.requests == 2


@pytest.mark.parametrize("secret", ["SG.real-secret-key-123456\n", "SG.real\rsecret-key-123456",
                                    "SG.real-secret\x00key-123456"])
def test_a_key_with_a_control_character_is_refused_once_and_never_shown(apis, caplog, secret):
    """h11 refuses such a header with its bytes escaped in the error: a form the plain secret
    does not match. It is not sent, not retried, and the message leaves the error text out."""
    waits: list[float] = []
    with caplog.at_level(logging.DEBUG), client(apis, waits, key=secret) as http, pytest.raises(SyncError) as caught:
        http.get_json(BOUNCES)
    text = str(caught.value) + caplog.text
    core = secret.strip().replace("\r", "").replace("\x00", "")
    for part in (core[:12], core[-12:], "real-secret", "key-123456"):
        assert part not in text
    assert "could not be sent" in str(caught.value) and "control character" in str(caught.value)
    assert not caught.value.retryable and caught.value.__cause__ is None
    assert waits == [] and apis.requests == []


def test_repr_forms_of_a_secret_are_redacted():
    secret = "ab\ncd-secret\r"
    redact = Redactor([secret])
    shown = [repr(secret), repr(secret.encode()), f"Illegal header value b'Bearer {secret}'".encode("unicode_escape").decode()]
    for text in shown:
        assert "cd-secret" not in redact(text), text


def test_retry_after_forms():
    now = time.time()
    date = format_datetime(datetime.fromtimestamp(now, UTC) + timedelta(seconds=90), usegmt=True)
    assert retry_after(httpx.Headers({"Retry-After": "2.5"}), now) == 2.5
    assert 88 <= retry_after(httpx.Headers({"Retry-After": date}), now) <= 90
    assert retry_after(httpx.Headers({"ratelimit-reset": "30"}), now) == 30
    assert retry_after(httpx.Headers({"X-RateLimit-Reset": str(int(now) - 5)}), now) == 0  # already past
    assert retry_after(httpx.Headers({"Retry-After": "soon"}), now) is None
    assert retry_after(httpx.Headers({}), now) is None


def test_503_then_success_backs_off_with_jitter(apis):
    waits: list[float] = []
    apis.fail(BOUNCES, 503, 502)
    with client(apis, waits) as http:
        http.get_json(BOUNCES)
    assert len(waits) == 2
    assert 0.25 <= waits[0] <= 0.5 and 0.5 <= waits[1] <= 1.0  # initial, then doubled, each jittered
    assert (http.stats.transient_errors, http.stats.retries, http.stats.rate_limited) == (2, 2, 0)


def test_backoff_is_capped(apis):
    waits: list[float] = []
    apis.fail(BOUNCES, 500, 500, 500, 500, 500)
    with client(apis, waits, attempts=6, backoff_initial=1.0, backoff_max=2.0) as http:
        http.get_json(BOUNCES)
    assert max(waits) <= 2.0 and waits[-1] >= 1.0


def test_a_dropped_connection_and_a_timeout_are_retried(apis):
    waits: list[float] = []
    apis.fail(BOUNCES, DROP, SLOW)
    with client(apis, waits, timeout=0.3) as http:
        body = http.get_json(BOUNCES)
    assert body
    assert http.stats.transient_errors == 2 and http.stats.requests == 3


def test_errors_past_the_retries_fail_with_one_clear_line(apis):
    waits: list[float] = []
    apis.fail(BOUNCES, *[503] * 4)
    with client(apis, waits) as http, pytest.raises(SyncError) as caught:
        http.get_json(BOUNCES)
    assert caught.value.retryable
    assert str(caught.value) == f"acme/sg: GET {BOUNCES} failed after 4 attempts: HTTP 503 Service Unavailable"
    assert http.stats.requests == 4 and len(waits) == 3
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_a_refusal_is_not_retried_and_never_shows_the_key(apis, caplog):
    secret = "SG.a-wrong-but-real-looking-key-0042"
    waits: list[float] = []
    apis.fail(BOUNCES, 503)  # logged while retrying: must not show the key either
    with caplog.at_level(logging.DEBUG), client(apis, waits, key=secret) as http, pytest.raises(SyncError) as caught:
        http.get_json(BOUNCES)
    text = str(caught.value)
    assert "HTTP 401" in text and "***" in text  # the server echoed the key; it was redacted
    assert secret not in text and secret not in caplog.text
    assert not caught.value.retryable
    assert http.stats.requests == 2  # the 503 once, the 401 once


def test_basic_auth_and_url_encoded_forms_are_redacted():
    redact = Redactor()
    redact.add("s3cr3t/key+1=", login="api")
    import base64

    basic = base64.b64encode(b"api:s3cr3t/key+1=").decode()
    text = f"key s3cr3t/key+1= url s3cr3t%2Fkey%2B1%3D form s3cr3t%2Fkey%2B1%3D header Basic {basic}"
    assert "s3cr3t" not in redact(text) and basic not in redact(text)


def test_a_spent_quota_pauses_before_the_next_request(apis):
    waits: list[float] = []
    with client(apis, waits) as http:
        http._note_quota(httpx.Headers({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(time.time()) + 20)}))
        http.get_json(BOUNCES)
        http._note_quota(httpx.Headers({"x-sib-ratelimit-remaining": "5", "x-sib-ratelimit-reset": "20"}))
        http.get_json(BOUNCES)
    assert len(waits) == 1 and 15 <= waits[0] <= 20


def test_links_to_another_host_stay_on_the_configured_one():
    http = Http("http://127.0.0.1:9", label="t")
    assert http.url_for("/v3/x") == "http://127.0.0.1:9/v3/x"
    assert http.url_for("https://api.mailgun.net/v3/mg.example.com/bounces?page=next&address=a%40b.c") == (
        "http://127.0.0.1:9/v3/mg.example.com/bounces?page=next&address=a%40b.c"
    )
    assert http.url_for("http://127.0.0.1:9/api/profiles?page[cursor]=2") == "http://127.0.0.1:9/api/profiles?page[cursor]=2"
    with pytest.raises(UsageError, match="not an http"):
        Http("ftp://example.com", label="t")
