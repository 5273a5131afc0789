"""Store-level facts that the CLI does not show directly."""
from __future__ import annotations

from pipelines.store import open_store
from pipelines.store.base import address_hmac, migrations


def test_sql_hmac_matches_python_hmac(store):
    with open_store(str(store)) as st:
        sql_value = st.con.execute("SELECT address_hmac('jane@example.com')").fetchone()[0]
        assert sql_value == address_hmac(st.key, "jane@example.com")


def test_migrations_are_recorded_and_applied_once(store):
    with open_store(str(store)) as st:
        applied = st.con.execute("SELECT version, name FROM schema_migrations ORDER BY version").fetchall()
        assert applied == [(v, n) for v, n, _ in migrations("duckdb")]
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
