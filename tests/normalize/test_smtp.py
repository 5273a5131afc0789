import polars as pl
import pytest

from pipelines.normalize.smtp import classify

CASES = [
    # (code, text, default, expected)
    ("5.1.1", "", None, "hard_bounce"),
    ("", "550 5.1.1 The email account that you tried to reach does not exist.", None, "hard_bounce"),
    ("5.1.2", "Host unknown", None, "hard_bounce"),
    ("5.1.3", "", None, "invalid"),
    ("5.1.6", "", None, "hard_bounce"),
    ("5.1.10", "", None, "hard_bounce"),
    ("5.2.1", "", None, "hard_bounce"),
    ("5.2.2", "mailbox full", None, "soft_bounce"),  # x.2.2 is soft even when sent as 5.2.2
    ("4.2.2", "", None, "soft_bounce"),
    ("4.0.0", "error dialing remote address", "hard_bounce", "soft_bounce"),
    ("4.7.1", "try later", None, "soft_bounce"),
    ("5.7.1", "", None, "policy_block"),
    ("", "550 5.7.1 Message rejected: listed at spamhaus", None, "policy_block"),
    ("5.7.13", "", None, "hard_bounce"),
    ("5.7.17", "", None, "hard_bounce"),
    ("5.7.26", "", None, "policy_block"),
    ("5.4.4", "", None, "hard_bounce"),
    ("5.4.1", "", None, "soft_bounce"),
    ("5.3.4", "message too big", None, "soft_bounce"),
    ("550", "No such mailbox", None, "hard_bounce"),
    ("552", "", None, "soft_bounce"),
    ("554", "", None, "policy_block"),
    ("", "Mailbox full", None, "soft_bounce"),
    ("", "user unknown", None, "hard_bounce"),
    ("", "blocked due to poor reputation", None, "policy_block"),
    ("", "temporarily deferred", None, "soft_bounce"),
    ("", "", "hard_bounce", "hard_bounce"),  # silent rows take the platform's default
    ("", "", None, None),
    ("", "relay 192.168.5.1.1 said nothing", None, None),  # an IP is not a status code
]


@pytest.mark.parametrize(("code", "text", "default", "expected"), CASES)
def test_classification(code, text, default, expected):
    frame = pl.DataFrame({"code": [code], "text": [text]})
    got = frame.select(classify(pl.col("code"), pl.col("text"), default))[0, 0]
    assert got == expected
