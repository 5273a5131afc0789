"""`suppress audience` counts duplicates by one rule for every purpose: an address is normalized
first, and every later occurrence of a normalized address already seen is a `duplicate`, whatever
happened to the first one. Each address is counted once, as sendable or removed, so
`sendable + sum(removed) + duplicates == recipients_in`."""
from __future__ import annotations

import csv
import io

import pytest

from tests.test_enforcement import contacts_file, events, ingest, write

# Eight recipients: an unsubscribed address twice (case differs), a hard-bounced one twice, a clean
# one twice (a stray space), and two that are not addresses at all.
AUDIENCE = ("email,name\n"
            "Bye@Example.com,Bo\n"
            "bye@example.com,Bo again\n"
            "dead@example.com,Di\n"
            "DEAD@example.com,Di again\n"
            "ok@example.com,Kim\n"
            " ok@example.com,Kim again\n"
            "not-an-address,X\n"
            "also-bad@,Y\n")


@pytest.fixture
def suppressed(cli, tmp_path):
    ingest(cli, events(tmp_path, [("bye@example.com", "unsubscribe", "2024-01-05T00:00:00Z"),
                                  ("dead@example.com", "hard_bounce", "2024-01-05T00:00:00Z")]))


def plan(cli, tmp_path, purpose: str) -> tuple[dict, list[dict]]:
    out = tmp_path / f"{purpose}.csv"
    result = cli("audience", "--tenant", "acme", "--purpose", purpose, "--output", out, "--json",
                 write(tmp_path / "audience.csv", AUDIENCE))
    assert result.code == 0, result.stderr
    return result.json(), list(csv.DictReader(out.open()))


def test_marketing_counts_a_case_duplicate_of_a_removed_address_as_a_duplicate(cli, tmp_path, suppressed):
    summary, rows = plan(cli, tmp_path, "marketing")
    # bye: removed once (unsubscribe) + 1 duplicate; dead: removed once + 1 duplicate; ok: sent once + 1 duplicate
    assert (summary["recipients_in"], summary["sendable"], summary["duplicates"]) == (8, 1, 3)
    assert summary["removed"] == {"invalid_address": 2, "hard_bounce": 1, "unsubscribe": 1}
    assert summary["sendable"] + sum(summary["removed"].values()) + summary["duplicates"] == 8
    assert [(r["email"], r["name"], r["address"]) for r in rows] == [("ok@example.com", "Kim", "ok@example.com")]


def test_transactional_counts_the_same_duplicates(cli, tmp_path, suppressed):
    summary, rows = plan(cli, tmp_path, "transactional")
    # An unsubscribe does not block a transactional send: bye is sent once; its repeat is a duplicate.
    assert (summary["recipients_in"], summary["sendable"], summary["duplicates"]) == (8, 2, 3)
    assert summary["removed"] == {"invalid_address": 2, "hard_bounce": 1}
    assert summary["sendable"] + sum(summary["removed"].values()) + summary["duplicates"] == 8
    assert [(r["email"], r["name"], r["address"]) for r in rows] == [
        ("Bye@Example.com", "Bo", "bye@example.com"), ("ok@example.com", "Kim", "ok@example.com")]


@pytest.mark.parametrize(("purpose", "sendable", "removed"), [
    ("marketing", [], {"consent_unsubscribed": 1}),
    ("transactional", ["pat@example.com"], {}),
])
def test_contacts_sharing_an_opted_out_address(cli, tmp_path, purpose, sendable, removed):
    """Two contacts, one address: the one that opted out speaks for the address, which is counted
    once (removed for marketing, sent for transactional); the other contact is its duplicate."""
    cli("contacts", "import", "--tenant", "acme", contacts_file(tmp_path, [
        ("a", "pat@example.com", "", "A", "unsubscribed"), ("b", "Pat@Example.com", "", "B", "subscribed")]))
    result = cli("audience", "--tenant", "acme", "--purpose", purpose, "--contacts", "--json")
    assert result.code == 0, result.stderr
    summary = result.json()
    assert (summary["recipients_in"], summary["sendable"], summary["duplicates"], summary["removed"]) == (
        2, len(sendable), 1, removed)
    csv_out = cli("audience", "--tenant", "acme", "--purpose", purpose, "--contacts").stdout
    assert [r["address"] for r in csv.DictReader(io.StringIO(csv_out))] == sendable
