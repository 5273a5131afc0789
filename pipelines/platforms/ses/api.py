"""Amazon SES v2: the account's suppression list in one region (platform-formats 5).

`GET /v2/email/suppression/addresses?Reason=BOUNCE&Reason=COMPLAINT&StartDate&PageSize&NextToken`
(ListSuppressedDestinations), `PageSize` at most 1000, until no `NextToken`. Requests are signed
with AWS Signature Version 4 (`sigv4` beside this module, service `ses`); `StartDate` is sent as
ISO 8601, as AWS SDKs send query-string timestamps. Credentials: the connection's login and
password (access key id, secret key; extra `session_token`), or `ACCESS_KEY_ID:SECRET[:TOKEN]`
in the environment variable.
"""
from __future__ import annotations

from pathlib import Path

from pipelines.errors import UsageError
from pipelines.platforms.client import Client, Credentials, Option, Window
from pipelines.platforms.http import utc_iso
from pipelines.platforms.ses.sigv4 import SigV4Auth

REASONS = ("BOUNCE", "COMPLAINT")


def aws_keys(credentials: Credentials) -> tuple[str, str, str | None]:
    """(access key id, secret key, session token) from a connection or `ID:SECRET[:TOKEN]`."""
    if credentials.login:
        return credentials.login, credentials.secret, credentials.extra.get("session_token") or None
    parts = credentials.secret.split(":")
    if len(parts) not in (2, 3) or not all(parts[:2]):
        raise UsageError("SES credentials must be ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN] "
                         "(or a connection with login and password)")
    return parts[0], parts[1], parts[2] if len(parts) == 3 else None


class SesClient(Client):
    platform = "ses"
    description = "Amazon SES account-level suppression list (BOUNCE, COMPLAINT) in one region"
    default_base_url = ""  # https://email.<region>.amazonaws.com
    max_page_size = 1000
    options = {
        "region": Option(str, required=True, pattern=r"[a-z]{2}(-[a-z]+)+-\d", help="AWS region, e.g. eu-west-1"),
        "reasons": Option(list, REASONS, choices=REASONS, help="suppression reasons to pull"),
    }

    def __init__(self, source, credentials, **kwargs):
        key_id, secret, token = aws_keys(credentials)
        super().__init__(source, Credentials(secret, key_id, {"session_token": token} if token else {}), **kwargs)

    def base_url(self) -> str:
        return self.source.options.get("base_url") or f"https://email.{self.source.options['region']}.amazonaws.com"

    def auth(self):
        c = self.credentials
        return SigV4Auth(c.login, c.secret, self.source.options["region"], "ses", c.extra.get("session_token"))

    def pull(self, window: Window, out: Path) -> list[Path]:
        target = "/v2/email/suppression/addresses"
        params = [("Reason", r) for r in self.source.options["reasons"]] + [("PageSize", str(self.page_size))]
        if window.since is not None:
            params.append(("StartDate", utc_iso(window.since)))
        writer = self.writer(out / "ses_suppressed_destinations.json", "SuppressedDestinationSummaries")
        token = None
        tokens: set[str] = set()
        while True:
            body = self.page(target, params + ([("NextToken", token)] if token else []))
            records = body.get("SuppressedDestinationSummaries") if isinstance(body, dict) else None
            if not isinstance(records, list):
                raise self.shape_error(f"GET {target}", body)
            writer.write(records)
            token = self.next_cursor(f"GET {target}", body.get("NextToken"), tokens)
            if token is None:
                break
        return writer.close()


CLIENT = SesClient
