"""Amazon SES adapter on its sample exports: suppression list, import files, event notifications."""
from __future__ import annotations

import polars as pl

from pipelines.readers import iter_inputs, read_table
from pipelines.sources import generic
from pipelines.sources.base import MapOptions, Probe
from pipelines.sources.ses import ADAPTER
from tests.conftest import SAMPLES

DIR = SAMPLES / "ses"


def load(path, tmp_path):
    (source,) = list(iter_inputs([path], tmp_path))
    table = read_table(source)
    return table, Probe.of(table)


def run(path, tmp_path, kind):
    """Detect (asserting the kind and that the generic list loses), then map and collect."""
    table, probe = load(path, tmp_path)
    match = ADAPTER.detect(probe)
    assert match is not None and match.kind == kind
    assert 50 <= match.score <= 95 and match.why
    other = generic.ADAPTER.detect(probe)
    assert other is None or other.score < match.score
    return ADAPTER.map(table.frame, probe, match, MapOptions()).collect()


def by_line(out: pl.DataFrame) -> dict[int, dict]:
    return {r["_line"]: r for r in out.iter_rows(named=True)}


def test_headerless_import_csv_beats_the_plain_list(tmp_path):
    path = DIR / "suppression-import.csv"
    _, probe = load(path, tmp_path)
    assert not probe.has_header
    assert generic.ADAPTER.detect(probe).score == 10  # the plain list claims it too, and loses
    out = run(path, tmp_path, "import_csv")
    rows = by_line(out)
    assert (rows[1]["raw_address"], rows[1]["reason"]) == ("recipient1@example.com", "hard_bounce")
    # AWS's own example: a space after the comma.
    assert (rows[2]["raw_address"], rows[2]["reason"], rows[2]["status"]) == (
        "recipient2@example.com", "spam_complaint", "COMPLAINT",
    )
    assert 5 not in rows  # blank line skipped, line numbers kept
    assert rows[6]["reason"] == "hard_bounce" and rows[6]["status"] == "bounce"
    assert rows[7]["reason"] == "spam_complaint"
    assert rows[11]["reason"] is None and rows[11]["status"] == "UNSUBSCRIBE"  # not an SES reason
    assert out["scope"].null_count() == out.height and out["occurred_raw"].null_count() == out.height


def test_import_ndjson(tmp_path):
    out = run(DIR / "suppression-import.ndjson", tmp_path, "import_ndjson")
    rows = by_line(out)
    assert out.height == 10 and 4 not in rows
    assert rows[3]["raw_address"] == "Mixed.Case@Example.ORG" and rows[3]["reason"] == "hard_bounce"
    assert rows[6]["reason"] == "spam_complaint"
    assert rows[8]["reason"] == "hard_bounce" and rows[8]["status"] == "BOUNCE"  # "BOUNCE " trimmed
    assert rows[9]["raw_address"] == "" and rows[9]["reason"] == "hard_bounce"  # rejected later: no address
    assert rows[11]["reason"] is None and rows[11]["status"] == "UNSUBSCRIBED"


def test_list_suppressed_destinations_json(tmp_path):
    out = run(DIR / "list-suppressed-destinations.json", tmp_path, "suppression_list")
    rows = by_line(out)
    assert out.height == 8
    assert (rows[1]["raw_address"], rows[1]["reason"], rows[1]["occurred_raw"]) == (
        "bounced@example.com", "hard_bounce", "1709283600.123",
    )
    assert rows[2]["reason"] == "spam_complaint"
    assert rows[2]["occurred_raw"].startswith("1709370000")
    assert rows[5]["occurred_raw"] == "1707350400.25"
    assert rows[8]["reason"] is None and rows[8]["status"] == "MANUAL"


def test_flattened_suppression_list_csv_gz(tmp_path):
    out = run(DIR / "suppressed_destinations_eu-west-1.csv.gz", tmp_path, "suppression_list")
    rows = by_line(out)
    assert 6 not in rows
    assert rows[2]["occurred_raw"] == "1709283600.123"
    assert rows[4]["raw_address"] == "user@bücher.example"
    assert rows[8]["reason"] == "spam_complaint" and rows[8]["occurred_raw"] == "2024-03-14T09:30:00Z"
    assert out["reason"].null_count() == 0


def test_event_notifications(tmp_path):
    out = run(DIR / "ses-events-2024-03.ndjson", tmp_path, "events")
    got = {(r["_line"], r["raw_address"]): (r["event"], r["reason"]) for r in out.iter_rows(named=True)}
    assert got == {
        (1, "bounced@example.com"): ("suppression", "hard_bounce"),  # 5.1.1
        # One record, two recipients, each judged on its own SMTP reply.
        (2, "Policy.Reject@Example.net"): ("suppression", "policy_block"),  # 5.7.1
        (2, "moved.away@example.net"): ("suppression", "hard_bounce"),  # 5.1.6
        (3, "full.box@example.com"): ("suppression", "soft_bounce"),
        (5, "already.listed@example.org"): ("ignored", None),  # OnAccountSuppressionList
        (6, "angry.reader@example.com"): ("suppression", "spam_complaint"),
        (7, "full.box@example.com"): ("delivered", None),
        (8, "someone@example.com"): ("ignored", None),  # Send
        (9, "puzzle@example.net"): ("suppression", "soft_bounce"),  # Undetermined, 5.0.0
        (10, "list.unsub@example.com"): ("suppression", "unsubscribe"),
        (11, "reader@example.com"): ("ignored", None),  # Open
        (12, "weird.type@example.org"): ("suppression", None),  # undocumented bounceType: quarantined
    }
    rows = {(r["_line"], r["raw_address"]): r for r in out.iter_rows(named=True)}
    unsub = rows[(10, "list.unsub@example.com")]
    assert unsub["scope"] == "marketing"
    first = rows[(1, "bounced@example.com")]
    assert first["status"] == "Bounce/Permanent/General"
    assert first["occurred_raw"] == "2024-03-01T14:15:00.000Z"
    assert "5.1.1" in first["detail"]
    assert rows[(12, "weird.type@example.org")]["status"] == "Bounce/Sideways/General"


def test_plain_email_reason_list_with_other_vocabulary_is_not_ses(tmp_path):
    path = tmp_path / "bounces.csv"
    path.write_text("a@example.com,hard_bounce\nb@example.com,unsubscribed\n")
    _, probe = load(path, tmp_path)
    assert ADAPTER.detect(probe) is None


def test_headed_email_reason_list_with_ses_values(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("EmailAddress,Reason\na@example.com,BOUNCE\nb@example.com,COMPLAINT\n")
    table, probe = load(path, tmp_path)
    match = ADAPTER.detect(probe)
    assert match is not None and match.kind == "suppression_list"
    assert match.score > generic.ADAPTER.detect(probe).score
    out = ADAPTER.map(table.frame, probe, match, MapOptions()).collect()
    assert out["reason"].to_list() == ["hard_bounce", "spam_complaint"]
