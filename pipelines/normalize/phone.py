"""Phone numbers to E.164 (SPEC 2.1) with the phonenumbers library, on distinct values only."""
from __future__ import annotations

import phonenumbers
import polars as pl

# A number a spreadsheet turned into a float: 1.41555E+10, 4.47700900123e+11.
_EXCEL_FLOAT = r"^\+?\d(\.\d+)?[eE]\+?\d+$"


def _to_e164(value: str, region: str | None) -> str | None:
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    # SPEC 2.1 rejects impossible numbers; validity (allocated ranges) would refuse real test ranges.
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_phones(
    frame: pl.DataFrame, raw_col: str, out_col: str, err_col: str, default_region: str | None
) -> pl.DataFrame:
    """Add `out_col` (E.164 or null) and `err_col` (error code or null)."""
    cleaned = (
        pl.col(raw_col)
        .str.replace_all(r"^[\s\u00a0\u200b\ufeff']+|[\s\u00a0\u200b\ufeff]+$", "")
        .str.replace(r"(?i)^(tel:|sms:)", "")
    )
    frame = frame.with_columns(cleaned.alias("_p"))
    distinct = frame.select(pl.col("_p").drop_nulls().unique()).to_series().to_list()
    region = default_region.upper() if default_region else None
    mapping = {v: _to_e164(v, region) for v in distinct if v}
    e164 = pl.col("_p").replace_strict(mapping, default=None, return_dtype=pl.String)
    error = (
        pl.when(pl.col("_p").is_null() | (pl.col("_p") == ""))
        .then(pl.lit("empty_address"))
        .when(pl.col("_p").str.contains(_EXCEL_FLOAT))
        .then(pl.lit("excel_mangled_phone"))
        .when(e164.is_null())
        .then(pl.lit("invalid_phone"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    return frame.with_columns(
        pl.when(error.is_null()).then(e164).otherwise(None).alias(out_col), error.alias(err_col)
    ).drop("_p")


def normalize_phone_value(value: str, default_region: str | None) -> str | None:
    frame = normalize_phones(pl.DataFrame({"v": [value]}, schema={"v": pl.String}), "v", "a", "e", default_region)
    return frame["a"][0]
