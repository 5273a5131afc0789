"""Properties of the normalizers over generated inputs (hypothesis): what holds for every value,
not only for the listed cases of test_email.py / test_phone.py."""
from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.normalize.email import normalize_emails
from pipelines.normalize.phone import normalize_phones

LOCAL = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.+_-'", min_size=1, max_size=20)
LABEL = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12)
DOMAIN = st.lists(LABEL, min_size=2, max_size=3).map(".".join) | st.sampled_from(
    ["bücher.de", "EXAMPLE.COM", "example.com.", "例え.jp", "xn--bcher-kva.de"])
DECORATION = st.sampled_from(["{}", " {} ", "<{}>", '"Jane Doe" <{}>', "mailto:{}", "'{}'", "\u00a0{}\u200b",
                              "MAILTO:{}", "{},"])
ANY_TEXT = st.text(max_size=40)
EMAILS = st.builds(lambda local, domain, deco: deco.format(f"{local}@{domain}"), LOCAL, DOMAIN, DECORATION) | ANY_TEXT


def emails(values: list[str]) -> pl.DataFrame:
    return normalize_emails(pl.DataFrame({"raw": values}, schema={"raw": pl.String}), "raw", "address", "error")


@settings(max_examples=200, deadline=None)
@given(st.lists(EMAILS, min_size=1, max_size=30))
def test_normalizing_an_email_twice_changes_nothing(values):
    once = emails(values)
    accepted = once.filter(pl.col("error").is_null())["address"].to_list()
    again = emails(accepted)
    assert again["error"].to_list() == [None] * len(accepted)
    assert again["address"].to_list() == accepted


@settings(max_examples=200, deadline=None)
@given(st.lists(EMAILS, min_size=1, max_size=30))
def test_every_email_is_either_normalized_or_has_an_error_code(values):
    out = emails(values)
    for address, error in out.select("address", "error").iter_rows():
        assert (address is None) != (error is None)
        if address is not None:  # the SPEC 2.1 shape: lowercase, one @, dotted ASCII domain, no spaces
            local, _, domain = address.partition("@")
            assert address == address.lower() and local and "." in domain and not domain.endswith(".")
            assert domain.isascii() and " " not in address and len(address) <= 254


@settings(max_examples=200, deadline=None)
@given(st.lists(EMAILS, min_size=1, max_size=30))
def test_case_and_padding_variants_are_one_address(values):
    out = emails(values)
    variants = emails([f"  {v.upper()} " for v in values])
    for (a, ea), (b, eb) in zip(out.select("address", "error").iter_rows(), variants.select("address", "error").iter_rows(),
                                strict=True):
        if ea is None and eb is None:
            assert a == b


PHONES = st.one_of(
    st.builds(lambda n: f"+1 415 555 {n:04d}", st.integers(0, 9999)),
    st.builds(lambda n: f"(415) 555-{n:04d}", st.integers(0, 9999)),
    st.builds(lambda n: f"+44 20 7946 {n:04d}", st.integers(0, 9999)),
    st.builds(lambda n: f"0033 6 12 34 {n:02d} {n:02d}", st.integers(10, 99)),
    st.text(alphabet="0123456789 +-().", max_size=18),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(PHONES, min_size=1, max_size=30), st.sampled_from([None, "US", "GB", "FR"]))
def test_normalizing_a_phone_twice_changes_nothing(values, region):
    frame = pl.DataFrame({"raw": values}, schema={"raw": pl.String})
    once = normalize_phones(frame, "raw", "phone", "error", region)
    accepted = once.filter(pl.col("error").is_null())["phone"].to_list()
    assert all(p.startswith("+") and p[1:].isdigit() for p in accepted)  # E.164
    again = normalize_phones(pl.DataFrame({"raw": accepted}, schema={"raw": pl.String}), "raw", "phone", "error",
                             "GB" if region == "US" else "US")  # the region no longer matters
    assert again["phone"].to_list() == accepted
