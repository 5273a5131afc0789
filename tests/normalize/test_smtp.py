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
    # RFC 3463 detail codes the reference names (platform-formats 17.2, 17.4).
    ("5.1.0", "", None, "hard_bounce"),
    ("5.7.18", "", None, "hard_bounce"),  # domain owner changed (RFC 7293)
    ("5.1.7", "", None, "policy_block"),  # bad sender address: the sender's problem
    ("5.7.27", "", None, "policy_block"),  # sender has a null MX
    ("5.2.3", "message length exceeds limit", None, "soft_bounce"),
    ("5.3.1", "", None, "soft_bounce"),
    ("5.6.1", "", None, "soft_bounce"),
    ("4.4.7", "", "hard_bounce", "soft_bounce"),  # class 4 is transient whatever the platform says
    ("2.0.0", "", None, None),  # a success is no bounce
    ("5.1.1", "mailbox full", None, "hard_bounce"),  # the code outranks the text
    # Enhanced codes as they appear inside replies.
    ("", "550-5.1.1 The email account that you tried to reach does not exist", None, "hard_bounce"),
    ("", "smtp; 550 #5.1.1 user unknown", None, "hard_bounce"),
    ("", "Remote server returned '550 5.2.2 mailbox full (#5.2.2)'", None, "soft_bounce"),
    ("", "(#5.7.1) relaying denied", None, "policy_block"),
    # Basic reply codes (RFC 5321) without an enhanced code.
    ("551", "", None, "hard_bounce"),
    ("553", "", None, "invalid"),
    ("421", "", "hard_bounce", "soft_bounce"),
    ("450", "", None, "soft_bounce"),
    ("452", "insufficient system storage", None, "soft_bounce"),
    ("550", "", None, "hard_bounce"),  # permanent, and the text says nothing else
    ("550", "mailbox full", None, "soft_bounce"),  # 550 is left to the text
    # 554 is too generic to outrank the text: Yahoo's dead mailbox is a hard bounce.
    ("554", "delivery error: dd This user doesn't have a yahoo.com account (x@example.com) [0]", None, "hard_bounce"),
    ("554", "Message rejected", None, "policy_block"),
    # Free text without any code.
    ("", "no such user here", None, "hard_bounce"),
    ("", "Recipient address rejected: User unknown in virtual mailbox table", None, "hard_bounce"),
    ("", "invalid recipient", None, "hard_bounce"),
    ("", "Host unknown", None, "hard_bounce"),
    ("", "over quota", None, "soft_bounce"),
    ("", "insufficient storage", None, "soft_bounce"),
    ("", "listed on a blacklist", None, "policy_block"),
    ("", "Message rejected due to local policy", None, "policy_block"),
    ("", "try again later", None, "soft_bounce"),
]


@pytest.mark.parametrize(("code", "text", "default", "expected"), CASES)
def test_classification(code, text, default, expected):
    frame = pl.DataFrame({"code": [code], "text": [text]})
    got = frame.select(classify(pl.col("code"), pl.col("text"), default))[0, 0]
    assert got == expected
