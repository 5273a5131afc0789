"""Opening customer files into frames of strings with their 1-based line numbers.

By job: `inputs` (which files a user named, and the logical inputs behind them), `archives`
(.zip and .gz streamed under size and ratio limits), `encodings` (bytes to a local UTF-8 file),
`tables` (one input to a `Table`), `delimited` (CSV, TSV, semicolon, plain lists),
`json_shape` and `json_records` (JSON documents, NDJSON, array lines, in batches). Files are
streamed in chunks; large CSVs are scanned lazily by Polars, never loaded row by row, and JSON
is converted in batches into Parquet parts, so memory stays flat in the file size. Paths are
literal: no Polars scan expands a glob.

Hostile input is refused with one line naming the file (`DataRefused`): archive members past
a size or expansion-ratio limit, undecompressable or encrypted members, unreadable CSV, JSON
that is invalid or nested too deeply. Fields are capped at read time (`FIELD_MAX_BYTES`).
"""
from __future__ import annotations

from pipelines.readers.common import FIELD_MAX_BYTES, InputFile, Table
from pipelines.readers.inputs import iter_inputs, resolve_paths
from pipelines.readers.tables import read_table

__all__ = ["FIELD_MAX_BYTES", "InputFile", "Table", "iter_inputs", "read_table", "resolve_paths"]
