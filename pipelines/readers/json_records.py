"""JSON: NDJSON, documents and Mailchimp's array lines, converted in batches to Parquet parts, so
memory stays flat in the file size."""
from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import ijson
import polars as pl

from pipelines.errors import first_line
from pipelines.readers.common import CHUNK, SAMPLE_ROWS, WS, InputFile, Table, capped, clean_name, refuse
from pipelines.readers.delimited import dedupe_names
from pipelines.readers.json_shape import (
    JSON_MAX_DEPTH,
    check_depth,
    check_document,
    first_invalid,
    json_bytes,
    locate_records,
)

JSON_BATCH_ROWS = 100_000


def read_json(source: InputFile, head: str, skip: int) -> Table:
    lines = [ln.strip(WS) for ln in head.split("\n") if ln.strip(WS)]
    first = lines[0]
    if first.startswith("[") and first.endswith("]") and len(lines) > 1:
        return _read_array_lines(source)
    if first.startswith("{") and len(lines) > 1:  # one object a line, and more than one line
        try:
            if isinstance(json.loads(first), dict):
                return _read_ndjson(source)
        except (ValueError, RecursionError):
            pass
    return _read_document(source)


def json_error(source: InputFile, exc: Exception) -> str:
    """Where a document breaks: ijson does not say, so a small file is parsed again for the line."""
    if source.local_path.stat().st_size <= (16 << 20):
        try:
            with json_bytes(source) as fh:
                json.loads(fh.read().decode("utf-8"))
        except json.JSONDecodeError as err:
            return f"line {err.lineno}: {err.msg}"
        except (ValueError, RecursionError):
            pass
    return first_line(exc)


def _nonblank_lines(source: InputFile) -> Iterator[pl.DataFrame]:
    """The file's non-blank lines in batches: `_text` and its 1-based `_line`."""
    frame = (
        pl.scan_lines(source.local_path, name="_text", row_index_name="_row", glob=False)
        .with_columns(pl.when(pl.col("_row") == 0).then(pl.col("_text").str.strip_prefix("\ufeff"))
                      .otherwise(pl.col("_text")).alias("_text"))
        .filter(pl.col("_text").str.strip_chars(WS) != "")
        .select("_text", (pl.col("_row").cast(pl.Int64) + 1).alias("_line"))
    )
    return iter(frame.collect_batches(chunk_size=JSON_BATCH_ROWS))


def _read_ndjson(source: InputFile) -> Table:
    with _Parts(source, "ndjson") as parts:
        for batch in _nonblank_lines(source):
            if batch.height:
                parts.submit(_decode_lines, source, batch["_text"], batch["_line"])
        return parts.table()


def _read_array_lines(source: InputFile) -> Table:
    """Mailchimp's legacy export API: a header array, then one array per member."""
    header: list[str] | None = None
    with _Parts(source, "json") as parts:
        for batch in _nonblank_lines(source):
            if not batch.height:
                continue
            if header is None:
                try:
                    names = json.loads(batch["_text"][0])
                except (ValueError, RecursionError) as exc:
                    raise refuse(source, f"line {batch['_line'][0]}: not a JSON array ({first_line(exc)})") from None
                if not isinstance(names, list):
                    raise refuse(source, f"line {batch['_line'][0]}: not a JSON array")
                header = dedupe_names([str(h) for h in names])
                parts.columns = list(header)
                batch = batch.slice(1)
            parts.submit(_decode_arrays, source, batch["_text"], batch["_line"], header)
        if header is None:
            raise refuse(source, "the file is empty")
        return parts.table()


def _decode_arrays(source: InputFile, texts: pl.Series, numbers: pl.Series, header: list[str]) -> pl.DataFrame:
    check_depth(source, texts, numbers, "line")
    try:
        rows = texts.str.json_decode(dtype=pl.List(pl.String))
    except pl.exceptions.PolarsError:
        raise refuse(source, f"line {first_invalid(texts, numbers)}: not a JSON array") from None
    return numbers.to_frame().with_columns(
        capped(rows.list.get(i, null_on_oob=True)).alias(h) for i, h in enumerate(header))


def _read_document(source: InputFile) -> Table:
    """One JSON document: a top-level array of records (or of bare addresses), or an object
    whose records are in a list (`{"results": [...]}`), read incrementally with ijson.

    The records are the first list, in document order, under one of `_RECORD_KEYS`; else the
    first list of objects; a Brevo page with `"contacts": null` has none; an object without any
    list is a single record.
    """
    check_document(source)
    where = locate_records(source)
    if where is None:
        raise refuse(source, "JSON holds no list of records")
    with _Parts(source, "json") as parts:
        if where == "":
            return parts.table()
        with json_bytes(source) as fh:
            items = ijson.items(fh, "" if where == "." else where, use_float=True, buf_size=CHUNK)
            number = 0
            while batch := list(itertools.islice(items, JSON_BATCH_ROWS)):
                numbers = pl.int_range(number + 1, number + len(batch) + 1, dtype=pl.Int64, eager=True).alias("_line")
                number += len(batch)
                # One C call a batch; the batch is parsed by Polars on the parts thread meanwhile.
                try:
                    text = json.dumps(batch, allow_nan=False)
                except RecursionError:
                    raise refuse(source, f"JSON nested more than {JSON_MAX_DEPTH} levels deep") from None
                except ValueError as exc:
                    raise refuse(source, f"not usable JSON ({first_line(exc)})") from None
                parts.submit(_decode_objects, source, text, numbers, batch)
        return parts.table()


def _decode_objects(source: InputFile, text: str, numbers: pl.Series, objects: list) -> pl.DataFrame:
    """A batch of records (a JSON array `text` of `objects`) as string columns plus `_line`."""
    if objects and isinstance(objects[0], str):  # a list of bare addresses
        try:
            return pl.Series("email", objects, dtype=pl.String, strict=True).to_frame().with_columns(
                capped(pl.col("email")), numbers)
        except (TypeError, pl.exceptions.PolarsError):
            raise refuse(source, "JSON records of mixed kinds: addresses and others") from None
    if not all(type(o) is dict for o in objects):
        raise refuse(source, f"record {_first_invalid_object(objects, numbers)}: not a JSON object")
    try:
        frame = pl.read_json(text.encode("utf-8"), infer_schema_length=None)
    except pl.exceptions.PolarsError:
        frame = _normalized(source, objects)
    return _numbered(frame, numbers)


def _normalized(source: InputFile, objects: list) -> pl.DataFrame:
    """Records whose shapes clash (a field that is an object in one, a string in another),
    flattened the way pl.json_normalize does, from the Python objects."""
    try:
        return pl.json_normalize(objects, separator=".", infer_schema_length=None, strict=False)
    except (pl.exceptions.PolarsError, TypeError, ValueError) as exc:
        raise refuse(source, f"JSON records of clashing shapes ({first_line(exc)})") from None


def _decode_lines(source: InputFile, texts: pl.Series, numbers: pl.Series) -> pl.DataFrame:
    """NDJSON lines (one object each) as string columns plus `_line`."""
    check_depth(source, texts, numbers, "line")
    try:
        decoded = texts.str.json_decode(infer_schema_length=None)
    except pl.exceptions.PolarsError:
        try:
            objects = [json.loads(t) for t in texts]
        except (ValueError, RecursionError):
            raise refuse(source, f"line {first_invalid(texts, numbers)}: not valid JSON") from None
        if not all(type(o) is dict for o in objects):
            raise refuse(source, f"line {_first_invalid_object(objects, numbers)}: not a JSON object") from None
        return _numbered(_normalized(source, objects), numbers)
    if isinstance(decoded.dtype, pl.Struct) and decoded.dtype.fields:
        return _numbered(decoded.struct.unnest(), numbers)
    if isinstance(decoded.dtype, (pl.Struct, pl.Null)):  # `{}` or `null` lines: no fields
        return numbers.to_frame()
    raise refuse(source, f"line {numbers[0]}: not a JSON object")


def _first_invalid_object(objects: list, numbers: pl.Series) -> int:
    return next((n for o, n in zip(objects, numbers, strict=True) if type(o) is not dict), numbers[0])


def _numbered(frame: pl.DataFrame, numbers: pl.Series) -> pl.DataFrame:
    out = _strings(frame)
    return numbers.to_frame() if out.width == 0 else out.with_columns(numbers)


def _strings(frame: pl.DataFrame) -> pl.DataFrame:
    """Nested objects flattened to dotted columns, everything else stringified, values capped."""
    # Flatten nested structs and stringify everything else, so adapters see strings only.
    while any(isinstance(dt, pl.Struct) for dt in frame.dtypes):
        struct_cols = [c for c, dt in frame.schema.items() if isinstance(dt, pl.Struct)]
        empty = [c for c in struct_cols if not frame.schema[c].fields]
        frame = frame.drop(empty)
        struct_cols = [c for c in struct_cols if c not in empty]
        frame = frame.with_columns(
            pl.col(c).name.map_fields(lambda f, c=c: f"{c}.{f}") for c in struct_cols
        ).unnest(struct_cols)
    exprs = []
    for name, dtype in frame.schema.items():
        if dtype == pl.String:
            expr = pl.col(name)
        elif isinstance(dtype, (pl.List, pl.Array)) and isinstance(dtype.inner, pl.Struct):
            # A list of objects stays JSON text, field names and all (a cast would drop them).
            items = pl.col(name).list.eval(pl.element().struct.json_encode()).list.join(",")
            expr = pl.when(pl.col(name).is_null()).then(None).otherwise("[" + items + "]")
        elif isinstance(dtype, (pl.List, pl.Array)):
            expr = pl.col(name).cast(pl.List(pl.String), strict=False).list.join(",")
        else:
            expr = pl.col(name).cast(pl.String, strict=False)
        exprs.append(capped(expr).alias(name))
    frame = frame.select(exprs)
    clean = _json_names(frame.columns)
    return frame.rename(dict(zip(frame.columns, clean, strict=True))) if clean != frame.columns else frame


def _json_names(names: list[str]) -> list[str]:
    """JSON keys as column names: control characters and excess length removed, `_line` kept
    for the line numbers, exact duplicates that this makes numbered."""
    out: list[str] = []
    seen: set[str] = set()
    for name in names:
        name = clean_name(name) or "_empty"
        if name == "_line":
            name = "_line_"
        base, n = name, 1
        while name in seen:
            n += 1
            name = f"{base}__{n}"
        seen.add(name)
        out.append(name)
    return out


class _Parts:
    """A JSON input's batches as Parquet parts, scanned back as one lazy frame.

    Batches are decoded and written on one background thread (Polars releases the GIL) while
    the caller parses the next; one batch at most waits, so memory stays bounded.
    """

    def __init__(self, source: InputFile, fmt: str):
        self.source = source
        self.fmt = fmt
        self.paths: list[Path] = []
        self.columns: list[str] = []
        self.sample: pl.DataFrame | None = None
        workdir = source.workdir or source.local_path.parent
        self.stem = workdir / f"in{source.index:04d}.json"
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="json-parts")
        self._pending = None

    def __enter__(self) -> _Parts:
        return self

    def __exit__(self, *exc) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def submit(self, decode, *args) -> None:
        self._wait()
        self._pending = self._pool.submit(lambda: self._write(decode(*args)))

    def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def _write(self, frame: pl.DataFrame) -> None:
        if self.sample is None:
            self.sample = frame.head(SAMPLE_ROWS)
        self.columns += [c for c in frame.columns if c != "_line" and c not in self.columns]
        path = Path(f"{self.stem}.{len(self.paths):05d}.parquet")
        frame.write_parquet(path, compression="lz4", statistics=False)
        self.paths.append(path)

    def table(self) -> Table:
        self._wait()
        schema = {c: pl.String for c in self.columns} | {"_line": pl.Int64}
        order = [*self.columns, "_line"]
        if not self.paths:
            empty = pl.DataFrame(schema=schema)
            return Table(self.source, self.fmt, list(self.columns), True, empty.lazy(), empty)
        scans = [pl.scan_parquet(p, glob=False) for p in self.paths]
        frame = (scans[0] if len(scans) == 1 else pl.concat(scans, how="diagonal")).select(order)
        sample = self.sample.with_columns(
            pl.lit(None, pl.String).alias(c) for c in self.columns if c not in self.sample.columns
        ).select(order)
        return Table(self.source, self.fmt, list(self.columns), True, frame, sample)
