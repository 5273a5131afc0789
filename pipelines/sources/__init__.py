"""Platform adapters and detection. One module per platform; each exposes `ADAPTER`."""
from __future__ import annotations

import importlib
from functools import cache

from pipelines.errors import UsageError
from pipelines.sources.base import Adapter, Match, Probe

# Order breaks ties in detection: specific platforms first, the generic plain list last.
MODULES = (
    "events",
    "mailchimp",
    "sendgrid",
    "mailgun",
    "postmark",
    "ses",
    "twilio",
    "klaviyo",
    "hubspot",
    "campaignmonitor",
    "kajabi",
    "mandrill",
    "brevo",
    "activecampaign",
    "constantcontact",
    "generic",
)


@cache
def adapters() -> tuple[Adapter, ...]:
    return tuple(importlib.import_module(f"pipelines.sources.{m}").ADAPTER for m in MODULES)


def get(name: str) -> Adapter:
    for adapter in adapters():
        if adapter.name == name:
            return adapter
    known = ", ".join(sorted(a.name for a in adapters()))
    raise UsageError(f"unknown platform {name!r} (known: {known}, or auto)")


def detect(probe: Probe, platform: str = "auto", only: Adapter | None = None) -> tuple[Adapter, Match] | None:
    """The adapter that best claims this file, or None when none does (`only`: a mapping file's)."""
    candidates = (only,) if only is not None else adapters() if platform == "auto" else (get(platform),)
    best: tuple[Adapter, Match] | None = None
    for adapter in candidates:
        match = adapter.detect(probe)
        if match is not None and (best is None or match.score > best[1].score):
            best = (adapter, match)
    return best
