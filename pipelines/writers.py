"""Frames to files: the CSV and JSONL writers of every output (exports, rejects, audiences, safety
copies), the counterpart of `pipelines.readers`.

CSV cells that a spreadsheet would run as a formula (CSV injection) are made inert here, once for
every CSV the library writes: a text cell starting with `=`, `+`, `-`, `@` (or a tab or carriage
return) gets a leading `'`, which spreadsheets show as text; our own readers strip it again
(`pipelines/normalize/email.py`). A cell that is just a number, such as an E.164 phone
`+14155550100`, cannot run anything and is left as it is, so exports of SMS suppressions stay exact.
"""
from __future__ import annotations

import io
import json
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from pipelines.lazy import lazy

if TYPE_CHECKING:
    import polars as pl
else:  # imported on first use: `check` prints a few rows without it
    pl = lazy("polars")

FORMULA_START = r"^[=+\-@\t\r]"
PLAIN_NUMBER = r"^[+-]?\d+(\.\d+)?$"


def guard_name(name: str) -> str:
    """A header (a column an input file named), or one text cell, made inert the same way.

    The same test as `guard_formulas`' in Python's `re`: a match at the start, and `fullmatch`
    where Rust's `$` is the end of the text (Python's `$` also matches before a final newline)."""
    return "'" + name if re.match(FORMULA_START, name) and not re.fullmatch(PLAIN_NUMBER, name) else name


def csv_line(cells, separator: str = ",") -> str:
    """One CSV line as Polars' `write_csv` writes it (`quote_style="necessary"`, nulls empty):
    for the few rows printed without a frame. A cell is quoted when it holds a quote, the
    separator or a line break, or is an empty string (a null is written as nothing)."""
    def cell(value) -> str:
        if value is None:
            return ""
        if value == "" or '"' in value or separator in value or "\n" in value or "\r" in value:
            return '"' + value.replace('"', '""') + '"'
        return value

    return separator.join(cell(c) for c in cells) + "\n"


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


def write_frame(frame: pl.DataFrame, fmt: str, output: Path | None = None, sink: TextIO | None = None,
                json_columns: tuple[str, ...] = ()) -> None:
    """`frame` as CSV (formula-guarded) or JSONL, to the file `output`, else to `sink` (stdout).
    `json_columns` hold JSON text (a contact's `attributes`): a CSV cell keeps the text, a JSONL
    line gets the value itself (an object, not a string)."""
    target = output.open("w", newline="") if output else (sink or sys.stdout)
    try:
        _write(frame, fmt, target, json_columns)
    finally:
        if output:
            target.close()


JSON_SLICE_ROWS = 100_000


def write_json_array(frame: pl.DataFrame, sink: TextIO | None = None) -> None:
    """What `frame.write_json()` writes, and a newline, to `sink` (stdout): in slices, as bytes.
    Polars' JSONL writer is twice as fast as its JSON one (1M check results: 0.6 s, not 1.2 s),
    and a JSONL line holds no raw newline (strings escape theirs), so its lines joined by commas
    are the array's items."""
    sink = sink or sys.stdout
    # a UTF-8 text stream over bytes: no decode and encode again; any other stream gets text
    utf8 = (getattr(sink, "encoding", None) or "").lower().replace("-", "").replace("_", "") == "utf8"
    raw = getattr(sink, "buffer", None) if utf8 else None
    if raw is not None:
        sink.flush()
    write = raw.write if raw is not None else (lambda b: sink.write(b.decode()))
    write(b"[")
    for start in range(0, frame.height, JSON_SLICE_ROWS):
        lines = io.BytesIO()
        frame.slice(start, JSON_SLICE_ROWS).write_ndjson(lines)
        write((b"," if start else b"") + lines.getvalue().rstrip(b"\n").replace(b"\n", b","))
    write(b"]\n")
    if raw is not None:
        raw.flush()


def write_private_csv(frame: pl.DataFrame, path: Path) -> None:
    """A new CSV (formula-guarded) only its owner may read (mode 600): personal data, such as the
    safety copy of deleted contacts. Refuses to overwrite a file that exists."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", newline="") as sink:
        _write(frame, "csv", sink)


def _write(frame: pl.DataFrame, fmt: str, target: TextIO, json_columns: tuple[str, ...] = ()) -> None:
    if fmt == "csv":
        guard_formulas(frame).write_csv(target)
        return
    text = [c for c in json_columns if frame.schema.get(c) == pl.String]
    if not text:
        frame.write_ndjson(target)
        return
    # Each line: the other columns as Polars writes them, then each JSON column's text as its value
    # (JSON we wrote ourselves; null stays null). Whole columns at once, no row loop.
    others = [c for c in frame.columns if c not in text]
    line = (pl.struct(others).struct.json_encode().str.strip_suffix("}") if others else pl.lit("{"))
    for i, c in enumerate(text):
        sep = "," if others or i else ""
        line = line + pl.lit(sep + json.dumps(c) + ":") + pl.col(c).fill_null("null")
    lines = frame.select((line + pl.lit("}")).alias("line"))["line"]
    for start in range(0, len(lines), 100_000):
        target.write("".join(v + "\n" for v in lines.slice(start, 100_000).to_list()))
