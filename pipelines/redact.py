"""What must never appear in messages, logs and reports: store URLs' secrets, and raw addresses
(reports show a masked form, so an erased contact's address cannot outlive it in a report file)."""
from __future__ import annotations

import re

_URL_PASSWORD = re.compile(r"(?i)(^|[?&;\s])((?:ssl)?password|passwd|pwd)=[^&;\s]*")


def redact(url: str) -> str:
    """A store URL for messages and logs: the one place that redacts store URLs.

    Parsed conservatively, not with urlsplit (a password may hold `#`, `?`, `/`, spaces, `@` or a
    bad `%` escape): nothing between `://` and the last `@` is ever shown, nor a `password=`
    parameter (URL query or key=value DSN)."""
    url = _URL_PASSWORD.sub(lambda m: f"{m[1]}{m[2]}=***", url)
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest:
        url = f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
    return url


def scrub(text: str, url: str) -> str:
    """A message (a driver error may echo the connection string) without the URL's secrets."""
    text = text.replace(url, redact(url))
    _, sep, rest = url.partition("://")
    if sep and "@" in rest:
        userinfo = rest.rsplit("@", 1)[0]
        secret = userinfo.split(":", 1)[1] if ":" in userinfo else ""
        for part in {userinfo, secret} - {""}:
            if len(part) >= 3 and part in text:
                text = text.replace(part, "***")
        # libpq quotes the piece of a malformed URL it choked on: a part of the password
        text = re.sub(r'"([^"]+)"', lambda m: '"***"' if m[1] in userinfo else m[0], text)
    return _URL_PASSWORD.sub(lambda m: f"{m[1]}{m[2]}=***", text)


_MASKED_RUN = re.compile(r"[^\W_]{2,}")  # runs of letters and digits


def mask_value(value: str | None) -> str | None:
    """An example value for a report: its shape without the person. Every run of letters and
    digits keeps its first character (`jane.doe@example.com` -> `j***.d***@e***.c***`), so a
    reviewer still sees what went wrong (two @, a space, a missing dot); the file and line lead to
    the full value in `suppress rejects`, which erasure does clean."""
    if value is None:
        return None
    return _MASKED_RUN.sub(lambda m: m[0][0] + "***", value)
