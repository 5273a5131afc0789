"""Store passwords never reach a message or a log, whatever characters they hold (issue "Hostile
and odd files" 7): generated passwords, and the real driver's errors through the CLI."""
from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.redact import redact, scrub
from tests.conftest import run_cli

PASSWORDS = st.text(alphabet=string.printable.strip() + " é", min_size=4, max_size=30).filter(
    lambda p: p.strip() and "db.internal" not in p)


@settings(max_examples=300, deadline=None)
@given(PASSWORDS, st.sampled_from(["", "?sslmode=require", "?application_name=x&sslmode=verify-full"]))
def test_nothing_between_the_scheme_and_the_last_at_is_shown(password, query):
    url = f"postgresql://app_user:{password}@db.internal:5432/suppressions{query}"
    shown = redact(url)
    assert shown == f"postgresql://***@db.internal:5432/suppressions{query}"
    assert scrub(f"cannot connect to {url}: bad {password}", url).count(password) == 0


@settings(max_examples=200, deadline=None)
@given(PASSWORDS.filter(lambda p: not any(c in p for c in "&; \t\n\r\x0b\x0c")))
def test_a_password_parameter_is_hidden(password):
    for url in (f"postgresql://db.internal/supp?password={password}&sslmode=require",
                f"host=db.internal dbname=supp password={password} sslmode=require"):
        # exactly the value goes (comparing texts: a password such as "name" also stands in "dbname")
        assert redact(url) == url.replace(f"password={password}", "password=***")


def test_a_malformed_store_url_is_one_line_without_its_password(tmp_path):
    for url in ("postgresql://app:pa%zzss@127.0.0.1:5432/nope", "postgresql://app:p#ss w?rd/x@127.0.0.1:1/nope"):
        result = run_cli("check", "--tenant", "acme", "x@example.com", "--store", url)
        assert result.code in (1, 2) and result.stderr.count("\n") == 1, result.stderr
        assert "pa%zzss" not in result.stderr and "p#ss w?rd" not in result.stderr and "ss w" not in result.stderr
