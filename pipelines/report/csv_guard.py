"""CSV cells that a spreadsheet would run as a formula (CSV injection), made inert.

A text cell starting with `=`, `+`, `-`, `@` (or a tab or carriage return) gets a leading `'`,
which spreadsheets show as text; our own readers strip it again (`pipelines/normalize/email.py`).
A cell that is just a number, such as an E.164 phone `+14155550100`, cannot run anything and is
left as it is, so exports of SMS suppressions stay exact.
"""
from __future__ import annotations

import re

import polars as pl

FORMULA_START = r"^[=+\-@\t\r]"
PLAIN_NUMBER = r"^[+-]?\d+(\.\d+)?$"


def guard_name(name: str) -> str:
    """A header (a column an input file named) made inert the same way."""
    return "'" + name if re.match(FORMULA_START, name) and not re.fullmatch(PLAIN_NUMBER, name) else name


def guard_formulas(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame with every risky text cell, and header, prefixed by `'` (whole columns, no row loop)."""
    frame = frame.rename({c: guard_name(c) for c in frame.columns if guard_name(c) != c})
    text = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    return frame.with_columns(
        pl.when(pl.col(c).str.contains(FORMULA_START) & ~pl.col(c).str.contains(PLAIN_NUMBER))
        .then(pl.lit("'") + pl.col(c))
        .otherwise(pl.col(c))
        .alias(c)
        for c in text
    )
