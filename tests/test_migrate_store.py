"""`suppress migrate-store`: a whole store copied between backends, counts checked, key kept."""
from __future__ import annotations

import csv
import io

from pipelines.migrate_store import TABLES
from pipelines.store import open_store
from tests.conftest import SAMPLES, run_cli

GENERIC = [SAMPLES / "generic" / "bounced_addresses.csv", SAMPLES / "generic" / "no_header_crlf.txt"]
EVENTS = SAMPLES / "events" / "delivery_events.csv"


def counts(url) -> dict[str, int]:
    with open_store(str(url)) as st:
        return {t: st.con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}


def exported(url, tenant="acme") -> list[dict]:
    result = run_cli("export", "--tenant", tenant, "--store", url)
    assert result.code == 0, result.stderr
    return list(csv.DictReader(io.StringIO(result.stdout)))


def build_duckdb_store(path) -> None:
    """Every table gets rows: runs (one failed, one rolled back), files, lineage, events, rejects."""
    def ingest(*args):
        return run_cli("ingest", "--tenant", "acme", "--json", "--store", path, *args)

    assert ingest("--max-reject-rate", "0.2", EVENTS).code == 0
    assert ingest(GENERIC[0]).code == 3  # refused: a failed run with its rejects
    second = ingest(*GENERIC).json()
    assert run_cli("rollback", second["run_id"], "--store", path).code == 0
    assert ingest("--force", *GENERIC).code == 0
    # contacts, one of them deleted (an erased address, a safety copy), and a tenant setting
    contacts = path.parent / "contacts.csv"
    contacts.write_text("id,email,phone\nc1,bob@example.com,\nc2,keep@example.com,+14155550100\n")
    assert run_cli("contacts", "import", "--tenant", "acme", "--store", path, contacts).code == 0
    assert run_cli("contacts", "delete", "--tenant", "acme", "--yes", "--store", path,
                   "--export-dir", path.parent / "safety", "c1").code == 0
    assert run_cli("settings", "--tenant", "acme", "--soft-bounce-threshold", "7", "--store", path).code == 0
    assert run_cli("lists", "map", "--tenant", "acme", "a1b2c3d4e5", "newsletter", "--store", path).code == 0
    with open_store(str(path)) as st:  # a nightly sync's watermark
        st.save_watermarks("acme", {"sendgrid-main": "2026-11-29T02:00:00+00:00"}, "run_sync")


def test_duckdb_to_postgres_and_back(tmp_path, pg_database):
    source = tmp_path / "laptop.duckdb"
    build_duckdb_store(source)
    before = counts(source)
    assert all(before.values()), before

    result = run_cli("migrate-store", "--from", source, "--to", pg_database, "--json")
    assert result.code == 0, result.stderr
    assert result.json()["tables"] == before
    assert counts(pg_database) == before
    assert exported(pg_database) == exported(source)
    runs = run_cli("runs", "--tenant", "acme", "--json", "--store", pg_database).json()
    assert runs == run_cli("runs", "--tenant", "acme", "--json", "--store", source).json()
    with open_store(str(source)) as a, open_store(pg_database) as b:
        assert a.key == b.key  # erased addresses' hashes keep matching
        run_id = runs[0]["run_id"]
        assert a.run(run_id) == b.run(run_id)
        assert a.rejects(runs[1]["run_id"]).equals(b.rejects(runs[1]["run_id"]))
    check = ["gone@example.org", "bob@example.com", "nobody@example.com"]  # bob: erased, matched by hash
    assert (run_cli("check", "--tenant", "acme", "--json", "--store", pg_database, *check).json()
            == run_cli("check", "--tenant", "acme", "--json", "--store", source, *check).json())

    # A target that holds anything is refused, and stays as it was.
    again = run_cli("migrate-store", "--from", source, "--to", pg_database)
    assert again.code == 1 and "is not empty" in again.stderr and "Traceback" not in again.stderr
    assert counts(pg_database) == before

    # And back to a new DuckDB file: event ids carry on after the copied ones.
    back = tmp_path / "back.duckdb"
    assert run_cli("migrate-store", "--from", pg_database, "--to", back).code == 0
    assert counts(back) == before and exported(back) == exported(source)
    for url in (back, pg_database):
        last = next(r["run_id"] for r in run_cli("runs", "--tenant", "acme", "--json", "--store", url).json()
                    if r["kind"] == "ingest")
        assert run_cli("rollback", last, "--store", url).code == 0  # writes events
        with open_store(str(url)) as st:
            ids = st.con.execute("SELECT count(*), count(DISTINCT event_id) FROM suppression_events").fetchone()
        assert ids[0] == ids[1] > before["suppression_events"]


def test_refuses_the_same_store_and_a_missing_source(tmp_path):
    store = tmp_path / "s.duckdb"
    same = run_cli("migrate-store", "--from", store, "--to", store)
    assert same.code == 2 and "same store" in same.stderr
    missing = run_cli("migrate-store", "--from", tmp_path / "nope.duckdb", "--to", tmp_path / "new.duckdb")
    assert missing.code == 2 and "does not exist" in missing.stderr
    assert not (tmp_path / "new.duckdb").exists()


def test_a_laptop_key_never_lands_in_postgres(tmp_path, pg_database, monkeypatch):
    """A laptop store keeps a generated key for its erased addresses; PostgreSQL never stores one."""
    monkeypatch.delenv("SUPPRESSION_HMAC_KEY", raising=False)
    source = tmp_path / "laptop.duckdb"
    build_duckdb_store(source)  # erases a contact: its hash depends on the laptop's own key
    refused = run_cli("migrate-store", "--from", source, "--to", pg_database)
    assert refused.code == 1 and "SUPPRESSION_HMAC_KEY" in refused.stderr
    with open_store(str(source)) as st:
        own = st.con.execute("SELECT value FROM store_settings WHERE key = 'hmac_key'").fetchone()[0]
    monkeypatch.setenv("SUPPRESSION_HMAC_KEY", f"hex:{own}")
    result = run_cli("migrate-store", "--from", source, "--to", pg_database)
    assert result.code == 0, result.stderr
    with open_store(pg_database) as st:
        stored = dict(st.con.execute("SELECT key, value FROM store_settings").fetchall())
    assert "hmac_key" not in stored and "hmac_key_fingerprint" in stored
    check = ["bob@example.com", "nobody@example.com"]  # bob: erased, still matched by his hash
    assert ([r["suppressed"] for r in run_cli("check", "--tenant", "acme", "--json", "--store", pg_database,
                                               *check).json()] == [True, False])
