"""Mailgun adapter on the samples in data/samples/mailgun: bounces, unsubscribes and complaints as
CSV and API JSON, detected among all adapters and mapped to reasons, scopes and lines."""
from __future__ import annotations

import polars as pl
import pytest

from pipelines.platforms.base import Probe
from pipelines.platforms.mailgun.export import ADAPTER
from pipelines.platforms.sendgrid.export import ADAPTER as SENDGRID
from tests.conftest import SAMPLES
from tests.platforms.helpers import by_line, load, mapped, tables, won

MG = SAMPLES / "mailgun"


def one(path, tmp_path, kind):
    """Detected as Mailgun's (the kind; the plain list lower, SendGrid not at all), then mapped."""
    (table,) = tables(path, tmp_path)
    assert SENDGRID.detect(Probe.of(table)) is None
    return won(ADAPTER, table, kind)


def test_bounces_csv(tmp_path):
    match, frame = one(MG / "bounces.csv", tmp_path, "bounces")
    assert match.score == 95
    rows = by_line(frame)
    assert sorted(rows) == [2, 3, 4, 5, 7, 8, 9, 10, 11]  # 6 is blank
    expected = {
        2: ("nobody@example.com", "hard_bounce", "550"),
        3: ("gone@example.org", "hard_bounce", "550"),  # "No such mailbox", no enhanced code
        4: ("Full.Box@Example.org", "soft_bounce", "552"),
        5: ("spamhaus@example.net", "policy_block", "550"),
        7: ("dup.bounce@example.com ", "hard_bounce", "550"),
        8: ("silent@example.com", "hard_bounce", None),  # Mailgun keeps permanent failures only
        9: ("gmail.com", "hard_bounce", "550"),
        10: ("nobody@example.com", "hard_bounce", "550"),
        11: ('"Jürgen" <jürgen@bücher.example>', "hard_bounce", "550"),
    }
    for line, (address, reason, status) in expected.items():
        assert (rows[line]["raw_address"], rows[line]["reason"], rows[line]["status"]) == (address, reason, status)
    assert rows[3]["detail"] == "No such mailbox"
    assert rows[3]["occurred_raw"] == "Fri, 21 Oct 2011 11:02:55 GMT"
    assert rows[4]["occurred_raw"] == "Mon, 2 Jan 2023 15:04:05 UTC"
    assert frame["scope"].null_count() == frame.height


def test_bounces_api_json_with_numeric_and_string_codes(tmp_path):
    table, _ = load(MG / "bounces_api.json", tmp_path)
    assert table.fmt == "json" and "paging.next" not in table.columns
    _, frame = one(MG / "bounces_api.json", tmp_path, "bounces")
    got = {r["_line"]: (r["raw_address"], r["reason"], r["status"]) for r in frame.iter_rows(named=True)}
    assert got == {
        1: ("api.nobody@example.com", "hard_bounce", "550"),
        2: ("api.quota@example.org", "soft_bounce", "552"),  # code was the number 552
        3: ("api.policy@example.net", "policy_block", "554"),
        4: ("api.unknown@example.com", "hard_bounce", "550"),
    }


def test_unsubscribes_tag_star_is_marketing_else_one_list_per_tag(tmp_path):
    _, frame = one(MG / "unsubscribes.csv", tmp_path, "unsubscribes")
    got = [(r["_line"], r["raw_address"], r["scope"]) for r in frame.iter_rows(named=True)]
    assert got == [
        (2, "optout@example.net", "marketing"),
        (3, "weekly-only@example.com", "list:weekly-digest"),
        (4, "Mixed.Case@Example.NET", "marketing"),  # no tag: all mail
        (5, "two.tags@example.org", "list:newsletter"),
        (5, "two.tags@example.org", "list:promo"),
        (7, "optout@example.net", "marketing"),
    ]
    assert set(frame["reason"]) == {"unsubscribe"}
    assert by_line(frame)[3]["occurred_raw"] == "Thu, 02 May 2024 09:30:00 UTC"


def test_unsubscribes_api_json_tags_list(tmp_path):
    _, frame = one(MG / "unsubscribes_api.json", tmp_path, "unsubscribes")
    got = [(r["_line"], r["raw_address"], r["scope"]) for r in frame.iter_rows(named=True)]
    assert got == [
        (1, "api.all@example.com", "marketing"),
        (2, "api.some@example.org", "list:newsletter"),
        (2, "api.some@example.org", "list:promo"),
    ]


def test_complaints(tmp_path):
    match, frame = one(MG / "complaints.csv", tmp_path, "complaints")
    assert match.score == 95
    rows = by_line(frame)
    assert sorted(rows) == [2, 3, 4, 5]
    assert set(frame["reason"]) == {"spam_complaint"}
    assert rows[2]["raw_address"] == "angry@example.net"
    assert rows[3]["raw_address"] == "Complainer@Example.COM"
    assert rows[4]["raw_address"] == "To"
    assert rows[5]["raw_address"] == "  spaced@example.org  "
    assert rows[3]["occurred_raw"] == "Wed, 06 Mar 2024 15:00:00 GMT"


def fake(name: str, columns: list[str], created: str = "Tue, 05 Mar 2024 14:03:22 UTC") -> Probe:
    sample = pl.DataFrame({c: [created if c == "created_at" else "x@example.com"] for c in columns})
    return Probe(name, "csv", columns, True, sample)


@pytest.mark.parametrize(
    "name, columns, created, kind, score",
    [
        ("export.csv", ["address", "created_at"], "Tue, 05 Mar 2024 14:03:22 UTC", "complaints", 75),
        ("export.csv", ["address", "created_at"], "2024-03-05 14:03:22", "complaints", 50),
        ("mg_bounces.csv", ["address", "created_at"], "2024-03-05", "bounces", 85),
        ("unsubscribes.csv", ["address", "created_at"], "2024-03-05", "unsubscribes", 85),
        ("export.csv", ["address", "tags", "created_at"], "2024-03-05", "unsubscribes", 95),
        ("export.csv", ["Address", "Code", "Error", "Created_At"], "x", "bounces", 95),
    ],
)
def test_kind_from_columns_name_and_times(name, columns, created, kind, score):
    match = ADAPTER.detect(fake(name, columns, created))
    assert match is not None and (match.kind, match.score) == (kind, score)


@pytest.mark.parametrize(
    "columns",
    [
        ["email", "created"],  # SendGrid unsubscribes
        ["address", "event", "occurred_at"],  # generic event file
        ["address"],  # plain list
        ["address", "created_at", "first_name"],  # something else
    ],
)
def test_other_layouts_are_not_mailgun(columns):
    assert ADAPTER.detect(fake("complaints.csv", columns)) is None


def test_bounce_without_code_column_defaults_to_hard():
    probe = fake("bounces.csv", ["address", "created_at"])
    match = ADAPTER.detect(probe)
    frame = pl.DataFrame({"_line": [2], "address": ["a@example.com"], "created_at": ["Tue, 05 Mar 2024 14:03:22 UTC"]})
    out = mapped(ADAPTER, frame.lazy(), probe, match)
    assert out.select("reason", "status", "scope").rows() == [("hard_bounce", None, None)]
