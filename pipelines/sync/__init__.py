"""Nightly sync from a tenant's previous platform (SPEC 4.2): API clients, their config, the runs.

- `config`: tenant sources from a TOML file (tenant, platform, name, credentials reference, options);
- `http`: GET-only HTTP with retries that are safe to repeat, rate limits, and redacted secrets;
- one module per platform (`sendgrid`, `mailchimp`, ...), each a `Client` (`base`) that pulls one
  source's records since a window start into files its `pipelines.sources` adapter maps;
- `run`: plan (read watermarks), pull (no store access), load (the one ingest path, which writes
  the new watermark in the load transaction), and `sync_source`/`sync_tenant` doing all three.
"""
from __future__ import annotations

PLATFORMS = ("sendgrid", "mailchimp", "mailgun", "postmark", "ses", "brevo", "klaviyo")


def client_class(platform: str):
    """The `Client` subclass of a platform (`CLIENT` in `pipelines/sync/<platform>.py`)."""
    import importlib

    from pipelines.errors import UsageError

    if platform not in PLATFORMS:
        raise UsageError(f"no API client for platform {platform!r} (known: {', '.join(PLATFORMS)})")
    return importlib.import_module(f"pipelines.sync.{platform}").CLIENT
