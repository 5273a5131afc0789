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


def test_a_store_check_of_inputs_without_an_address_finds_nothing(cli, tmp_path):
    """Only unparseable inputs (address null): no lookup to make, and no error (DuckDB's point
    lookup used to index an empty list)."""
    import polars as pl

    listed = tmp_path / "bounces.csv"
    listed.write_text("email\nuser1@example.com\n")
    assert cli("ingest", "--tenant", "acme", listed).code == 0
    inputs = pl.DataFrame({"idx": [0, 1], "channel": ["email", "sms"], "address": [None, None]},
                          schema={"idx": pl.UInt32, "channel": pl.String, "address": pl.String})
    with open_store(str(cli.store)) as st:
        found = st.check("acme", inputs)
    assert found.height == 0 and found.columns == ["idx", "reason", "scope"]


def test_a_few_addresses_are_checked_through_the_index_with_the_answers_of_a_bulk_check(cli, tmp_path, monkeypatch):
    """DuckDB answers up to POINT_LOOKUP_MAX inputs from its lookup index and more with a join:
    both must give the same rows, erased addresses (found by their token) included."""
    from pipelines.lookup import check_frame

    monkeypatch.chdir(tmp_path)  # the deletion's safety copy goes to ./safety-exports
    monkeypatch.delenv("SUPPRESSION_SAFETY_DIR", raising=False)
    listed = tmp_path / "events.csv"
    listed.write_text("address,event,occurred_at\n" + "".join(
        f"user{i}@example.com,{'unsubscribe' if i % 3 else 'hard_bounce'},2024-02-0{1 + i % 9}T00:00:00Z\n"
        for i in range(60)) + "+14155550100,unsubscribe,2024-02-01T00:00:00Z\n")
    assert cli("ingest", "--tenant", "acme", "--default-region", "US", listed).code == 0
    people = tmp_path / "contacts.csv"
    people.write_text("id,email,phone,first_name,marketing_consent\nc1,user3@example.com,,Gus,subscribed\n")
    assert cli("contacts", "import", "--tenant", "acme", people).code == 0
    assert cli("contacts", "delete", "--tenant", "acme", "--yes", "c1").code == 0  # user3 is now a token
    inputs = [f"User{i}@Example.com" for i in range(0, 80, 2)] + ["USER3@example.com", "(415) 555-0100",
                                                                   "not an address", ""]
    with open_store(str(cli.store)) as st:
        bulk = check_frame(st, "acme", inputs, "marketing", "US")
        # 1, 3 and 5 inputs a call: the point lookups with 2, 8 and 32 places (address and token each)
        few = {size: [check_frame(st, "acme", inputs[k:k + size], "marketing", "US")
                      for k in range(0, len(inputs), size)] for size in (1, 3, 5)}
    assert len(inputs) > 16 >= 5  # duckdb_store.POINT_LOOKUP_MAX: one join, then point lookups
    for frames in few.values():
        assert bulk.to_dicts() == [r for f in frames for r in f.to_dicts()]
    suppressed = dict(zip(bulk["input"], bulk["suppressed"], strict=True))
    assert suppressed["User6@Example.com"] and suppressed["(415) 555-0100"] and not suppressed["User62@Example.com"]
    assert suppressed["USER3@example.com"]  # erased: found by its token on both paths


def test_duckdb_point_lookups_use_the_index_and_bulk_loads_rebuild_it(store, cli, tmp_path, monkeypatch):
    from tests.conftest import duckdb_only

    duckdb_only(store)
    import pipelines.store.duckdb_store as ds

    monkeypatch.setattr(ds, "INDEX_REBUILD_MIN_ROWS", 10)  # every load below is a bulk load
    decided = []
    bulk_load = ds.DuckDBStore._bulk_load
    monkeypatch.setattr(ds.DuckDBStore, "_bulk_load", lambda self, stage: decided.append(bulk_load(self, stage)) or decided[-1])
    listed = tmp_path / "bounces.csv"
    listed.write_text("email\n" + "".join(f"user{i}@example.com\n" for i in range(50)))

    def indexes(st):
        return st.con.execute("SELECT index_name FROM duckdb_indexes() WHERE table_name = 'suppressions'").fetchall()

    assert cli("ingest", "--tenant", "acme", "--dry-run", listed).code == 0  # dropped, rolled back, rebuilt
    assert cli("ingest", "--tenant", "acme", listed).code == 0  # dropped, inserted, committed, rebuilt
    assert decided == [True, True]
    with ds.DuckDBStore(store) as st:
        assert indexes(st) == [("suppressions_lookup",)]
        from pipelines.store.sql import sql_statements

        point = sql_statements("duckdb", "read")["check_point"]  # unused places repeat an input
        params = {"tenant": "acme", **{f"a{i}": "hmac:0" for i in range(32)}, "a0": "user7@example.com"}
        assert "Index Scan" in st.con.execute("EXPLAIN ANALYZE " + point, params).fetchall()[0][1]
        assert st.con.execute(point, params).fetchall() == [("email", "user7@example.com", "hard_bounce", "all")]
        st.con.execute("DROP INDEX suppressions_lookup")  # a load that died before rebuilding it
    with ds.DuckDBStore(store) as st:
        assert indexes(st) == [("suppressions_lookup",)]  # back at the next open


def _mixed_store(cli, tmp_path, monkeypatch) -> None:
    """Every reason, list-scoped unsubscribes (one list mapped), a phone number, and an erased
    address (stored as its token)."""
    monkeypatch.chdir(tmp_path)  # the deletion's safety copy goes to ./safety-exports
    monkeypatch.delenv("SUPPRESSION_SAFETY_DIR", raising=False)
    events = tmp_path / "events.csv"
    events.write_text(
        "address,event,occurred_at,scope\n"
        "hard@example.com,hard_bounce,2024-01-01T00:00:00Z,\n"
        "news@example.com,unsubscribe,2024-01-02T00:00:00Z,list:old-news\n"
        "news@example.com,soft_bounce,2024-01-03T00:00:00Z,\n"
        "promo@example.com,unsubscribe,2024-01-02T00:00:00Z,list:old-promo\n"
        "all@example.com,unsubscribe,2024-01-02T00:00:00Z,marketing\n"
        "policy@example.com,policy_block,2024-01-02T00:00:00Z,\n"
        "spam@example.com,spam_complaint,2024-01-02T00:00:00Z,\n"
        "manual@example.com,manual,2024-01-02T00:00:00Z,\n"
        "gone@example.com,hard_bounce,2024-01-02T00:00:00Z,\n"
        "+14155550100,unsubscribe,2024-01-02T00:00:00Z,\n")
    assert cli("ingest", "--tenant", "acme", "--default-region", "US", events).code == 0
    assert cli("lists", "map", "--tenant", "acme", "old-news", "newsletter").code == 0
    people = tmp_path / "contacts.csv"
    people.write_text("id,email,marketing_consent\nc1,gone@example.com,subscribed\n")
    assert cli("contacts", "import", "--tenant", "acme", people).code == 0
    assert cli("contacts", "delete", "--tenant", "acme", "--yes", "c1").code == 0  # gone@ is now a token


def test_a_few_inputs_are_checked_without_frames_with_the_rows_of_the_frames(cli, tmp_path, monkeypatch):
    """`check_rows` (a one-address `suppress check`, no Polars) gives `check_frame`'s rows: every
    reason, scope, purpose and list, erased addresses, phone numbers, invalid inputs, duplicates."""
    from pipelines.lookup import FEW_INPUTS, check_frame, check_rows

    _mixed_store(cli, tmp_path, monkeypatch)
    inputs = ["HARD@example.com", "news@example.com", "promo@example.com", "all@example.com", "Policy@Example.com",
              "spam@example.com", "manual@example.com", "gone@example.com", "fresh@example.com", "(415) 555-0100",
              "tel:+1 415 555 0100", "not an address", "", "1.41555E+10", "hard@example.com", "+1 415 555 0199",
              "news@example.com"]
    with open_store(str(cli.store)) as st:
        for purpose in ("marketing", "transactional"):
            for send_list in (None, "newsletter"):
                for k in range(0, len(inputs), 4):
                    window = inputs[k:k + FEW_INPUTS]
                    rows = check_rows(st, "acme", window, purpose, "US", send_list)
                    assert rows == check_frame(st, "acme", window, purpose, "US", send_list).to_dicts()
        assert check_rows(st, "acme", inputs, "marketing", "US") is None  # more than FEW_INPUTS: frames
        assert check_rows(st, "acme", ["Jane <jane@example.com>"], "marketing", None) is None  # the full path's
        assert check_rows(st, "acme", ["415\u00a0555 0100"], "marketing", "US") is None
        rows = check_rows(st, "acme", ["gone@example.com", "news@example.com"], "marketing", None, "newsletter")
        assert [(r["suppressed"], r["reasons"]) for r in rows] == [(True, ["hard_bounce"]),
                                                                    (True, ["soft_bounce", "unsubscribe"])]


def test_the_check_rules_for_one_value_are_the_frames_rules():
    """`rules.clean_email`/`clean_phone` and `model.blocks` against the column-wise rules, on
    values that each path takes."""
    import random
    import string

    import polars as pl

    from pipelines.lookup import _normalize_one, normalize_inputs
    from pipelines.model import BLOCKS_ALL, REASONS, blocks, blocks_expr

    rng = random.Random(7)
    odd = string.printable + "\x00\x1c\x1f\u00a0\u200b\u2028\ufeffé例ſK"
    values = ["", " ", "'", "tel:", "SMS: 415 555 0100", "1.41555E+10", "+1.4E10", "(415) 555-0142", "12", "a@b",
              "a@b.", "a@@b.com", "x" * 245 + "@b.com", "x" * 250 + "@b.com", "-x@y.com", "b@example.com\n", "A@B.CO"]
    for _ in range(3000):
        kind = rng.random()
        if kind < 0.35:
            values.append("".join(rng.choice(odd) for _ in range(rng.randint(0, 12))))
        elif kind < 0.7:
            values.append("".join(rng.choice("0123456789 +-().'eEtlsm:") for _ in range(rng.randint(0, 16))))
        else:
            chars = string.ascii_letters + string.digits + ".!#$%&*+/=?^_{|}~-"
            values.append("".join(rng.choice(chars) for _ in range(rng.randint(0, 8))) + "@"
                          + "".join(rng.choice(string.ascii_letters + string.digits + "._-") for _ in range(rng.randint(0, 9))))
    for region in (None, "US", "gb"):
        frame = normalize_inputs(values, region)
        expected = list(zip(frame["channel"], frame["address"], frame["error"], strict=True))
        taken = [(one, want) for value, want in zip(values, expected, strict=True)
                 if (one := _normalize_one(value, region)) is not None]
        assert len(taken) > len(values) / 3
        assert [one for one, _ in taken] == [want for _, want in taken]

    scopes = ["all", "marketing", "list:old-news", "list:old-promo", "list:never-mapped"]
    rows = pl.DataFrame([(r, s) for r in REASONS for s in scopes], schema=["reason", "scope"], orient="row")
    mapping = {"list:old-news": "newsletter", "list:old-promo": "promotions"}
    for purpose in ("marketing", "transactional"):
        for send_list, given in ((None, None), ("newsletter", mapping), ("promotions", mapping), ("newsletter", {})):
            want = rows.select(blocks_expr(purpose, send_list, given))[:, 0].to_list()
            assert [blocks(r, s, purpose, send_list, given) for r, s in rows.iter_rows()] == want
    assert BLOCKS_ALL <= set(REASONS)
