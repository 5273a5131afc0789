"""Enforcement (SPEC 3) through the CLI, on both stores: contacts blocked now and later, deletion
with a safety copy, explicit lifting, the soft-bounce policy and send-out planning."""
from __future__ import annotations

import csv
import io
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipelines.store import open_store

BOUNCES = "email,event,occurred_at,detail\n"


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def contacts_file(tmp_path: Path, rows: list[tuple], name: str = "contacts.csv") -> Path:
    lines = ["id,email,phone,first_name,marketing_consent"] + [",".join(r) for r in rows]
    return write(tmp_path / name, "\n".join(lines) + "\n")


def exported_contacts(cli, tenant="acme") -> dict[str, dict]:
    result = cli("contacts", "export", "--tenant", tenant)
    assert result.code == 0, result.stderr
    return {r["id"]: r for r in csv.DictReader(io.StringIO(result.stdout))}


def events(tmp_path: Path, rows: list[tuple[str, str, str]], name: str = "events.csv") -> Path:
    return write(tmp_path / name, "address,event,occurred_at\n" + "".join(f"{a},{e},{t}\n" for a, e, t in rows))


def ingest(cli, *paths, tenant="acme", **kw) -> dict:
    result = cli("ingest", "--tenant", tenant, "--json", "--default-region", "US", *paths)
    assert result.code == 0, result.stderr
    return result.json()


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Run in a temp directory: safety copies go to ./safety-exports there."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SUPPRESSION_SAFETY_DIR", raising=False)
    return tmp_path


def test_existing_contacts_are_blocked_by_a_load_and_new_ones_at_creation(cli, tmp_path):
    people = contacts_file(tmp_path, [
        ("c1", "Bounced@Example.com", "", "Ann", "subscribed"),
        ("c2", "leaver@example.com", "", "Ben", "subscribed"),
        ("c3", "fine@example.com", "+1 415 555 0100", "Cy", ""),
        ("c4", "", "(415) 555-0199", "Di", "subscribed"),
    ])
    first = cli("contacts", "import", "--tenant", "acme", "--default-region", "US", "--json", people)
    assert first.code == 0, first.stderr
    assert first.json()["contacts_created"] == 4 and first.json()["blocked_at_creation"] == 0

    exports = events(tmp_path, [
        ("bounced@example.com", "hard_bounce", "2024-03-01T10:00:00Z"),
        ("leaver@example.com", "unsubscribe", "2024-03-02T10:00:00Z"),
        ("+14155550199", "spam_complaint", "2024-03-03T10:00:00Z"),
        ("someone.else@example.com", "hard_bounce", "2024-03-04T10:00:00Z"),
    ])
    summary = ingest(cli, exports)
    assert summary["contacts_blocked"] == 3
    assert summary["contacts_blocked_by"] == {"email_suppressed": 1, "sms_suppressed": 1, "marketing_unsubscribed": 1}
    got = exported_contacts(cli)
    assert (got["c1"]["email_status"], got["c1"]["marketing_consent"]) == ("suppressed", "subscribed")
    assert (got["c2"]["email_status"], got["c2"]["marketing_consent"]) == ("active", "unsubscribed")
    assert (got["c3"]["email_status"], got["c3"]["sms_status"], got["c3"]["marketing_consent"]) == ("active", "active", "unknown")
    assert got["c4"]["sms_status"] == "suppressed"
    assert list(next(iter(got.values())))[:6] == ["id", "email", "phone", "email_status", "sms_status", "marketing_consent"]

    # A contact created after the load, with a suppressed address, is blocked at creation.
    later = contacts_file(tmp_path, [("c9", " SOMEONE.ELSE@example.com ", "", "Eve", "subscribed")], "later.csv")
    result = cli("contacts", "import", "--tenant", "acme", "--json", later).json()
    assert (result["contacts_created"], result["blocked_at_creation"]) == (1, 1)
    assert exported_contacts(cli)["c9"]["email_status"] == "suppressed"
    # ...and a file saying "subscribed" never gives consent back to an unsubscribed contact.
    again = contacts_file(tmp_path, [("c2", "leaver@example.com", "", "Ben", "subscribed")], "again.csv")
    cli("contacts", "import", "--tenant", "acme", again)
    assert exported_contacts(cli)["c2"]["marketing_consent"] == "unsubscribed"


def test_contact_rows_that_cannot_be_used_are_quarantined(cli, tmp_path):
    people = contacts_file(tmp_path, [
        ("c1", "ok@example.com", "", "A", ""),
        ("", "noid@example.com", "", "B", ""),
        ("c2", "not-an-email", "", "C", ""),
        ("c3", "x@example.com", "", "D", "maybe"),
        ("c1", "ok.again@example.com", "", "E", ""),
        ("c4", "", "", "F", ""),
    ])
    s = cli("contacts", "import", "--tenant", "acme", "--json", people).json()
    assert (s["rows_read"], s["rows_accepted"], s["rows_rejected"]) == (6, 1, 5)
    assert s["rejects_by_error"] == {"missing_id": 1, "missing_at": 1, "unknown_consent": 1, "duplicate_id": 1,
                                     "empty_address": 1}
    rejects = list(csv.DictReader(io.StringIO(cli("rejects", s["run_id"], "--format", "csv").stdout)))
    assert {(r["line"], r["error"]) for r in rejects} == {
        ("2", "duplicate_id"), ("3", "missing_id"), ("4", "missing_at"), ("5", "unknown_consent"), ("7", "empty_address")}
    assert exported_contacts(cli)["c1"]["email"] == "ok.again@example.com"  # the last row of an id wins
    assert json.loads(exported_contacts(cli)["c1"]["attributes"]) == {"first_name": "E"}


def test_delete_keeps_the_block_as_a_hash_and_a_reimport_needs_double_opt_in(cli, tmp_path, in_tmp):
    ingest(cli, events(tmp_path, [("gone@example.com", "hard_bounce", "2024-01-05T00:00:00Z"),
                                  ("gone@example.com", "unsubscribe", "2024-01-06T00:00:00Z")]))
    people = contacts_file(tmp_path, [("c1", "gone@example.com", "", "Gus", "subscribed"),
                                      ("c2", "stay@example.com", "", "Sue", "subscribed")])
    cli("contacts", "import", "--tenant", "acme", people)

    refused = cli("contacts", "delete", "--tenant", "acme", "c1")  # no terminal, no --yes
    assert refused.code == 2 and "--yes" in refused.stderr
    unknown = cli("contacts", "delete", "--tenant", "acme", "--yes", "c1", "nope")
    assert unknown.code == 1 and "nope" in unknown.stderr
    assert set(exported_contacts(cli)) == {"c1", "c2"}

    before = datetime.now(UTC)
    result = cli("contacts", "delete", "--tenant", "acme", "--yes", "--json", "c1")
    assert result.code == 0, result.stderr
    done = result.json()
    assert (done["contacts_deleted"], done["addresses_hashed"]) == (1, 1)
    safety = Path(done["safety_export"])
    assert safety.parent == in_tmp / "safety-exports"
    (row,) = list(csv.DictReader(safety.open()))
    assert (row["id"], row["email"], row["email_status"], row["marketing_consent"]) == (
        "c1", "gone@example.com", "suppressed", "unsubscribed")
    expires = datetime.fromisoformat(done["expires_at"])
    assert timedelta(days=3) <= expires - before < timedelta(days=3, minutes=5)
    assert datetime.fromisoformat(row["expires_at"]) == expires
    assert oct(safety.stat().st_mode & 0o777) == "0o600"

    assert set(exported_contacts(cli)) == {"c2"}
    exported = list(csv.DictReader(io.StringIO(cli("export", "--tenant", "acme").stdout)))
    assert {r["address"] for r in exported} == {""}  # no plain address is stored any more
    assert all(len(r["address_hash"]) == 64 for r in exported)
    with open_store(str(cli.store)) as st:
        stored = st.con.execute("SELECT count(*) FROM suppression_lineage WHERE address = 'gone@example.com'").fetchall()
    assert stored == [(0,)]
    check = cli("check", "--tenant", "acme", "--json", "Gone@Example.com").json()
    assert check[0]["suppressed"] and check[0]["reasons"] == ["hard_bounce", "unsubscribe"]

    # Re-imported, the contact restores nothing: blocked and waiting for double opt-in.
    cli("contacts", "import", "--tenant", "acme", contacts_file(tmp_path, [("c7", "gone@example.com", "", "Gus", "subscribed")], "re.csv"))
    back = exported_contacts(cli)["c7"]
    assert (back["email_status"], back["marketing_consent"]) == ("suppressed", "unsubscribed")
    # An import of the same old export matches the hashed suppressions: nothing new, no plain address.
    again = ingest(cli, events(tmp_path, [("gone@example.com", "hard_bounce", "2024-01-05T00:00:00Z")], "old.csv"))
    assert (again["suppressions_added"], again["suppressions_updated"]) == (0, 0)
    assert {r["address"] for r in csv.DictReader(io.StringIO(cli("export", "--tenant", "acme").stdout))} == {""}

    # The safety copy is removed once expired, not before.
    assert cli("maintenance", "--json").json()["safety_exports_removed"] == []
    with open_store(str(cli.store)) as st:
        from pipelines.enforce import maintenance

        result = maintenance(st, now=expires + timedelta(seconds=1))
    assert result["safety_exports_removed"] == [str(safety)] and not safety.exists()


def test_reimport_of_a_deleted_contact_without_other_blocks_is_pending_double_opt_in(cli, tmp_path, in_tmp):
    ingest(cli, events(tmp_path, [("moved@example.com", "soft_bounce", "2024-01-05T00:00:00Z")]))
    cli("contacts", "import", "--tenant", "acme", contacts_file(tmp_path, [("c1", "moved@example.com", "", "M", "subscribed")]))
    assert cli("contacts", "delete", "--tenant", "acme", "--yes", "c1").code == 0
    cli("contacts", "import", "--tenant", "acme", contacts_file(tmp_path, [("c1", "moved@example.com", "", "M", "subscribed")], "b.csv"))
    back = exported_contacts(cli)["c1"]
    assert (back["email_status"], back["marketing_consent"]) == ("active", "pending_double_opt_in")
    plan = cli("audience", "--tenant", "acme", "--purpose", "marketing", "--contacts", "--json").json()
    assert plan["sendable"] == 0 and plan["removed"] == {"consent_pending_double_opt_in": 1}
    transactional = cli("audience", "--tenant", "acme", "--purpose", "transactional", "--contacts", "--json").json()
    assert transactional["sendable"] == 1


def test_purge_hard_bounced_segment(cli, tmp_path, in_tmp):
    ingest(cli, events(tmp_path, [("dead1@example.com", "hard_bounce", "2024-01-05T00:00:00Z"),
                                  ("dead2@example.com", "hard_bounce", "2024-01-05T00:00:00Z"),
                                  ("bye@example.com", "unsubscribe", "2024-01-05T00:00:00Z")]))
    cli("contacts", "import", "--tenant", "acme", contacts_file(tmp_path, [
        ("a", "dead1@example.com", "", "A", ""), ("b", "dead2@example.com", "", "B", ""),
        ("c", "bye@example.com", "", "C", ""), ("d", "alive@example.com", "", "D", "")]))
    result = cli("contacts", "purge", "--tenant", "acme", "--segment", "hard_bounced", "--yes", "--json",
                 "--export-dir", in_tmp / "copies")
    assert result.code == 0, result.stderr
    done = result.json()
    assert done["contacts_deleted"] == 2 and Path(done["safety_export"]).parent == in_tmp / "copies"
    assert sorted(r["id"] for r in csv.DictReader(open(done["safety_export"]))) == ["a", "b"]
    assert set(exported_contacts(cli)) == {"c", "d"}
    bad = cli("contacts", "purge", "--tenant", "acme", "--segment", "everyone", "--yes")
    assert bad.code == 2


def test_lifting_is_explicit_and_audited(cli, tmp_path):
    first = ingest(cli, events(tmp_path, [("back@example.com", "unsubscribe", "2024-01-05T00:00:00Z"),
                                          ("typo@example.com", "hard_bounce", "2024-01-05T00:00:00Z")]))
    cli("contacts", "import", "--tenant", "acme", contacts_file(tmp_path, [("c1", "back@example.com", "", "B", ""),
                                                                          ("c2", "typo@example.com", "", "T", "")]))
    # A resubscribe needs double opt-in evidence, and an unblock a reason.
    assert cli("resubscribe", "--tenant", "acme", "back@example.com", "--confirmed-at", "2024-02-01T09:00:00Z",
               "--evidence", " ").code == 2
    assert cli("resubscribe", "--tenant", "acme", "back@example.com", "--confirmed-at", "yesterday",
               "--evidence", "doi-1").code == 2
    assert cli("resubscribe", "--tenant", "acme", "typo@example.com", "--confirmed-at", "2024-02-01T09:00:00Z",
               "--evidence", "doi-1").code == 1  # not an unsubscribe: that is unblock's job
    done = cli("resubscribe", "--tenant", "acme", "back@example.com", "--confirmed-at", "2024-02-01T09:00:00Z",
               "--evidence", "doi-4711", "--json")
    assert done.code == 0, done.stderr
    assert done.json()["lifted"] == [{"reason": "unsubscribe", "scope": "marketing"}]
    assert exported_contacts(cli)["c1"]["marketing_consent"] == "subscribed"
    assert cli("check", "--tenant", "acme", "--json", "back@example.com").json()[0]["suppressed"] is False

    assert cli("unblock", "--tenant", "acme", "typo@example.com", "--reason", "").code == 2
    unblocked = cli("unblock", "--tenant", "acme", "typo@example.com", "--reason", "address fixed, ticket 42", "--json")
    assert unblocked.code == 0 and unblocked.json()["contacts_changed"] == 1
    assert exported_contacts(cli)["c2"]["email_status"] == "active"

    with open_store(str(cli.store)) as st:
        audit = st.con.execute(
            "SELECT address, reason, action, detail FROM suppression_events "
            "WHERE action IN ('resubscribed', 'unblocked') ORDER BY address").fetchall()
    assert audit[0][:3] == ("back@example.com", "unsubscribe", "resubscribed")
    assert json.loads(audit[0][3]) == {"confirmed_at": "2024-02-01T09:00:00+00:00", "evidence": "doi-4711"}
    assert audit[1] == ("typo@example.com", "hard_bounce", "unblocked", "address fixed, ticket 42")

    # Re-running the old export (evidence older than the lift) lifts nothing back on...
    forced = cli("ingest", "--tenant", "acme", "--json", "--force", tmp_path / "events.csv").json()
    assert (forced["suppressions_added"], forced["suppressions_updated"]) == (0, 0)
    assert cli("check", "--tenant", "acme", "--json", "back@example.com").json()[0]["suppressed"] is False
    # ...but a newer unsubscribe suppresses the address again.
    newer = ingest(cli, events(tmp_path, [("back@example.com", "unsubscribe", "2024-03-01T00:00:00Z")], "new.csv"))
    assert newer["suppressions_updated"] == 1 and newer["contacts_blocked"] == 1
    assert cli("check", "--tenant", "acme", "--json", "back@example.com").json()[0]["suppressed"] is True
    assert first["status"] == "succeeded"


def soft_bounces(n: int, start: datetime, address="flaky@example.com") -> list[tuple[str, str, str]]:
    return [(address, "soft_bounce", (start + timedelta(days=i)).isoformat()) for i in range(n)]


def test_ten_consecutive_soft_bounces_block(cli, tmp_path):
    start = datetime(2024, 1, 1, tzinfo=UTC)
    cli("contacts", "import", "--tenant", "acme", contacts_file(tmp_path, [("c1", "flaky@example.com", "", "F", "")]))
    nine = ingest(cli, events(tmp_path, soft_bounces(9, start), "nine.csv"))
    assert nine["soft_bounce_blocks"] == 0
    # The same nine again, and an overlapping export of five of them: still nine, not 23.
    again = cli("ingest", "--tenant", "acme", "--json", "--force", tmp_path / "nine.csv").json()
    overlap = ingest(cli, events(tmp_path, soft_bounces(5, start + timedelta(days=4)), "overlap.csv"))
    assert again["soft_bounce_blocks"] == overlap["soft_bounce_blocks"] == 0
    assert cli("check", "--tenant", "acme", "--json", "flaky@example.com").json()[0]["suppressed"] is False
    tenth = ingest(cli, events(tmp_path, soft_bounces(1, start + timedelta(days=20)), "tenth.csv"))
    assert tenth["soft_bounce_blocks"] == 1 and tenth["contacts_blocked"] == 1
    check = cli("check", "--tenant", "acme", "--json", "flaky@example.com").json()[0]
    assert check["suppressed"] is True and "hard_bounce" in check["reasons"]
    assert exported_contacts(cli)["c1"]["email_status"] == "suppressed"


def test_rolling_back_one_of_two_overlapping_nights_keeps_the_block_the_other_holds_up(cli, tmp_path):
    """Nightly windows overlap: night 2 brings again most of night 1's soft bounces."""
    start = datetime(2024, 1, 1, tzinfo=UTC)
    night1 = ingest(cli, events(tmp_path, soft_bounces(10, start), "night1.csv"))
    night2 = ingest(cli, events(tmp_path, soft_bounces(11, start + timedelta(days=1)), "night2.csv"))
    assert (night1["soft_bounce_blocks"], night2["soft_bounce_blocks"]) == (1, 0)  # blocked once
    assert cli("rollback", night1["run_id"]).code == 0
    assert cli("check", "--tenant", "acme", "--json", "flaky@example.com").json()[0]["suppressed"] is True
    assert cli("rollback", night2["run_id"]).code == 0  # now no evidence is left
    assert cli("check", "--tenant", "acme", "--json", "flaky@example.com").json()[0]["suppressed"] is False


def test_soft_bounces_without_a_time_count_one_per_line(cli, tmp_path):
    rows = [("undated@example.com", "soft_bounce", "")] * 10
    summary = ingest(cli, events(tmp_path, rows))
    assert summary["soft_bounce_blocks"] == 1
    again = cli("ingest", "--tenant", "acme", "--json", "--force", tmp_path / "events.csv").json()
    assert again["soft_bounce_blocks"] == 0


def test_a_delivery_resets_the_count_and_sms_never_blocks(cli, tmp_path):
    start = datetime(2024, 1, 1, tzinfo=UTC)
    rows = soft_bounces(9, start) + [("flaky@example.com", "delivered", (start + timedelta(days=9, hours=1)).isoformat())]
    rows += soft_bounces(9, start + timedelta(days=10))
    rows += soft_bounces(12, start, address="+14155550123")
    summary = ingest(cli, events(tmp_path, rows))
    assert summary["soft_bounce_blocks"] == 0 and summary["deliveries"] == 1
    check = cli("check", "--tenant", "acme", "--json", "flaky@example.com", "+14155550123").json()
    assert [c["suppressed"] for c in check] == [False, False]
    # The 19th soft bounce overall is the 10th since the delivery.
    ingest(cli, events(tmp_path, soft_bounces(1, start + timedelta(days=30)), "more.csv"))
    assert cli("check", "--tenant", "acme", "--json", "flaky@example.com").json()[0]["suppressed"] is True


def test_threshold_is_per_tenant_and_historic_counts_count(cli, tmp_path):
    assert cli("settings", "--tenant", "acme", "--soft-bounce-threshold", "3").code == 0
    assert cli("settings", "--tenant", "acme", "--json").json()["soft_bounce_threshold"] == "3"
    assert cli("settings", "--tenant", "globex", "--json").json()["soft_bounce_threshold"] == "10"
    rows = soft_bounces(3, datetime(2024, 1, 1, tzinfo=UTC))
    assert ingest(cli, events(tmp_path, rows), tenant="globex")["soft_bounce_blocks"] == 0
    assert ingest(cli, events(tmp_path, rows), tenant="acme")["soft_bounce_blocks"] == 1

    # A previous platform's counter (ActiveCampaign's bounced_soft) is the state at its time.
    counter = write(tmp_path / "activecampaign_contacts_lists.csv",
                    "email,bounced_hard,bounced_soft,bounced_date,list_id,list_status,unsubreason,udate\n"
                    "heavy@example.com,0,8,2024-05-01,3,1,,2024-05-01 06:00:00\n")
    summary = ingest(cli, counter, tenant="globex")
    assert summary["soft_bounce_events"] == 1 and summary["soft_bounce_blocks"] == 0
    two_more = soft_bounces(2, datetime(2024, 5, 2, tzinfo=UTC), address="heavy@example.com")
    assert ingest(cli, events(tmp_path, two_more, "two.csv"), tenant="globex")["soft_bounce_blocks"] == 1


def test_two_contacts_sharing_an_address_get_one_send(cli, tmp_path):
    ingest(cli, events(tmp_path, [("bye@example.com", "unsubscribe", "2024-01-05T00:00:00Z"),
                                  ("dead@example.com", "hard_bounce", "2024-01-05T00:00:00Z")]))
    cli("contacts", "import", "--tenant", "acme", contacts_file(tmp_path, [
        ("c1", "shared@example.com", "", "Pat", ""), ("c2", "Shared@Example.com", "", "Sam", ""),
        ("c3", "bye@example.com", "", "Bo", ""), ("c4", "dead@example.com", "", "Di", ""),
        ("c5", "", "+14155550100", "Ed", "")]))
    marketing = cli("audience", "--tenant", "acme", "--purpose", "marketing", "--contacts", "--json")
    assert marketing.code == 0, marketing.stderr
    assert marketing.json() | {"output": None} == {
        "tenant": "acme", "purpose": "marketing", "channel": "email", "list": None, "recipients_in": 5, "sendable": 1,
        "removed": {"hard_bounce": 1, "unsubscribe": 1, "invalid_address": 1}, "duplicates": 1, "output": None}
    transactional = cli("audience", "--tenant", "acme", "--purpose", "transactional", "--contacts").stdout
    assert sorted(r["address"] for r in csv.DictReader(io.StringIO(transactional))) == ["bye@example.com",
                                                                                        "shared@example.com"]

    # A file audience: the same rules, each normalized address once, other columns kept.
    audience = write(tmp_path / "audience.csv", "email,name\n=cmd@example.com,Eve\nbye@example.com,Bo\n"
                     "shared@example.com,Pat\nSHARED@example.com ,Pat again\nnot-an-address,X\n")
    out = tmp_path / "send.csv"
    plan = cli("audience", "--tenant", "acme", "--purpose", "marketing", "--output", out, "--json", audience).json()
    assert (plan["sendable"], plan["duplicates"], plan["removed"]) == (2, 1, {"unsubscribe": 1, "invalid_address": 1})
    # `=` is legal in a local part; in the CSV it is guarded so a spreadsheet does not run it.
    assert [(r["email"], r["name"], r["address"]) for r in csv.DictReader(out.open())] == [
        ("'=cmd@example.com", "Eve", "'=cmd@example.com"), ("shared@example.com", "Pat", "shared@example.com")]


def test_rollback_of_a_run_gives_its_contact_changes_back(cli, tmp_path):
    cli("contacts", "import", "--tenant", "acme", contacts_file(tmp_path, [("c1", "x@example.com", "", "X", "subscribed")]))
    run = ingest(cli, events(tmp_path, [("x@example.com", "hard_bounce", "2024-01-05T00:00:00Z"),
                                        ("x@example.com", "unsubscribe", "2024-01-05T00:00:00Z")]))
    got = exported_contacts(cli)["c1"]
    assert (got["email_status"], got["marketing_consent"]) == ("suppressed", "unsubscribed")
    result = cli("rollback", run["run_id"], "--json").json()
    assert result["contacts_changed"] == 1
    got = exported_contacts(cli)["c1"]
    assert (got["email_status"], got["marketing_consent"]) == ("active", "subscribed")


def test_the_contacts_safety_dir_comes_from_the_environment(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("SUPPRESSION_SAFETY_DIR", str(tmp_path / "vault"))
    cli("contacts", "import", "--tenant", "acme", contacts_file(tmp_path, [("c1", "a@example.com", "", "A", "")]))
    done = cli("contacts", "delete", "--tenant", "acme", "--yes", "--json", "c1").json()
    assert Path(done["safety_export"]).parent == tmp_path / "vault"
    assert os.listdir(tmp_path / "vault") == [Path(done["safety_export"]).name]


def test_a_confirmation_older_than_the_unsubscribe_is_refused(cli, tmp_path):
    ingest(cli, events(tmp_path, [("late@example.com", "unsubscribe", "2024-06-01T00:00:00Z")]))
    old = cli("resubscribe", "--tenant", "acme", "late@example.com", "--confirmed-at", "2023-01-01T00:00:00Z",
              "--evidence", "doi-1")
    assert old.code == 1 and "not after the unsubscribe" in old.stderr
    assert cli("check", "--tenant", "acme", "--json", "late@example.com").json()[0]["suppressed"] is True


def test_double_opt_in_after_a_deletion_sticks(cli, tmp_path, in_tmp):
    """A re-created contact waits for double opt-in; `resubscribe` confirms it even with no
    unsubscribe to lift, and later routine imports neither undo that nor touch other contacts."""
    people = contacts_file(tmp_path, [("a", "shared@example.com", "", "A", "subscribed"),
                                      ("b", "shared@example.com", "", "B", "subscribed")])
    cli("contacts", "import", "--tenant", "acme", people)
    assert cli("contacts", "delete", "--tenant", "acme", "--yes", "a").code == 0
    cli("contacts", "import", "--tenant", "acme", contacts_file(tmp_path, [("a", "shared@example.com", "", "A", "subscribed")], "re.csv"))
    got = exported_contacts(cli)
    assert (got["a"]["marketing_consent"], got["b"]["marketing_consent"]) == ("pending_double_opt_in", "subscribed")
    confirmed = cli("resubscribe", "--tenant", "acme", "shared@example.com", "--confirmed-at", "2026-01-02T00:00:00Z",
                    "--evidence", "doi-9", "--json")
    assert confirmed.code == 0, confirmed.stderr
    assert confirmed.json()["lifted"] == [] and confirmed.json()["contacts_changed"] == 1
    cli("contacts", "import", "--tenant", "acme", people)  # the routine nightly contacts export again
    got = exported_contacts(cli)
    assert (got["a"]["marketing_consent"], got["b"]["marketing_consent"]) == ("subscribed", "subscribed")
    with open_store(str(cli.store)) as st:
        audit = st.con.execute("SELECT action FROM suppression_events WHERE action = 'double_opt_in_confirmed'").fetchall()
    assert audit == [("double_opt_in_confirmed",)]


def test_deleting_a_contact_leaves_its_address_nowhere_in_plain_text(cli, tmp_path, in_tmp):
    secret = "zoe.private@example.com"
    export = write(tmp_path / "bounces.csv", "address,event,occurred_at,detail\n"
                   f"{secret},hard_bounce,2024-01-01T00:00:00Z,550 5.1.1 <Zoe.Private@Example.com> user unknown\n"
                   f"{secret},soft_bounce,2024-01-02T00:00:00Z,452 4.2.2 mailbox of {secret} full\n"
                   f"{secret},maybe_bounced,2024-01-03T00:00:00Z,\n"
                   "other@example.com,hard_bounce,2024-01-01T00:00:00Z,550\n")
    ingest(cli, "--max-reject-rate", "0.5", export)
    cli("contacts", "import", "--tenant", "acme", contacts_file(tmp_path, [("z", secret, "", "Zoe", ""),
                                                                          ("z", "zoe.private@example.com x", "", "dup", "")]))
    assert cli("contacts", "delete", "--tenant", "acme", "--yes", "z").code == 0
    with open_store(str(cli.store)) as st:
        tables = [t for (t,) in st.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema IN ('main', 'public') "
            "AND table_type = 'BASE TABLE'").fetchall()]
        found = {}
        for table in tables:
            text = "::VARCHAR" if st.dialect == "duckdb" else "::text"
            rows = st.con.execute(f"SELECT count(*) FROM {table} t WHERE lower(t{text}) LIKE "
                                  + ("?" if st.dialect == "duckdb" else "%s"), [f"%{secret}%"]).fetchall()
            if rows[0][0]:
                found[table] = rows[0][0]
    assert found == {}
    assert cli("check", "--tenant", "acme", "--json", secret).json()[0]["suppressed"] is True


def test_one_opted_out_contact_speaks_for_its_address(cli, tmp_path):
    cli("contacts", "import", "--tenant", "acme", contacts_file(tmp_path, [
        ("a", "pat@example.com", "", "A", "unsubscribed"), ("b", "Pat@Example.com", "", "B", "subscribed")]))
    plan = cli("audience", "--tenant", "acme", "--purpose", "marketing", "--contacts", "--json").json()
    # The address is counted once (removed); the second contact of it is a duplicate (SPEC 3).
    assert (plan["sendable"], plan["removed"], plan["duplicates"]) == (0, {"consent_unsubscribed": 1}, 1)


def test_a_contacts_file_with_some_columns_keeps_the_others(cli, tmp_path):
    cli("contacts", "import", "--tenant", "acme", contacts_file(tmp_path, [("c1", "keep@example.com", "+14155550100", "Kim", "")]))
    write(tmp_path / "phones.csv", "id,phone,city\nc1,+14155550111,Oslo\n")
    assert cli("contacts", "import", "--tenant", "acme", tmp_path / "phones.csv").code == 0
    got = exported_contacts(cli)["c1"]
    assert (got["email"], got["phone"]) == ("keep@example.com", "+14155550111")
    assert json.loads(got["attributes"]) == {"first_name": "Kim", "city": "Oslo"}
