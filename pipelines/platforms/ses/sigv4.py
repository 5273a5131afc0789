"""AWS Signature Version 4 for GET requests, as an httpx auth (stdlib hmac/hashlib only).

Follows AWS's "Create a signed AWS API request" steps: canonical request (method, path as sent,
sorted query, signed headers, payload hash), string to sign, the derived signing key, and the
Authorization header. Checked against AWS's published test-suite signatures (tests/platforms/ses/test_sigv4.py).
It signs what this package sends (GETs without a body); it is not a general-purpose signer.
"""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Generator
from datetime import UTC, datetime
from urllib.parse import quote, unquote

import httpx

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret_key: str, day: str, region: str, service: str) -> bytes:
    key = _hmac(("AWS4" + secret_key).encode("utf-8"), day)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    return key


def canonical_query(raw_query: str) -> str:
    """Each name and value URI-encoded (RFC 3986 unreserved kept), sorted by name, then value."""
    pairs = []
    for item in raw_query.split("&") if raw_query else []:
        name, _, value = item.partition("=")
        pairs.append((quote(unquote(name.replace("+", " ")), safe="-_.~"),
                      quote(unquote(value.replace("+", " ")), safe="-_.~")))
    return "&".join(f"{n}={v}" for n, v in sorted(pairs))


def canonical_request(request: httpx.Request, signed: dict[str, str], payload_hash: str) -> str:
    path = request.url.raw_path.split(b"?", 1)[0].decode("ascii") or "/"
    names = sorted(signed)
    return "\n".join([
        request.method.upper(),
        path,
        canonical_query(request.url.query.decode("ascii")),
        "".join(f"{n}:{' '.join(signed[n].split())}\n" for n in names),
        ";".join(names),
        payload_hash,
    ])


class SigV4Auth(httpx.Auth):
    def __init__(self, access_key: str, secret_key: str, region: str, service: str,
                 session_token: str | None = None, clock: Callable[[], datetime] | None = None):
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = region
        self.service = service
        self.session_token = session_token
        self.clock = clock or (lambda: datetime.now(UTC))

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self.sign(request)
        yield request

    def sign(self, request: httpx.Request) -> None:
        now = self.clock().astimezone(UTC)
        amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
        payload_hash = hashlib.sha256(request.content).hexdigest() if request.content else EMPTY_SHA256
        request.headers["x-amz-date"] = amz_date
        if self.session_token:
            request.headers["x-amz-security-token"] = self.session_token
        signed = {"host": request.headers.get("host") or request.url.netloc.decode("ascii"), "x-amz-date": amz_date}
        if self.session_token:
            signed["x-amz-security-token"] = self.session_token
        scope = f"{day}/{self.region}/{self.service}/aws4_request"
        digest = hashlib.sha256(canonical_request(request, signed, payload_hash).encode("utf-8")).hexdigest()
        string_to_sign = "\n".join([ALGORITHM, amz_date, scope, digest])
        signature = hmac.new(signing_key(self.secret_key, day, self.region, self.service),
                             string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
        request.headers["authorization"] = (
            f"{ALGORITHM} Credential={self.access_key}/{scope}, "
            f"SignedHeaders={';'.join(sorted(signed))}, Signature={signature}"
        )
