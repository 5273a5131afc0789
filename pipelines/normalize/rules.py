"""The address rules of SPEC 2.1 that need no Polars: one definition, used by the column-wise
normalizers (`email.py`, `phone.py`) and by the one-value path of a small `check`
(`pipelines.lookup.check_rows`), which must not pay for importing Polars.

The one-value functions below give exactly what the column-wise normalizers give, or None where
they cannot promise that (then the caller takes the column-wise path). The regexes are written for
both engines: Polars (Rust `regex`) and Python's `re` read them alike on the values the one-value
functions accept, which is why those functions accept only the values they do.
"""
from __future__ import annotations

import re

# -- email ----------------------------------------------------------------------------------------
# Whitespace Python's str.strip misses in exports: no-break, zero-width, BOM.
EMAIL_WS = r"[\s\u00a0\u2007\u202f\u200b\u200c\u200d\u2060\ufeff]"
EMAIL_QUOTES = "\"'`\u2018\u2019\u201c\u201d"
# An address the full cleaning and validation would only lowercase: ASCII, one `@`, a local part
# without spaces, quotes, brackets or forbidden characters (so no display name or `mailto:`
# either), a dotted domain without a trailing dot. Its normalized form is its lowercase.
CLEAN_EMAIL = r"^[A-Za-z0-9.!#$%&*+/=?^_{|}~-]+@[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)+$"
MAX_EMAIL_LEN = 254  # bytes

_CLEAN_EMAIL = re.compile(CLEAN_EMAIL)


def clean_email(value: str) -> str | None:
    """The normalized address of an email the fast path takes (`normalize_emails`: it matches
    CLEAN_EMAIL and is at most MAX_EMAIL_LEN bytes), else None: that value needs the full path.

    The same decision in Python: the character classes are explicit ASCII and there are no flags,
    so `re` matches what Rust's regex does; `fullmatch` because Python's `$` also matches before a
    final newline. A value that matches is ASCII, so its length is its byte length and `lower()`
    is Polars' `to_lowercase()`."""
    if len(value) <= MAX_EMAIL_LEN and _CLEAN_EMAIL.fullmatch(value):
        return value.lower()
    return None


# -- phone ----------------------------------------------------------------------------------------
# Leading whitespace and a spreadsheet's text marker `'`, trailing whitespace; then a URI scheme.
PHONE_TRIM = r"^[\s\u00a0\u200b\ufeff']+|[\s\u00a0\u200b\ufeff]+$"
PHONE_SCHEME = r"(?i)^(tel:|sms:)"
# A number a spreadsheet turned into a float: 1.41555E+10, 4.47700900123e+11.
EXCEL_FLOAT = r"^\+?\d(\.\d+)?[eE]\+?\d+$"

_PHONE_TRIM = re.compile(PHONE_TRIM)
_PHONE_SCHEME = re.compile(PHONE_SCHEME)
_EXCEL_FLOAT = re.compile(EXCEL_FLOAT)


def to_e164(value: str, region: str | None) -> str | None:
    """A cleaned phone number in E.164, or None if it cannot be parsed or is impossible."""
    import phonenumbers  # only where a phone number is given

    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    # SPEC 2.1 rejects impossible numbers; validity (allocated ranges) would refuse real test ranges.
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_region(default_region: str | None) -> str | None:
    return default_region.upper() if default_region else None


def clean_phone(value: str, default_region: str | None) -> tuple[str | None, str | None] | None:
    """(E.164 or None, error code or None) as `normalize_phones` gives them, for a value of
    printable ASCII; None for any other value (it takes the column-wise path).

    On printable ASCII the regexes above mean the same in both engines: `\\s` is the space alone,
    `$` the end (no newline), `(?i)` ASCII case, `\\d` ASCII digits."""
    if not (value.isascii() and value.isprintable()):
        return None
    cleaned = _PHONE_SCHEME.sub("", _PHONE_TRIM.sub("", value), count=1)
    if cleaned == "":
        return None, "empty_address"
    if _EXCEL_FLOAT.search(cleaned):
        return None, "excel_mangled_phone"
    e164 = to_e164(cleaned, phone_region(default_region))
    return (e164, None) if e164 is not None else (None, "invalid_phone")
