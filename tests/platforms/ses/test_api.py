"""SES's client against the fake API (which checks every SigV4 signature): `NextToken`, `StartDate`."""
from __future__ import annotations

import pytest

from pipelines.platforms.http import SyncError
from tests.sync.fake_api import KEYS
from tests.sync.pulls import NIGHT1_MARK, NIGHT2, records, run_pull


def test_ses_signed_requests_next_token_and_start_date(apis, api_env, tmp_path):
    result = run_pull(apis, "ses", tmp_path)  # the fake server checks every SigV4 signature
    seen = apis.seen("ses")
    assert [r.param("NextToken") is None for r in seen] == [True, False]
    assert all(r.query["Reason"] == ["BOUNCE", "COMPLAINT"] and r.param("PageSize") == "2" for r in seen)
    assert result["records"] == 4
    apis.requests.clear()
    apis.now = NIGHT2
    second = run_pull(apis, "ses", tmp_path, NIGHT1_MARK, NIGHT2)
    assert {r.param("StartDate") for r in apis.seen("ses")} == {"2024-05-09T20:00:00Z"}
    assert {r["EmailAddress"] for r in records(second["files"][0], "SuppressedDestinationSummaries")} == {
        "ses.late@example.net", "ses.new@example.com"}


def test_ses_wrong_secret_is_refused(apis, api_env, tmp_path, monkeypatch):
    monkeypatch.setenv("ACME_SES_KEYS", f"{KEYS['ses'][0]}:not-the-secret-0099")
    with pytest.raises(SyncError, match="HTTP 401") as caught:
        run_pull(apis, "ses", tmp_path)
    assert "not-the-secret-0099" not in str(caught.value)
