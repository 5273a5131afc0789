"""AWS Signature Version 4 against AWS's published test-suite signatures (get-vanilla and
get-vanilla-query-order-key-case, credentials AKIDEXAMPLE, 2015-08-30T12:36:00Z, us-east-1)."""
from __future__ import annotations

from datetime import UTC, datetime

import httpx

from pipelines.platforms.ses.sigv4 import SigV4Auth, canonical_query

SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
PREFIX = ("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
          "SignedHeaders=host;x-amz-date, Signature=")


def signed(url: str, token: str | None = None) -> httpx.Request:
    auth = SigV4Auth("AKIDEXAMPLE", SECRET, "us-east-1", "service", session_token=token,
                     clock=lambda: datetime(2015, 8, 30, 12, 36, tzinfo=UTC))
    request = httpx.Request("GET", url)
    auth.sign(request)
    return request


def test_get_vanilla():
    request = signed("https://example.amazonaws.com/")
    assert request.headers["x-amz-date"] == "20150830T123600Z"
    assert request.headers["authorization"] == PREFIX + "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"


def test_get_vanilla_query_order_key_case():
    request = signed("https://example.amazonaws.com/?Param2=value2&Param1=value1")
    assert request.headers["authorization"] == PREFIX + "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"


def test_session_token_is_sent_and_signed():
    request = signed("https://example.amazonaws.com/", token="tok/en+1")
    assert request.headers["x-amz-security-token"] == "tok/en+1"
    assert "SignedHeaders=host;x-amz-date;x-amz-security-token," in request.headers["authorization"]
    assert not request.headers["authorization"].endswith("5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")


def test_canonical_query_encodes_and_sorts():
    assert canonical_query("b=2&a=x%3Ay&Reason=BOUNCE&Reason=COMPLAINT&e=") == "Reason=BOUNCE&Reason=COMPLAINT&a=x%3Ay&b=2&e="
    assert canonical_query("StartDate=2024-05-09T20:00:00Z") == "StartDate=2024-05-09T20%3A00%3A00Z"
    assert canonical_query("") == ""
