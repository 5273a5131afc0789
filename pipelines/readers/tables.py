"""One input to a `Table`: the first line with content decides between JSON and delimited text."""
from __future__ import annotations

import codecs
from pathlib import Path

import ijson
import polars as pl

from pipelines.errors import first_line
from pipelines.readers.common import HEAD_BYTES, WS, InputFile, Table, refuse
from pipelines.readers.delimited import read_csv
from pipelines.readers.json_records import json_error, read_json
from pipelines.readers.json_shape import JSON_MAX_DEPTH


def read_table(source: InputFile) -> Table:
    """Parse one input into a lazy frame of strings with `_line`.

    Whatever Polars or the JSON parser raises on a malformed file is a refusal naming it."""
    try:
        skip, head, cut = _content_start(source.local_path)
        if not head.strip(WS):
            raise refuse(source, "the file is empty")
        if head.lstrip(WS)[0] in "[{":
            return read_json(source, head, skip)
        return read_csv(source, head, skip, cut)
    except (pl.exceptions.PolarsError, pl.exceptions.PanicException) as exc:
        raise refuse(source, f"cannot be read ({first_line(exc)})") from None
    except ijson.JSONError as exc:
        raise refuse(source, f"not valid JSON ({json_error(source, exc)})") from None
    except RecursionError:
        raise refuse(source, f"JSON nested more than {JSON_MAX_DEPTH} levels deep") from None


def _content_start(path: Path) -> tuple[int, str, bool]:
    """(blank lines before the first line with content, the text from that line on (up to
    HEAD_BYTES), whether more follows). Leading blank lines are skipped however many there are."""
    blank, line_start, pos = 0, 0, 0
    found = False
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            body = chunk[3:] if pos == 0 and chunk.startswith(codecs.BOM_UTF8) else chunk
            skip = len(chunk) - len(body)
            rest = body.lstrip(b" \t\r\n\f\v")
            ws_end = skip + len(body) - len(rest)
            blank += chunk.count(b"\n", 0, ws_end)
            newline = chunk.rfind(b"\n", 0, ws_end)
            if newline >= 0:
                line_start = pos + newline + 1
            if rest:
                found = True
                break
            pos += len(chunk)
        if not found:
            return blank, "", False
        fh.seek(line_start)
        head = fh.read(HEAD_BYTES + 1)
    cut = len(head) > HEAD_BYTES
    return blank, head[:HEAD_BYTES].decode("utf-8-sig" if line_start == 0 else "utf-8", errors="replace"), cut
