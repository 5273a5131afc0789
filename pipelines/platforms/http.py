"""HTTP for the API clients: GET requests through httpx, retried with tenacity where that is safe.

- Retried: HTTP 429 (waiting what `Retry-After` or the platform's reset header says, but never
  less than the backoff: `Retry-After: 0` or a reset time already past must not spend every try
  at once), 408, 500/502/503/504, 520-524, connection errors, resets, dropped connections,
  timeouts and garbled bodies, with capped exponential backoff and jitter, for at most `attempts`
  tries. Only GETs are ever sent, so a repeated request changes nothing on the platform.
- Not retried: any other status (a wrong key or a bad request does not heal), a body that is not
  JSON, a redirect (credentials are never sent anywhere but the configured host), a request that
  cannot be sent (a control character in a header: its text would show the header). A server
  that asks to wait longer than `rate_limit_max_wait` fails the pull at once, as retryable: a
  later try (Airflow's) may work, an early one would only be refused again.
- A response that says the quota is spent (`...-remaining: 0`) pauses before the next request.
- Secrets never reach a message, a log line or an exception: every text is redacted, and the
  underlying exception is not chained (its text may hold a URL, a header or a body).
"""
from __future__ import annotations

import base64
import email.utils
import logging
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from urllib.parse import quote, quote_plus, urlsplit, urlunsplit

import httpx
import tenacity

from pipelines.errors import UsageError, UserError

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 500, 502, 503, 504, 520, 521, 522, 523, 524})
RATE_LIMITED = 429
# Seconds until the quota resets, or (SendGrid) the Unix time it resets at: told apart by size.
RESET_HEADERS = ("x-ratelimit-reset", "x-sib-ratelimit-reset", "ratelimit-reset")
REMAINING_HEADERS = ("x-ratelimit-remaining", "x-sib-ratelimit-remaining", "ratelimit-remaining")
EPOCH_THRESHOLD = 1_000_000_000
BODY_EXCERPT = 200

# httpx logs every request URL at INFO, and URLs carry addresses (Mailgun's next links): task logs
# must not list suppressed people. Warnings still come through.
for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).setLevel(logging.WARNING)


class SyncError(UserError):
    """A pull that failed: one line naming the source and the request, never a secret.

    `retryable`: the platform was unavailable or rate limited past the retries (a later try may
    work), as opposed to a refusal such as a wrong key.
    """

    def __init__(self, message: str, retryable: bool = False):
        super().__init__(message)
        self.retryable = retryable


@dataclass
class RetryPolicy:
    attempts: int = 6
    backoff_initial: float = 1.0  # seconds before the first retry; doubles each time
    backoff_max: float = 60.0
    rate_limit_max_wait: float = 300.0  # the longest a Retry-After / reset header is obeyed
    timeout: float = 60.0  # per request (connect, read, write, pool)


@dataclass
class Stats:
    requests: int = 0
    pages: int = 0
    retries: int = 0
    rate_limited: int = 0  # 429s met
    transient_errors: int = 0  # 5xx, connection errors and timeouts met
    waited_seconds: float = 0.0

    def as_dict(self) -> dict:
        return {**asdict(self), "waited_seconds": round(self.waited_seconds, 3)}


class Redactor:
    """Replaces every form a secret can take in a text (plain, URL-encoded, in Basic auth) by ***."""

    def __init__(self, secrets: Iterable[str] = ()):
        self._forms: set[str] = set()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None, login: str | None = None) -> None:
        if not secret or len(secret) < 4:  # shorter "secrets" would redact ordinary words
            return
        forms = {secret, secret.strip(), quote(secret, safe=""), quote_plus(secret)}
        # As an exception's text shows it: repr() of the str or of its bytes (`\n` escaped).
        forms |= {repr(secret)[1:-1], repr(secret.encode("utf-8", "backslashreplace"))[2:-1]}
        self._forms |= {f for f in forms if len(f) >= 4}
        if login is not None:
            self._forms.add(base64.b64encode(f"{login}:{secret}".encode()).decode())

    def __call__(self, text: str) -> str:
        for form in sorted(self._forms, key=len, reverse=True):
            text = text.replace(form, "***")
        return text


def retry_after(headers: httpx.Headers, now: float | None = None) -> float | None:
    """Seconds to wait from `Retry-After` (seconds or an HTTP date), else from a reset header."""
    now = time.time() if now is None else now
    value = (headers.get("retry-after") or "").strip()
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                when = None
            if when is not None:
                if when.tzinfo is None:
                    when = when.replace(tzinfo=UTC)
                return max(0.0, when.timestamp() - now)
    for name in RESET_HEADERS:
        try:
            reset = float((headers.get(name) or "").strip())
        except ValueError:
            continue
        return max(0.0, reset - now) if reset > EPOCH_THRESHOLD else max(0.0, reset)
    return None


class _TooLong(Exception):
    """The server asked for a wait past `rate_limit_max_wait`."""

    def __init__(self, wait: float):
        super().__init__(wait)
        self.wait = wait


class _Retry(Exception):
    """One failed try that may be repeated; `wait` is what the server asked for, if anything."""

    def __init__(self, what: str, wait: float | None = None):
        super().__init__(what)
        self.what = what
        self.wait = wait


class Http:
    """GET-only JSON client for one source, with the retry policy, stats and redaction above."""

    def __init__(
        self,
        base_url: str,
        *,
        label: str,
        headers: dict[str, str] | None = None,
        auth: httpx.Auth | tuple[str, str] | None = None,
        redactor: Redactor | None = None,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise UsageError(f"{label}: base_url {base_url!r} is not an http(s) URL")
        self._origin = (parts.scheme, parts.netloc)
        self.label = label
        self.policy = policy or RetryPolicy()
        self.stats = Stats()
        self.redact = redactor or Redactor()
        self._sleep = sleep
        self._resume_at = 0.0  # time.monotonic() before which the quota is spent
        self._client = httpx.Client(
            headers=headers, auth=auth, timeout=self.policy.timeout, follow_redirects=False,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- URLs -------------------------------------------------------------------------------------
    def url_for(self, target: str) -> str:
        """A path on the base URL; an absolute link (a next page) is kept on the base URL's host.

        A platform's next link names its public host; behind a proxy or in a test that is not the
        configured one, and the credentials must only ever go to the configured host.
        """
        if "://" not in target:
            return self.base_url + (target if target.startswith("/") else "/" + target)
        parts = urlsplit(target)
        if (parts.scheme, parts.netloc) == self._origin:
            return target
        return urlunsplit((*self._origin, parts.path, parts.query, ""))

    # -- requests ---------------------------------------------------------------------------------
    def get_json(self, target: str, params: dict | list | None = None, headers: dict[str, str] | None = None):
        """GET one page and return its JSON body; retries what is safe to retry (see the module)."""
        url = self.url_for(target)
        what = f"GET {urlsplit(url).path}"
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(max(1, self.policy.attempts)),
            wait=self._wait,
            retry=tenacity.retry_if_exception_type(_Retry),
            before_sleep=lambda state: self._before_sleep(state, what),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            response = retrying(self._once, url, params, headers, what)
        except _TooLong as exc:
            raise SyncError(
                f"{self.label}: {what}: the platform asks to wait {exc.wait:.0f}s, longer than rate_limit_max_wait "
                f"({self.policy.rate_limit_max_wait:g}s); try again later",
                retryable=True,
            ) from None
        except _Retry as exc:
            raise SyncError(
                self.redact(f"{self.label}: {what} failed after {self.policy.attempts} attempts: {exc.what}"),
                retryable=True,
            ) from None
        try:
            return response.json()
        except ValueError:
            raise SyncError(
                self.redact(f"{self.label}: {what} answered with a body that is not JSON: {_excerpt(response)}")
            ) from None

    def _once(self, url: str, params, headers, what: str) -> httpx.Response:
        pause = self._resume_at - time.monotonic()
        self._resume_at = 0.0
        if pause > 0:
            self.stats.waited_seconds += pause
            self._sleep(pause)
        self.stats.requests += 1
        try:
            response = self._client.get(url, params=params, headers=headers)
        except httpx.LocalProtocolError:
            # Not sent: a header h11 refuses (a line break in a key). Its text shows the header's
            # bytes escaped, so it is left out; the same request would be refused again.
            raise SyncError(
                f"{self.label}: {what} could not be sent: a header holds a character HTTP does not allow "
                "(a line break or control character in the credentials?)"
            ) from None
        except httpx.DecodingError:  # a body garbled on the way (its compression): try again
            self.stats.transient_errors += 1
            raise _Retry("a body that could not be decoded") from None
        except httpx.TransportError as exc:  # refused, reset, dropped mid-response, timed out
            self.stats.transient_errors += 1
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise _Retry(f"{type(exc).__name__}" + (f" ({text})" if text else "")) from None
        status = response.status_code
        if status == RATE_LIMITED:
            self.stats.rate_limited += 1
            raise _Retry("HTTP 429 Too Many Requests", retry_after(response.headers))
        if status in RETRY_STATUSES:
            self.stats.transient_errors += 1
            raise _Retry(f"HTTP {status} {response.reason_phrase}", retry_after(response.headers))
        if status >= 300:
            raise SyncError(self.redact(
                f"{self.label}: {what} answered HTTP {status} {response.reason_phrase}: {_excerpt(response)}"
            ))
        self._note_quota(response.headers)
        return response

    def _wait(self, state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        ceiling = min(self.policy.backoff_max, self.policy.backoff_initial * 2 ** (state.attempt_number - 1))
        if isinstance(exc, _Retry) and exc.wait is not None:
            if exc.wait > self.policy.rate_limit_max_wait:
                raise _TooLong(exc.wait)
            # `Retry-After: 0` or a reset already past still backs off (else every try goes in
            # milliseconds), and workers told the same time do not all come back at that instant.
            return max(exc.wait, ceiling) + random.uniform(0, ceiling / 2)
        return random.uniform(ceiling / 2, ceiling)  # jitter: workers that failed together retry apart

    def _before_sleep(self, state: tenacity.RetryCallState, what: str) -> None:
        wait = state.next_action.sleep if state.next_action else 0.0
        self.stats.retries += 1
        self.stats.waited_seconds += wait
        exc = state.outcome.exception() if state.outcome else None
        log.warning(self.redact(
            f"{self.label}: {what}: {getattr(exc, 'what', exc)}; retrying in {wait:.1f}s "
            f"(attempt {state.attempt_number} of {self.policy.attempts})"
        ))

    def _note_quota(self, headers: httpx.Headers) -> None:
        for name in REMAINING_HEADERS:
            value = (headers.get(name) or "").strip()
            if value:
                if value == "0":
                    wait = retry_after(httpx.Headers({k: v for k, v in headers.items() if k.lower() in RESET_HEADERS}))
                    if wait:
                        self._resume_at = time.monotonic() + min(wait, self.policy.rate_limit_max_wait)
                return


def _excerpt(response: httpx.Response) -> str:
    try:
        text = response.text
    except Exception:  # noqa: BLE001 - undecodable body: say so rather than fail on it
        return "(unreadable body)"
    text = " ".join(text.split())
    return (text[:BODY_EXCERPT] + "...") if len(text) > BODY_EXCERPT else (text or "(empty body)")


def utc_iso(value: datetime) -> str:
    """`2024-05-10T02:00:00Z`: what the platforms' filters take."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
