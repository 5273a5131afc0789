"""Email normalization as Polars expressions (SPEC 2.1).

Only the distinct non-ASCII domains go through Python (IDNA); everything else is column-wise.
Addresses that are already clean (nearly every row of a real export) take a fast path: one regex
decides, and they are only lowercased; the full cleaning and validation run on the rest.
"""
from __future__ import annotations

import idna
import polars as pl

from pipelines.normalize.rules import CLEAN_EMAIL, EMAIL_QUOTES, EMAIL_WS, MAX_EMAIL_LEN


def clean_email_text(raw: pl.Expr) -> pl.Expr:
    """Trim, unwrap display names / quotes / mailto:, lowercase. Not yet validated."""
    s = raw.str.replace_all(f"^{EMAIL_WS}+|{EMAIL_WS}+$", "")
    # `"Jane Doe" <jane@example.com>` / `<jane@example.com>`: keep what is inside the brackets.
    s = pl.coalesce(s.str.extract(r"<([^<>]*)>\s*$", 1), s)
    s = s.str.strip_chars(EMAIL_QUOTES + " ")
    s = s.str.replace(r"(?i)^mailto:", "")
    # Again after `mailto:`: `mailto:'x@example.com'` must come out as a fixed point of this cleaning.
    s = s.str.replace_all(f"^{EMAIL_WS}+|{EMAIL_WS}+$", "").str.strip_chars(EMAIL_QUOTES + " ")
    return s.str.to_lowercase()


def _idna_domain(domain: str) -> str | None:
    try:
        return idna.encode(domain, uts46=True, transitional=False).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError):
        return None


def normalize_emails(frame: pl.DataFrame, raw_col: str, out_col: str, err_col: str) -> pl.DataFrame:
    """Add `out_col` (normalized address or null) and `err_col` (error code or null)."""
    raw = pl.col(raw_col)
    # The fast path (`rules.CLEAN_EMAIL`; `rules.clean_email` is the same decision for one value):
    # an address the full path would only lowercase.
    fast = (raw.str.contains(CLEAN_EMAIL) & (raw.str.len_bytes() <= MAX_EMAIL_LEN)).fill_null(False)
    # Every value is lowercased; the full path then overwrites the ones the fast path did not take.
    marked = frame.select(raw.str.to_lowercase().alias(out_col), fast.alias("_fast"))
    address = marked[out_col]
    error = pl.repeat(None, frame.height, dtype=pl.String, eager=True)
    rest = marked.select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("_i"), "_fast").filter(~pl.col("_fast"))["_i"]
    if rest.len():
        full = _normalize_full(frame[raw_col].gather(rest), out_col, err_col)
        address = address.scatter(rest, full[out_col])
        error = error.scatter(rest, full[err_col])
    return frame.with_columns(address.alias(out_col), error.alias(err_col))


def _normalize_full(values: pl.Series, out_col: str, err_col: str) -> pl.DataFrame:
    """The whole cleaning and validation, for the values the fast path did not take."""
    cleaned = pl.DataFrame({"_raw": values}).select(clean_email_text(pl.col("_raw")).alias("_e"))["_e"]
    parts = pl.DataFrame({"_e": cleaned}).with_columns(
        _local=pl.col("_e").str.extract(r"^(.*)@[^@]*$", 1),
        _domain=pl.col("_e").str.extract(r"@([^@]*)$", 1).str.strip_suffix("."),
        _ats=pl.col("_e").str.count_matches("@"),
    )
    # IDNA on the distinct non-ASCII domains only.
    non_ascii = (
        parts.select(pl.col("_domain").filter(~pl.col("_domain").str.contains(r"^[\x00-\x7f]*$")))
        .unique()
        .to_series()
        .to_list()
    )
    if non_ascii:
        mapping = {d: _idna_domain(d) for d in non_ascii}
        parts = parts.with_columns(
            _ascii_domain=pl.col("_domain").replace_strict(mapping, default=pl.col("_domain"), return_dtype=pl.String)
        )
        parts = parts.with_columns(
            _idna_failed=pl.col("_domain").is_in(list(k for k, v in mapping.items() if v is None))
        )
    else:
        parts = parts.with_columns(_ascii_domain=pl.col("_domain"), _idna_failed=pl.lit(False))

    address = pl.col("_local") + "@" + pl.col("_ascii_domain")
    error = (
        pl.when(pl.col("_e").is_null() | (pl.col("_e") == ""))
        .then(pl.lit("empty_address"))
        .when(pl.col("_ats") == 0)
        .then(pl.lit("missing_at"))
        .when(pl.col("_ats") > 1)
        .then(pl.lit("multiple_at"))
        .when(pl.col("_local") == "")
        .then(pl.lit("empty_local_part"))
        .when(pl.col("_domain") == "")
        .then(pl.lit("empty_domain"))
        .when(pl.col("_idna_failed"))
        .then(pl.lit("invalid_domain"))
        .when(pl.col("_local").str.contains(r"[\s<>()\[\],;:\\\"\x00-\x1f\x7f]"))
        .then(pl.lit("forbidden_character"))
        .when(~pl.col("_ascii_domain").str.contains(r"^[a-z0-9_-]+(\.[a-z0-9_-]+)*$"))
        .then(pl.lit("forbidden_character"))
        .when(~pl.col("_ascii_domain").str.contains(r"\."))
        .then(pl.lit("domain_without_dot"))
        .when(address.str.len_bytes() > 254)
        .then(pl.lit("too_long"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    return parts.select(
        pl.when(error.is_null()).then(address).otherwise(None).alias(out_col),
        error.alias(err_col),
    )
