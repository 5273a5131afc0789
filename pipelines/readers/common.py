"""What every reader shares: the logical input (`InputFile`), the table read from it (`Table`),
the field cap and the one-line refusal naming the input."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from pipelines.errors import DataRefused

CHUNK = 16 * 1024 * 1024
HEAD_BYTES = 1 << 16  # what header, delimiter and JSON-shape sniffing look at
SAMPLE_ROWS = 200
# Every field is cut to this many characters (plus "…") while it is read: a 200 MB value must not
# travel through adapters and normalizer. 64 KiB is far above any real cell (a JSON list of a
# profile's subscriptions included); the normalizer then quarantines addresses over 4 KiB.
FIELD_MAX_BYTES = 1 << 16
ELLIPSIS = "\u2026"
CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")
WS = " \t\r\n\f\v"  # what makes a line blank (Polars splits lines on \n only)
NAME_MAX = 200


@dataclass
class InputFile:
    """One logical input: a plain file, or one member of an archive."""

    display: str  # what messages and the report name: `path` or `archive.zip!member.csv`
    name: str  # the member's base name, used for detection
    sha256: str
    local_path: Path  # UTF-8, LF or CRLF line endings, ready for Polars
    newlines: int = 0
    # How the bytes were decoded: utf-8, utf-16 or cp1252 (the summary shows it).
    encoding: str = "utf-8"
    # UTF-8 files: invalid byte sequences replaced by U+FFFD; their rows are quarantined as
    # invalid_encoding by the normalizer (an address holding U+FFFD is never a real one).
    invalid_sequences: int = 0
    workdir: Path | None = None  # where reading may write (JSON is converted to Parquet parts)
    index: int = 0


@dataclass


@dataclass
class Table:
    """A file read as strings: `frame` has the file's columns plus `_line`."""

    source: InputFile
    fmt: str  # csv | json | ndjson
    columns: list[str]
    has_header: bool
    frame: pl.LazyFrame
    sample: pl.DataFrame = field(repr=False)
    delimiter: str = ","


def refuse(source: InputFile, what: str) -> DataRefused:
    return DataRefused(f"{source.display}: {what}")


def clean_name(name: str) -> str:
    """A column name safe for one-line messages: no control characters, bounded length."""
    name = CONTROL.sub(" ", name)
    return name if len(name) <= NAME_MAX else name[:NAME_MAX] + ELLIPSIS


def capped(col: pl.Expr) -> pl.Expr:
    """A string column with every value over FIELD_MAX_BYTES cut (and marked with "…").

    The condition is all false in any real batch, and Polars then skips the slicing."""
    return pl.when(col.str.len_bytes() > FIELD_MAX_BYTES).then(
        col.str.slice(0, FIELD_MAX_BYTES) + ELLIPSIS).otherwise(col)
