"""The fake platform APIs, a sources file pointing every platform at them, and their credentials."""
from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from .fake_api import KEYS, SES_REGION, FakeApis

NIGHT1 = datetime(2024, 5, 10, 2, 0, tzinfo=UTC)
NIGHT2 = datetime(2024, 5, 11, 2, 0, tzinfo=UTC)
TENANT = "acme"

ENV = {
    "ACME_SENDGRID_KEY": KEYS["sendgrid"],
    "ACME_MAILCHIMP_KEY": KEYS["mailchimp"],
    "ACME_MAILGUN_KEY": KEYS["mailgun"],
    "ACME_POSTMARK_TOKEN": KEYS["postmark"],
    "ACME_SES_KEYS": ":".join(KEYS["ses"]),
    "ACME_BREVO_KEY": KEYS["brevo"],
    "ACME_KLAVIYO_KEY": KEYS["klaviyo"],
}

# One source per platform, small pages so that every list takes several.
SOURCES = {
    "sendgrid": ("env:ACME_SENDGRID_KEY", {"page_size": 2}),
    "mailchimp": ("env:ACME_MAILCHIMP_KEY", {"page_size": 2, "list_ids": ["a1b2c3d4e5"]}),
    "mailgun": ("env:ACME_MAILGUN_KEY", {"page_size": 2, "domains": ["mg.example.com"]}),
    "postmark": ("env:ACME_POSTMARK_TOKEN", {"streams": ["outbound", "broadcast"]}),
    "ses": ("env:ACME_SES_KEYS", {"page_size": 2, "region": SES_REGION}),
    "brevo": ("env:ACME_BREVO_KEY", {"page_size": 2}),
    "klaviyo": ("env:ACME_KLAVIYO_KEY", {"page_size": 2}),
}
# Retry waits are tiny: the tests that do not record them run them for real.
DEFAULTS = {"backoff_initial": 0.01, "backoff_max": 0.05, "rate_limit_max_wait": 0.05, "max_attempts": 4, "timeout": 5}


def sources_toml(base_url: str, platforms=tuple(SOURCES), tenant: str = TENANT, options: dict | None = None,
                 credentials: dict | None = None) -> str:
    """A sources file for the fake APIs; `options` are added to (or override) every source's."""
    text = ["[defaults]", *(f"{k} = {json.dumps(v)}" for k, v in DEFAULTS.items()), ""]
    for platform in platforms:
        ref, own = SOURCES[platform]
        merged = {"base_url": base_url, **own, **(options or {})}
        text += ["[[sources]]", f'tenant = "{tenant}"', f'name = "{platform}-main"', f'platform = "{platform}"',
                 f'credentials = "{(credentials or {}).get(platform, ref)}"', "[sources.options]",
                 *(f"{k} = {json.dumps(v)}" for k, v in merged.items()), ""]
    return "\n".join(text)


@pytest.fixture
def apis():
    server = FakeApis(now=NIGHT1).start()
    yield server
    server.stop()


@pytest.fixture
def api_env(monkeypatch):
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    return ENV


@pytest.fixture
def sources_file(apis, api_env, tmp_path) -> Path:
    path = tmp_path / "sources.toml"
    path.write_text(sources_toml(apis.url))
    return path
