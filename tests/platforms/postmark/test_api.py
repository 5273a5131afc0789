"""Postmark's client against the fake API: one suppression dump per stream, from the start day."""
from __future__ import annotations

from pathlib import Path

from tests.sync.pulls import NIGHT1_MARK, NIGHT2, records, run_pull


def test_postmark_dump_per_stream_from_the_start_day(apis, api_env, tmp_path):
    result = run_pull(apis, "postmark", tmp_path)
    assert [r.path for r in apis.seen("postmark")] == ["/message-streams/outbound/suppressions/dump",
                                                       "/message-streams/broadcast/suppressions/dump"]
    broadcast = records(result["files"][1], "Suppressions")
    assert broadcast == [{"EmailAddress": "pm.unsub@example.net", "SuppressionReason": "ManualSuppression",
                          "Origin": "Recipient", "CreatedAt": "2024-04-28T12:45:00-05:00", "MessageStream": "broadcast"}]
    apis.requests.clear()
    apis.now = NIGHT2
    second = run_pull(apis, "postmark", tmp_path, NIGHT1_MARK, NIGHT2)
    assert {r.param("fromdate") for r in apis.seen("postmark")} == {"2024-05-08"}  # the start day, widened
    assert [Path(f).name for f in second["files"]] == ["postmark_suppressions_stream-outbound.json"]
