"""Klaviyo's client against the fake API: cursor links, the revision header, the `updated` filter."""
from __future__ import annotations

from tests.sync.fake_api import DROP
from tests.sync.pulls import NIGHT1_MARK, NIGHT2, records, run_pull


def test_klaviyo_cursor_links_revision_and_updated_filter(apis, api_env, tmp_path):
    apis.fail("/api/profiles", DROP)
    result = run_pull(apis, "klaviyo", tmp_path)
    seen = apis.seen("klaviyo")
    assert [r.param("page[cursor]") for r in seen] == [None, None, "2"]  # dropped, first page, next link
    assert all(r.headers["revision"] == "2024-10-15" and r.param("additional-fields[profile]") == "subscriptions"
               for r in seen)
    assert result["transient_errors"] == 1 and result["records"] == 4
    apis.requests.clear()
    apis.now = NIGHT2
    second = run_pull(apis, "klaviyo", tmp_path, NIGHT1_MARK, NIGHT2)
    assert {r.param("filter") for r in apis.seen("klaviyo")} == {"greater-than(updated,2024-05-09T20:00:00Z)"}
    assert [p["attributes"]["email"] for p in records(second["files"][0], "data")] == ["kl.new@example.com"]
