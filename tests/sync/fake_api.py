"""Fake platform APIs on 127.0.0.1: each platform's page shapes, paging, filters, auth and quirks,
served from the recorded-shape records in tests/fixtures/api/ (stdlib ThreadingHTTPServer).

- The server has a clock (`now`): records later than it do not exist yet, so two "nights" see
  two states of the same lists.
- `fail(prefix, *actions)` makes the next requests whose path starts with `prefix` answer
  differently, in order: an HTTP status (with `headers=`, e.g. a 429's `Retry-After`), DROP (the
  connection is closed without an answer) or SLOW (the answer comes late: a client timeout).
- Every request is recorded (`requests`): path, query and headers as received.
- A wrong credential is answered 401 with the credential echoed in the body, as careless APIs do:
  the clients must not let it reach a message. SES's SigV4 signature is recomputed with the
  secret of the key id it names (`aws_keys`), as AWS does.
- Day filters (Postmark `fromdate`, Brevo `startDate`/`endDate`) are days in the server's time
  zone (`tz`, UTC unless a test sets another), not necessarily UTC.
"""
from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "api"
DROP = "drop"  # close the connection without an answer
SLOW = "slow"  # answer normally, but only after SLOW_SECONDS
SLOW_SECONDS = 1.0

KEYS = {
    "sendgrid": "SG.fake-sendgrid-key-0001",
    "mailchimp": "fakemailchimpkey0002-us6",
    "mailgun": "key-fake-mailgun-0003",
    "postmark": "fake-postmark-server-token-0004",
    "ses": ("AKIDFAKE0005", "fake/ses+secret=0005"),
    "brevo": "xkeysib-fake-brevo-0006",
    "klaviyo": "pk_fake_klaviyo_0007",
}
SES_REGION = "eu-west-1"
# The SES access key ids the fake accepts: secret key, session token (None: long-term keys). A
# test adds the temporary keys it hands out through the environment, a profile or a process.
AWS_KEYS = {KEYS["ses"][0]: (KEYS["ses"][1], None)}


@dataclass
class Seen:
    platform: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class Fault:
    prefix: str
    action: int | str
    headers: dict[str, str] = field(default_factory=dict)


def _iso(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _epoch(value) -> datetime:
    return datetime.fromtimestamp(float(value), UTC)


# When each record happened, per platform and list.
TIMES = {
    "sendgrid": lambda r: _epoch(r.get("created", r.get("created_at"))),
    "mailchimp": lambda r: _iso(r["last_changed"]),
    "mailgun": lambda r: parsedate_to_datetime(r["created_at"].replace(" UTC", " +0000")),
    "postmark": lambda r: _iso(r["CreatedAt"]),
    "ses": lambda r: _epoch(r["LastUpdateTime"]),
    "brevo": lambda r: _iso(r["blockedAt"]),
    "klaviyo": lambda r: _iso(r["attributes"]["updated"]),
}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):  # a client that gave up on a SLOW answer
        pass


class FakeApis:
    def __init__(self, now: datetime, fixtures: Path = FIXTURES):
        self.now = now
        self.data: dict[tuple[str, str], list[dict]] = {}
        for path in sorted(fixtures.rglob("*.json")):
            rel = path.relative_to(fixtures)
            self.data[(rel.parts[0], "/".join(rel.parts[1:]).removesuffix(".json"))] = json.loads(path.read_text())
        self.requests: list[Seen] = []
        self.faults: list[Fault] = []
        self.tz: dict[str, tzinfo] = {"postmark": UTC, "brevo": UTC}
        self.aws_keys: dict[str, tuple[str, str | None]] = dict(AWS_KEYS)
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    # -- control ----------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeApis:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail(self, prefix: str, *actions, headers: dict[str, str] | None = None) -> None:
        with self._lock:
            self.faults += [Fault(prefix, a, dict(headers or {})) for a in actions]

    def add(self, platform: str, name: str, record: dict) -> None:
        with self._lock:
            self.data[(platform, name)].append(record)

    def seen(self, platform: str, path_prefix: str = "") -> list[Seen]:
        return [r for r in self.requests if r.platform == platform and r.path.startswith(path_prefix)]

    def visible(self, platform: str, name: str) -> list[dict]:
        when = TIMES[platform]
        return [r for r in self.data[(platform, name)] if when(r) <= self.now]

    # -- HTTP -------------------------------------------------------------------------------------
    def _handler(self):
        apis = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):  # noqa: N802 - http.server's name
                parts = urlsplit(self.path)
                query = parse_qs(parts.query, keep_blank_values=True)
                platform = apis._platform_of(parts.path)
                with apis._lock:
                    apis.requests.append(Seen(platform, parts.path, query, {k.lower(): v for k, v in self.headers.items()}))
                    fault = next((f for f in apis.faults if parts.path.startswith(f.prefix)), None)
                    if fault is not None:
                        apis.faults.remove(fault)
                if fault is not None and fault.action == DROP:
                    self.close_connection = True
                    return
                if fault is not None and fault.action == SLOW:
                    time.sleep(SLOW_SECONDS)
                elif fault is not None:
                    return self._send(fault.action, {"errors": [{"message": "injected"}]}, fault.headers)
                status, body, headers = apis._answer(platform, parts.path, query, self.headers,
                                                     f"http://{self.headers.get('Host')}", self)
                self._send(status, body, headers)

            def _send(self, status: int, body, headers: dict[str, str] | None = None):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        return Handler

    @staticmethod
    def _platform_of(path: str) -> str:
        if path.startswith(("/v3/suppression/", "/v3/asm/")):
            return "sendgrid"
        if path.startswith("/v3/smtp/"):
            return "brevo"
        if path.startswith("/3.0/"):
            return "mailchimp"
        if path.startswith("/v3/"):
            return "mailgun"
        if path.startswith("/message-streams/"):
            return "postmark"
        if path.startswith("/v2/email/"):
            return "ses"
        if path.startswith("/api/"):
            return "klaviyo"
        return "unknown"

    def _answer(self, platform, path, query, headers, origin, request):
        denied = self._auth(platform, headers, request)
        if denied:
            return 401, {"errors": [{"message": f"invalid credentials: {denied}"}]}, {}
        q = {k: v[0] for k, v in query.items()}
        handler = getattr(self, f"_{platform}", None)
        if handler is None:
            return 404, {"error": "no such endpoint"}, {}
        return handler(path, q, query, headers, origin)

    def _auth(self, platform, headers, request) -> str | None:
        """None when the request carries the right credential; else what it carried (echoed)."""
        auth = headers.get("Authorization", "")
        if platform == "sendgrid":
            return None if auth == f"Bearer {KEYS['sendgrid']}" else auth
        if platform in ("mailchimp", "mailgun"):
            user = "api" if platform == "mailgun" else None
            try:
                login, _, key = base64.b64decode(auth.removeprefix("Basic ")).decode().partition(":")
            except ValueError:
                return auth
            return None if key == KEYS[platform] and (user is None or login == user) else key
        if platform == "postmark":
            token = headers.get("X-Postmark-Server-Token", "")
            return None if token == KEYS["postmark"] else token
        if platform == "brevo":
            key = headers.get("api-key", "")
            return None if key == KEYS["brevo"] else key
        if platform == "klaviyo":
            return None if auth == f"Klaviyo-API-Key {KEYS['klaviyo']}" else auth
        if platform == "ses":
            return None if self._ses_signature_ok(request) else auth
        return "unknown platform"

    def _ses_signature_ok(self, request) -> bool:
        """Check the request's SigV4 signature as AWS does: recomputed from the method, the path,
        the query's pairs and the signed headers as received, with the secret (and session token)
        of the access key id it names (`aws_keys`), by botocore's signer on this side."""
        import hmac

        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        algorithm, _, rest = request.headers.get("Authorization", "").partition(" ")
        amz_date = request.headers.get("X-Amz-Date", "")
        try:
            fields = dict(p.strip().split("=", 1) for p in rest.split(","))
            key_id, day, region, service, terminator = fields["Credential"].split("/")
            names = fields["SignedHeaders"].split(";")
        except (KeyError, ValueError):
            return False
        if (algorithm != "AWS4-HMAC-SHA256" or key_id not in self.aws_keys
                or (day, region, service, terminator) != (amz_date[:8], SES_REGION, "ses", "aws4_request")):
            return False
        secret, token = self.aws_keys[key_id]
        if request.headers.get("X-Amz-Security-Token") != token:  # a key's token is sent, and signed
            return False
        if not {"host", "x-amz-date"} <= set(names) or (token and "x-amz-security-token" not in names):
            return False
        path, _, raw_query = request.path.partition("?")
        received = AWSRequest(method="GET", url=f"http://{request.headers.get('Host', '')}{path}",
                              params=parse_qsl(raw_query, keep_blank_values=True),
                              headers={n: request.headers.get(n, "") for n in names})
        received.context["timestamp"] = amz_date
        signer = SigV4Auth(Credentials(key_id, secret, token), service, region)
        expected = signer.signature(signer.string_to_sign(received, signer.canonical_request(received)), received)
        return hmac.compare_digest(expected, fields.get("Signature", ""))

    # -- platforms --------------------------------------------------------------------------------
    def _sendgrid(self, path, q, query, headers, origin):
        reset = {"X-RateLimit-Limit": "600", "X-RateLimit-Remaining": "599", "X-RateLimit-Reset": "1715400000"}
        if path == "/v3/asm/suppressions":
            return 200, self.visible("sendgrid", "asm_suppressions"), reset
        name = path.removeprefix("/v3/suppression/")
        if ("sendgrid", name) not in self.data:
            return 404, {"errors": [{"field": None, "message": "resource not found"}]}, reset
        limit, offset = int(q.get("limit", 500)), int(q.get("offset", 0))
        if limit > 500:
            return 400, {"errors": [{"field": "limit", "message": "limit must be at most 500"}]}, reset
        records = sorted(self.visible("sendgrid", name), key=lambda r: -r["created"])  # newest first
        if "start_time" in q:
            records = [r for r in records if r["created"] >= int(q["start_time"])]
        if "end_time" in q:
            records = [r for r in records if r["created"] <= int(q["end_time"])]
        return 200, records[offset:offset + limit], reset

    def _mailchimp(self, path, q, query, headers, origin):
        list_id = path.split("/")[3]
        count, offset = int(q.get("count", 10)), int(q.get("offset", 0))
        if count > 1000:
            return 400, {"type": "about:blank", "title": "Invalid Resource", "status": 400, "detail": "count"}, {}
        records = [m for m in self.visible("mailchimp", f"members_{list_id}") if m["status"] == q.get("status", m["status"])]
        if "since_last_changed" in q:
            since = _iso(q["since_last_changed"])
            records = [m for m in records if _iso(m["last_changed"]) >= since]
        if q.get("sort_field") == "last_changed":
            records.sort(key=lambda m: (m["last_changed"], m.get("id", "")), reverse=q.get("sort_dir") == "DESC")
        return 200, {"members": records[offset:offset + count], "list_id": list_id, "total_items": len(records),
                     "_links": []}, {}

    def _mailgun(self, path, q, query, headers, origin):
        _, _, domain, name = path.split("/")
        if ("mailgun", f"{domain}/{name}") not in self.data:
            return 404, {"message": "Domain not found"}, {}
        limit = int(q.get("limit", 100))
        records = sorted(self.visible("mailgun", f"{domain}/{name}"), key=lambda r: r["address"])  # by address
        after = q.get("address") if q.get("page") == "next" else None
        if after is not None:
            records = [r for r in records if r["address"] > after]
        items = records[:limit]
        base = f"{origin}/v3/{domain}/{name}"
        cursor = items[-1]["address"] if items else (after or "")
        # The last page is empty and still links to a next one (the real API does this).
        return 200, {"items": items, "paging": {
            "first": f"{base}?{urlencode({'page': 'first', 'limit': limit})}",
            "next": f"{base}?{urlencode({'page': 'next', 'address': cursor, 'limit': limit})}",
            "previous": f"{base}?{urlencode({'page': 'previous', 'address': items[0]['address'] if items else '', 'limit': limit})}",
            "last": f"{base}?{urlencode({'page': 'last', 'limit': limit})}",
        }}, {}

    def _postmark(self, path, q, query, headers, origin):
        stream = path.split("/")[2]
        if ("postmark", stream) not in self.data:
            return 422, {"ErrorCode": 1226, "Message": f"The message stream '{stream}' does not exist."}, {}
        records = self.visible("postmark", stream)
        if "fromdate" in q:
            day = q["fromdate"]
            records = [r for r in records if _iso(r["CreatedAt"]).astimezone(self.tz["postmark"]).date().isoformat() >= day]
        return 200, {"Suppressions": records}, {}

    def _ses(self, path, q, query, headers, origin):
        reasons = query.get("Reason") or ["BOUNCE", "COMPLAINT"]
        size = int(q.get("PageSize", 100))
        records = [r for r in self.visible("ses", "suppressed_destinations") if r["Reason"] in reasons]
        records.sort(key=lambda r: r["EmailAddress"].lower())
        if "StartDate" in q:
            start = q["StartDate"]
            since = _epoch(start) if start.replace(".", "").isdigit() else _iso(start)
            records = [r for r in records if _epoch(r["LastUpdateTime"]) >= since]
        offset = int(base64.b64decode(q["NextToken"]).decode()) if "NextToken" in q else 0
        page = {"SuppressedDestinationSummaries": records[offset:offset + size]}
        if offset + size < len(records):
            page["NextToken"] = base64.b64encode(str(offset + size).encode()).decode()
        return 200, page, {}

    def _brevo(self, path, q, query, headers, origin):
        limits = {"x-sib-ratelimit-limit": "1000", "x-sib-ratelimit-remaining": "999", "x-sib-ratelimit-reset": "1"}
        if ("startDate" in q) != ("endDate" in q):
            return 400, {"code": "invalid_parameter", "message": "endDate and startDate must be used together"}, limits
        limit, offset = int(q.get("limit", 50)), int(q.get("offset", 0))
        if limit > 100:
            return 400, {"code": "invalid_parameter", "message": "limit must be at most 100"}, limits
        records = sorted(self.visible("brevo", "blocked_contacts"), key=lambda r: r["blockedAt"],
                         reverse=q.get("sort", "desc") == "desc")
        if "startDate" in q:
            local = {id(r): _iso(r["blockedAt"]).astimezone(self.tz["brevo"]).date().isoformat() for r in records}
            records = [r for r in records if q["startDate"] <= local[id(r)] <= q["endDate"]]
        page = records[offset:offset + limit]
        # An exhausted page answers null, not [] (the real API does this).
        return 200, {"contacts": page or None, "count": len(records)}, limits

    def _klaviyo(self, path, q, query, headers, origin):
        if not headers.get("revision"):
            return 400, {"errors": [{"status": 400, "code": "invalid", "detail": "revision header is required"}]}, {}
        size = int(q.get("page[size]", 20))
        if not 1 <= size <= 100:
            return 400, {"errors": [{"status": 400, "detail": "page[size] must be 1..100"}]}, {}
        records = list(self.visible("klaviyo", "profiles"))
        flt = q.get("filter", "")
        if flt:
            if not (flt.startswith("greater-than(updated,") and flt.endswith(")")):
                return 400, {"errors": [{"status": 400, "detail": f"unsupported filter {flt}"}]}, {}
            since = _iso(flt[len("greater-than(updated,"):-1])
            records = [r for r in records if _iso(r["attributes"]["updated"]) > since]
        if q.get("additional-fields[profile]") != "subscriptions":
            records = [{**r, "attributes": {k: v for k, v in r["attributes"].items() if k != "subscriptions"}}
                       for r in records]
        offset = int(q.get("page[cursor]", "0") or 0)
        page = records[offset:offset + size]
        nxt = None
        if offset + size < len(records):
            params = {k: v for k, v in q.items() if k != "page[cursor]"} | {"page[cursor]": str(offset + size)}
            nxt = f"{origin}/api/profiles?{urlencode(params)}"
        return 200, {"data": page, "links": {"self": f"{origin}/api/profiles", "next": nxt}}, {"Retry-After": "0"}


def record_at(platform: str, email: str, when: datetime) -> tuple[str, dict]:
    """A new record for `email` at `when`, in the platform's shape: (list name, record)."""
    when = when.astimezone(UTC)
    iso = when.isoformat()
    if platform == "sendgrid":
        return "bounces", {"created": int(when.timestamp()), "email": email, "reason": "550 5.1.1 User unknown",
                           "status": "5.1.1"}
    if platform == "mailchimp":
        return "members_a1b2c3d4e5", {"id": f"{abs(hash(email)):032x}", "email_address": email, "status": "cleaned",
                                      "unique_email_id": "n", "list_id": "a1b2c3d4e5", "last_changed": iso,
                                      "timestamp_opt": "2020-01-01T00:00:00+00:00", "unsubscribe_reason": ""}
    if platform == "mailgun":
        return "mg.example.com/bounces", {"address": email, "code": "550", "error": "No such mailbox",
                                          "created_at": when.strftime("%a, %d %b %Y %H:%M:%S UTC")}
    if platform == "postmark":
        return "outbound", {"EmailAddress": email, "SuppressionReason": "HardBounce", "Origin": "Recipient",
                            "CreatedAt": iso}
    if platform == "ses":
        return "suppressed_destinations", {"EmailAddress": email, "Reason": "BOUNCE", "LastUpdateTime": when.timestamp()}
    if platform == "brevo":
        return "blocked_contacts", {"email": email, "senderEmail": "news@shop.example",
                                    "reason": {"code": "hardBounce", "message": "hard bounce"},
                                    "blockedAt": when.strftime("%Y-%m-%dT%H:%M:%S.000Z")}
    if platform == "klaviyo":
        return "profiles", {"type": "profile", "id": f"01NEW{abs(hash(email)):021d}"[:26], "attributes": {
            "email": email, "updated": iso, "subscriptions": {"email": {"marketing": {
                "can_receive_email_marketing": False, "consent": "SUBSCRIBED", "consent_timestamp": iso,
                "suppression": [{"reason": "HARD_BOUNCE", "timestamp": iso}], "list_suppressions": []}}}}}
    raise ValueError(platform)
