"""Klaviyo adapter on the samples in data/samples/klaviyo: profile CSV export, flattened API
suppressions, API profiles JSON and a status-less segment export; detected against every
registered adapter, then mapped to reasons, scopes, events and lines."""
from __future__ import annotations

import json
from functools import partial

import polars as pl
import pytest

from pipelines.platforms.base import MapOptions
from pipelines.platforms.klaviyo.export import ADAPTER
from tests.conftest import SAMPLES
from tests.platforms.helpers import as_detected, claim, file_id, never_outbids, other_files, records, run_adapter, write

KL = SAMPLES / "klaviyo"
run = partial(run_adapter, ADAPTER)


def test_profile_export_suppression_cell_and_consent(tmp_path):
    out = run(KL / "klaviyo_list_export_newsletter.csv", tmp_path, "profile_export")
    # Line 10 is the second line of a quoted two-line address; line 14 is blank.
    assert sorted(set(out["_line"])) == [2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 15, 16]
    by_address = {r["raw_address"]: r for r in out.iter_rows(named=True)}
    assert by_address["hard.bounce@example.com"]["reason"] == "hard_bounce"
    assert by_address["hard.bounce@example.com"]["scope"] is None
    # A JSON-ish list of two reasons: two records on the same line.
    assert records(out, 3) == [("suppression", "spam_complaint", None), ("suppression", "unsubscribe", "marketing")]
    assert records(out, 4) == [("ignored", None, None)]  # SUBSCRIBED, no suppression
    assert records(out, 5) == [("ignored", None, None)]  # NEVER_SUBSCRIBED
    # UNSUBSCRIBED with no suppression reason: a marketing unsubscribe, timed by the consent change.
    assert records(out, 6) == [("suppression", "unsubscribe", "marketing")]
    assert by_address["left@example.com"]["occurred_raw"] == "2024-03-15 17:45:00"
    assert by_address["left@example.com"]["status"] == "UNSUBSCRIBED"
    assert by_address["typo@exmaple.com"]["reason"] == "invalid"
    assert by_address["imported@example.org"]["reason"] == "manual"  # UI wording "User suppressed"
    # Objects with their timestamp, in the record that starts on line 9.
    row9 = out.filter(pl.col("_line") == 9).row(0, named=True)
    assert (row9["raw_address"], row9["reason"], row9["occurred_raw"]) == (
        "multiline@example.com", "hard_bounce", "2024-04-01T12:00:00+00:00",
    )
    assert by_address["not-an-email"]["_line"] == 11  # junk passed on for the normalizer to reject
    # Not Klaviyo vocabulary: reason null, raw value kept (quarantined as unknown_status).
    assert (by_address["soft@example.com"]["reason"], by_address["soft@example.com"]["status"]) == (
        None, "SOFT_BOUNCE_LIMIT",
    )
    assert by_address["soft@example.com"]["event"] == "suppression"
    assert (by_address["pending@example.net"]["reason"], by_address["pending@example.net"]["status"]) == (
        None, "PENDING_CONFIRMATION",
    )
    assert records(out, 15) == [("suppression", "hard_bounce", None), ("suppression", "manual", None)]
    assert records(out, 16) == [("suppression", "unsubscribe", "marketing")]  # ['UNSUBSCRIBE']
    assert set(out["channel"]) == {"email"}


def test_flattened_api_suppressions(tmp_path):
    out = run(KL / "klaviyo_suppressions_api.csv", tmp_path, "suppressions")
    rows = {r["_line"]: r for r in out.iter_rows(named=True)}
    assert sorted(rows) == [2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14]  # 9 is blank
    got = {n: (rows[n]["reason"], rows[n]["scope"]) for n in rows}
    assert got == {
        2: ("hard_bounce", None),
        3: ("spam_complaint", None),
        4: ("unsubscribe", "list:AbC123"),
        5: ("unsubscribe", "marketing"),  # scope GLOBAL in capitals
        6: ("manual", None),
        7: ("unsubscribe", "list:Y6nRLr"),  # USER_SUPPRESSED on one list stops only that list
        8: ("invalid", None),
        10: (None, None),  # SOFT_BOUNCE: not a Klaviyo reason
        11: (None, None),  # a scope Klaviyo does not write: not guessed
        12: ("hard_bounce", None),  # empty scope: global
        13: ("hard_bounce", None),  # a bounce recorded on a list is still about the address
        14: ("hard_bounce", None),
    }
    assert rows[10]["status"] == "SOFT_BOUNCE"
    assert rows[11]["status"] == "UNSUBSCRIBE @ segment:XyZ789"
    assert rows[2]["occurred_raw"] == "2024-04-01T12:00:00+00:00"
    assert rows[7]["detail"] == "USER_SUPPRESSED (list:Y6nRLr)"
    assert rows[5]["raw_address"] == "Global.Leaver@Example.com"
    assert rows[14]["raw_address"] == "#02232014"
    assert set(out["event"]) == {"suppression"}


def test_api_profiles_global_and_list_suppressions(tmp_path):
    out = run(KL / "klaviyo_profiles_api.json", tmp_path, "api_profiles")
    assert sorted(set(out["_line"])) == [1, 2, 3, 4, 5, 6, 7]
    assert records(out, 1) == [("suppression", "hard_bounce", None), ("suppression", "unsubscribe", "list:AbC123")]
    assert records(out, 2) == [("ignored", None, None)]
    assert records(out, 3) == [("suppression", "unsubscribe", "marketing")]
    # List suppressions only, never subscribed: no extra `ignored` record beside them.
    assert records(out, 4) == [("suppression", "unsubscribe", "list:Y6nRLr")]
    assert records(out, 5) == [("suppression", "spam_complaint", None), ("suppression", "unsubscribe", "marketing")]
    assert records(out, 6) == [("suppression", None, None)]
    # Unsubscribed from marketing and from one list: both stand.
    assert records(out, 7) == [("suppression", "unsubscribe", "list:List01"), ("suppression", "unsubscribe", "marketing")]
    line1 = {r["reason"]: r for r in out.filter(pl.col("_line") == 1).iter_rows(named=True)}
    assert line1["hard_bounce"]["occurred_raw"] == "2024-02-01T09:00:00+00:00"
    assert line1["unsubscribe"]["occurred_raw"] == "2024-03-01T10:00:00+00:00"
    assert line1["unsubscribe"]["detail"] == "UNSUBSCRIBE (list AbC123)"
    assert out.filter(pl.col("_line") == 3)["occurred_raw"].to_list() == ["2024-01-15T08:30:00+00:00"]
    assert out.filter(pl.col("_line") == 6)["status"].to_list() == ["SOFT_BOUNCE"]
    assert set(out.filter(pl.col("_line") == 5)["raw_address"]) == {"Two.Reasons@Example.com"}


# A segment exported without any status column. Kept out of data/samples/: the samples load in one
# run without --reason, and this export is refused without one.
SEGMENT_EXPORT = """Email,Klaviyo ID,First Name,Last Name,Phone Number,Profile Created On
seg.one@example.com,01HS0000000000000000000001,Sam,,+14155550100,2022-01-01 00:00:00
SEG.Two@Example.org,01HS0000000000000000000002,,,,2022-02-02 00:00:00
seg.three@example.net,01HS0000000000000000000003,,Lee,,2022-03-03 00:00:00
"""


def test_segment_export_needs_a_reason(tmp_path):
    assert "segment_export" in ADAPTER.needs_reason
    path = write(tmp_path, "klaviyo_segment_hard_bounced.csv", SEGMENT_EXPORT)
    out = run(path, tmp_path, "segment_export", MapOptions(reason="hard_bounce"))
    assert out["raw_address"].to_list() == ["seg.one@example.com", "SEG.Two@Example.org", "seg.three@example.net"]
    assert out["_line"].to_list() == [2, 3, 4]
    assert set(out["reason"]) == {"hard_bounce"} and set(out["event"]) == {"suppression"}
    unsub = run(path, tmp_path, "segment_export", MapOptions(reason="unsubscribe"))
    assert set(unsub["scope"]) == {"marketing"}


def test_api_profiles_without_subscriptions_need_a_reason(tmp_path):
    path = write(tmp_path, "profiles.json", json.dumps({"data": [
        {"type": "profile", "id": "1", "attributes": {"email": "a@example.com", "first_name": "A"}},
        {"type": "profile", "id": "2", "attributes": {"email": "b@example.com", "first_name": None}},
    ]}))
    out = run(path, tmp_path, "segment_export", MapOptions(reason="manual"))
    assert out.select("_line", "raw_address", "reason").rows() == [(1, "a@example.com", "manual"), (2, "b@example.com", "manual")]


def test_api_objects_with_field_names_are_read_by_name(tmp_path):
    """Lists of objects that keep their field names (JSON text), in any key order."""
    path = tmp_path / "profiles_flat.csv"
    prefix = "attributes.subscriptions.email.marketing"
    header = ["attributes.email", f"{prefix}.consent", f"{prefix}.suppression", f"{prefix}.list_suppressions"]
    rows = [
        ["a@example.com", "SUBSCRIBED", json.dumps([{"timestamp": "2024-01-01T00:00:00Z", "reason": "HARD_BOUNCE"}]),
         json.dumps([{"reason": "USER_SUPPRESSED", "timestamp": None, "list_id": "Lx9"}])],
        ["b@example.com", "SUBSCRIBED", "[]", "[]"],
    ]
    with path.open("w") as fh:
        fh.write(",".join(header) + "\n")
        for row in rows:
            fh.write(",".join('"' + v.replace('"', '""') + '"' for v in row) + "\n")
    out = as_detected(ADAPTER, path, tmp_path, "api_profiles")
    assert records(out, 2) == [("suppression", "hard_bounce", None), ("suppression", "unsubscribe", "list:Lx9")]
    assert out.filter(pl.col("reason") == "hard_bounce")["occurred_raw"].to_list() == ["2024-01-01T00:00:00Z"]
    assert out.filter(pl.col("reason") == "unsubscribe")["occurred_raw"].to_list() == [None]
    assert records(out, 3) == [("ignored", None, None)]


def test_api_suppression_with_a_null_field_is_not_lost(tmp_path):
    profile = {"type": "profile", "id": "1", "attributes": {"email": "a@example.com", "subscriptions": {"email": {"marketing": {
        "consent": "SUBSCRIBED", "suppression": [],
        "list_suppressions": [{"list_id": "L1", "reason": "UNSUBSCRIBE", "timestamp": None}]}}}}}
    path = write(tmp_path, "profiles.json", json.dumps({"data": [profile, {**profile, "id": "2"}]}))
    out = as_detected(ADAPTER, path, tmp_path)
    assert records(out, 1) == [("suppression", "unsubscribe", "list:L1")]


@pytest.mark.parametrize(
    ("cell", "reasons"),
    [
        ("HARD_BOUNCE", ["hard_bounce"]),
        ("HARD_BOUNCE, SPAM_COMPLAINT", ["hard_bounce", "spam_complaint"]),
        ('["INVALID_EMAIL","UNSUBSCRIBE"]', ["invalid", "unsubscribe"]),
        ("['USER_SUPPRESSED'] ", ["manual"]),
        ("Hard bounce | Marked as spam", ["hard_bounce", "spam_complaint"]),
        ('[{"reason": "SPAM_COMPLAINT", "timestamp": "2024-01-01T00:00:00Z"}, {"reason": "HARD_BOUNCE"}]',
         ["spam_complaint", "hard_bounce"]),
        ("[]", [None]),  # nothing: the consent (SUBSCRIBED) speaks, ignored
    ],
)
def test_email_suppressions_cell_shapes(tmp_path, cell, reasons):
    quoted = '"' + cell.replace('"', '""') + '"'
    path = write(tmp_path, "export.csv",
                 f"Email,Klaviyo ID,Email Marketing Consent,Email Suppressions\nx@example.com,01H,SUBSCRIBED,{quoted}\n")
    out = as_detected(ADAPTER, path, tmp_path, "profile_export")
    assert out["reason"].to_list() == reasons
    assert set(out["_line"]) == {2}


def test_consent_only_export_empty_consent_is_missing_not_subscribed(tmp_path):
    path = write(tmp_path, "export.csv",
                 "Email,Klaviyo ID,Email Marketing Consent\na@example.com,1,UNSUBSCRIBED\nb@example.com,2,\nc@example.com,3,SUBSCRIBED\n")
    out = as_detected(ADAPTER, path, tmp_path, "profile_export")
    assert out.select("event", "reason", "status").rows() == [
        ("suppression", "unsubscribe", "UNSUBSCRIBED"),
        ("suppression", None, None),  # empty status: quarantined as missing_status, never "subscribed"
        ("ignored", None, "SUBSCRIBED"),
    ]


@pytest.mark.parametrize(
    ("name", "text", "kind"),
    [
        ("suppressions.csv", "email,reason\na@example.com,USER_SUPPRESSED\nb@example.com,HARD_BOUNCE\n", "suppressions"),
        ("klaviyo_bounces.csv", "email,reason,timestamp\na@example.com,HARD_BOUNCE,2024-01-01\n", "suppressions"),
        ("list.csv", "email,reason\na@example.com,HARD_BOUNCE\n", None),  # nothing Klaviyo about it
        ("list.csv", "email,reason\na@example.com,bounced\n", None),
        ("x.csv", "Email\na@example.com\n", None),  # Klaviyo's suppression import file: a plain list
        ("x.csv", "email,created\na@example.com,1700000000\n", None),
    ],
)
def test_detection_on_small_files(tmp_path, name, text, kind):
    match = claim(ADAPTER, write(tmp_path, name, text), tmp_path)
    assert (match.kind if match else None) == kind


@pytest.mark.parametrize("path", other_files("klaviyo", fixtures=False), ids=file_id)
def test_other_platforms_samples_are_not_claimed(tmp_path, path):
    never_outbids(ADAPTER, path, tmp_path)
