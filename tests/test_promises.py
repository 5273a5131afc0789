"""The promises users rely on most (issue "Every promise holds"), through the CLI on both stores:
list-scoped unsubscribes block marketing, rollbacks keep what other runs assert, a mistyped store
is refused, dry runs are marked, a missing time is counted, usage errors are one line and exit 2."""
from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli

MAILCHIMP_UNSUBSCRIBED = (
    '"Email Address","First Name",UNSUB_TIME,UNSUB_CAMPAIGN_TITLE,UNSUB_REASON,LEID,EUID\n'
    "ana.ruiz@example.com,Ana,2023-07-01 08:00:05,July Newsletter,no longer interested,1,a\n"
    "bo.chen@example.org,Bo,2022-11-30 17:45:00,,N/A (Unsubscribed by an admin),2,b\n"
)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def ingest(cli, *paths, tenant="acme", extra=()) -> dict:
    result = cli("ingest", "--tenant", tenant, "--json", *extra, *map(str, paths))
    assert result.code == 0, result.stderr
    return result.json()


def checked(cli, *addresses, purpose="marketing", send_list=None, tenant="acme") -> dict[str, bool]:
    args = ["check", "--tenant", tenant, "--json", "--purpose", purpose, *addresses]
    if send_list:
        args += ["--list", send_list]
    result = cli(*args)
    assert result.code == 0, result.stderr
    return {r["input"]: r["suppressed"] for r in result.json()}


def exported(cli, tenant="acme") -> set[tuple[str, str, str]]:
    result = cli("export", "--tenant", tenant)
    assert result.code == 0, result.stderr
    return {(r["address"], r["reason"], r["scope"]) for r in csv.DictReader(io.StringIO(result.stdout))}


# -- 1. list-scoped unsubscribes ---------------------------------------------------------------


def test_a_migrated_audience_unsubscribe_blocks_all_marketing_but_no_transactional_mail(cli, tmp_path):
    export = write(tmp_path / "unsubscribed_email_audience_export_a1b2c3d4e5.csv", MAILCHIMP_UNSUBSCRIBED)
    summary = ingest(cli, export)
    assert {(r["reason"], r["scope"]) for r in summary["by_reason"]} == {("unsubscribe", "list:a1b2c3d4e5")}
    assert checked(cli, "bo.chen@example.org", "ana.ruiz@example.com", "new@example.com") == {
        "bo.chen@example.org": True, "ana.ruiz@example.com": True, "new@example.com": False}
    assert checked(cli, "bo.chen@example.org", purpose="transactional") == {"bo.chen@example.org": False}

    audience = write(tmp_path / "audience.csv", "email\nBo.Chen@example.org\nnew@example.com\n")
    result = cli("audience", "--tenant", "acme", "--purpose", "marketing", "--json", str(audience))
    assert result.code == 0, result.stderr
    assert result.json()["sendable"] == 1 and result.json()["removed"] == {"unsubscribe": 1}

    people = write(tmp_path / "contacts.csv", "id,email,marketing_consent\nc1,bo.chen@example.org,subscribed\n")
    assert cli("contacts", "import", "--tenant", "acme", str(people)).code == 0
    contacts = cli("contacts", "export", "--tenant", "acme", "--format", "jsonl")
    assert '"marketing_consent":"unsubscribed"' in contacts.stdout.replace(" ", "")


def test_a_mapped_list_unsubscribe_blocks_only_mail_to_its_new_list(cli, tmp_path):
    rows = ("address,event,occurred_at,scope\n"
            "news@example.com,unsubscribe,2024-01-01,list:old-news\n"
            "promo@example.com,unsubscribe,2024-01-02,list:old-promo\n"
            "other@example.com,unsubscribe,2024-01-03,list:never-mapped\n"
            "all@example.com,unsubscribe,2024-01-04,marketing\n"
            "gone@example.com,hard_bounce,2024-01-05,\n")
    ingest(cli, write(tmp_path / "events.csv", rows))
    everyone = ["news@example.com", "promo@example.com", "other@example.com", "all@example.com", "gone@example.com"]
    assert all(checked(cli, *everyone).values())  # without --list, every unsubscribe blocks marketing

    refused = cli("check", "--tenant", "acme", "--list", "newsletter", "news@example.com")
    assert refused.code == 2 and "no previous list" in refused.stderr  # a typo must not open the gates

    assert cli("lists", "map", "--tenant", "acme", "old-news", "newsletter").code == 0
    mapping = write(tmp_path / "lists.csv", "previous_list,new_list\nlist:old-promo,promotions\n")
    assert cli("lists", "map", "--tenant", "acme", "--file", str(mapping)).code == 0
    settings = cli("settings", "--tenant", "acme", "--json").json()
    assert settings["list_mappings"] == {"list:old-news": "newsletter", "list:old-promo": "promotions"}
    shown = cli("lists", "show", "--tenant", "acme", "--json").json()["lists"]
    assert {r["previous_list"]: r["new_list"] for r in shown} == {
        "list:old-news": "newsletter", "list:old-promo": "promotions", "list:never-mapped": None}

    assert checked(cli, *everyone, send_list="newsletter") == {
        "news@example.com": True, "promo@example.com": False, "other@example.com": True,
        "all@example.com": True, "gone@example.com": True}
    assert checked(cli, *everyone, send_list="promotions") == {
        "news@example.com": False, "promo@example.com": True, "other@example.com": True,
        "all@example.com": True, "gone@example.com": True}
    assert all(checked(cli, *everyone).values())  # still: marketing to no list in particular

    # Contacts: the stored consent counts every unsubscribe; for one list, what the contact declared.
    people = write(tmp_path / "contacts.csv", "id,email,marketing_consent\n"
                   "c1,news@example.com,subscribed\nc2,promo@example.com,unknown\nc3,other@example.com,subscribed\n")
    assert cli("contacts", "import", "--tenant", "acme", str(people)).code == 0

    def consent(send_list=None):
        args = ["contacts", "export", "--tenant", "acme"] + (["--list", send_list] if send_list else [])
        result = cli(*args)
        assert result.code == 0, result.stderr
        return {r["id"]: r["marketing_consent"] for r in csv.DictReader(io.StringIO(result.stdout))}

    assert consent() == {"c1": "unsubscribed", "c2": "unsubscribed", "c3": "unsubscribed"}
    assert consent("promotions") == {"c1": "subscribed", "c2": "unsubscribed", "c3": "unsubscribed"}
    assert consent("newsletter") == {"c1": "unsubscribed", "c2": "unknown", "c3": "unsubscribed"}
    planned = cli("audience", "--tenant", "acme", "--purpose", "marketing", "--contacts", "--list", "promotions",
                  "--json")
    assert planned.code == 0, planned.stderr
    assert planned.json()["sendable"] == 1  # only c1: c2 and c3 opted out of what promotions stands for

    assert cli("lists", "unmap", "--tenant", "acme", "old-news").code == 0
    assert checked(cli, "news@example.com", send_list="promotions") == {"news@example.com": True}


# -- 2. rollbacks keep what other runs assert ------------------------------------------------------


@pytest.mark.parametrize("again", [[], ["--force"], ["rename"]])
def test_rollback_keeps_what_a_later_run_also_asserted(cli, tmp_path, again):
    a = write(tmp_path / "a.txt", "x@example.com\ny@example.com\n")
    c = write(tmp_path / "c.txt", "z@example.com\n")
    first = ingest(cli, a, c)
    if again == ["rename"]:
        a = write(tmp_path / "a_copy.txt", a.read_text())
        again = []
    second = ingest(cli, a, extra=again)
    assert second["status"] == "succeeded" and second["suppressions_added"] == 0
    result = cli("rollback", first["run_id"], "--json")
    assert result.code == 0, result.stderr
    assert result.json()["suppressions_removed"] == 1  # z only
    assert exported(cli) == {("x@example.com", "hard_bounce", "all"), ("y@example.com", "hard_bounce", "all")}
    assert cli("rollback", second["run_id"]).code == 0
    assert exported(cli) == set()


def test_a_rollback_narrows_to_the_times_the_remaining_runs_assert(cli, tmp_path):
    early = write(tmp_path / "early.csv", "address,event,occurred_at\nx@example.com,hard_bounce,2023-01-01\n")
    late = write(tmp_path / "late.csv", "address,event,occurred_at\nx@example.com,hard_bounce,2024-06-01\n")
    undated = write(tmp_path / "undated.csv", "address,event,occurred_at\nx@example.com,hard_bounce,\n")
    runs = [ingest(cli, f)["run_id"] for f in (undated, early, late)]

    def span():
        rows = list(csv.DictReader(io.StringIO(cli("export", "--tenant", "acme").stdout)))
        return rows[0]["first_seen_at"][:10], rows[0]["last_seen_at"][:10]

    assert span() == ("2023-01-01", "2024-06-01")  # the first real time replaced the stand-in
    assert cli("rollback", runs[2]).code == 0
    assert span() == ("2023-01-01", "2023-01-01")
    assert cli("rollback", runs[1]).code == 0
    assert len(exported(cli)) == 1  # the undated run still asserts it, its time unknown


# -- 3. a store that does not exist ------------------------------------------------------------------

READING = [
    ["check", "--tenant", "acme", "x@example.com"],
    ["export", "--tenant", "acme"],
    ["runs", "--tenant", "acme"],
    ["rejects", "run_x"],
    ["rollback", "run_x"],
    ["report", "--tenant", "acme"],
    ["contacts", "export", "--tenant", "acme"],
    ["lists", "show", "--tenant", "acme"],
]


@pytest.mark.parametrize("args", READING, ids=lambda a: "-".join(a[:2]))
def test_a_mistyped_duckdb_store_is_refused_and_not_created(tmp_path, args):
    typo = tmp_path / "typo.duckdb"
    result = run_cli(*args, "--store", str(typo))
    assert result.code == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "does not exist" in result.stderr
    assert not typo.exists()


def test_an_audience_against_a_missing_store_is_refused(tmp_path):
    audience = write(tmp_path / "a.csv", "email\nx@example.com\n")
    result = run_cli("audience", "--tenant", "acme", "--purpose", "marketing", str(audience),
                     "--store", str(tmp_path / "nope.duckdb"))
    assert result.code == 2 and "does not exist" in result.stderr


def test_a_missing_postgres_database_is_refused(pg_database):
    missing = pg_database.rsplit("/", 1)[0] + "/no_such_database_here"
    result = run_cli("check", "--tenant", "acme", "x@example.com", "--store", missing)
    assert result.code == 2 and "does not exist" in result.stderr
    empty = run_cli("check", "--tenant", "acme", "x@example.com", "--store", pg_database)  # exists, no store
    assert empty.code == 2 and "does not exist" in empty.stderr


def test_the_writing_commands_create_a_store(tmp_path):
    new = tmp_path / "new.duckdb"
    assert run_cli("settings", "--tenant", "acme", "--store", str(new)).code == 0
    assert new.exists()


# -- 4. dry runs --------------------------------------------------------------------------------


def test_a_dry_run_is_marked_and_cannot_be_rolled_back(cli, tmp_path):
    dry = ingest(cli, write(tmp_path / "a.txt", "x@example.com\n"), extra=["--dry-run"])
    assert dry["dry_run"] is True and dry["suppressions_added"] == 1
    listed = cli("runs", "--tenant", "acme", "--json").json()
    assert [(r["run_id"], r["dry_run"]) for r in listed] == [(dry["run_id"], True)]
    assert "yes" in cli("runs", "--tenant", "acme").stdout
    refused = cli("rollback", dry["run_id"])
    assert refused.code == 2 and "dry run" in refused.stderr
    assert exported(cli) == set()


# -- also found in the same trial -------------------------------------------------------------


def test_a_missing_event_time_stays_unknown_and_is_counted(cli, tmp_path):
    rows = ("address,event,occurred_at\n"
            "timed@example.com,hard_bounce,2024-02-01T10:00:00Z\n"
            "untimed@example.com,hard_bounce,\n")
    summary = ingest(cli, write(tmp_path / "events.csv", rows))
    assert summary["time_warnings"] == {"missing_time": 1}
    assert summary["time_warning_examples"]["missing_time"][0]["line"] == 3
    assert summary["suppressions_time_unknown"] == 1
    plain = ingest(cli, write(tmp_path / "plain.txt", "a@example.com\nb@example.com\n"))
    assert plain["time_warnings"] == {} and plain["suppressions_time_unknown"] == 2


@pytest.mark.parametrize("args", [
    ["ingest", "--tenant", "acme", "--platform", "foo", "x.csv"],
    ["ingest", "--tenant", "acme", "no-such-file.csv"],
    ["check", "--tenant", "acme", "--purpose", "foo", "x@example.com"],
    ["ingest", "x.csv"],
    ["ingest", "--tenant", "acme", "--max-reject-rate", "lots", "x.csv"],
    ["no-such-command"],
    ["check", "--tenant", "acme", "--no-such-option"],
])
def test_every_usage_error_is_one_line_and_exit_2(cli, tmp_path, args):
    (tmp_path / "x.csv").write_text("email\na@example.com\n")
    args = [str(tmp_path / a) if a in ("x.csv", "no-such-file.csv") else a for a in args]
    result = cli(*args)
    assert result.code == 2, result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "╭" not in result.stderr and "Traceback" not in result.stderr


def test_a_closed_pipe_ends_export_quietly(tmp_path):
    store = tmp_path / "s.duckdb"
    rows = "".join(f"user{i}@example.com\n" for i in range(20000))
    assert run_cli("ingest", "--tenant", "acme", "--store", str(store), str(write(tmp_path / "l.txt", rows))).code == 0
    suppress = str(Path(sys.executable).parent / "suppress")
    for fmt in ("csv", "jsonl"):
        done = subprocess.run(f"'{suppress}' export --tenant acme --store '{store}' --format {fmt} | head -1; "
                              "echo \"exit ${PIPESTATUS[0]}\" >&2",
                              shell=True, capture_output=True, text=True, cwd=ROOT, executable="/bin/bash")
        assert done.stderr == "exit 0\n" and done.stdout.count("\n") == 1


def test_a_load_whose_rows_move_under_it_loads_nothing(cli, tmp_path, monkeypatch):
    # Strengthening finds the store's rows again by their row id (ctid, rowid) from the start of
    # the load. Should a row not be there any more, the load must stop and roll back, not
    # strengthen fewer keys than it counted.
    from pipelines.store.duckdb_store import DuckDBStore
    from pipelines.store.postgres_store import PostgresStore

    events = "address,event,occurred_at\n" + "".join(f"u{i}@example.com,hard_bounce,{{}}\n" for i in range(3))
    ingest(cli, write(tmp_path / "first.csv", events.format(*["2024-01-01T00:00:00Z"] * 3)))
    before = cli("export", "--tenant", "acme").stdout
    for cls in (DuckDBStore, PostgresStore):
        real = cls._x

        def moved(self, name, file="load", /, _real=real, **params):
            result = _real(self, name, file, **params)
            if name == "stage_known":  # another writer deleting them, had it not waited for the lock
                self.con.execute("DELETE FROM suppressions WHERE tenant = 'acme'")
            return result

        monkeypatch.setattr(cls, "_x", moved)
    later = write(tmp_path / "later.csv", events.format(*["2025-06-01T00:00:00Z"] * 3))
    result = cli("ingest", "--tenant", "acme", "--json", str(later))
    assert result.code == 1
    assert "strengthened 0 of 3 suppressions" in result.stderr
    assert cli("export", "--tenant", "acme").stdout == before
