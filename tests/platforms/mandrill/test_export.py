"""Mandrill (Mailchimp Transactional) adapter on data/samples/mandrill: the UI denylist CSV (header
text uncertain, also headerless) and the API rejects/list JSON, detected against every registered
adapter and mapped to reasons, scopes, details and lines."""
from __future__ import annotations

from functools import partial

import pytest

from pipelines.platforms.mandrill.export import ADAPTER
from tests.conftest import SAMPLES
from tests.platforms.helpers import by_line, claim, file_id, never_outbids, other_files, run_adapter, write

DIR = SAMPLES / "mandrill"
run = partial(run_adapter, ADAPTER)


def test_denylist_csv(tmp_path):
    out = run(DIR / "mandrill_rejection_denylist.csv", tmp_path, "denylist")
    rows = by_line(out)
    assert sorted(rows) == [2, 3, 4, 5, 7, 8, 9, 10, 11]  # line 6 is blank
    expected = {
        2: ("gone@example.com", "hard_bounce", None, "hard-bounce"),
        3: ("busy@example.org", "soft_bounce", None, "soft-bounce"),
        4: ("Complainer@Example.net", "spam_complaint", None, "spam"),
        5: ("leaver@example.com", "unsubscribe", "marketing", "unsub"),  # `unsub ` trimmed
        7: ("blocked.by.us@example.org", "manual", None, "custom"),
        8: ("old.bounce@example.net", "hard_bounce", None, "hard-bounce"),
        9: ("not-an-email", "hard_bounce", None, "hard-bounce"),
        11: ('"Lee Park" <lee.park@example.com>', "unsubscribe", "marketing", "unsub"),
    }
    for line, want in expected.items():
        r = rows[line]
        assert (r["raw_address"], r["reason"], r["scope"], r["status"]) == want, line
    # A send-time reject reason is not a denylist reason: unknown, not guessed.
    assert (rows[10]["reason"], rows[10]["status"]) == (None, "rule")
    assert rows[2]["detail"] == "550 5.1.1 <gone@example.com>: Recipient address rejected: User unknown"
    # Expired entries are kept as evidence, flagged in the detail.
    assert rows[3]["detail"] == "452 4.2.2 mailbox full; expired"
    assert rows[8]["detail"] == "550 5.1.2 Host unknown; expired"
    assert rows[5]["detail"] == "Unsubscribed via link; subaccount: newsletters"
    assert rows[4]["detail"] is None
    assert rows[2]["occurred_raw"] == "2023-05-01 10:00:00"
    assert set(out["event"]) == {"suppression"}


def test_rejects_api_json(tmp_path):
    out = run(DIR / "rejects_list.json", tmp_path, "rejects_api")
    got = {r["raw_address"]: (r["reason"], r["scope"]) for r in out.iter_rows(named=True)}
    assert got == {
        "api.gone@example.com": ("hard_bounce", None),
        "API.Full@Example.org": ("soft_bounce", None),
        "api.spam@example.net": ("spam_complaint", None),
        "api.unsub@example.com": ("unsubscribe", "marketing"),
        "api.custom@example.org": ("manual", None),
        "api.expired@example.com": ("hard_bounce", None),
    }
    rows = by_line(out)
    assert rows[2]["detail"] == "452 4.2.2 Over quota; expired; sender: news@sender.example.com"
    assert rows[3]["detail"] == "subaccount: transactional-eu"
    assert rows[6]["detail"] == "550 5.1.1 user unknown; expired"
    assert rows[1]["detail"].endswith("does not exist")  # expires in 2034: not expired
    assert rows[1]["occurred_raw"] == "2024-01-10 10:00:00"


def test_headerless_export_by_position(tmp_path):
    path = write(tmp_path, "export.csv",
                 "gone@example.com,hard-bounce,550 5.1.1 user unknown,2023-05-01 10:00:00,2033-05-01 10:00:00,2023-05-01 10:00:00,,sub-a\n"
                 "busy@example.org,soft-bounce,452 4.2.2 full,2023-06-01 10:00:00,2023-06-02 10:00:00,2023-06-01 10:00:00,,\n")
    out = run(path, tmp_path, "denylist")
    assert out["reason"].to_list() == ["hard_bounce", "soft_bounce"]
    assert out["detail"].to_list() == ["550 5.1.1 user unknown; subaccount: sub-a", "452 4.2.2 full; expired"]
    assert out["_line"].to_list() == [1, 2]


def test_two_column_list_with_mandrill_reasons_beats_the_plain_list(tmp_path):
    out = run(write(tmp_path, "list.csv", "email,reason\na@example.com,hard-bounce\nb@example.com,unsub\n"), tmp_path, "denylist")
    assert out["reason"].to_list() == ["hard_bounce", "unsubscribe"]


@pytest.mark.parametrize(
    "text",
    [
        "email,reason\na@example.com,hard_bounce\n",  # generic spelling
        "email,reason,timestamp,scope\na@example.com,HARD_BOUNCE,2024-01-01,global\n",  # Klaviyo
        "email,reason\na@example.com,spam\n",  # nothing Mandrill's own
        "address,reason,expires_at\na@example.com,hard-bounce,2030-01-01 00:00:00\n",  # first column not email
    ],
)
def test_other_lists_are_not_mandrill(text, tmp_path):
    assert claim(ADAPTER, write(tmp_path, "list.csv", text), tmp_path) is None


@pytest.mark.parametrize("path", other_files("mandrill"), ids=file_id)
def test_never_outbids_the_adapter_that_claims_another_sample(path, tmp_path):
    never_outbids(ADAPTER, path, tmp_path)
