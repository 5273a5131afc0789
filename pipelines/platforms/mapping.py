"""An adapter described by a mapping file, for a platform we have no adapter for (`--mapping`).

An onboarding engineer writes a small TOML file instead of code:

    name = "acme-esp"                # shown as the platform in runs and reports
    channel = "email"                # or "sms"
    reason = "hard_bounce"           # for every row when there is no status column

    [columns]
    address = "Subscriber Email"     # required
    status = "State"                 # optional: its values map through [statuses]
    time = "Changed On"              # optional
    detail = "Note"                  # optional: kept verbatim
    list = "List ID"                 # optional: unsubscribes become list:<value>

    [statuses]                       # status value -> a reason, or "ignore" (not a suppression)
    "Hard Bounce" = "hard_bounce"
    "Unsubscribed" = "unsubscribe"
    "Active" = "ignore"

Status values are matched like every adapter's vocabulary (case, spaces and punctuation ignored);
a value the file does not list is quarantined as unknown_status.
"""
from __future__ import annotations

import tomllib
from pathlib import Path

import polars as pl

from pipelines.errors import UsageError
from pipelines.model import CHANNELS, EVENT_IGNORED, EVENT_SUPPRESSION, REASONS
from pipelines.platforms.base import Adapter, MapOptions, Match, Probe, col, lookup, mapped, norm_name, unsub_scope

IGNORE = "ignore"


class MappingAdapter(Adapter):
    kinds = ("mapped",)

    def __init__(self, spec: dict, source: str):
        self.source = source
        self.name = str(spec.get("name") or Path(source).stem)
        self.description = f"columns and statuses described by {source}"
        columns = spec.get("columns") or {}
        self.address = columns.get("address")
        self.status = columns.get("status")
        self.time = columns.get("time")
        self.detail = columns.get("detail")
        self.list = columns.get("list")
        self.channel = spec.get("channel", "email")
        self.reason = spec.get("reason")
        self.statuses: dict[str, str] = {str(k): str(v) for k, v in (spec.get("statuses") or {}).items()}
        self._check()

    @classmethod
    def from_file(cls, path: str | Path) -> MappingAdapter:
        path = Path(path)
        try:
            spec = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UsageError(f"{path}: no such mapping file") from None
        except tomllib.TOMLDecodeError as exc:
            raise UsageError(f"{path}: not a valid TOML mapping file ({exc})") from None
        return cls(spec, str(path))

    def _check(self) -> None:
        where = f"mapping file {self.source}"
        if not self.address:
            raise UsageError(f"{where}: [columns] address is required")
        if self.channel not in CHANNELS:
            raise UsageError(f"{where}: channel must be one of {', '.join(CHANNELS)}")
        if self.status is None and self.reason not in REASONS:
            raise UsageError(f"{where}: without a status column, `reason` must be one of {', '.join(REASONS)}")
        if self.status is not None and not self.statuses:
            raise UsageError(f"{where}: a status column needs a [statuses] table")
        bad = sorted(v for v in self.statuses.values() if v not in REASONS and v != IGNORE)
        if bad:
            raise UsageError(f"{where}: unknown reason(s) {', '.join(bad)} (use one of {', '.join(REASONS)} or ignore)")

    def detect(self, probe: Probe) -> Match | None:
        wanted = [c for c in (self.address, self.status, self.time, self.detail, self.list) if c]
        missing = [c for c in wanted if probe.column(c) is None]
        if missing:
            return None
        return Match("mapped", 100, f"columns named by {self.source}")

    def map(self, frame: pl.LazyFrame, probe: Probe, match: Match, opts: MapOptions) -> pl.LazyFrame:
        if self.status is None:
            reason, status, event = pl.lit(opts.reason or self.reason), None, None
        else:
            raw = pl.col(probe.column(self.status))
            target = lookup(raw, self.statuses)
            reason = pl.when(target == IGNORE).then(pl.lit(None, dtype=pl.String)).otherwise(target)
            event = pl.when(target == IGNORE).then(pl.lit(EVENT_IGNORED)).otherwise(pl.lit(EVENT_SUPPRESSION))
            status = raw
        scope = unsub_scope(pl.col(probe.column(self.list))) if self.list else None
        return mapped(
            frame,
            address=pl.col(probe.column(self.address)),
            reason=reason,
            status=status,
            channel=self.channel,
            scope=scope,
            occurred=col(probe.column(self.time)) if self.time else None,
            detail=col(probe.column(self.detail)) if self.detail else None,
            event=event,
        )

    def fingerprint(self) -> str:
        """What the run's idempotency hash needs to know about the mapping."""
        parts = [self.name, self.channel, str(self.reason), self.address, str(self.status), str(self.time),
                 str(self.detail), str(self.list)] + [f"{norm_name(k)}={v}" for k, v in sorted(self.statuses.items())]
        return "|".join(parts)
