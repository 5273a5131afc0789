"""The one small interface every API client implements, and what the clients share.

A client pulls one configured source (`Source`) for a `Window` and writes what it pulled as JSON
files in the shape of the platform's own API responses, which that platform's adapter (`export.py`
beside its client in `pipelines/platforms/<name>/`) maps; the files are then loaded through the one
ingest path.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from pipelines.errors import UsageError
from pipelines.platforms.http import Http, Redactor, RetryPolicy, Stats, SyncError

# A big first pull is split into files of at most this many records: the reader loads one JSON
# document at a time, and a million profiles in one document would not fit in memory.
RECORDS_PER_FILE = 100_000
# A pull that reads more pages than this fails: a server that ignores paging in a way the
# repeated-page check misses would otherwise be read until the task times out.
MAX_PAGES = 20_000
# What a secret may hold: printable ASCII. A pasted line break would end up in a header.
_PRINTABLE = re.compile(r"[\x20-\x7e]*")
_NO_CONTROL = re.compile(r"[^\x00-\x1f\x7f]*")


@dataclass(frozen=True)
class Option:
    kind: type  # str, int, float, bool or list (of strings)
    default: Any = None
    required: bool = False
    choices: tuple[str, ...] | None = None  # allowed values (of a list's items)
    minimum: float | None = None
    maximum: float | None = None
    pattern: str | None = None  # a str (or each list item) must match it fully
    help: str = ""


# Options every source takes; each client adds its own (`Client.options`).
COMMON_OPTIONS: dict[str, Option] = {
    "base_url": Option(str, help="API origin (a proxy, an EU host, a test server); default: the platform's"),
    "page_size": Option(int, minimum=1, help="records per page; default and ceiling: the platform's maximum"),
    "overlap_hours": Option(float, 6.0, minimum=0,
                            help="re-pull this much before the watermark (late records, clock skew)"),
    "timeout": Option(float, 60.0, minimum=0.1, help="seconds per request"),
    "max_attempts": Option(int, 6, minimum=1, help="tries per request (429, 5xx, connection errors)"),
    "backoff_initial": Option(float, 1.0, minimum=0, help="seconds before the first retry; doubles each time"),
    "backoff_max": Option(float, 60.0, minimum=0, help="ceiling of the backoff"),
    "rate_limit_max_wait": Option(float, 300.0, minimum=0, help="longest Retry-After / reset wait obeyed"),
    "default_region": Option(str, pattern=r"[A-Za-z]{2}",
                             help="region for national phone numbers, as `suppress ingest --default-region`"),
    "max_reject_rate": Option(float, 0.10, minimum=0, maximum=1, help="refuse the night's load above this"),
    "max_pages": Option(int, MAX_PAGES, minimum=1, help="fail a pull that reads more pages than this"),
}


@dataclass(frozen=True)
class Source:
    """One configured source of one tenant: what to pull, from where, with which credentials."""

    tenant: str
    name: str
    platform: str
    credentials: str  # a reference: env:VAR or airflow:conn_id, never the secret itself
    options: dict = field(default_factory=dict)  # validated, defaults filled in
    origin: str = ""  # where it was configured, for messages: `sources.toml: sources[2]`

    @property
    def label(self) -> str:
        return f"{self.tenant}/{self.name} ({self.platform})"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Source:
        return cls(**{k: data[k] for k in ("tenant", "name", "platform", "credentials", "options", "origin") if k in data})

    def policy(self) -> RetryPolicy:
        o = self.options
        return RetryPolicy(attempts=o["max_attempts"], backoff_initial=o["backoff_initial"], backoff_max=o["backoff_max"],
                           rate_limit_max_wait=o["rate_limit_max_wait"], timeout=o["timeout"])


@dataclass
class Credentials:
    """A source's secret (and login, extra: SES' session token). Never shown by repr(); refused
    when it holds anything but printable ASCII (a line break pasted with it would go into an
    HTTP header, whose error text would show it)."""

    secret: str = field(repr=False)
    login: str | None = None
    extra: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        checks = [("secret", self.secret, _PRINTABLE), ("login", self.login, _PRINTABLE)]
        checks += [(f"extra {k}", v, _NO_CONTROL) for k, v in self.extra.items()]  # free text may be non-ASCII
        for what, value, allowed in checks:
            if isinstance(value, str) and not allowed.fullmatch(value):
                raise UsageError(f"the {what} holds a line break, control or non-ASCII character; "
                                 "set it again without one")


@dataclass(frozen=True)
class Window:
    """Pull what changed at or after `since` (None: everything); `until` is when the pull started
    and becomes the watermark once the load commits."""

    since: datetime | None
    until: datetime


class JsonWriter:
    """Streams records into JSON files in an API's own page shape (`{"items": [...]}` or a bare
    array), so a big first pull never sits in memory; rolls over to `<name>_partN.json` every
    RECORDS_PER_FILE records. A name that received no record leaves no file (nothing to detect)."""

    def __init__(self, path: Path, key: str | None, extra: dict | None = None, per_file: int = RECORDS_PER_FILE):
        self.path = path
        self.key = key
        self.extra = dict(extra or {})
        self.per_file = per_file
        self.count = 0
        self.files: list[Path] = []
        self._fh = None
        self._in_file = 0

    def _open(self) -> None:
        n = len(self.files) + 1
        path = self.path if n == 1 else self.path.with_name(f"{self.path.stem}_part{n}{self.path.suffix}")
        self._fh = path.open("w", encoding="utf-8")
        self._fh.write("[\n" if self.key is None else "{" + json.dumps(self.key) + ": [\n")
        self.files.append(path)
        self._in_file = 0

    def _close_file(self) -> None:
        tail = "".join(f", {json.dumps(k)}: {json.dumps(v)}" for k, v in self.extra.items())
        self._fh.write("\n]\n" if self.key is None else "\n]" + tail + "}\n")
        self._fh.close()
        self._fh = None

    def write(self, records: list) -> None:
        while records:
            if self._fh is None:
                self._open()
            room = self.per_file - self._in_file
            chunk, records = records[:room], records[room:]
            text = json.dumps(chunk, ensure_ascii=False)[1:-1]  # one C-level dump per page
            if text:
                self._fh.write((",\n" if self._in_file else "") + text)
            self._in_file += len(chunk)
            self.count += len(chunk)
            if self._in_file >= self.per_file:
                self._close_file()

    def close(self, **extra) -> list[Path]:
        self.extra.update(extra)
        if self._fh is not None:
            self._close_file()
        return self.files


def keep_since(records: list[dict], key: str, since: datetime | None) -> list[dict]:
    """The records whose `key` time is at or after `since`, for APIs without a time filter.

    Times are parsed column-wise by the same parser the ingest uses; a record whose time cannot
    be read is kept (never lose a suppression over a time).
    """
    if since is None or not records:
        return records
    import polars as pl

    from pipelines.normalize.timestamps import parse_times

    raw = pl.from_dicts(records, schema={key: pl.String}, strict=False)[key]
    at = parse_times(raw, now=datetime.now(UTC))["occurred_at"]
    keep = (at.is_null() | (at >= since)).to_list()
    return list(itertools.compress(records, keep))


def safe_name(value: str) -> str:
    """A config value (a domain, a list id) as part of a file name."""
    return re.sub(r"[^A-Za-z0-9.-]+", "-", value).strip("-") or "x"


class Client(ABC):
    """Pulls one source: subclasses set the class attributes and implement `pull`."""

    platform: ClassVar[str]
    description: ClassVar[str]
    default_base_url: ClassVar[str]
    max_page_size: ClassVar[int]
    options: ClassVar[dict[str, Option]] = {}

    def __init__(self, source: Source, credentials: Credentials, sleep: Callable[[float], None] = time.sleep):
        self.source = source
        self.credentials = credentials
        self._writers: list[JsonWriter] = []
        self.redact = Redactor()
        self.redact.add(credentials.secret, credentials.login)
        for value in credentials.extra.values():
            if isinstance(value, str):
                self.redact.add(value)
        auth = self.auth()
        if isinstance(auth, tuple):  # Basic auth: its header carries base64(login:secret)
            self.redact.add(auth[1], login=auth[0])
        self.http = Http(
            self.base_url(), label=source.label, headers=self.headers(), auth=auth, redactor=self.redact,
            policy=source.policy(), sleep=sleep,
        )

    @property
    def stats(self) -> Stats:
        return self.http.stats

    @property
    def page_size(self) -> int:
        return min(self.source.options.get("page_size") or self.max_page_size, self.max_page_size)

    def base_url(self) -> str:
        return self.source.options.get("base_url") or self.default_base_url

    def headers(self) -> dict[str, str]:
        return {"Accept": "application/json"}

    def auth(self):
        return None

    def writer(self, path: Path, key: str | None, **extra) -> JsonWriter:
        """A JsonWriter whose records count towards `records`."""
        w = JsonWriter(path, key, extra)
        self._writers.append(w)
        return w

    @property
    def records(self) -> int:
        return sum(w.count for w in self._writers)

    def page(self, target: str, params=None):
        """One page of JSON (counted); past `max_pages` pages the pull fails."""
        limit = self.source.options.get("max_pages") or MAX_PAGES
        if self.http.stats.pages >= limit:
            raise SyncError(f"{self.source.label}: more than {limit} pages (option max_pages): the platform's "
                            "paging may be broken; raise max_pages if the lists are really that long")
        body = self.http.get_json(target, params)
        self.http.stats.pages += 1
        return body

    def same_page(self, what: str, records: list, previous: str | None) -> str:
        """The fingerprint of a page of `records`; fails when it repeats the previous page's.

        A server that ignores the offset answers the first page again and again: read on, that is
        an endless pull; stopped quietly, the records past the first page would be lost while the
        watermark moves on. The night fails instead and the next one tries again.
        """
        key = hashlib.sha256(json.dumps(records, sort_keys=True, default=str).encode()).hexdigest()
        if records and key == previous:
            raise SyncError(f"{self.source.label}: {what} answered the same page twice: the server ignores "
                            "the paging (offset); is base_url right?")
        return key

    def next_cursor(self, what: str, cursor: str | None, followed: set[str]) -> str | None:
        """The cursor to follow next, or None at the end; fails when a cursor comes back.

        A cursor seen before means the server pages in a loop: stopping there would lose the
        records past it while the watermark moves on, so the night fails instead.
        """
        if not cursor:
            return None
        if cursor in followed:
            raise SyncError(f"{self.source.label}: {what} answered a cursor it had already given: the server "
                            "pages in a loop; is base_url right?")
        followed.add(cursor)
        return cursor

    def shape_error(self, what: str, body) -> Exception:
        kind = type(body).__name__
        return SyncError(f"{self.source.label}: {what} answered an unexpected shape ({kind}); is base_url right?")

    @abstractmethod
    def pull(self, window: Window, out: Path) -> list[Path]:
        """Write the records changed in the window as files under `out`; returns their paths."""

    def close(self) -> None:
        self.http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
