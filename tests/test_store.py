"""Store-level facts that the CLI does not show directly."""
from __future__ import annotations

from pipelines.store import open_store
from pipelines.store.base import address_hmac, migrations


def test_sql_hmac_matches_python_hmac(store):
    with open_store(str(store)) as st:
        if st.dialect == "duckdb":  # a per-connection macro holding the key
            sql_value = st.con.execute("SELECT address_hmac('jane@example.com')").fetchone()[0]
        else:  # a function taking the key per call: never stored in the database
            sql_value = st.con.execute("SELECT address_hmac('jane@example.com', %s)", [st.key]).fetchone()[0]
        assert sql_value == address_hmac(st.key, "jane@example.com")


def test_migrations_are_recorded_and_applied_once(store):
    with open_store(str(store)) as st:
        applied = st.con.execute("SELECT version, name FROM schema_migrations ORDER BY version").fetchall()
        assert applied == [(v, n) for v, n, _ in migrations(st.dialect)]
        assert st.migrate() == []


def test_key_is_stable_across_opens(store):
    with open_store(str(store)) as st:
        first = st.key
    with open_store(str(store)) as st:
        assert st.key == first


def test_env_key_is_never_stored(store, monkeypatch):
    monkeypatch.setenv("SUPPRESSION_HMAC_KEY", "production-secret")
    with open_store(str(store)) as st:
        stored = dict(st.con.execute("SELECT key, value FROM store_settings").fetchall())
        assert "hmac_key" not in stored and "hmac_key_fingerprint" in stored
        assert st.key == b"production-secret"
    monkeypatch.setenv("SUPPRESSION_HMAC_KEY", "another-secret")
    import pytest

    from pipelines.errors import UserError

    with pytest.raises(UserError, match="does not match"):
        open_store(str(store))


def test_bulk_check_finds_every_suppressed_address(cli, tmp_path):
    """Thousands of inputs at once (PostgreSQL COPYs them into a temp table instead of an array)."""
    from pipelines.lookup import check_addresses

    listed = tmp_path / "bounces.csv"
    listed.write_text("email\n" + "".join(f"user{i}@example.com\n" for i in range(1500)))
    assert cli("ingest", "--tenant", "acme", "--json", listed).json()["suppressions_added"] == 1500
    inputs = [f"USER{i}@example.com" for i in range(0, 3000, 2)] + ["not an address"]
    with open_store(str(cli.store)) as st:
        got = check_addresses(st, "acme", inputs, "marketing", None)
    assert [r["input"] for r in got] == inputs
    assert [r["suppressed"] for r in got] == [i < 1500 for i in range(0, 3000, 2)] + [False]
    assert got[0]["reasons"] == ["hard_bounce"] and got[-1]["address"] is None
