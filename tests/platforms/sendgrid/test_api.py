"""SendGrid's client against the fake API: offset paging without a total, `start_time`."""
from __future__ import annotations

from pathlib import Path

from pipelines.sync.run import format_watermark
from tests.sync.fake_api import KEYS
from tests.sync.pulls import NIGHT1_MARK, NIGHT2, SINCE2, records, run_pull


def test_sendgrid_offset_paging_without_a_total_and_start_time(apis, api_env, tmp_path):
    first = run_pull(apis, "sendgrid", tmp_path)
    bounces = apis.seen("sendgrid", "/v3/suppression/bounces")
    assert [(r.param("limit"), r.param("offset")) for r in bounces] == [("2", "0"), ("2", "2"), ("2", "4")]
    assert all(r.param("start_time") is None for r in apis.seen("sendgrid"))  # first night: everything
    assert all(r.headers["authorization"] == f"Bearer {KEYS['sendgrid']}" for r in apis.seen("sendgrid"))
    names = [Path(f).name for f in first["files"]]
    assert names == [f"sendgrid_{n}.json" for n in
                     ("bounces", "blocks", "spam_reports", "invalid_emails", "unsubscribes", "group_unsubscribes")]
    assert len(records(first["files"][0], None)) == 4 and first["records"] == 10

    apis.requests.clear()
    apis.now = NIGHT2
    second = run_pull(apis, "sendgrid", tmp_path, NIGHT1_MARK, NIGHT2)
    starts = {r.param("start_time") for r in apis.seen("sendgrid", "/v3/suppression/")}
    assert starts == {str(int(SINCE2.timestamp()))}
    emails = {r["email"] for f in second["files"] for r in records(f, None)}
    # the overlap's late bounce comes again; the group list has no time filter: filtered here
    assert emails == {"late.bounce@example.com", "new.bounce@example.com", "new.angry@example.net",
                      "new.optout@example.com", "new.group@example.com"}
    assert second["since"] == format_watermark(SINCE2) and second["new_watermark"] == format_watermark(NIGHT2)
