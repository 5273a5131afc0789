"""Twilio adapter on its sample exports: opt-out files and message logs (STOP keywords)."""
from __future__ import annotations

import polars as pl

from pipelines.platforms.events.export import ADAPTER as EVENT_FILE
from pipelines.platforms.generic.export import ADAPTER as PLAIN_LIST
from pipelines.platforms.twilio.export import ADAPTER, HELP_KEYWORDS, OPT_IN_KEYWORDS, OPT_OUT_KEYWORDS
from tests.conftest import SAMPLES
from tests.platforms.helpers import by_line, claim, run_adapter, write

DIR = SAMPLES / "twilio"


def run(path, tmp_path, kind):
    """Detect (the kind; the generic adapters lose), map: SMS only."""
    out = run_adapter(ADAPTER, path, tmp_path, kind, against=(PLAIN_LIST, EVENT_FILE))
    assert set(out["channel"]) == {"sms"}
    return out


def test_opt_out_file(tmp_path):
    out = run(DIR / "twilio_opt_outs.csv", tmp_path, "opt_outs")
    rows = by_line(out)
    assert 7 not in rows  # blank line
    assert (rows[2]["raw_address"], rows[2]["reason"], rows[2]["scope"], rows[2]["detail"]) == (
        "+14155550123", "unsubscribe", "marketing", "+14155550100",
    )
    assert rows[2]["occurred_raw"] == "2024-05-01T12:00:00Z"
    assert rows[3]["reason"] == "unsubscribe" and rows[3]["status"] == "stop"  # lowercase keyword
    assert rows[3]["detail"] == "MG0123456789abcdef0123456789abcdef"
    assert rows[4]["raw_address"] == "(415) 555-0142"  # national: E.164 later, with the default region
    assert rows[5]["raw_address"] == "1.41555E+10"  # Excel-mangled: the normalizer rejects it
    assert rows[6]["reason"] == "unsubscribe"  # "Cancel "
    assert (rows[9]["event"], rows[9]["reason"]) == ("ignored", None)  # START never lifts anything
    assert rows[10]["reason"] == "unsubscribe"  # StopAll
    assert (rows[11]["event"], rows[11]["reason"], rows[11]["status"]) == ("suppression", None, "ARRET")
    assert rows[13]["reason"] is None and not rows[13]["status"]  # no keyword: missing status
    assert out.filter(pl.col("raw_address") == "+14155550123").height == 2


def test_console_message_export(tmp_path):
    out = run(DIR / "twilio_messages_export.csv", tmp_path, "messages")
    rows = by_line(out)
    verdict = {n: (rows[n]["event"], rows[n]["reason"]) for n in rows}
    unsub, ignored = ("suppression", "unsubscribe"), ("ignored", None)
    assert verdict == {
        2: unsub,  # STOP
        3: ignored,  # "Stop please": not the whole body
        4: unsub,  # "  stop  "
        5: ignored,  # HELP
        6: ignored,  # START
        7: unsub,  # Unsubscribe
        8: ignored,  # ordinary reply
        9: unsub,  # outbound refused with 21610: the recipient had replied STOP
        10: ignored,  # ordinary outbound
        11: ignored,  # an outbound body saying STOP is not an opt-out
        12: unsub,  # "end" to a UK sender
        13: unsub,  # duplicate of line 2
        15: ignored,  # "quit." is not the keyword
        16: ignored,  # empty body
    }
    assert rows[2]["raw_address"] == "+14155550123" and rows[2]["detail"] == "+14155550100"
    assert rows[2]["occurred_raw"] == "2024-05-01T12:00:00-07:00"
    assert rows[3]["status"] == "Stop please"
    # 21610: the address is the To of the outbound message, the sender its From.
    assert (rows[9]["raw_address"], rows[9]["detail"], rows[9]["status"]) == ("+14155550123", "+14155550100", "error 21610")
    assert rows[12]["raw_address"] == "+447700900123" and rows[12]["detail"] == "+447700900999"
    assert out.filter(pl.col("reason") == "unsubscribe")["scope"].unique().to_list() == ["marketing"]
    ignored_rows = out.filter(pl.col("event") == "ignored")
    assert ignored_rows.height == 8 and ignored_rows["scope"].null_count() == 8


def test_api_messages_json(tmp_path):
    out = run(DIR / "messages_2024-05.json", tmp_path, "messages")
    got = [(r["raw_address"], r["event"], r["reason"]) for r in out.iter_rows(named=True)]
    assert got == [
        ("+14155550134", "suppression", "unsubscribe"),
        ("+14155550135", "ignored", None),
        ("+447700900789", "suppression", "unsubscribe"),  # "revoke"
        ("+447700900789", "suppression", "unsubscribe"),  # error_code 21610
        ("+14155550136", "ignored", None),  # INFO
    ]
    assert out["occurred_raw"][0] == "Wed, 01 May 2024 19:00:00 +0000"
    assert out["occurred_raw"][3] == "Thu, 02 May 2024 08:00:00 +0000"  # no date_sent: date_created


def test_webhook_log_with_opt_out_type(tmp_path):
    out = run(DIR / "inbound_webhooks.ndjson", tmp_path, "messages")
    rows = by_line(out)
    assert (rows[1]["reason"], rows[1]["status"]) == ("unsubscribe", "STOP")
    assert rows[2]["event"] == "ignored" and rows[3]["event"] == "ignored"  # START, HELP
    assert rows[4]["event"] == "ignored"  # no OptOutType, ordinary body
    assert 5 not in rows
    assert rows[6]["raw_address"] == "(415) 555-0144" and rows[6]["reason"] == "unsubscribe"  # STOPALL body
    # An OptOutType Twilio does not document: quarantined, not guessed from the body.
    assert (rows[7]["event"], rows[7]["reason"], rows[7]["status"]) == ("suppression", None, "PAUSE")


def test_every_keyword_is_whole_body_and_case_insensitive(tmp_path):
    bodies = [k.lower() for k in OPT_OUT_KEYWORDS] + ["stop now", "please stop", "STOP!", "Stop please"]
    lines = ["From,To,Body,DateSent"] + [f"+1415555{1000 + i},+14155550100,{b},2024-05-01" for i, b in enumerate(bodies)]
    out = run(write(tmp_path, "inbound.csv", "\n".join(lines) + "\n"), tmp_path, "messages")
    n = len(OPT_OUT_KEYWORDS)
    assert out["reason"].to_list() == ["unsubscribe"] * n + [None] * 4
    assert out["event"].to_list() == ["suppression"] * n + ["ignored"] * 4


def test_email_message_log_is_not_twilio(tmp_path):
    assert claim(ADAPTER, write(tmp_path, "mail.csv", "From,To,Body\nnews@example.org,a@example.com,STOP\n"), tmp_path) is None


def test_opt_in_and_help_keywords_never_suppress_nor_lift(cli, tmp_path):
    """Every opt-in and help keyword, in an opt-out file and as a whole inbound body, through ingest:
    read and ignored; an earlier STOP from the same number stays."""
    keywords = [*OPT_IN_KEYWORDS, *HELP_KEYWORDS]
    opt_outs = write(tmp_path, "twilio_opt_outs.csv", "phone,sender,keyword,received_at\n+14155551000,+14155550100,STOP,2024-05-01T00:00:00Z\n"
                     + "".join(f"+1415555{1001 + i},+14155550100,{k.lower()},2024-05-02T00:00:00Z\n" for i, k in enumerate(keywords)))
    messages = write(tmp_path, "messages.csv", "From,To,Body,DateSent,Direction\n"
                     + "".join(f"+14155551000,+14155550100,{k.title()},2024-05-0{3 + i % 5}T00:00:00Z,inbound\n" for i, k in enumerate(keywords)))
    result = cli("ingest", "--tenant", "t", "--json", opt_outs, messages)
    assert result.code == 0, result.stderr
    s = result.json()
    assert s["rows_rejected"] == 0
    assert s["rows_ignored"] == 2 * len(keywords)
    exported = cli("export", "--tenant", "t").stdout.splitlines()[1:]
    assert [line.split(",")[1:5] for line in exported] == [["sms", "+14155551000", "unsubscribe", "marketing"]]
