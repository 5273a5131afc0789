"""Mailgun adapter on the samples in data/samples/mailgun: bounces, unsubscribes and complaints as
CSV and API JSON, detected among all adapters and mapped to reasons, scopes and lines."""
from __future__ import annotations

import polars as pl
import pytest

from pipelines import sources
from pipelines.normalize.records import resolve_smtp_reasons
from pipelines.readers import iter_inputs, read_table
from pipelines.sources import generic, mailgun, sendgrid
from pipelines.sources.base import MapOptions, Probe
from tests.conftest import SAMPLES

MG = SAMPLES / "mailgun"


@pytest.fixture
def detect():
    return sources.detect


def probe_of(path, tmp_path):
    (source,) = list(iter_inputs([path], tmp_path))
    table = read_table(source)
    return table, Probe.of(table)


def one(path, tmp_path, detect, kind):
    table, probe = probe_of(path, tmp_path)
    adapter, match = detect(probe)
    assert adapter is mailgun.ADAPTER, (adapter.name, match)
    assert match.kind == kind
    plain = generic.ADAPTER.detect(probe)
    assert plain is None or plain.score < match.score
    assert sendgrid.ADAPTER.detect(probe) is None
    return match, resolve_smtp_reasons(adapter.map(table.frame, probe, match, MapOptions()).collect())


def rows_by_line(frame: pl.DataFrame) -> dict[int, dict]:
    return {r["_line"]: r for r in frame.iter_rows(named=True)}


def test_bounces_csv(tmp_path, detect):
    match, frame = one(MG / "bounces.csv", tmp_path, detect, "bounces")
    assert match.score == 95
    rows = rows_by_line(frame)
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


def test_bounces_api_json_with_numeric_and_string_codes(tmp_path, detect):
    table, _ = probe_of(MG / "bounces_api.json", tmp_path)
    assert table.fmt == "json" and "paging.next" not in table.columns
    _, frame = one(MG / "bounces_api.json", tmp_path, detect, "bounces")
    got = {r["_line"]: (r["raw_address"], r["reason"], r["status"]) for r in frame.iter_rows(named=True)}
    assert got == {
        1: ("api.nobody@example.com", "hard_bounce", "550"),
        2: ("api.quota@example.org", "soft_bounce", "552"),  # code was the number 552
        3: ("api.policy@example.net", "policy_block", "554"),
        4: ("api.unknown@example.com", "hard_bounce", "550"),
    }


def test_unsubscribes_tag_star_is_marketing_else_one_list_per_tag(tmp_path, detect):
    _, frame = one(MG / "unsubscribes.csv", tmp_path, detect, "unsubscribes")
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
    assert rows_by_line(frame)[3]["occurred_raw"] == "Thu, 02 May 2024 09:30:00 UTC"


def test_unsubscribes_api_json_tags_list(tmp_path, detect):
    _, frame = one(MG / "unsubscribes_api.json", tmp_path, detect, "unsubscribes")
    got = [(r["_line"], r["raw_address"], r["scope"]) for r in frame.iter_rows(named=True)]
    assert got == [
        (1, "api.all@example.com", "marketing"),
        (2, "api.some@example.org", "list:newsletter"),
        (2, "api.some@example.org", "list:promo"),
    ]


def test_complaints(tmp_path, detect):
    match, frame = one(MG / "complaints.csv", tmp_path, detect, "complaints")
    assert match.score == 95
    rows = rows_by_line(frame)
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
    match = mailgun.ADAPTER.detect(fake(name, columns, created))
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
    assert mailgun.ADAPTER.detect(fake("complaints.csv", columns)) is None


def test_bounce_without_code_column_defaults_to_hard():
    probe = fake("bounces.csv", ["address", "created_at"])
    match = mailgun.ADAPTER.detect(probe)
    frame = pl.DataFrame({"_line": [2], "address": ["a@example.com"], "created_at": ["Tue, 05 Mar 2024 14:03:22 UTC"]})
    out = resolve_smtp_reasons(mailgun.ADAPTER.map(frame.lazy(), probe, match, MapOptions()).collect())
    assert out.select("reason", "status", "scope").rows() == [("hard_bounce", None, None)]
