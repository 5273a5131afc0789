"""JSON refused before it is parsed (too deep, a string too long) and where its records are."""
from __future__ import annotations

import codecs
import json

import ijson
import numpy as np
import polars as pl

from pipelines.readers.common import CHUNK, InputFile, refuse

# JSON deeper than this is refused: real exports nest a handful of levels, and Polars' struct
# handling slows down sharply (and can crash) on deep nesting.
JSON_MAX_DEPTH = 32
# A JSON string this long is refused outright: ijson holds a string whole, several times over,
# and its parse time grows with the square of the string over its 16 MiB read buffer.
JSON_MAX_STRING = 256 << 20
_DEPTH_CHUNK = 4 << 20
_RECORD_KEYS = (
    "Suppressions", "SuppressedDestinationSummaries", "items", "members", "contacts", "results",
    "data", "Results", "suppressions", "profiles", "records",
)


class json_bytes:
    """The file's bytes for ijson, past a UTF-8 BOM."""

    def __init__(self, source: InputFile):
        self.fh = source.local_path.open("rb")
        if self.fh.read(3) != codecs.BOM_UTF8:
            self.fh.seek(0)

    def __enter__(self):
        return self.fh

    def __exit__(self, *exc):
        self.fh.close()


def check_document(source: InputFile) -> None:
    """Refuse a document nested deeper than JSON_MAX_DEPTH, or with a string over
    JSON_MAX_STRING, before ijson builds any of it (a list nested 100,000 deep takes it minutes
    and gigabytes).

    Vectorized over chunks: a quote is a string's edge unless an odd run of backslashes precedes
    it, and a bracket counts unless an odd number of edges precede it. On any prefix that is
    valid JSON this agrees with the parser, which stops at the first invalid byte anyway.
    """
    in_string, backslashes, depth, lines = False, 0, 0, 0
    offset, opened = 0, 0  # where the chunk starts; where the open string started
    with source.local_path.open("rb") as fh:
        while chunk := fh.read(_DEPTH_CHUNK):
            b = np.frombuffer(chunk, dtype=np.uint8)
            quotes = np.flatnonzero(b == 0x22)
            slash = b == 0x5C
            if backslashes or slash.any():
                # For each position, the last one at or before it that is not a backslash.
                last_other = np.maximum.accumulate(np.where(slash, -1, np.arange(b.size)))
                before = quotes - 1
                other = np.where(before >= 0, last_other[np.maximum(before, 0)], -1)
                run = before - other + np.where(other < 0, backslashes, 0)
                quotes = quotes[run % 2 == 0]
                tail = int(last_other[-1])
                backslashes = b.size - 1 - tail + (backslashes if tail < 0 else 0)
            opens = (b == 0x5B) | (b == 0x7B)
            pos = np.flatnonzero(opens | (b == 0x5D) | (b == 0x7D))
            pos = pos[(np.searchsorted(quotes, pos) + in_string) % 2 == 0]
            if pos.size:
                level = depth + np.cumsum(np.where(opens[pos], 1, -1))
                over = np.flatnonzero(level > JSON_MAX_DEPTH)
                if over.size:
                    line = lines + chunk.count(b"\n", 0, int(pos[over[0]])) + 1
                    raise refuse(source, f"line {line}: JSON nested more than {JSON_MAX_DEPTH} levels deep")
                depth = int(level[-1])
            edges = np.concatenate(([opened], offset + quotes)) if in_string else offset + quotes
            longest = int(np.max(edges[1::2] - edges[0:-1:2])) - 1 if edges.size > 1 else 0  # bytes between
            in_string = (in_string + quotes.size) % 2 == 1
            if in_string:
                opened = int(edges[-1])
                longest = max(longest, offset + b.size - opened - 1)
            if longest > JSON_MAX_STRING:
                raise refuse(source, f"a JSON string longer than {JSON_MAX_STRING} bytes; not an export")
            lines += chunk.count(b"\n")
            offset += b.size


def locate_records(source: InputFile) -> str | None:
    """The ijson prefix of the document's records: "item" (top-level array), "key.item",
    "." (the document is one record), "" (no records: Brevo's exhausted page) or None.

    Only the events before the records list are walked here: the list itself is left to
    ijson's C parser in the second pass.
    """
    with json_bytes(source) as fh:
        events = ijson.parse(fh, use_float=True, buf_size=CHUNK)
        _, event, _ = next(events, ("", None, None))
        if event == "start_array":
            return "item"
        if event != "start_map":
            return None
        key = awaiting = fallback = None
        contacts_null = False
        for prefix, event, value in events:
            if prefix == "":
                if event == "map_key":
                    key = value
                continue
            if prefix == key:
                if event == "start_array":
                    if key in _RECORD_KEYS:
                        return f"{key}.item"
                    awaiting = key
                elif event == "null" and key == "contacts":
                    contacts_null = True
                continue
            if awaiting is not None and prefix == f"{awaiting}.item":
                if event == "start_map" and fallback is None:
                    fallback = awaiting
                awaiting = None
    if fallback is not None:
        return f"{fallback}.item"
    return "" if contacts_null else "."


def first_invalid(texts: pl.Series, numbers: pl.Series) -> int:
    """The line of the first text that is not JSON (after a batch failed to decode)."""
    for text, number in zip(texts, numbers, strict=True):
        try:
            json.loads(text)
        except (ValueError, RecursionError, TypeError):
            return number
    return numbers[0]


def check_depth(source: InputFile, texts: pl.Series, numbers: pl.Series, unit: str) -> None:
    """Refuse JSON nested deeper than JSON_MAX_DEPTH before Polars builds types from it.

    A text with few brackets cannot be deep; the others lose their strings, then their innermost
    bracket pairs JSON_MAX_DEPTH times over: any bracket left is nesting deeper than that."""
    many = texts.str.count_matches(r"[\[{]") > JSON_MAX_DEPTH
    if not many.any():
        return
    rest = texts.filter(many).str.replace_all(r'"(?:[^"\\]|\\.)*"', '""')
    for _ in range(JSON_MAX_DEPTH):
        rest = rest.str.replace_all(r"\{[^\[\]{}]*\}|\[[^\[\]{}]*\]", "")
    deep = rest.str.contains(r"[\[{]")
    if deep.any():
        number = numbers.filter(many).filter(deep)[0]
        raise refuse(source, f"{unit} {number}: JSON nested more than {JSON_MAX_DEPTH} levels deep (or not closed)")
