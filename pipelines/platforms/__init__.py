"""The previous platforms, one package each, and the one registry of them.

`pipelines/platforms/<name>/` holds everything about one platform:
- `export.py`: its file adapter, `ADAPTER` (an `Adapter` of `base.py`): detect its exports, map
  their columns and status vocabulary to the canonical record;
- `api.py`, where the nightly sync pulls it: its API client, `CLIENT` (a `pipelines.platforms.client.Client`),
  which writes files in the API's own shape for `export.py` to map.
`base.py` is the adapter interface and the helpers adapters share; `client.py` the API client
interface and `http.py` the HTTP every client uses; `mapping.py` is the adapter a mapping file
describes (`--mapping`). Adding a platform is a folder here plus its name below.
"""
from __future__ import annotations

import importlib
import importlib.util
from functools import cache

from pipelines.errors import UsageError
from pipelines.platforms.base import Adapter, Match, Probe

# Order breaks ties in detection: specific platforms first, the generic plain list last.
PLATFORMS = (
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
    return tuple(importlib.import_module(f"{__name__}.{p}.export").ADAPTER for p in PLATFORMS)


def adapter(name: str) -> Adapter:
    for found in adapters():
        if found.name == name:
            return found
    known = ", ".join(sorted(a.name for a in adapters()))
    raise UsageError(f"unknown platform {name!r} (known: {known}, or auto)")


def detect(probe: Probe, platform: str = "auto", only: Adapter | None = None) -> tuple[Adapter, Match] | None:
    """The adapter that best claims this file, or None when none does (`only`: a mapping file's)."""
    candidates = (only,) if only is not None else adapters() if platform == "auto" else (adapter(platform),)
    best: tuple[Adapter, Match] | None = None
    for candidate in candidates:
        match = candidate.detect(probe)
        if match is not None and (best is None or match.score > best[1].score):
            best = (candidate, match)
    return best


@cache
def api_platforms() -> tuple[str, ...]:
    """The platforms the nightly sync can pull: those with an `api.py` (found without importing it)."""
    return tuple(p for p in PLATFORMS if importlib.util.find_spec(f"{__name__}.{p}.api") is not None)


def client_class(platform: str):
    """The `Client` subclass of a platform (`CLIENT` in `pipelines/platforms/<platform>/api.py`)."""
    if platform not in api_platforms():
        raise UsageError(f"no API client for platform {platform!r} (known: {', '.join(api_platforms())})")
    return importlib.import_module(f"{__name__}.{platform}.api").CLIENT
