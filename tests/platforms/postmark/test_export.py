"""Postmark adapter on its sample exports: suppression dumps per stream and Bounces API exports."""
from __future__ import annotations

import json
from functools import partial

import polars as pl
import pytest

from pipelines.platforms.generic.export import ADAPTER as PLAIN_LIST
from pipelines.platforms.postmark.export import ADAPTER, stream_from_name
from tests.conftest import SAMPLES
from tests.platforms.helpers import as_detected, by_line, claim, run_adapter, write

DIR = SAMPLES / "postmark"
run = partial(run_adapter, ADAPTER, against=(PLAIN_LIST,))  # and the plain list loses


def test_suppression_dump_json_scopes_unsubscribes_to_the_stream_in_the_file_name(tmp_path):
    out = run(DIR / "suppressions_broadcast.json", tmp_path, "suppressions")
    rows = by_line(out)
    assert out.height == 11 and set(out["channel"]) == {"email"}
    assert rows[1]["raw_address"] == "bounced@example.com" and rows[1]["reason"] == "hard_bounce"
    assert rows[1]["scope"] is None
    assert rows[1]["occurred_raw"] == "2024-03-01T09:15:00-05:00"
    # ManualSuppression by the recipient: an unsubscribe from this stream only.
    assert (rows[2]["raw_address"], rows[2]["reason"], rows[2]["scope"]) == (
        "Clicked-Unsub@Example.org", "unsubscribe", "list:broadcast",
    )
    assert rows[3]["reason"] == "spam_complaint"
    # ManualSuppression by the customer or Postmark staff: manual, all mail.
    assert (rows[4]["reason"], rows[4]["scope"]) == ("manual", None)
    assert rows[5]["reason"] == "manual"
    assert rows[5]["detail"] == "ManualSuppression (Origin: Admin)"
    assert rows[7]["reason"] == "unsubscribe" and rows[7]["scope"] == "list:broadcast"
    assert out["event"].unique().to_list() == ["suppression"]


def test_flattened_csv_takes_the_stream_per_row(tmp_path):
    out = run(DIR / "postmark_suppressions_all_streams.csv", tmp_path, "suppressions")
    rows = by_line(out)
    assert 7 not in rows  # the blank line is not a row; later rows keep their file line numbers
    assert rows[2]["reason"] == "hard_bounce" and rows[2]["scope"] is None
    assert (rows[3]["reason"], rows[3]["scope"]) == ("unsubscribe", "list:broadcast")
    assert rows[5]["raw_address"] == '"Dana Reyes" <dana.reyes@example.com>'
    assert rows[5]["scope"] == "list:newsletter-weekly"
    assert rows[6]["reason"] == "manual"
    # No stream on the row and none in the file name: a marketing-wide unsubscribe.
    assert (rows[10]["reason"], rows[10]["scope"]) == ("unsubscribe", "marketing")
    # Not Postmark suppression vocabulary: reason null (quarantined as unknown_status), raw status kept.
    assert rows[11]["reason"] is None and rows[11]["status"] == "SoftBounce"
    # ManualSuppression with an Origin Postmark does not document: not guessed.
    assert rows[12]["reason"] is None and rows[12]["status"] == "ManualSuppression/Robot"
    assert out.filter(pl.col("raw_address") == "hb.dup@example.com").height == 2


def test_bounces_api_json_vocabulary(tmp_path):
    out = run(DIR / "postmark_bounces.json", tmp_path, "bounces")
    got = {r["raw_address"]: (r["event"], r["reason"]) for r in out.iter_rows(named=True)}
    assert got == {
        "shared@example.com": ("suppression", "hard_bounce"),
        "slow.server@example.org": ("suppression", "soft_bounce"),
        "Full.Box@Example.net": ("suppression", "soft_bounce"),
        "complainer@example.net": ("suppression", "spam_complaint"),
        "on.holiday@example.com": ("ignored", None),
        "strict.isp@example.org": ("suppression", "policy_block"),
        "dmarc.strict@example.net": ("suppression", "policy_block"),
        "typo@exmaple.com": ("suppression", "hard_bounce"),
        "deactivated@example.com": ("suppression", "manual"),
        "dns.trouble@example.org": ("suppression", "soft_bounce"),
        "challenge@example.com": ("ignored", None),
        "unclear@example.org": ("suppression", None),  # Type Unknown: quarantined, not guessed
        "reply.unsub@example.com": ("suppression", "unsubscribe"),
        "bounced@example.com": ("suppression", "hard_bounce"),
    }
    rows = by_line(out)
    assert rows[12]["status"] == "Unknown"
    assert rows[13]["scope"] == "list:broadcast"
    assert rows[1]["occurred_raw"] == "2024-02-18T12:01:20.0452406-05:00"
    assert "5.1.1" in rows[1]["detail"] and "Inactive: true" in rows[1]["detail"]


def test_bounces_csv_with_only_type_codes(tmp_path):
    out = run(DIR / "bounces_typecode_export.csv", tmp_path, "bounces")
    rows = by_line(out)
    assert [rows[n]["reason"] for n in range(2, 9)] == [
        "hard_bounce", "spam_complaint", "soft_bounce", None, "policy_block", None, "hard_bounce",
    ]
    assert rows[5]["event"] == "ignored"  # 64 AutoResponder
    assert (rows[7]["event"], rows[7]["status"]) == ("suppression", "9999")  # unknown code
    assert rows[2]["detail"].startswith("HardBounce; TypeCode 1")


def test_suppression_webhook_log_reactivation_is_ignored(tmp_path):
    lines = [
        {"Recipient": "a@example.com", "Origin": "Recipient", "SuppressSending": True,
         "SuppressionReason": "ManualSuppression", "ChangedAt": "2020-02-01T10:53:34.416071Z", "MessageStream": "outbound"},
        {"Recipient": "a@example.com", "Origin": "Customer", "SuppressSending": False,
         "SuppressionReason": None, "ChangedAt": "2020-02-02T10:00:00Z", "MessageStream": "outbound"},
    ]
    out = as_detected(ADAPTER, write(tmp_path, "subscription_changes.ndjson", "\n".join(json.dumps(x) for x in lines) + "\n"), tmp_path)
    assert out["event"].to_list() == ["suppression", "ignored"]
    assert out["reason"].to_list() == ["unsubscribe", None]
    assert out["scope"].to_list() == ["list:outbound", None]
    assert out["occurred_raw"][0] == "2020-02-01T10:53:34.416071Z"


@pytest.mark.parametrize(
    ("name", "stream"),
    [
        ("suppressions_broadcast.json", "broadcast"),
        ("postmark-outbound-dump.json", "outbound"),
        ("suppressions_stream-newsletter-weekly.json", "newsletter-weekly"),
        ("postmark_suppressions.csv", None),
        ("broadcaster_list.csv", None),
    ],
)
def test_stream_from_file_name(name, stream):
    assert stream_from_name(name) == stream


def test_unrelated_two_column_list_is_not_postmark(tmp_path):
    assert claim(ADAPTER, write(tmp_path, "list.csv", "email,type\na@example.com,hard_bounce\n"), tmp_path) is None
