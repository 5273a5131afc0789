"""Amazon SES adapter on its sample exports: suppression list, import files, event notifications
(bare, or in the SNS envelope of an HTTP/SQS subscription, through the real CLI)."""
from __future__ import annotations

import json
from functools import partial

import pytest

from pipelines.platforms.generic.export import ADAPTER as PLAIN_LIST
from pipelines.platforms.ses.export import ADAPTER
from tests.conftest import SAMPLES
from tests.platforms import helpers
from tests.platforms.helpers import (
    as_detected,
    by_line,
    claim,
    detect,
    ingest,
    load,
    rejects,
    run_adapter,
    time_unknown,
    write,
)

DIR = SAMPLES / "ses"
EVENTS = DIR / "ses-events-2024-03.ndjson"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:ses-feedback"
run = partial(run_adapter, ADAPTER, against=(PLAIN_LIST,))  # and the plain list loses


def test_headerless_import_csv_beats_the_plain_list(tmp_path):
    path = DIR / "suppression-import.csv"
    _, probe = load(path, tmp_path)
    assert not probe.has_header
    assert PLAIN_LIST.detect(probe).score == 10  # the plain list claims it too, and loses
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
    assert claim(ADAPTER, write(tmp_path, "bounces.csv", "a@example.com,hard_bounce\nb@example.com,unsubscribed\n"), tmp_path) is None


def test_headed_email_reason_list_with_ses_values(tmp_path):
    path = write(tmp_path, "export.csv", "EmailAddress,Reason\na@example.com,BOUNCE\nb@example.com,COMPLAINT\n")
    _, probe = load(path, tmp_path)
    match = ADAPTER.detect(probe)
    assert match is not None and match.kind == "suppression_list"
    assert match.score > PLAIN_LIST.detect(probe).score
    out = as_detected(ADAPTER, path, tmp_path)
    assert out["reason"].to_list() == ["hard_bounce", "spam_complaint"]


# -- through the CLI -----------------------------------------------------------------------------


def exported(cli) -> dict[str, dict]:
    """Address -> its suppression (the last exported, where it has several)."""
    return {address: found[-1] for address, found in helpers.exported(cli).items()}


def envelope(message: str | None, *, type_: str = "Notification", n: int = 1, **extra) -> dict:
    """An SNS envelope as an HTTP/SQS subscription receives it; its Timestamp (publish time) is
    deliberately far from every event time, so a test sees if it were taken for one."""
    record = {"Type": type_, "MessageId": f"4d5c2a1e-0000-4000-8000-{n:012d}", "TopicArn": TOPIC}
    if message is not None:
        record["Message"] = message
    record.update({"Timestamp": "2024-12-31T23:59:59.000Z", "SignatureVersion": "1",
                   "Signature": "EXAMPLEpH+signature==", **extra})
    return record


def wrap_event_sample(tmp_path, as_array: bool):
    """The bare notification sample, each record wrapped in an envelope (blank line kept)."""
    lines = EVENTS.read_text().splitlines()
    records = [envelope(line, n=i) if line.strip() else None for i, line in enumerate(lines, 1)]
    if as_array:
        return write(tmp_path, "sns_export.json", json.dumps([r for r in records if r is not None], indent=2))
    return write(tmp_path, "sns_export.ndjson", "".join((json.dumps(r) if r else "") + "\n" for r in records))


# What the bare sample yields (test_event_notifications), with each event's own time.
EXPECTED_FROM_EVENT_SAMPLE = {
    "bounced@example.com": ("hard_bounce", "all", "2024-03-01T14:15:00"),
    "policy.reject@example.net": ("policy_block", "all", "2024-03-02T08:00:00"),
    "moved.away@example.net": ("hard_bounce", "all", "2024-03-02T08:00:00"),
    "full.box@example.com": ("soft_bounce", "all", "2024-03-03T09:00:00"),
    "angry.reader@example.com": ("spam_complaint", "all", "2024-03-05T11:00:00"),
    "puzzle@example.net": ("soft_bounce", "all", "2024-03-07T13:00:00"),
    "list.unsub@example.com": ("unsubscribe", "marketing", "2024-03-08T14:00:00"),
}


@pytest.mark.parametrize("as_array", [False, True], ids=["ndjson", "json_array"])
@pytest.mark.parametrize("platform", ["auto", "ses"])
def test_sns_enveloped_notifications_map_like_bare_ones(cli, tmp_path, as_array, platform):
    path = wrap_event_sample(tmp_path, as_array)
    found = detect("--platform", platform, path)
    assert (found["platform"], found["kind"]) == ("ses", "sns_events"), found
    s = ingest(cli, "--platform", platform, path)
    (f,) = s["files"]
    # 11 records: 1 quarantined (undocumented bounceType), Send, Open and OnAccountSuppressionList ignored.
    assert (f["kind"], f["rows_read"], f["rows_rejected"], f["rows_ignored"]) == ("sns_events", 11, 1, 3)
    assert s["deliveries"] == 1
    rows = exported(cli)
    got = {a: (r["reason"], r["scope"], r["first_seen_at"][:19]) for a, r in rows.items()}
    assert got == EXPECTED_FROM_EVENT_SAMPLE
    assert rows["bounced@example.com"]["detail"] == (
        'Bounce/Permanent/General; [{"emailAddress":"bounced@example.com","action":"failed","status":"5.1.1",'
        '"diagnosticCode":"smtp; 550 5.1.1 user unknown"}]'
    )
    assert rows["angry.reader@example.com"]["detail"] == (
        'Complaint/abuse; [{"emailAddress":"angry.reader@example.com"}]'
    )
    line = 11 if as_array else 12  # the array counts records; NDJSON keeps the blank line 4
    assert rejects(cli, s["run_id"]) == [(line, "weird.type@example.org", "unknown_status", "Bounce/Sideways/General")]


def test_sns_sample_with_control_messages(cli):
    path = DIR / "sns-feedback-2024-03.ndjson"
    found = detect(path)
    assert (found["platform"], found["kind"]) == ("ses", "sns_events")
    s = ingest(cli, path)
    (f,) = s["files"]
    # SubscriptionConfirmation (an SNS control message) and AmazonSnsSubscriptionSucceeded (SES's
    # set-up message) are ignored rows, not rejects.
    assert (f["rows_read"], f["rows_rejected"], f["rows_ignored"]) == (5, 0, 2)
    got = {a: (r["reason"], r["first_seen_at"][:19]) for a, r in exported(cli).items()}
    assert got == {
        "sns.gone@example.com": ("hard_bounce", "2024-03-01T09:59:59"),
        "sns.angry@example.org": ("spam_complaint", "2024-03-02T11:00:00"),
        "sns.full@example.net": ("soft_bounce", "2024-03-03T08:00:00"),
    }


def test_sns_envelopes_that_cannot_be_mapped(cli, tmp_path):
    bounce = {"notificationType": "Bounce", "bounce": {"bounceType": "Permanent", "bounceSubType": "General",
              "bouncedRecipients": [{"emailAddress": "kept@example.com", "status": "5.1.1"}],
              "timestamp": "2024-03-01T10:00:00.000Z"}, "mail": {"destination": ["kept@example.com"]}}
    records = [
        envelope(json.dumps(bounce), n=1),
        envelope('{"notificationType":"Bounce","bounce":{"bounceType":"Perm', n=2),  # cut short
        envelope('{"AlarmName":"queue-depth","NewStateValue":"ALARM"}', n=3),  # another service on the topic
        envelope(None, n=4),
        envelope("You have chosen to subscribe to the topic.", type_="SubscriptionConfirmation", n=5,
                 Token="2336412f37fb687f5d51e6e2425example"),
        envelope("You have chosen to deactivate subscription.", type_="UnsubscribeConfirmation", n=6),
    ]
    path = write(tmp_path, "feedback.ndjson", "".join(json.dumps(r) + "\n" for r in records))
    s = ingest(cli, "--platform", "ses", path)
    (f,) = s["files"]
    assert (f["rows_read"], f["rows_rejected"], f["rows_ignored"]) == (6, 3, 2)
    # No address can be read from these rows: quarantined, the detail says why.
    assert rejects(cli, s["run_id"]) == [
        (2, "", "empty_address", "Notification: Message is not valid JSON"),
        (3, "", "empty_address", "Notification: Message is not an SES notification"),
        (4, "", "empty_address", "Notification: no Message"),
    ]
    rows = exported(cli)
    assert list(rows) == ["kept@example.com"]
    assert rows["kept@example.com"]["first_seen_at"].startswith("2024-03-01T10:00:00")


@pytest.mark.parametrize("wrapped", [False, True], ids=["bare", "sns"])
def test_notification_without_a_time_keeps_it_unknown(cli, tmp_path, wrapped):
    # Neither bounce.timestamp nor mail.timestamp: neither the envelope's Timestamp nor any other
    # field may stand in for the event time.
    timed = {"notificationType": "Bounce", "bounce": {"bounceType": "Permanent", "bounceSubType": "General",
             "bouncedRecipients": [{"emailAddress": "timed@example.com", "status": "5.1.1"}],
             "timestamp": "2024-03-01T10:00:00.000Z"},
             "mail": {"timestamp": "2024-03-01T09:59:58.000Z", "source": "news@example.org", "messageId": "m1",
                      "destination": ["timed@example.com"]}}
    untimed = {"notificationType": "Bounce", "bounce": {"bounceType": "Permanent", "bounceSubType": "General",
               "bouncedRecipients": [{"emailAddress": "no.time@example.com", "status": "5.1.1"}]},
               "mail": {"source": "news@example.org", "messageId": "m2", "destination": ["no.time@example.com"]}}
    complaint = {"notificationType": "Complaint",
                 "complaint": {"complainedRecipients": [{"emailAddress": "no.time.either@example.org"}],
                               "complaintFeedbackType": "abuse", "arrivalDate": "2024-03-05T10:58:00.000Z"},
                 "mail": {"source": "news@example.org", "messageId": "m3",
                          "destination": ["no.time.either@example.org"]}}
    records = [timed, untimed, complaint]
    if wrapped:
        records = [envelope(json.dumps(r), n=i) for i, r in enumerate(records, 1)]
    path = write(tmp_path, "ses_notifications.ndjson", "".join(json.dumps(r) + "\n" for r in records))
    s = ingest(cli, path)
    assert s["files"][0]["kind"] == ("sns_events" if wrapped else "events")
    assert s["rows_rejected"] == 0
    assert s["time_warnings"] == {"missing_time": 2}  # counted as unknown, never filled in
    rows = exported(cli)
    assert rows["timed@example.com"]["first_seen_at"].startswith("2024-03-01T10:00:00")
    assert (rows["no.time@example.com"]["reason"], rows["no.time.either@example.org"]["reason"]) == (
        "hard_bounce", "spam_complaint",
    )
    assert time_unknown(rows["no.time@example.com"], s)
    assert time_unknown(rows["no.time.either@example.org"], s)


def test_sns_envelopes_of_other_services_are_not_ses(tmp_path):
    alarms = [envelope(json.dumps({"AlarmName": f"a{i}", "NewStateValue": "ALARM"}), n=i) for i in range(3)]
    path = write(tmp_path, "alarms.ndjson", "".join(json.dumps(r) + "\n" for r in alarms))
    assert detect(path)["platform"] is None
    assert detect("--platform", "ses", path)["platform"] is None
