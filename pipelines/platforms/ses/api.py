"""Amazon SES v2: the account's suppression list in one region (platform-formats 5).

`GET /v2/email/suppression/addresses?Reason=BOUNCE&Reason=COMPLAINT&StartDate&PageSize&NextToken`
(ListSuppressedDestinations), `PageSize` at most 1000, until no `NextToken`. `StartDate` is sent as
ISO 8601, as AWS SDKs send query-string timestamps.

Requests go through the project's `Http` (retries, rate limits, redaction) like every client's;
botocore (AWS's SDK core) only finds the credentials and signs each request (Signature Version 4,
service `ses`). Credentials, by the source's `credentials`:
- `aws`: botocore's default chain, as the AWS CLI and SDKs look them up: the environment
  (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), web identity
  (`AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN`: EKS), the shared files' profile (`AWS_PROFILE`
  or the option `profile`: keys, `role_arn`, SSO, `credential_process`), the container's and the
  instance's role. Temporary credentials are refreshed before they expire: each request is signed
  with the credentials of that moment.
- `env:VAR` / `airflow:conn_id`: static keys, the connection's login and password (access key id,
  secret key; extra `session_token`), or `ACCESS_KEY_ID:SECRET[:TOKEN]` in the variable.
"""
from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from urllib.parse import parse_qsl

import httpx

from pipelines.errors import UsageError, first_line
from pipelines.platforms.client import Client, Credentials, Option, Source, Window
from pipelines.platforms.http import Redactor, SyncError, utc_iso

REASONS = ("BOUNCE", "COMPLAINT")
SERVICE = "ses"
# The credentials reference that means "the worker's own AWS credentials" (botocore's default chain).
CHAIN = "aws"
CHAIN_HINT = ("set AWS_PROFILE (or the option profile) or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
              "give the worker an IAM role, or configure static keys (credentials = \"env:VAR\" or "
              "\"airflow:conn_id\")")


def aws_keys(credentials: Credentials) -> tuple[str, str, str | None]:
    """(access key id, secret key, session token) from a connection or `ID:SECRET[:TOKEN]`."""
    if credentials.login:
        return credentials.login, credentials.secret, credentials.extra.get("session_token") or None
    parts = credentials.secret.split(":")
    if len(parts) not in (2, 3) or not all(parts[:2]):
        raise UsageError("SES credentials must be ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN] "
                         "(or a connection with login and password)")
    return parts[0], parts[1], parts[2] if len(parts) == 3 else None


def _failed(source: Source, what: str, exc: Exception) -> SyncError:
    """A botocore error while loading or refreshing credentials, as one line (no traceback).

    Retryable when a credentials endpoint (instance or container metadata, STS) failed: a later
    try may work; an SSO session that expired or a role that may not be assumed needs a person.
    """
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from botocore.exceptions import CredentialRetrievalError, HTTPClientError

    retryable = isinstance(exc, CredentialRetrievalError | BotoConnectionError | HTTPClientError)
    return SyncError(f"{source.label}: the AWS credentials could not be {what} ({first_line(exc, with_type=True)})",
                     retryable=retryable)


def chain_credentials(source: Source):
    """The credentials botocore's default chain finds (refreshable ones for roles, SSO, web identity)."""
    from botocore.exceptions import BotoCoreError, ClientError, ProfileNotFound
    from botocore.session import Session

    profile = source.options.get("profile")
    try:
        found = Session(profile=profile).get_credentials()
    except ProfileNotFound as exc:
        raise UsageError(f"{source.label}: {first_line(exc)} (option profile or $AWS_PROFILE; "
                         "$AWS_CONFIG_FILE, ~/.aws/config)") from None
    except (BotoCoreError, ClientError) as exc:
        raise _failed(source, "loaded", exc) from None
    if found is None:
        where = f"profile {profile!r}" if profile else "the environment, the AWS config files or an IAM role"
        raise UsageError(f"{source.label}: credentials = \"{CHAIN}\" found no AWS credentials in {where}; {CHAIN_HINT}")
    return found


class SigV4(httpx.Auth):
    """Signs each request as it is sent (every retry again) with botocore's SigV4 signer.

    The credentials are frozen per request: refreshable ones (roles, SSO, web identity, a credential
    process) renew themselves when they near expiry, and a request never mixes the key of one
    generation with the secret of the next. Each secret and session token used is redacted.
    """

    def __init__(self, credentials, region: str, source: Source, redact: Redactor):
        self.credentials = credentials
        self.region = region
        self.source = source
        self.redact = redact

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            frozen = self.credentials.get_frozen_credentials()
        except (BotoCoreError, ClientError, RuntimeError) as exc:  # RuntimeError: refreshed, still expired
            raise _failed(self.source, "refreshed", exc) from None
        self.redact.add(frozen.secret_key)
        self.redact.add(frozen.token)
        url = request.url
        # What is signed is what is sent: the path as encoded, the query's decoded pairs (botocore
        # encodes them as AWS does), the Host header httpx sends.
        signed = AWSRequest(
            method=request.method,
            url=f"{url.scheme}://{url.netloc.decode('ascii')}{url.raw_path.split(b'?', 1)[0].decode('ascii')}",
            params=parse_qsl(url.query.decode("ascii"), keep_blank_values=True),
            headers={"host": request.headers["host"]},
        )
        SigV4Auth(frozen, SERVICE, self.region).add_auth(signed)
        for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token"):
            if name in signed.headers:
                request.headers[name] = signed.headers[name]
        yield request


class SesClient(Client):
    platform = "ses"
    description = "Amazon SES account-level suppression list (BOUNCE, COMPLAINT) in one region"
    default_base_url = ""  # https://email.<region>.amazonaws.com
    max_page_size = 1000
    credentials_chain = CHAIN  # the reference for the SDK's own credential chain (sync config)
    options = {
        "region": Option(str, required=True, pattern=r"[a-z]{2}(-[a-z]+)+-\d", help="AWS region, e.g. eu-west-1"),
        "reasons": Option(list, REASONS, choices=REASONS, help="suppression reasons to pull"),
        "profile": Option(str, help=f"with credentials = \"{CHAIN}\": the AWS profile (default: $AWS_PROFILE, else default)"),
    }

    def __init__(self, source, credentials, **kwargs):
        if source.credentials == CHAIN:
            self.aws = chain_credentials(source)
            credentials = Credentials("")
        else:
            if source.options.get("profile"):
                raise UsageError(f"{source.label}: option profile needs credentials = \"{CHAIN}\" "
                                 f"(credentials {source.credentials} are static keys)")
            from botocore.credentials import Credentials as AwsCredentials

            key_id, secret, token = aws_keys(credentials)
            self.aws = AwsCredentials(key_id, secret, token)
            credentials = Credentials(secret, key_id, {"session_token": token} if token else {})
        super().__init__(source, credentials, **kwargs)

    def base_url(self) -> str:
        return self.source.options.get("base_url") or f"https://email.{self.source.options['region']}.amazonaws.com"

    def auth(self):
        return SigV4(self.aws, self.source.options["region"], self.source, self.redact)

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
