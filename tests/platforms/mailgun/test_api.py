"""Mailgun's client against the fake API: cursor paging that links on past the last page."""
from __future__ import annotations

from pathlib import Path

from tests.sync.pulls import NIGHT1_MARK, NIGHT2, records, run_pull


def test_mailgun_cursor_paging_stops_on_the_empty_page_that_still_links_on(apis, api_env, tmp_path):
    result = run_pull(apis, "mailgun", tmp_path)
    bounces = apis.seen("mailgun", "/v3/mg.example.com/bounces")
    assert [(r.param("page"), r.param("address")) for r in bounces] == [
        (None, None), ("next", "beta.gone@example.org"), ("next", "gamma.gone@example.net")]
    assert result["records"] == 6
    unsub = records(next(f for f in result["files"] if f.endswith("_unsubscribes.json")), "items")
    assert {u["address"] for u in unsub} == {"all.mail@example.com", "some.tags@example.org"}

    apis.requests.clear()
    apis.now = NIGHT2
    second = run_pull(apis, "mailgun", tmp_path, NIGHT1_MARK, NIGHT2)
    # no time filter in the API: every page is read again, and only what is new is written
    assert len(apis.seen("mailgun")) == 8
    assert {r["address"] for f in second["files"] for r in records(f, "items")} == {
        "new.gone@example.com", "new.unsub@example.net"}
    assert [Path(f).name for f in second["files"]] == ["mailgun_mg.example.com_bounces.json",
                                                      "mailgun_mg.example.com_unsubscribes.json"]
