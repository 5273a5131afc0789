"""HubSpot adapter on the samples in data/samples/hubspot: the UI contact export (labels, a BOM,
the repeated "Email hard bounce reason"), the CRM API contacts JSON (internal names) and a contact
export without status; detected against every registered adapter, then one record per flag set."""
from __future__ import annotations

from functools import partial

import polars as pl
import pytest

from pipelines.platforms.base import MapOptions, Match
from pipelines.platforms.hubspot.export import ADAPTER, slug
from tests.conftest import SAMPLES
from tests.platforms.helpers import (
    as_detected,
    claim,
    file_id,
    load,
    never_outbids,
    other_files,
    records,
    run_adapter,
    write,
)

HS = SAMPLES / "hubspot"
UI_EXPORT = HS / "hubspot-crm-exports-all-contacts-2024-05-01.csv"
run = partial(run_adapter, ADAPTER)


def test_ui_export_reads_bom_and_repeated_label(tmp_path):
    _, probe = load(UI_EXPORT, tmp_path)
    assert probe.columns[0] == "Record ID"  # the BOM is not part of the header
    assert "Email hard bounce reason__2" in probe.columns


def test_ui_export_one_record_per_flag(tmp_path):
    out = run(UI_EXPORT, tmp_path, "contacts_export")
    assert sorted(set(out["_line"])) == [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17]  # 12 is blank
    assert records(out, 2) == [("suppression", "unsubscribe", "marketing")]
    # Both "Email hard bounce reason" columns set: one hard bounce, both texts kept.
    assert records(out, 3) == [("suppression", "hard_bounce", None)]
    row3 = out.filter(pl.col("_line") == 3).row(0, named=True)
    assert row3["status"] == "UNKNOWN_USER"
    assert row3["detail"] == "Email hard bounce reason: UNKNOWN_USER; 550 5.1.1 user unknown"
    assert records(out, 4) == [("suppression", "spam_complaint", None)]  # RECIPIENT_COMPLAINT
    assert records(out, 5) == [("ignored", None, None)]  # every flag false / No
    assert records(out, 6) == [("suppression", "unsubscribe", "list:marketing-information")]
    assert records(out, 7) == [
        ("suppression", "invalid", None),
        ("suppression", "unsubscribe", "list:one-to-one"),
        ("suppression", "unsubscribe", "marketing"),
    ]
    assert records(out, 8) == [("suppression", "manual", None)]  # ON_LIST_IMPORT
    assert records(out, 9) == [("suppression", "hard_bounce", None)]  # UNDELIVERABLE_ADDRESS
    # Not a boolean: not guessed, raw value kept (quarantined as unknown_status).
    row10 = out.filter(pl.col("_line") == 10).row(0, named=True)
    assert (row10["event"], row10["reason"], row10["status"]) == ("suppression", None, "maybe")
    assert out.filter(pl.col("_line") == 11).select("raw_address", "reason").row(0) == ("not-an-email", "invalid")
    assert records(out, 13) == [("ignored", None, None)]  # everything empty
    assert records(out, 14) == [("ignored", None, None)]  # no address, no flag
    assert records(out, 15) == [("suppression", "hard_bounce", None)]  # only the second label set
    assert out.filter(pl.col("_line") == 15)["status"].to_list() == ["MAILBOX_FULL"]
    assert records(out, 16) == [("suppression", "manual", None)]  # quarantined, no reason given
    assert records(out, 17) == [("ignored", None, None)]  # a reason left behind, flag false
    assert out.filter(pl.col("_line") == 5)["raw_address"].to_list() == ["Ok.Person@Example.com"]
    assert out["occurred_raw"].null_count() == out.height  # HubSpot says nothing of when


def test_api_contacts_internal_names(tmp_path):
    out = run(HS / "hubspot_contacts_api.json", tmp_path, "api_contacts")
    assert sorted(set(out["_line"])) == list(range(1, 9))
    got = {line: records(out, line) for line in range(1, 9)}
    assert got == {
        1: [("suppression", "unsubscribe", "marketing")],
        2: [("suppression", "unsubscribe", "list:4550521")],
        3: [("suppression", "hard_bounce", None)],
        4: [("suppression", "invalid", None)],
        5: [("ignored", None, None)],
        6: [("suppression", "spam_complaint", None)],
        7: [("suppression", None, "marketing")],
        8: [("suppression", "invalid", None), ("suppression", "unsubscribe", "list:7654321")],
    }
    rows = {r["_line"]: r for r in out.iter_rows(named=True)}
    assert rows[3]["detail"] == "Email hard bounce reason: UNKNOWN_USER"
    assert rows[7]["status"] == "pending"
    assert rows[1]["raw_address"] == "api.optout@example.com"
    assert rows[6]["detail"] == "hs_email_quarantined: true; quarantine reason: RECIPIENT_COMPLAINT"


# A contact export without any email status property. Kept out of data/samples/: the samples load in
# one run without --reason, and this export is refused without one.
NO_STATUS = """Record ID,First Name,Last Name,Email,Lifecycle Stage,Contact owner
301,Pat,Doe,pat@example.com,lead,Owner One
302,,,Chris@Example.org,customer,
303,Sam,,sam@example.net,subscriber,Owner Two
"""


def test_contact_export_without_status_needs_a_reason(tmp_path):
    assert "contacts_without_status" in ADAPTER.needs_reason
    path = write(tmp_path, "hubspot_contacts_no_status.csv", NO_STATUS)
    out = run(path, tmp_path, "contacts_without_status", MapOptions(reason="manual"))
    assert out["raw_address"].to_list() == ["pat@example.com", "Chris@Example.org", "sam@example.net"]
    assert out["_line"].to_list() == [2, 3, 4]
    assert set(out["reason"]) == {"manual"} and set(out["event"]) == {"suppression"}
    unsub = run(path, tmp_path, "contacts_without_status", MapOptions(reason="unsubscribe"))
    assert set(unsub["scope"]) == {"marketing"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", ("suppression", "unsubscribe")),
        ("Yes", ("suppression", "unsubscribe")),
        ("1", ("suppression", "unsubscribe")),
        (" TRUE ", ("suppression", "unsubscribe")),
        ("false", ("ignored", None)),
        ("No", ("ignored", None)),
        ("0", ("ignored", None)),
        ("", ("ignored", None)),
        ("opted-out?", ("suppression", None)),
    ],
)
def test_boolean_values(tmp_path, value, expected):
    path = write(tmp_path, "contacts.csv", f'Record ID,Email,Unsubscribed from all email\n1,a@example.com,"{value}"\n')
    out = as_detected(ADAPTER, path, tmp_path, "contacts_export")
    assert out.select("event", "reason").rows() == [expected]


@pytest.mark.parametrize(
    ("why", "reason"),
    [("RECIPIENT_COMPLAINT", "spam_complaint"), ("UNDELIVERABLE_ADDRESS", "hard_bounce"),
     ("FORM_ABUSE", "manual"), ("HIGH_HARD_BOUNCE_RATE", "manual"), ("", "manual")],
)
def test_quarantine_reason(tmp_path, why, reason):
    path = write(tmp_path, "contacts.json",
                 '{"results": [{"id": "1", "properties": {"email": "q@example.com", "hs_email_quarantined": "true", '
                 f'"hs_email_quarantined_reason": "{why}"}}}}]}}')
    out = as_detected(ADAPTER, path, tmp_path, "api_contacts")
    assert out["reason"].to_list() == [reason]


def test_status_columns_absent_from_a_forced_kind_read_every_row_as_ignored(tmp_path):
    path = write(tmp_path, "contacts.csv", "Record ID,Email,Email address automated quarantine reason\n1,a@example.com,OTHER\n")
    table, probe = load(path, tmp_path)
    assert ADAPTER.detect(probe).kind == "contacts_without_status"  # a reason alone is no status
    out = ADAPTER.map(table.frame, probe, Match("contacts_export", 80, "forced"), MapOptions()).collect()
    assert out.select("_line", "event", "reason").rows() == [(2, "ignored", None)]


@pytest.mark.parametrize(
    ("name", "text", "kind"),
    [
        ("export.csv", "Email,Opted out of email: Weekly News\na@example.com,Yes\n", "contacts_export"),
        ("export.csv", "email,hs_email_optout_123\na@example.com,true\n", "api_contacts"),
        ("hubspot.csv", "Email,Lifecycle Stage\na@example.com,lead\n", "contacts_without_status"),
        ("export.csv", "Email,Lifecycle Stage,Create Date\na@example.com,lead,2024-01-01\n", None),
        ("export.csv", "Record ID,Unsubscribed from all email\n1,true\n", None),  # no address column
        ("export.csv", "email,created\na@example.com,1700000000\n", None),
    ],
)
def test_detection_on_small_files(tmp_path, name, text, kind):
    match = claim(ADAPTER, write(tmp_path, name, text), tmp_path)
    assert (match.kind if match else None) == kind


def test_subscription_type_scope_from_the_label():
    assert slug("One to One") == "one-to-one"
    assert slug(" Marketing Information ") == "marketing-information"
    assert slug("Product & Service Updates (EU)") == "product-service-updates-eu"


@pytest.mark.parametrize("path", other_files("hubspot", fixtures=False), ids=file_id)
def test_other_platforms_samples_are_not_claimed(tmp_path, path):
    never_outbids(ADAPTER, path, tmp_path)
