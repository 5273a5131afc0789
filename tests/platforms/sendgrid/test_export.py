"""SendGrid adapter on the samples in data/samples/sendgrid: every suppression list, UI CSV and API
JSON, detected among all adapters and mapped to reasons, scopes and lines."""
from __future__ import annotations

import polars as pl
import pytest

from pipelines.platforms.base import MapOptions, Probe
from pipelines.platforms.mailgun.export import ADAPTER as MAILGUN
from pipelines.platforms.sendgrid.export import ADAPTER
from tests.conftest import SAMPLES
from tests.platforms.helpers import by_line, load, mapped, tables, won

SG = SAMPLES / "sendgrid"


def one(path, tmp_path, kind):
    """Detected as SendGrid's (the kind; the plain list lower), then mapped."""
    (table,) = tables(path, tmp_path)
    return won(ADAPTER, table, kind)


def test_bounces_are_classified_by_smtp_code_and_text(tmp_path):
    match, frame = one(SG / "bounces.csv", tmp_path, "bounces")
    assert match.score == 95
    rows = by_line(frame)
    assert sorted(rows) == [2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]  # 9 is blank
    expected = {
        2: ("gone@example.com", "hard_bounce", "5.1.1"),
        3: ("nohost@example.org", "hard_bounce", "5.1.2"),
        4: ("Dup.Bounce@Example.com", "hard_bounce", "5.1.1"),
        5: ("full.box@example.org", "soft_bounce", "5.2.2"),  # mailbox full is transient
        6: ("later@example.net", "soft_bounce", "4.4.7"),
        7: ("policy@example.com", "policy_block", "5.7.1"),
        8: ("nocode@example.com", "hard_bounce", None),  # no code: the text says "No such user"
        19: ("silent@example.org", "hard_bounce", None),  # nothing said: a bounce list is hard
    }
    for line, (address, reason, status) in expected.items():
        assert (rows[line]["raw_address"], rows[line]["reason"], rows[line]["status"]) == (address, reason, status)
    assert rows[2]["occurred_raw"] == "1700000000"
    assert rows[2]["detail"] == "550 5.1.1 The email account that you tried to reach does not exist."
    assert rows[2]["scope"] is None
    # junk rows are passed on as they are (the normalizer quarantines them)
    assert [rows[n]["raw_address"] for n in (10, 11, 12, 13, 14)] == [
        "#02232014", "gmail.com", "To", "8/27/2015", 'name@example.comett@example.org"',
    ]
    assert [rows[n]["raw_address"] for n in (15, 16)] == ["gone@example.com", "GONE@example.com "]
    assert rows[17]["raw_address"] == "jürgen@bücher.example"
    assert rows[18]["raw_address"] == '"Kim Lee" <kim.lee@example.net>'


def test_blocks_are_policy_blocks_whatever_the_code(tmp_path):
    match, frame = one(SG / "blocks.csv", tmp_path, "blocks")
    rows = by_line(frame)
    assert sorted(rows) == [2, 3, 4, 6]
    assert set(frame["reason"]) == {"policy_block"}
    assert (rows[4]["raw_address"], rows[4]["status"]) == ("Dup.Bounce@Example.com", "5.1.1")
    # CRLF file: no carriage return left in the last column
    assert rows[2]["detail"] == "error dialing remote address: dial tcp 192.0.2.25:25: connect: no route to host"
    assert rows[6]["detail"].endswith("DMARC policy")
    assert rows[6]["raw_address"] == "dmarc@example.net "


def test_spam_reports_from_gzip(tmp_path):
    table, _ = load(SG / "spam_reports.csv.gz", tmp_path)
    assert table.source.name == "spam_reports.csv"
    match, frame = one(SG / "spam_reports.csv.gz", tmp_path, "spam_reports")
    rows = by_line(frame)
    assert sorted(rows) == [2, 3, 4, 5, 6]
    assert set(frame["reason"]) == {"spam_complaint"}
    assert (rows[3]["raw_address"], rows[3]["detail"]) == ("Angry@Example.NET", "198.51.100.23")
    assert rows[5]["raw_address"] == "hans@bücher.example"


def test_invalid_emails_with_old_timestamp_format(tmp_path):
    _, frame = one(SG / "invalid_emails.csv", tmp_path, "invalid_emails")
    rows = by_line(frame)
    assert sorted(rows) == [2, 3, 4, 6]
    assert set(frame["reason"]) == {"invalid"}
    assert rows[2]["occurred_raw"] == "2016-04-01 10:00:00"
    assert rows[2]["detail"] == "Mail domain mentioned in email address is unknown"
    assert rows[6]["raw_address"] == "trailing.dot@example.org."


def test_global_unsubscribes_are_marketing(tmp_path):
    _, frame = one(SG / "global_unsubscribes.csv", tmp_path, "unsubscribes")
    rows = by_line(frame)
    assert sorted(rows) == [2, 3, 4, 5, 7]  # 6 holds only spaces
    assert set(frame["reason"]) == {"unsubscribe"}
    assert set(frame["scope"]) == {"marketing"}
    assert rows[4]["raw_address"] == "mailto:bye@example.org"
    assert rows[5]["occurred_raw"] == "1698300000"


@pytest.mark.parametrize("name, first_line", [("group_unsubscribes.csv", 2), ("asm_suppressions_api.json", 1)])
def test_group_unsubscribes_are_scoped_to_the_group(tmp_path, name, first_line):
    match, frame = one(SG / name, tmp_path, "group_unsubscribes")
    assert match.score == 95
    rows = by_line(frame)
    assert set(frame["reason"]) == {"unsubscribe"}
    assert (rows[first_line]["raw_address"], rows[first_line]["scope"], rows[first_line]["detail"]) == (
        "weekly.reader@example.org", "list:1234", "Weekly Digest",
    )
    assert rows[first_line]["occurred_raw"] == "1701000000"
    if name.endswith(".csv"):
        assert [rows[n]["scope"] for n in (3, 4, 5)] == ["list:5678", "list:1234", "marketing"]  # 5: no group id
    else:
        assert rows[2]["scope"] == "list:42"  # group_id was a JSON number


def test_api_bounces_json(tmp_path):
    table, _ = load(SG / "bounces_api.json", tmp_path)
    assert table.fmt == "json"
    _, frame = one(SG / "bounces_api.json", tmp_path, "bounces")
    got = {r["_line"]: (r["raw_address"], r["reason"], r["occurred_raw"]) for r in frame.iter_rows(named=True)}
    assert got == {
        1: ("api.gone@example.com", "hard_bounce", "1443651154"),
        2: ("api.full@example.org", "soft_bounce", "1443651155"),
        3: ("api.policy@example.net", "policy_block", "1443651156"),
        4: ("dup.bounce@example.com", "hard_bounce", "1443651157"),
    }


def fake(name: str, columns: list[str], values: dict[str, str] | None = None) -> Probe:
    values = values or {}
    sample = pl.DataFrame({c: [values.get(c, "x@example.com" if c == "email" else "1700000000")] for c in columns})
    return Probe(name, "csv", columns, True, sample)


@pytest.mark.parametrize(
    "name, columns, kind, score",
    [
        ("export.csv", ["email", "created"], "unsubscribes", 60),  # no hint: the global unsubscribes
        ("spam_reports.csv", ["email", "created"], "spam_reports", 90),  # ip column removed
        ("suppression_blocks (2).csv", ["email", "created", "status", "reason"], "blocks", 95),
        ("export.csv", ["email", "created", "status", "reason"], "bounces", 80),
        ("export.csv", ["email", "created", "ip"], "spam_reports", 85),
        ("export.csv", ["email", "created", "reason"], "invalid_emails", 80),
        ("bounces.csv", ["email", "created", "ip"], "spam_reports", 85),  # columns beat a wrong name
        ("group_unsubscribes_1234.csv", ["email", "created"], "group_unsubscribes", 95),
        ("export.csv", ["Email", "Created", "_col3"], "unsubscribes", 60),  # trailing comma column
    ],
)
def test_kind_from_columns_and_file_name(name, columns, kind, score):
    match = ADAPTER.detect(fake(name, columns))
    assert match is not None and (match.kind, match.score) == (kind, score)


def test_group_id_from_the_file_name_when_the_export_has_none(tmp_path):
    probe = fake("group_unsubscribes_1234.csv", ["email", "created"])
    match = ADAPTER.detect(probe)
    frame = ADAPTER.map(probe.sample.with_columns(pl.lit(2).alias("_line")).lazy(), probe, match, MapOptions())
    assert frame.collect()["scope"].to_list() == ["list:1234"]


def test_non_sendgrid_times_lower_the_two_column_guess():
    match = ADAPTER.detect(fake("export.csv", ["email", "created"], {"created": "Tue, 05 Mar 2024 14:03:22 UTC"}))
    assert (match.kind, match.score) == ("unsubscribes", 50)


@pytest.mark.parametrize(
    "columns",
    [
        ["address", "created_at"],  # Mailgun complaints
        ["address", "code", "error", "created_at"],  # Mailgun bounces
        ["email"],  # a plain list
        ["email", "created", "first_name"],  # some other export
        ["EmailAddress", "Reason", "LastUpdateTime"],  # SES
    ],
)
def test_other_layouts_are_not_sendgrid(columns):
    assert ADAPTER.detect(fake("bounces.csv", columns)) is None


def test_sendgrid_files_are_not_mailgun(tmp_path):
    for name in ("bounces.csv", "global_unsubscribes.csv", "group_unsubscribes.csv", "invalid_emails.csv"):
        _, probe = load(SG / name, tmp_path)
        assert MAILGUN.detect(probe) is None, name


def test_bounce_with_unknown_code_keeps_it_and_defaults_to_hard():
    probe = fake("bounces.csv", ["email", "created", "status", "reason"])
    frame = pl.DataFrame({
        "_line": [2, 3], "email": ["a@example.com", "b@example.com"], "created": ["1", "2"],
        "status": ["2.0.0", "5.7.1"], "reason": ["250 ok?", "rejected"],
    })
    match = ADAPTER.detect(probe)
    out = mapped(ADAPTER, frame.lazy(), probe, match)
    assert out.select("reason", "status", "detail").rows() == [
        ("hard_bounce", "2.0.0", "250 ok?"), ("policy_block", "5.7.1", "rejected"),
    ]
