import polars as pl
import pytest

from pipelines.normalize.email import normalize_emails


def run(values):
    frame = normalize_emails(pl.DataFrame({"raw": values}, schema={"raw": pl.String}), "raw", "address", "error")
    return list(zip(frame["address"].to_list(), frame["error"].to_list(), strict=False))


@pytest.mark.parametrize(
    ("raw", "address"),
    [
        ("Jane@Example.COM", "jane@example.com"),
        ('"Jane Doe" <Jane.Doe@Example.com>', "jane.doe@example.com"),
        ("Jane <jane@example.com>", "jane@example.com"),
        ("<jane@example.com>", "jane@example.com"),
        ("mailto:Jane@example.com", "jane@example.com"),
        ("  jane@example.com\u00a0", "jane@example.com"),
        ("\u200bjane@example.com\u200b", "jane@example.com"),
        ("'jane@example.com'", "jane@example.com"),
        ("'Jane@Example.com", "jane@example.com"),  # a spreadsheet's formula guard
        ("jane@example.com.", "jane@example.com"),
        ("jane+news@example.com", "jane+news@example.com"),  # plus-tags are different addresses
        ("j.a.n.e@example.com", "j.a.n.e@example.com"),  # so are dots
        ("jürgen@bücher.example", "jürgen@xn--bcher-kva.example"),
        ("user@XN--BCHER-KVA.example", "user@xn--bcher-kva.example"),
    ],
)
def test_normalizes(raw, address):
    assert run([raw]) == [(address, None)]


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ("", "empty_address"),
        (None, "empty_address"),
        ("gmail.com", "missing_at"),
        ("#02232014", "missing_at"),
        ("8/27/2015", "missing_at"),
        ('name@yahoo.comett@domain.com"', "multiple_at"),
        ("@example.com", "empty_local_part"),
        ("jane@", "empty_domain"),
        ("jane@localhost", "domain_without_dot"),
        ("jane doe@example.com", "forbidden_character"),
        ("jane@exa mple.com", "forbidden_character"),
        ("a" * 250 + "@example.com", "too_long"),
    ],
)
def test_rejects_with_code(raw, error):
    assert run([raw]) == [(None, error)]


def test_idn_and_punycode_forms_meet():
    got = run(["User@Bücher.example", "user@xn--bcher-kva.example"])
    assert got[0] == got[1] == ("user@xn--bcher-kva.example", None)


def test_several_addresses_in_one_cell_become_one_record_each():
    from pipelines.normalize.records import split_address_lists

    frame = pl.DataFrame({"_line": [2, 3, 4, 5], "raw_address": [
        "a@example.com; b@example.com", '"Jane Doe" <jane@example.com>, Bob <bob@example.org>',
        "c@example.com d@example.com", 'name@yahoo.comett@domain.com"']})
    got = split_address_lists(frame)
    assert got["_line"].to_list() == [2, 2, 3, 3, 4, 4, 5]
    emails = normalize_emails(got, "raw_address", "address", "error")
    assert emails["address"].to_list() == [
        "a@example.com", "b@example.com", "jane@example.com", "bob@example.org", "c@example.com", "d@example.com", None]
    assert emails["error"].to_list()[-1] == "multiple_at"  # glued, no separator: not guessed apart


def test_fast_path_agrees_with_the_full_cleaning():
    """Every value the fast path takes must come out exactly as the full cleaning makes it."""
    import random

    import polars as pl

    from pipelines.normalize.email import _normalize_full, normalize_emails

    rng = random.Random(7)
    alphabet = "abcXYZ019._+-!#$%&*/=?^{|}~@ <>\"'\u00a0\u200bé:;,()[]\\"
    values = ["Jane.Doe+tag@Example.COM", "a@b.c", "x@localhost", "a..b@example.com", ".a@example.com",
              "a@example.com.", "a@-example.com", "a@ex_ample.com", "mailto:A@B.CO", "\"a\"@example.com",
              "a@b@c.com", "a" * 250 + "@example.com", "user@example.com ", "=cmd@example.com"]
    values += ["".join(rng.choice(alphabet) for _ in range(rng.randint(3, 24))) for _ in range(20_000)]
    values += [f"{rng.choice(['jo', 'J.O', 'x+1'])}@{rng.choice(['ex', 'EX-am'])}.{rng.choice(['com', 'co.uk'])}"
               for _ in range(2_000)]
    frame = pl.DataFrame({"v": values})
    fast = normalize_emails(frame, "v", "a", "e")
    full = _normalize_full(frame["v"], "a", "e")
    assert fast["a"].to_list() == full["a"].to_list()
    assert fast["e"].to_list() == full["e"].to_list()
