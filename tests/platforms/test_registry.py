"""The one registry of platforms: every platform folder in it, each adapter under its folder's name,
and an API client wherever a folder has an `api.py`."""
from __future__ import annotations

import pytest

from pipelines import platforms
from pipelines.errors import UsageError
from tests.conftest import ROOT

API_PLATFORMS = {"sendgrid", "mailchimp", "mailgun", "postmark", "ses", "brevo", "klaviyo"}


def test_every_platform_folder_is_registered_under_its_name():
    folders = {path.parent.name for path in (ROOT / "pipelines" / "platforms").glob("*/export.py")}
    assert set(platforms.PLATFORMS) == folders and len(folders) == 16
    assert [a.name for a in platforms.adapters()] == list(platforms.PLATFORMS)
    assert platforms.PLATFORMS[0] == "events" and platforms.PLATFORMS[-1] == "generic"  # the fallback last
    assert platforms.adapter("kajabi") is platforms.adapters()[platforms.PLATFORMS.index("kajabi")]


def test_api_clients_where_a_folder_has_one():
    assert set(platforms.api_platforms()) == API_PLATFORMS
    for name in API_PLATFORMS:
        assert platforms.client_class(name).platform == name


def test_unknown_names_are_usage_errors():
    with pytest.raises(UsageError, match=r"unknown platform 'mailjet' \(known: activecampaign, brevo, "):
        platforms.adapter("mailjet")
    with pytest.raises(UsageError, match="no API client for platform 'hubspot'"):
        platforms.client_class("hubspot")
