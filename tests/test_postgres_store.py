"""PostgreSQL store facts shown with real runs: atomicity under SIGKILL, the per-tenant lock, indexes.

Each test gets its own database (the `pg_database` fixture). Runs are real `suppress ingest`
processes; the lock is observed in pg_locks and the load step in pg_stat_activity.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.settings import hmac_key_from_env
from pipelines.store import open_store
from pipelines.store.base import address_hmac
from pipelines.store.postgres_store import TENANT_LOCKS, PostgresStore
from tests.conftest import ROOT, run_cli

TIMEOUT = 120  # seconds for any one wait below


def suppress(url: str, *args: str) -> subprocess.Popen:
    """`suppress ARGS --store URL` as its own process (the way production runs it)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("SUPPRESSION_STORE", None)
    return subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", *map(str, args), "--store", url],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def finish(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, err
    return json.loads(out)


def wait_for(what: str, condition, timeout: float = TIMEOUT, every: float = 0.01):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


def plain_list(path: Path, numbers: range) -> Path:
    path.write_text("email\n" + "".join(f"user{i}@example.com\n" for i in numbers))
    return path


def waiting_for_tenant_lock(mon: psycopg.Connection) -> int:
    """Sessions of this database waiting for a tenant's advisory lock."""
    return mon.execute(
        "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
        "WHERE l.locktype = 'advisory' AND NOT l.granted AND l.classid = %s AND d.datname = current_database()",
        (TENANT_LOCKS,),
    ).fetchone()[0]


@pytest.fixture
def mon(pg_database):
    """A monitoring connection to the test's database, the schema already migrated."""
    open_store(pg_database).close()
    with psycopg.connect(pg_database, autocommit=True) as con:
        yield con


def hold_tenant_lock(con: psycopg.Connection, tenant: str) -> None:
    con.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", (TENANT_LOCKS, tenant))


def release_tenant_lock(con: psycopg.Connection, tenant: str) -> None:
    assert con.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", (TENANT_LOCKS, tenant)).fetchone()[0]


@pytest.mark.slow
def test_a_run_killed_mid_load_leaves_no_trace(pg_database, mon, tmp_path):
    export = tmp_path / "sendgrid_bounces.csv"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "generate.py"), "--rows", "300000", "--out", str(export),
                    "--seed", "5"], check=True, capture_output=True)
    proc = suppress(pg_database, "ingest", "--tenant", "acme", "--json", export)

    def merging():  # the load transaction is writing into the store's own tables (a first load: COPY)
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before it could be killed: {proc.communicate()}")
        return mon.execute(
            "SELECT pid, query FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' "
            "AND query ~ '^(INSERT INTO|COPY) suppressions '").fetchone()

    backend, query = wait_for("the load step", merging, every=0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=TIMEOUT)
    assert proc.returncode == -signal.SIGKILL
    # The server notices the dead client (client_connection_check_interval) and aborts its transaction.
    wait_for("the killed run's backend to end", lambda: not mon.execute(
        "SELECT 1 FROM pg_stat_activity WHERE pid = %s", (backend,)).fetchone(), every=0.1)

    for table in ("suppressions", "suppression_sources", "suppression_events", "quarantine", "run_files"):
        assert mon.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0, table
    ((run_id, status),) = mon.execute("SELECT run_id, status FROM import_runs").fetchall()
    assert status == "running"  # its process died holding it: never `succeeded`

    # The next run of the tenant loads normally and closes the dead run as failed.
    small = plain_list(tmp_path / "small.csv", range(10))
    result = run_cli("ingest", "--tenant", "acme", "--json", "--store", pg_database, small)
    assert result.code == 0, result.stderr
    assert result.json()["suppressions_added"] == 10
    runs = {r["run_id"]: r for r in run_cli("runs", "--tenant", "acme", "--json", "--store", pg_database).json()}
    assert runs[run_id]["status"] == "failed" and runs[run_id]["error"].startswith("interrupted")
    assert mon.execute("SELECT count(*) FROM suppressions").fetchone()[0] == 10


@pytest.mark.slow
def test_runs_of_one_tenant_serialize(pg_database, mon, tmp_path):
    a = plain_list(tmp_path / "a.csv", range(0, 40_000))
    b = plain_list(tmp_path / "b.csv", range(20_000, 60_000))  # overlaps a by 20,000 addresses
    # Start both while the tenant is locked, so both surely compete for the lock once it is free.
    hold_tenant_lock(mon, "acme")
    procs = [suppress(pg_database, "ingest", "--tenant", "acme", "--json", f) for f in (a, b)]
    wait_for("both runs to wait for the tenant's lock", lambda: waiting_for_tenant_lock(mon) == 2)
    assert mon.execute("SELECT count(*) FROM import_runs").fetchone()[0] == 0  # neither has begun
    release_tenant_lock(mon, "acme")
    # One run gets the lock; the other waits for its whole run.
    wait_for("the second run to wait for the first", lambda: waiting_for_tenant_lock(mon) == 1
             or all(p.poll() is not None for p in procs))
    summaries = [finish(p) for p in procs]
    assert [s["status"] for s in summaries] == ["succeeded", "succeeded"]

    runs = {r["run_id"]: r for r in run_cli("runs", "--tenant", "acme", "--json", "--store", pg_database).json()}
    first, second = sorted(summaries, key=lambda s: runs[s["run_id"]]["started_at"])
    assert runs[second["run_id"]]["started_at"] > runs[first["run_id"]]["finished_at"]  # never interleaved
    assert first["suppressions_added"] == 40_000
    assert second["suppressions_added"] == 20_000  # the 20,000 shared addresses came with the first
    assert mon.execute("SELECT count(*), count(DISTINCT address) FROM suppressions").fetchone() == (60_000, 60_000)
    assert mon.execute("SELECT count(*) FROM suppression_lineage").fetchone()[0] == 80_000  # lineage per file


def test_two_runs_of_the_same_input_at_once_load_it_once(pg_database, mon, tmp_path):
    f = plain_list(tmp_path / "list.csv", range(5_000))
    hold_tenant_lock(mon, "acme")
    procs = [suppress(pg_database, "ingest", "--tenant", "acme", "--json", f) for _ in range(2)]
    wait_for("both runs to wait for the tenant's lock", lambda: waiting_for_tenant_lock(mon) == 2)
    release_tenant_lock(mon, "acme")
    summaries = sorted((finish(p) for p in procs), key=lambda s: s["status"])
    assert [s["status"] for s in summaries] == ["skipped", "succeeded"]
    assert summaries[0]["skipped_because"] == summaries[1]["run_id"]
    assert summaries[1]["suppressions_added"] == 5_000
    assert mon.execute("SELECT count(*) FROM suppression_lineage").fetchone()[0] == 5_000  # one run's lineage


@pytest.mark.slow
def test_runs_of_other_tenants_do_not_wait(pg_database, mon, tmp_path):
    f = plain_list(tmp_path / "list.csv", range(1_000))
    hold_tenant_lock(mon, "acme")  # as if a long acme run were under way
    acme = suppress(pg_database, "ingest", "--tenant", "acme", "--json", f)
    globex = suppress(pg_database, "ingest", "--tenant", "globex", "--json", f)
    done = finish(globex)
    assert done["status"] == "succeeded" and done["suppressions_added"] == 1_000
    wait_for("the acme run to wait for its tenant's lock", lambda: waiting_for_tenant_lock(mon) == 1)
    assert acme.poll() is None  # still waiting, while globex has finished
    release_tenant_lock(mon, "acme")
    assert finish(acme)["suppressions_added"] == 1_000
    assert mon.execute("SELECT tenant, count(*) FROM suppressions GROUP BY 1 ORDER BY 1").fetchall() == [
        ("acme", 1_000), ("globex", 1_000)]


def test_rollback_waits_for_a_run_of_its_tenant(pg_database, mon, tmp_path):
    f = plain_list(tmp_path / "list.csv", range(100))
    run_id = run_cli("ingest", "--tenant", "acme", "--json", "--store", pg_database, f).json()["run_id"]
    hold_tenant_lock(mon, "acme")
    rollback = suppress(pg_database, "rollback", run_id, "--json")
    wait_for("the rollback to wait for the tenant's lock", lambda: waiting_for_tenant_lock(mon) == 1)
    assert mon.execute("SELECT count(*) FROM suppressions").fetchone()[0] == 100
    release_tenant_lock(mon, "acme")
    assert finish(rollback)["suppressions_removed"] == 100


def test_single_address_lookup_uses_the_key_index(pg_database, mon):
    mon.execute(
        "INSERT INTO suppressions (tenant, channel, address, reason, scope, first_seen_at, last_seen_at, "
        "source_platform, created_run_id, last_run_id, updated_at) "
        "SELECT 't' || mod(i, 5), 'email', 'user' || i || '@example.com', 'hard_bounce', 'all', now(), now(), "
        "'generic', 'r', 'r', now() FROM generate_series(1, 50000) AS i")
    mon.execute("ANALYZE suppressions")
    for sql in ("SELECT reason, scope FROM suppressions WHERE tenant = %s AND channel = %s AND address = %s",
                "SELECT i.idx, s.reason, s.scope FROM unnest(%s::bigint[], %s::text[], %s::text[]) AS i(idx, channel, address) "
                "JOIN suppressions s ON s.tenant = %s AND s.channel = i.channel AND s.address = i.address"):
        params = (("t1", "email", "user1@example.com") if sql.count("%s") == 3
                  else ([0], ["email"], ["user1@example.com"], "t1"))
        plan = "\n".join(r[0] for r in mon.execute("EXPLAIN " + sql, params).fetchall())
        assert "Index" in plan and "suppressions_key" in plan, plan
    with open_store(pg_database) as st:
        import polars as pl

        hits = st.check("t1", pl.DataFrame({"idx": [0], "input": ["x"], "channel": ["email"], "address": ["user1@example.com"]}))
        assert hits.to_dicts() == [{"idx": 0, "reason": "hard_bounce", "scope": "all"}]


def test_sql_hmac_handles_long_keys(pg_database):
    key = bytes(range(100))  # over a SHA-256 block: hashed first, as in Python's hmac
    with open_store(pg_database) as st:
        got = st.con.execute("SELECT address_hmac(%s, %s)", ["jane@example.com", key]).fetchone()[0]
    assert got == address_hmac(key, "jane@example.com")


def test_the_database_blocks_a_suppressed_contact_whoever_writes_it(pg_database, tmp_path):
    """A writer that bypasses the library (plain SQL) still cannot create a sendable contact."""
    listed = tmp_path / "events.csv"
    listed.write_text("address,event,occurred_at\nbounced@example.com,hard_bounce,2024-01-01T00:00:00Z\n"
                      "leaver@example.com,unsubscribe,2024-01-01T00:00:00Z\n+14155550100,spam_complaint,2024-01-01\n")
    assert run_cli("ingest", "--tenant", "acme", "--store", pg_database, listed).code == 0
    with psycopg.connect(pg_database, autocommit=True) as con:
        con.execute(
            "INSERT INTO contacts (tenant, contact_id, email, phone, email_status, sms_status, marketing_consent) VALUES "
            "('acme', 'raw1', ' Bounced@Example.com', NULL, 'active', 'active', 'subscribed'), "
            "('acme', 'raw2', 'leaver@example.com', '+14155550100', 'active', 'active', 'subscribed'), "
            "('acme', 'raw3', 'fine@example.com', NULL, 'active', 'active', 'subscribed'), "
            "('globex', 'raw4', 'bounced@example.com', NULL, 'active', 'active', 'subscribed')")
        # Ways a careless (or clever) writer could slip past: its own key, a display name, a
        # trailing dot, a no-break space, a phone with spaces. None works.
        con.execute(
            "INSERT INTO contacts (tenant, contact_id, email, email_key, phone, email_status, sms_status, "
            "marketing_consent) VALUES "
            "('acme', 'k1', 'bounced@example.com', 'whatever', NULL, 'active', 'active', 'subscribed'), "
            "('acme', 'k2', '\"Bo\" <Bounced@Example.COM.>', NULL, NULL, 'active', 'active', 'subscribed'), "
            "('acme', 'k3', E'bounced@example.com\\u00a0', '', NULL, 'active', 'active', 'subscribed'), "
            "('acme', 'k4', NULL, NULL, '+1 415 555 0100', 'active', 'active', 'subscribed')")
        sneaky = con.execute("SELECT contact_id, email_status, sms_status FROM contacts "
                             "WHERE contact_id LIKE 'k%' ORDER BY contact_id").fetchall()
        assert sneaky == [("k1", "suppressed", "active"), ("k2", "suppressed", "active"),
                          ("k3", "suppressed", "active"), ("k4", "active", "suppressed")]
        con.execute("DELETE FROM contacts WHERE contact_id LIKE 'k%'")
        rows = con.execute("SELECT contact_id, email_status, sms_status, marketing_consent FROM contacts "
                           "ORDER BY contact_id").fetchall()
        assert rows == [("raw1", "suppressed", "active", "subscribed"), ("raw2", "active", "suppressed", "unsubscribed"),
                        ("raw3", "active", "active", "subscribed"), ("raw4", "active", "active", "subscribed")]
        # Nor can an UPDATE make one sendable, or move a contact onto a suppressed address.
        con.execute("UPDATE contacts SET email_status = 'active', marketing_consent = 'subscribed' "
                    "WHERE contact_id IN ('raw1', 'raw2')")
        con.execute("UPDATE contacts SET email = 'bounced@example.com' WHERE contact_id = 'raw3'")
        rows = con.execute("SELECT contact_id, email_status, marketing_consent FROM contacts WHERE tenant = 'acme' "
                           "ORDER BY contact_id").fetchall()
        assert rows == [("raw1", "suppressed", "subscribed"), ("raw2", "active", "unsubscribed"),
                        ("raw3", "suppressed", "subscribed")]


def test_reason_rules_in_the_database_match_the_model(pg_database, tmp_path):
    from pipelines.model import BLOCKS_ALL, REASONS

    duck = tmp_path / "s.duckdb"
    for url in (pg_database, str(duck)):
        with open_store(url) as st:
            rows = st.con.execute("SELECT reason, blocks_all FROM suppression_reasons").fetchall()
        assert {r for r, _ in rows} == set(REASONS)
        assert {r for r, blocks in rows if blocks} == set(BLOCKS_ALL)


def test_a_contact_written_during_a_load_is_blocked_by_it(pg_database, mon, tmp_path):
    """A writer inserting a contact while a load of its tenant runs: one waits for the other, so
    the contact never ends up active beside its new suppression."""
    from pipelines.store.postgres_store import CONTACT_LOCKS

    seed = tmp_path / "seed.csv"
    seed.write_text("id,email\nc0,someone@example.com\n")
    assert run_cli("contacts", "import", "--tenant", "acme", "--store", pg_database, seed).code == 0
    writer = psycopg.connect(pg_database)  # a transaction of another application, left open
    writer.execute("INSERT INTO contacts (tenant, contact_id, email, email_status, sms_status, marketing_consent) "
                   "VALUES ('acme', 'carol', 'carol@example.com', 'active', 'active', 'subscribed')")
    bounces = plain_list(tmp_path / "bounces.csv", range(0))
    bounces.write_text("email\ncarol@example.com\n")
    load = suppress(pg_database, "ingest", "--tenant", "acme", "--json", bounces)
    wait_for("the load to wait for the writer", lambda: mon.execute(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND classid = %s",
        (CONTACT_LOCKS,)).fetchone()[0] == 1 or load.poll() is not None)
    writer.commit()
    writer.close()
    summary = finish(load)
    assert summary["contacts_blocked"] == 1
    assert mon.execute("SELECT email_status FROM contacts WHERE contact_id = 'carol'").fetchone() == ("suppressed",)


def test_a_strengthened_key_is_one_hot_update(pg_database, mon, tmp_path):
    # A night re-asserting keys with newer bounces rewrites each of their rows once (strengthen
    # clears the creator's marker too), in place on its page (fillfactor, sql/postgres/007): no
    # new key-index entries.
    first, night = tmp_path / "first.csv", tmp_path / "night.csv"
    first.write_text("address,event,occurred_at\n"
                     + "".join(f"user{i}@example.com,hard_bounce,2024-01-01T00:00:00Z\n" for i in range(2000)))
    night.write_text("address,event,occurred_at\n"
                     + "".join(f"user{i}@example.com,hard_bounce,2024-06-01T00:00:00Z\n" for i in range(0, 2000, 20)))
    assert finish(suppress(pg_database, "ingest", "--tenant", "acme", "--json", first))["suppressions_added"] == 2000
    assert finish(suppress(pg_database, "ingest", "--tenant", "acme", "--json", night))["suppressions_updated"] == 100

    def stats():
        mon.execute("SELECT pg_stat_clear_snapshot()")
        return mon.execute("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables "
                           "WHERE relname = 'suppressions'").fetchone()

    updated, hot = wait_for("the runs' table statistics", lambda: stats()[0] and stats())
    assert updated == 100 and hot >= 95, (updated, hot)


VALUE_TEXT = st.text(alphabet=st.sampled_from(list('ab@.,;"\'\\ \t\n\r\x00\x01\x1fü例\u2028\ufeff{}[]')), max_size=12)
JSON_TEXT = VALUE_TEXT.map(lambda s: s.replace("\x00", ""))  # JSON text holds no NUL
MOMENTS = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 12, 31), timezones=st.just(UTC))
COPY_ROWS = st.lists(st.tuples(
    st.none() | VALUE_TEXT, st.none() | st.integers(-2**63, 2**63 - 1), st.none() | st.integers(-2**31, 2**31 - 1),
    st.none() | st.booleans(), st.none() | MOMENTS,
    st.none() | st.dictionaries(JSON_TEXT, st.integers() | JSON_TEXT, max_size=3),
), max_size=30)


@given(rows=COPY_ROWS, from_parquet=st.booleans())
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_copy_in_keeps_every_value(pg_database, tmp_path, rows, from_parquet):
    """The binary COPY (pgpq) into each column type the store uses: what PostgreSQL holds is what
    was sent, NULL apart from an empty string, to the microsecond; NUL (which PostgreSQL text
    cannot hold) as U+FFFD. Sent in an order, the rows arrive in PostgreSQL's COLLATE "C" order
    (what insert_new relies on to append to the key index)."""
    import polars as pl

    schema = {"t": pl.String, "n": pl.Int64, "i": pl.Int32, "b": pl.Boolean, "ts": pl.Datetime("us", "UTC"),
              "j": pl.String, "v": pl.String}
    frame = pl.DataFrame([(t, n, i, b, ts, None if j is None else json.dumps(j), t) for t, n, i, b, ts, j in rows],
                         schema=schema, orient="row")
    source = frame
    if from_parquet:
        source = tmp_path / f"rows-{len(rows)}.parquet"
        frame.write_parquet(source)
    columns = ["t", "n", "i", "b", "ts", "j", "v"]
    with open_store(pg_database) as store, store.con.transaction(force_rollback=True):
        for table in ("copied", "ordered", "selected"):
            store.con.execute(f"CREATE TEMP TABLE {table} (k serial, t text, n bigint, i integer, b boolean,"
                              " ts timestamptz, j jsonb, v varchar) ON COMMIT DROP")
        assert store.copy_in("copied", columns, source) == len(rows)
        got = store.con.execute("SELECT t, n, i, b, ts, j, v FROM copied ORDER BY k").fetchall()
        assert store.copy_in("ordered", columns, source, order=("t",)) == len(rows)
        arrived = [t for (t,) in store.con.execute("SELECT t FROM ordered ORDER BY k").fetchall()]
        collated = [t for (t,) in store.con.execute('SELECT t FROM ordered ORDER BY t COLLATE "C"').fetchall()]
        # Through a `select` (as a first load's keys): still in order, its parameters bound
        assert store.copy_in("selected", columns, source, order=("t",), params={"n": 7},
                             select="SELECT t, $n AS n, i, b, ts, j, v FROM source") == len(rows)
        selected = store.con.execute("SELECT t, n FROM selected ORDER BY k").fetchall()
    text = [None if t is None else t.replace("\x00", "\ufffd") for t, *_ in rows]
    want = [(t, n, i, b, ts, j, t) for t, (_, n, i, b, ts, j) in zip(text, rows, strict=True)]
    assert got == want
    assert arrived == collated
    assert selected == [(t, 7) for t in collated]


def tables_copied_into(patch: pytest.MonkeyPatch) -> list[str]:
    """The tables PostgresStore.copy_in fills while `patch` is active, in order."""
    tables: list[str] = []
    copy_in = PostgresStore.copy_in

    def spy(self, table, *args, **kwargs):
        tables.append(table)
        return copy_in(self, table, *args, **kwargs)

    patch.setattr(PostgresStore, "copy_in", spy)
    return tables


FIRST_LOAD_FILES = st.lists(st.lists(st.tuples(
    st.sampled_from([f"user{i}@example.com" for i in range(6)] + ["Tel@Example.com", "+1 (415) 555-0100"]),
    st.sampled_from(["hard_bounce", "spam_complaint", "unsubscribe", "soft_bounce", "delivered"]),
    st.sampled_from(["", "all", "marketing"]),
    st.sampled_from(["", "2024-01-01T00:00:00Z", "2024-03-05T10:00:00Z", "2023-12-31T23:59:59.123456Z"]),
), min_size=1, max_size=30), min_size=1, max_size=3)


@given(files=FIRST_LOAD_FILES)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_a_first_load_writes_what_insert_new_writes(pg_database, tmp_path, monkeypatch, files):
    """A tenant's first load COPYs its keys straight into `suppressions` (sql/postgres/copy.sql);
    a tenant that holds a key already takes the same keys through insert_new. Both leave the same
    rows, lineage and evidence, and a rollback of the first load leaves the tenant empty."""
    tag = f"{len(list(tmp_path.iterdir()))}"
    paths = []
    for i, rows in enumerate(files):
        path = tmp_path / f"export-{tag}-{i}.csv"
        path.write_text("address,event,scope,occurred_at\n" + "".join(",".join(row) + "\n" for row in rows))
        paths.append(path)
    seed = tmp_path / f"seed-{tag}.csv"
    seed.write_text("address,event\nseed@example.org,hard_bounce\n")
    fresh, seeded = f"fresh{tag}", f"seeded{tag}"
    assert run_cli("ingest", "--tenant", seeded, "--json", "--store", pg_database, seed).code == 0
    runs, copied = {}, {}
    for tenant in (fresh, seeded):
        with monkeypatch.context() as patch:
            copied[tenant] = tables_copied_into(patch)
            result = run_cli("ingest", "--tenant", tenant, "--json", "--store", pg_database, *paths)
        assert result.code in (0, 2), result.stderr  # 2: some rows quarantined
        runs[tenant] = result.json()
    # The first load took its keys straight in; the other one through the staging table
    assert ("suppressions" in copied[fresh], "stage_suppressions" in copied[fresh]) == (True, False)
    assert ("suppressions" in copied[seeded], "stage_suppressions" in copied[seeded]) == (False, True)

    def rows(tenant: str, sql: str) -> list[tuple]:
        run_id = runs[tenant]["run_id"]
        with psycopg.connect(pg_database) as con:
            got = con.execute(sql, {"tenant": tenant}).fetchall()
        # Each tenant's run id stands for itself
        return sorted((tuple("RUN" if v == run_id else v for v in row) for row in got), key=repr)

    keys = ("SELECT channel, address, reason, scope, CASE WHEN time_known THEN first_seen_at END,"
            " CASE WHEN time_known THEN last_seen_at END, time_known, source_platform, detail, created_run_id,"
            " last_run_id, lifted_at, created_file, created_first_line, created_row_count,"
            " (SELECT f.sha256 FROM run_files f WHERE f.run_id = s.created_run_id AND f.file_idx = s.created_file),"
            " (SELECT s.updated_at BETWEEN r.started_at AND r.finished_at FROM import_runs r"
            "  WHERE r.run_id = s.created_run_id),"
            " (SELECT count(DISTINCT updated_at) FROM suppressions o"  # the load's one time
            "  WHERE o.tenant = s.tenant AND o.created_run_id = s.created_run_id)"
            " FROM suppressions s WHERE tenant = %(tenant)s AND address IS DISTINCT FROM 'seed@example.org'")
    lineage = ("SELECT channel, address, reason, scope, run_id, source_sha256, first_line, row_count, time_known"
               " FROM suppression_sources WHERE tenant = %(tenant)s")
    events = ("SELECT channel, address, kind, occurred_at, bounce_count, run_id, source_sha256, source_line, detail"
              " FROM message_events WHERE tenant = %(tenant)s")
    for sql in (keys, lineage, events):
        assert rows(fresh, sql) == rows(seeded, sql)
    assert runs[fresh]["suppressions_added"] == runs[seeded]["suppressions_added"]
    assert runs[fresh]["suppressions_added"] == len(rows(fresh, keys))

    assert run_cli("rollback", "--json", "--store", pg_database, runs[fresh]["run_id"]).code == 0
    for sql in (keys, lineage, events):
        assert rows(fresh, sql) == []


def test_a_first_load_of_a_tenant_with_erased_addresses_stores_their_tokens(pg_database, tmp_path, monkeypatch):
    """A tenant can have erased addresses and no suppression yet (a contact imported, then deleted):
    its first load goes through the staging table, where erased addresses become their tokens; a
    COPY straight into `suppressions` would store them in plain text."""
    monkeypatch.chdir(tmp_path)  # the deletion's safety copy goes to ./safety-exports
    monkeypatch.delenv("SUPPRESSION_SAFETY_DIR", raising=False)
    people = tmp_path / "contacts.csv"
    people.write_text("id,email\nc1,user1@example.com\nc2,user9@example.com\n")
    assert run_cli("contacts", "import", "--tenant", "acme", "--store", pg_database, people).code == 0
    assert run_cli("contacts", "delete", "--tenant", "acme", "--yes", "--store", pg_database, "c1").code == 0
    export = tmp_path / "bounces.csv"
    export.write_text("address,event\nuser1@example.com,hard_bounce\nuser2@example.com,hard_bounce\n")
    tables = tables_copied_into(monkeypatch)
    result = run_cli("ingest", "--tenant", "acme", "--json", "--store", pg_database, export)
    assert result.code == 0, result.stderr
    assert "stage_suppressions" in tables and "suppressions" not in tables
    with psycopg.connect(pg_database) as con:
        stored = sorted(a for (a,) in con.execute("SELECT address FROM suppressions WHERE tenant = 'acme'"))
    assert stored[0] == "hmac:" + address_hmac(hmac_key_from_env(), "user1@example.com")
    assert stored[1:] == ["user2@example.com"]
