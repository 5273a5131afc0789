"""Generic event file (SPEC 4.1): `address,event,occurred_at[,detail]` from any source.

`event` is one of the canonical reasons or `delivered`; deliveries are evidence for the
soft-bounce policy, never suppressions.
"""
from __future__ import annotations

import polars as pl

from pipelines.model import EVENT_DELIVERED, EVENT_SUPPRESSION, REASONS
from pipelines.platforms.base import Adapter, MapOptions, Match, Probe, col, mapped, norm_status


class EventFileAdapter(Adapter):
    name = "events"
    description = "Generic event file: address,event,occurred_at[,detail]; event is a reason or `delivered`"
    kinds = ("events",)

    def detect(self, probe: Probe) -> Match | None:
        if probe.has("address", "event", "occurred_at"):
            return Match("events", 90, "columns address, event, occurred_at")
        return None

    def map(self, frame: pl.LazyFrame, probe: Probe, match: Match, opts: MapOptions) -> pl.LazyFrame:
        event = norm_status(pl.col(probe.column("event")))
        vocabulary = {r.replace("_", ""): r for r in REASONS}
        reason = event.replace_strict(vocabulary, default=None, return_dtype=pl.String)
        address = pl.col(probe.column("address"))
        channel = pl.when(address.str.contains("@")).then(pl.lit("email")).otherwise(pl.lit("sms"))
        kind = pl.when(event == "delivered").then(pl.lit(EVENT_DELIVERED)).otherwise(pl.lit(EVENT_SUPPRESSION))
        return mapped(
            frame,
            address=address,
            reason=reason,
            status=pl.col(probe.column("event")),
            channel=channel,
            scope=col(probe.column("scope")),
            occurred=col(probe.column("occurred_at")),
            detail=col(probe.column("detail")),
            event=kind,
        )


ADAPTER = EventFileAdapter()
