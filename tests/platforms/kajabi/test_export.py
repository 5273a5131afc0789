"""Kajabi adapter: a contacts export with Subscription Status (data/samples/kajabi), and the
status-less contacts and "Hard Bounced" segment exports (tests/fixtures/kajabi), which are refused
unless --reason is given."""
from __future__ import annotations

import pytest

from pipelines.platforms.base import MapOptions
from pipelines.platforms.kajabi.export import ADAPTER
from tests.conftest import SAMPLES
from tests.platforms.helpers import (
    FIXTURES,
    as_detected,
    by_line,
    claim,
    file_id,
    never_outbids,
    other_files,
    run_adapter,
    write,
)

DIR = SAMPLES / "kajabi"
STATUS = DIR / "kajabi_contacts_export_2024-05-01.csv"
CONTACTS = FIXTURES / "kajabi" / "kajabi_contacts.csv"
SEGMENT = FIXTURES / "kajabi" / "Hard Bounced - contacts export.csv"


def run(path, tmp_path, kind, reason=None):
    return run_adapter(ADAPTER, path, tmp_path, kind, MapOptions(reason=reason))


def test_subscription_status_vocabulary(tmp_path):
    out = run(STATUS, tmp_path, "subscription_status")
    rows = by_line(out)
    assert sorted(rows) == [2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15]  # line 9 is blank
    expected = {
        2: ("quinn@example.com", "ignored", None, None),  # Subscribed
        3: ("robin@example.org", "suppression", "unsubscribe", "marketing"),  # Unsubscribed (Opted out)
        4: ("Bounce.Back@Example.net", "suppression", "hard_bounce", None),  # Unsubscribed (Bounced)
        5: ("angry@example.com", "suppression", "spam_complaint", None),  # Unsubscribed (Marked spam)
        6: ("admin.removed@example.org", "suppression", "unsubscribe", "marketing"),
        7: ("never@example.net", "ignored", None, None),  # Never Subscribed
        8: ("plain.unsub@example.com", "suppression", "unsubscribe", "marketing"),
        10: ("hard.bounce@example.org", "suppression", "hard_bounce", None),  # Bounced
        11: ("spam.only@example.net", "suppression", "spam_complaint", None),  # Marked spam
        12: ("  Footer.Link@Example.com ", "suppression", "unsubscribe", "marketing"),  # `Opted out `
    }
    for line, want in expected.items():
        r = rows[line]
        assert (r["raw_address"], r["event"], r["reason"], r["scope"]) == want, line
    assert rows[4]["status"] == "Unsubscribed (Bounced)" and rows[12]["status"] == "Opted out"
    # Empty status: no information (missing_status), not "subscribed"; unknown status: not guessed.
    assert (rows[13]["event"], rows[13]["reason"], rows[13]["status"]) == ("suppression", None, None)
    assert (rows[14]["reason"], rows[14]["status"]) == (None, "Paused")
    assert rows[15]["raw_address"] == "N/A"  # junk: quarantined by the normalizer
    # Created At / Last Activity are not the time of the status change.
    assert out["occurred_raw"].null_count() == out.height


def test_contacts_without_status_need_a_reason(tmp_path):
    assert "contacts" in ADAPTER.needs_reason
    out = run(CONTACTS, tmp_path, "contacts", reason="unsubscribe")
    rows = by_line(out)
    assert sorted(rows) == [2, 3, 4, 6]
    assert set(out["reason"]) == {"unsubscribe"} and set(out["scope"]) == {"marketing"}
    assert set(out["event"]) == {"suppression"}
    assert rows[4]["raw_address"] == "Sam.Ng@Example.net"
    assert rows[6]["raw_address"] == "not-an-email"
    # Without --reason nothing is assumed: every reason stays null.
    bare = as_detected(ADAPTER, CONTACTS, tmp_path)
    assert bare["reason"].null_count() == bare.height


def test_hard_bounced_segment_is_evidence_but_needs_a_reason(tmp_path):
    assert "hard_bounced_segment" in ADAPTER.needs_reason
    out = run(SEGMENT, tmp_path, "hard_bounced_segment", reason="hard_bounce")
    assert out["raw_address"].to_list() == [
        "gone.mailbox@example.com", "Still.Subscribed@Example.org", " dead.domain@example.net ",
    ]
    assert set(out["reason"]) == {"hard_bounce"} and out["scope"].null_count() == 3
    assert out["_line"].to_list() == [2, 3, 4]
    assert out["detail"][0] == "Kajabi Hard Bounced segment (Hard Bounced - contacts export.csv)"


def test_segment_name_wins_over_a_status_column(tmp_path):
    # A hard-bounced contact may still be Subscribed: membership of the segment is the evidence.
    path = write(tmp_path, "hard_bounced_segment.csv", "ID,Email,Name,Subscription Status,Tags,Products\n1,a@example.com,A,Subscribed,,Course A\n")
    out = run(path, tmp_path, "hard_bounced_segment", reason="hard_bounce")
    assert out.select("event", "reason", "status").row(0) == ("suppression", "hard_bounce", "Subscribed")


def test_status_change_time_column_is_taken(tmp_path):
    path = write(tmp_path, "contacts.csv",
                 "ID,Email,Name,Subscription Status,Unsubscribed At,Products\n"
                 '1,a@example.com,A,Unsubscribed,2020-11-05 11:10:44 -0700,\n'
                 '2,b@example.com,B,Bounced,"Dec 19, 2021",\n')
    out = run(path, tmp_path, "subscription_status")
    assert out["occurred_raw"].to_list() == ["2020-11-05 11:10:44 -0700", "Dec 19, 2021"]


@pytest.mark.parametrize(
    "header",
    [
        "Email,First Name,Last Name,Tags",  # any CRM's contact list
        "Record ID,First Name,Last Name,Email,Lifecycle Stage",  # HubSpot
        "Email,Klaviyo ID,First Name,Last Name,Phone Number",  # Klaviyo segment
    ],
)
def test_other_contact_exports_are_not_kajabi(header, tmp_path):
    path = write(tmp_path, "hard_bounced.csv",
                 header + "\n" + ",".join("a@example.com" if "Email" == h else "x" for h in header.split(",")) + "\n")
    assert claim(ADAPTER, path, tmp_path) is None


@pytest.mark.parametrize("path", [CONTACTS, SEGMENT], ids=["contacts", "segment"])
def test_cli_refuses_status_less_exports_without_reason(path, cli):
    refused = cli("ingest", "--tenant", "t", "--json", path)
    assert refused.code == 3, refused.stderr
    assert "--reason" in refused.stderr and "kajabi" in refused.stderr
    loaded = cli("ingest", "--tenant", "t", "--json", "--reason", "hard_bounce", "--max-reject-rate", "0.5", path)
    assert loaded.code == 0, loaded.stderr
    assert loaded.json()["suppressions_added"] == 3


def test_cli_loads_the_status_export_without_reason(cli):
    result = cli("ingest", "--tenant", "t", "--json", "--max-reject-rate", "0.3", STATUS)
    assert result.code == 0, result.stderr
    s = result.json()
    assert s["rows_read"] == 13
    assert s["rows_rejected"] == 3  # empty status, unknown status, bad address
    assert s["suppressions_added"] == 8


@pytest.mark.parametrize("path", other_files("kajabi"), ids=file_id)
def test_never_outbids_the_adapter_that_claims_another_sample(path, tmp_path):
    never_outbids(ADAPTER, path, tmp_path)
