"""Delimited text and plain lists: delimiter and header sniffing, line numbers that count the
line breaks inside quoted fields, one-column lists split on line ends only."""
from __future__ import annotations

import csv
import re

import polars as pl

from pipelines.errors import first_line
from pipelines.readers.common import HEAD_BYTES, SAMPLE_ROWS, WS, InputFile, Table, capped, clean_name, refuse


def _sniff_delimiter(lines: list[str]) -> str:
    best, best_score = ",", 0
    for delim in (",", ";", "\t", "|"):
        counts = []
        for line in lines:
            try:
                counts.append(len(next(csv.reader([line], delimiter=delim))) - 1)
            except (csv.Error, StopIteration):
                counts.append(0)
        if not counts or counts[0] == 0:
            continue
        # A delimiter that splits the header and most following lines alike.
        score = counts[0] * 10 + sum(1 for c in counts[1:] if c == counts[0])
        if score > best_score:
            best, best_score = delim, score
    return best


def _looks_like_data(cells: list[str]) -> bool:
    return any("@" in c or re.fullmatch(r"\s*\+?[\d\s().-]{7,}\s*", c or "") for c in cells)


def dedupe_names(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for i, name in enumerate(names):
        name = clean_name(name).strip().strip("\ufeff").strip().strip('"').strip() or f"_col{i + 1}"
        if name == "_line":
            name = "_line_"
        key = name.lower()
        if key in seen:
            seen[key] += 1
            name = f"{name}__{seen[key]}"
        else:
            seen[key] = 1
        out.append(name)
    return out


def read_csv(source: InputFile, head: str, skip: int, cut: bool) -> Table:
    raw_lines = head.split("\n")
    first_cut = cut and len(raw_lines) == 1  # no line end in the whole head
    if cut and len(raw_lines) > 1:
        raw_lines = raw_lines[:-1]  # the last one may be cut
    lines = [ln.rstrip("\r") for ln in raw_lines[:20] if ln.strip(WS)]
    # The csv module refuses NUL and a carriage return inside a line.
    sniffable = [ln.replace("\x00", " ").replace("\r", " ") for ln in lines]
    delimiter = _sniff_delimiter(sniffable)
    first = next(csv.reader([sniffable[0]], delimiter=delimiter))
    has_header = not _looks_like_data(first)
    if has_header and first_cut:
        raise refuse(source, f"its first line (the header) is longer than {HEAD_BYTES} bytes; not a CSV export")
    names = dedupe_names(first) if has_header else [f"_col{i + 1}" for i in range(len(first))]
    header_lines = skip + (1 if has_header else 0)
    if len(names) == 1:
        return _read_lines(source, names, header_lines, has_header, delimiter)
    if has_header and lines[0].count('"') % 2:
        raise refuse(source, "its header line has an unclosed quote (a line break inside a column name?)")
    frame = pl.scan_csv(
        source.local_path,
        separator=delimiter,
        has_header=False,
        skip_lines=header_lines,
        schema={n: pl.String for n in names},
        missing_columns="insert",
        quote_char='"',
        truncate_ragged_lines=True,
        row_index_name="_row",
        encoding="utf8",
        glob=False,
    )
    try:
        sample = frame.head(SAMPLE_ROWS).collect()
        exact = _has_multiline_records(source, frame, header_lines)  # a pass over the whole file
    except (pl.exceptions.PolarsError, pl.exceptions.PanicException) as exc:
        raise refuse(source, f"cannot be read as {_delim_name(delimiter)}-separated text ({first_line(exc)})") from None
    frame = _with_lines(frame, names, header_lines, exact)
    sample = _with_lines(sample.lazy(), names, header_lines, True).collect()
    return Table(source, "csv", names, has_header, frame, sample, delimiter)


def _delim_name(d: str) -> str:
    return {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}[d]


def _read_lines(source: InputFile, names: list[str], header_lines: int, has_header: bool, delimiter: str) -> Table:
    """A one-column list: each line is one value, whatever commas or quotes it holds
    (`"Doe, John" <john@example.com>`, `a@x.com,b@y.com`): the normalizer unwraps display names
    and splits cells holding several addresses."""
    (name,) = names
    frame = (
        pl.scan_lines(source.local_path, name=name, row_index_name="_row", glob=False)
        .filter(pl.col("_row") >= header_lines)
        # Polars keeps a UTF-8 BOM on the first line; only the first row can start with one.
        .with_columns(pl.when(pl.col("_row") == 0).then(pl.col(name).str.strip_prefix("\ufeff"))
                      .otherwise(pl.col(name)).alias(name))
    )
    frame = _with_lines(frame, names, 0, False)
    sample = frame.head(SAMPLE_ROWS).collect()
    return Table(source, "csv", names, has_header, frame, sample, delimiter)


def _has_multiline_records(source: InputFile, frame: pl.LazyFrame, header_lines: int) -> bool:
    """Whether some quoted field spans lines, so line numbers need the newlines inside fields.

    Counting those costs a pass over every column, so it is paid only when the file's newline
    count and Polars' (quote-aware, fast) record count disagree.
    """
    records = frame.select(pl.len()).collect().item()
    return source.newlines - header_lines - records not in (0, -1)  # -1: no newline at the end


def _with_lines(frame: pl.LazyFrame, names: list[str], header_lines: int, exact: bool) -> pl.LazyFrame:
    data_cols = [pl.col(n) for n in names]
    line = pl.col("_row").cast(pl.Int64) + 1 + header_lines
    if exact:
        # Quoted fields can hold newlines: shift every later record by the lines they took.
        extra = pl.sum_horizontal([c.str.count_matches("\n").fill_null(0) for c in data_cols])
        line = line + extra.cum_sum().shift(1, fill_value=0)
    blank = pl.all_horizontal([c.is_null() | (c.str.strip_chars() == "") for c in data_cols])
    return (frame.with_columns(line.alias("_line")).filter(~blank).drop("_row")
            .with_columns(capped(pl.col(n)).alias(n) for n in names))
