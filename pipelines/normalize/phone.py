"""Phone numbers to E.164 (SPEC 2.1) with the phonenumbers library, on distinct values only."""
from __future__ import annotations

import polars as pl

# The rules are defined once in `rules.py` (the one-value path of `check` uses them too).
from pipelines.normalize.rules import EXCEL_FLOAT, PHONE_SCHEME, PHONE_TRIM, phone_region, to_e164


def normalize_phones(
    frame: pl.DataFrame, raw_col: str, out_col: str, err_col: str, default_region: str | None
) -> pl.DataFrame:
    """Add `out_col` (E.164 or null) and `err_col` (error code or null)."""
    cleaned = (
        pl.col(raw_col)
        .str.replace_all(PHONE_TRIM, "")
        .str.replace(PHONE_SCHEME, "")
    )
    frame = frame.with_columns(cleaned.alias("_p"))
    distinct = frame.select(pl.col("_p").drop_nulls().unique()).to_series().to_list()
    region = phone_region(default_region)
    mapping = {v: to_e164(v, region) for v in distinct if v}
    e164 = pl.col("_p").replace_strict(mapping, default=None, return_dtype=pl.String)
    error = (
        pl.when(pl.col("_p").is_null() | (pl.col("_p") == ""))
        .then(pl.lit("empty_address"))
        .when(pl.col("_p").str.contains(EXCEL_FLOAT))
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
