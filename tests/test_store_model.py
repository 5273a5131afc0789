"""Model-based test of the store rules (SPEC 2.2, 2.3, 3) on both stores.

Hypothesis drives random sequences of imports (small event files: overlapping addresses, reasons,
scopes, times known or not), re-runs with and without --force, dry runs, rollbacks, resubscribe /
unblock, contact imports and deletions through the real CLI. A tiny reference model written from
the SPEC says what the store must hold; after every step the active suppressions (with their
times where known) and every contact's status and consent must equal the model's.

Bounded so the suite stays fast; SUPPRESSION_MODEL_EXAMPLES / SUPPRESSION_MODEL_STEPS raise it
(e.g. 200 / 30 for a nightly run).
"""
from __future__ import annotations

import csv
import io
import os
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests.conftest import POSTGRES_URL, _maintenance, _with_database, postgres_or_skip, run_cli

ADDRESSES = ("a@example.com", "b@example.com", "c@example.com")
REASONS = ("hard_bounce", "spam_complaint", "manual", "unsubscribe", "soft_bounce")
BLOCKS_ALL = {"hard_bounce", "spam_complaint", "manual"}  # SPEC 2.2, written out again on purpose
UNSUB_SCOPES = ("", "marketing", "list:l1", "list:l2")
TIMES = ("", "2024-01-01", "2024-06-01", "2025-01-01", "2025-06-01", "2026-01-01")
CONFIRMATIONS = ("2024-03-01", "2025-03-01", "2025-09-01")
CONTACTS = {"c1": "a@example.com", "c2": "b@example.com", "c3": "a@example.com"}  # c1, c3 share one
CONSENTS = ("subscribed", "unknown", "unsubscribed")

pytestmark = pytest.mark.slow
EXAMPLES = int(os.environ.get("SUPPRESSION_MODEL_EXAMPLES", "8"))
STEPS = int(os.environ.get("SUPPRESSION_MODEL_STEPS", "10"))

Key = tuple[str, str, str]  # address, reason, scope
rows_strategy = st.lists(
    st.tuples(st.sampled_from(ADDRESSES), st.sampled_from(REASONS), st.sampled_from(UNSUB_SCOPES),
              st.sampled_from(TIMES)),
    min_size=1, max_size=4)


@dataclass
class Run:
    contents: frozenset[str]
    assertions: dict[Key, tuple[str | None, str | None]]  # key -> (first, last) of known times, or Nones
    live: bool = True


@dataclass
class Contact:
    declared: str
    exists: bool = True


@dataclass
class Model:
    """SPEC 2.3 / 3 in the small: what the store must say, from what happened to it."""

    runs: dict[str, Run] = field(default_factory=dict)
    lifts: dict[Key, str] = field(default_factory=dict)  # key -> time of its latest lift
    contacts: dict[str, Contact] = field(default_factory=dict)
    erased: set[str] = field(default_factory=set)

    def assertions(self, key: Key) -> list[tuple[str | None, str | None]]:
        return [r.assertions[key] for r in self.runs.values() if r.live and key in r.assertions]

    def keys(self) -> set[Key]:
        return {k for r in self.runs.values() if r.live for k in r.assertions} | set(self.lifts)

    def active(self, key: Key) -> bool:
        live = self.assertions(key)
        if not live:
            return False  # gone, or kept only by a lift's audit trail
        if key not in self.lifts:
            return True
        return any(last is not None and last > self.lifts[key] for _, last in live)

    def span(self, key: Key) -> tuple[str, str] | None:
        known = [(f, la) for f, la in self.assertions(key) if f is not None]
        return (min(f for f, _ in known), max(la for _, la in known)) if known else None

    def active_rows(self) -> dict[Key, tuple[str, str] | None]:
        return {k: self.span(k) for k in self.keys() if self.active(k)}

    def contact_state(self, cid: str) -> tuple[str, str]:
        address = CONTACTS[cid]
        active = [k for k in self.keys() if k[0] == address and self.active(k)]
        status = "suppressed" if any(k[1] in BLOCKS_ALL for k in active) else "active"
        consent = "unsubscribed" if any(k[1] == "unsubscribe" for k in active) else self.contacts[cid].declared
        return status, consent


def _run_assertions(files: list[list[tuple]]) -> dict[Key, tuple[str | None, str | None]]:
    times: dict[Key, list[str]] = {}
    for rows in {tuple(f) for f in files}:  # identical files are read once
        for address, reason, scope, when in rows:
            key = (address, reason, (scope or "marketing") if reason == "unsubscribe" else "all")
            times.setdefault(key, [])
            if when:
                times[key].append(when)
    return {k: (min(v), max(v)) if v else (None, None) for k, v in times.items()}


def _file_text(rows: list[tuple]) -> str:
    return "address,event,occurred_at,scope\n" + "".join(
        f"{a},{r},{t},{s if r == 'unsubscribe' else ''}\n" for a, r, s, t in rows)


def make_machine(store_factory):
    class StoreMachine(RuleBasedStateMachine):
        @initialize()
        def setup(self):
            self.model = Model()
            self.store, self.workdir = store_factory()
            self.files = 0
            self.all_runs: list[str] = []
            self.inputs: list[list[list[tuple]]] = []
            # No soft-bounce block from the few generated soft bounces: they stay evidence here.
            assert self.cli("settings", "--tenant", "t", "--soft-bounce-threshold", "1000").code == 0
            from pipelines.store import open_store
            from pipelines.store.base import address_hmac

            with open_store(str(self.store)) as s:  # erased addresses show as their keyed hash
                self.tokens = {address_hmac(s.key, a): a for a in ADDRESSES}

        def cli(self, *args):
            return run_cli(*args, "--store", str(self.store))

        def write(self, rows: list[tuple]) -> Path:
            self.files += 1
            path = self.workdir / f"events_{self.files}.csv"
            path.write_text(_file_text(rows))
            return path

        def blocking(self) -> dict[tuple[str, str], bool]:
            got = {}
            for purpose in ("marketing", "transactional"):
                result = self.cli("check", "--tenant", "t", "--json", "--purpose", purpose, *ADDRESSES)
                assert result.code == 0, result.stderr
                got.update({(r["input"], purpose): r["suppressed"] for r in result.json()})
            return got

        # -- rules ---------------------------------------------------------------------------
        @rule(files=st.lists(rows_strategy, min_size=0, max_size=2), force=st.booleans(),
              again=st.sampled_from(["none", "same", "one"]), pick=st.integers(min_value=0),
              dry=st.sampled_from([False, False, False, True]))
        def ingest(self, files, force, again, pick, dry):
            # Earlier content again: the same input (a re-run, skipped without --force), or one of
            # its files beside new ones (an overlapping export: its keys asserted by a second run).
            if again != "none" and self.inputs:
                earlier = self.inputs[pick % len(self.inputs)]
                files = list(earlier) if again == "same" else [earlier[pick % len(earlier)], *files]
            if not files:
                return
            self.inputs.append(files)
            contents = frozenset(_file_text(f) for f in files)
            paths = [self.write(f) for f in files]
            before = self.blocking()
            args = ["ingest", "--tenant", "t", "--json", *map(str, paths)]
            result = self.cli(*args, *(["--force"] if force else []), *(["--dry-run"] if dry else []))
            assert result.code == 0, result.stderr
            summary = result.json()
            self.all_runs.append(summary["run_id"])
            loaded = any(r.live and r.contents == contents for r in self.model.runs.values())
            if dry:
                assert summary["dry_run"] is True
            elif loaded and not force:
                assert summary["status"] == "skipped"
            else:
                assert summary["status"] == "succeeded"
                self.model.runs[summary["run_id"]] = Run(contents, _run_assertions(files))
            after = self.blocking()
            lowered = [k for k, blocked in before.items() if blocked and not after[k]]
            assert not lowered, f"an import made {lowered} sendable"

        @rule(pick=st.integers(min_value=0))
        def rollback(self, pick):
            if not self.all_runs:
                return
            run_id = self.all_runs[pick % len(self.all_runs)]
            result = self.cli("rollback", "--json", run_id)
            run = self.model.runs.get(run_id)
            if run is not None and run.live:
                assert result.code == 0, result.stderr
                run.live = False
            else:  # skipped, dry, or rolled back already
                assert result.code == 2, result.stderr

        @rule(address=st.sampled_from(ADDRESSES), when=st.sampled_from(CONFIRMATIONS))
        def resubscribe(self, address, when):
            result = self.cli("resubscribe", "--tenant", "t", address, "--confirmed-at", when, "--evidence", "msg-1")
            unsubs = [k for k in self.model.keys() if k[0] == address and k[1] == "unsubscribe" and self.model.active(k)]
            # The contacts of the address without marketing consent get it back (double opt-in).
            waiting = [x for c, x in self.model.contacts.items() if x.exists and CONTACTS[c] == address
                       and self.model.contact_state(c)[1] in ("unsubscribed", "pending_double_opt_in")]
            newer = [k for k in unsubs if self.model.span(k) is None or self.model.span(k)[1] >= when]
            if newer or (not unsubs and not waiting):
                assert result.code == 1, result.stderr  # evidence newer than the confirmation, or nothing to do
                return
            assert result.code == 0, result.stderr
            for k in unsubs:
                self.model.lifts[k] = when
            for x in waiting:
                x.declared = "subscribed"

        @rule(address=st.sampled_from(ADDRESSES))
        def unblock(self, address):
            result = self.cli("unblock", "--tenant", "t", address, "--reason", "checked by hand")
            keys = [k for k in self.model.keys() if k[0] == address and k[1] != "unsubscribe" and self.model.active(k)]
            if not keys:
                assert result.code == 1, result.stderr
                return
            assert result.code == 0, result.stderr
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")  # later than every generated time
            for k in keys:
                self.model.lifts[k] = now

        @rule(consents=st.lists(st.sampled_from(CONSENTS), min_size=3, max_size=3))
        def import_contacts(self, consents):
            path = self.workdir / f"contacts_{self.files}.csv"
            self.files += 1
            path.write_text("id,email,marketing_consent\n" + "".join(
                f"{c},{CONTACTS[c]},{v}\n" for c, v in zip(CONTACTS, consents, strict=True)))
            result = self.cli("contacts", "import", "--tenant", "t", str(path))
            assert result.code == 0, result.stderr
            for cid, consent in zip(CONTACTS, consents, strict=True):
                known = self.model.contacts.get(cid)
                if known is None or not known.exists:
                    declared = "pending_double_opt_in" if CONTACTS[cid] in self.model.erased else consent
                    self.model.contacts[cid] = Contact(declared)
                elif known.declared not in ("unsubscribed", "pending_double_opt_in"):
                    known.declared = consent

        @precondition(lambda self: any(c.exists for c in self.model.contacts.values()))
        @rule(pick=st.sampled_from(sorted(CONTACTS)))
        def delete_contact(self, pick):
            contact = self.model.contacts.get(pick)
            if contact is None or not contact.exists:
                return
            result = self.cli("contacts", "delete", "--tenant", "t", "--yes", "--export-dir", str(self.workdir), pick)
            assert result.code == 0, result.stderr
            contact.exists = False
            self.model.erased.add(CONTACTS[pick])

        # -- what must hold after every step ------------------------------------------------
        @invariant()
        def store_equals_model(self):
            if not hasattr(self, "model"):
                return
            result = self.cli("export", "--tenant", "t")
            assert result.code == 0, result.stderr
            got = {}
            for r in csv.DictReader(io.StringIO(result.stdout)):
                address = r["address"] or self.tokens[r["address_hash"]]
                got[(address, r["reason"], r["scope"])] = (r["first_seen_at"][:10], r["last_seen_at"][:10])
            want = self.model.active_rows()
            assert set(got) == set(want)
            for key, span in want.items():
                if span is not None:
                    assert got[key] == span, key

            contacts = self.cli("contacts", "export", "--tenant", "t")
            assert contacts.code == 0, contacts.stderr
            rows = {r["id"]: (r["email_status"], r["marketing_consent"])
                    for r in csv.DictReader(io.StringIO(contacts.stdout))}
            assert rows == {c: self.model.contact_state(c) for c, x in self.model.contacts.items() if x.exists}

        def teardown(self):
            cleanup = getattr(self, "cleanup", None)
            if cleanup:
                cleanup()

    return StoreMachine


def _settings():
    return settings(max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def test_duckdb_store_follows_the_model(tmp_path_factory):
    def factory():
        workdir = tmp_path_factory.mktemp("model")
        return workdir / "store.duckdb", workdir

    run_state_machine_as_test(make_machine(factory), settings=_settings())


def test_postgres_store_follows_the_model(tmp_path_factory, monkeypatch):
    postgres_or_skip()
    monkeypatch.setenv("SUPPRESSION_HMAC_KEY", "test-installation-secret")  # as in production
    created: list[str] = []

    def factory():
        name = f"t_model_{secrets.token_hex(5)}"
        with _maintenance() as con:
            con.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return _with_database(POSTGRES_URL, name), tmp_path_factory.mktemp("model")

    try:
        run_state_machine_as_test(make_machine(factory), settings=_settings())
    finally:
        with _maintenance() as con:
            for name in created:
                con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
