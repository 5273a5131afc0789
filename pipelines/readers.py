"""Opening customer files into frames of strings with their 1-based line numbers.

Handles archives (.zip, .gz), encodings (UTF-8 with or without BOM, UTF-16 "Unicode text",
cp1252), bare-CR line endings, delimiter and header sniffing, JSON documents and NDJSON.
Files are streamed in chunks; large CSVs are scanned lazily by Polars, never loaded row by row.
"""
from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import io
import json
import re
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from pipelines.errors import DataRefused, UserError, first_line

CHUNK = 16 * 1024 * 1024
SAMPLE_ROWS = 200
_JUNK_MEMBER = re.compile(r"(^|/)(__MACOSX/|\._|\.DS_Store$|Thumbs\.db$)")
_RECORD_KEYS = (
    "Suppressions", "SuppressedDestinationSummaries", "items", "members", "contacts", "results",
    "data", "Results", "suppressions", "profiles", "records",
)


@dataclass
class InputFile:
    """One logical input: a plain file, or one member of an archive."""

    display: str  # what messages and the report name: `path` or `archive.zip!member.csv`
    name: str  # the member's base name, used for detection
    sha256: str
    local_path: Path  # UTF-8, LF or CRLF line endings, ready for Polars
    newlines: int = 0


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


def _transcode(src: io.BufferedIOBase, dst: Path, encoding: str, cr_only: bool) -> tuple[str, int]:
    """Stream `src` into `dst` as UTF-8; returns sha256 of the *original* bytes and newline count."""
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    newlines = 0
    with dst.open("wb") as out:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
            text = decoder.decode(chunk)
            if cr_only:
                text = text.replace("\r", "\n")
            data = text.encode("utf-8")
            newlines += data.count(b"\n")
            out.write(data)
        tail = decoder.decode(b"", final=True).encode("utf-8")
        out.write(tail)
    return digest.hexdigest(), newlines


def _sniff_encoding(head: bytes) -> tuple[str, bool]:
    """(python codec, needs transcoding) from the first bytes of a file."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", True
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", False  # Polars strips the BOM itself
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head)  # a character cut at the end is fine
    except UnicodeDecodeError:
        return "cp1252", True
    return "utf-8", False


def _materialize(display: str, name: str, opener, workdir: Path, index: int) -> InputFile:
    """Bring one input to a local UTF-8 file, hashing the original bytes on the way."""
    with opener() as fh:
        head = fh.read(1 << 20)
    encoding, transcode = _sniff_encoding(head)
    cr_only = b"\r" in head and b"\n" not in head
    dst = workdir / f"in{index:04d}.txt"
    if transcode or cr_only:
        with opener() as fh:
            sha, newlines = _transcode(fh, dst, encoding if transcode else "utf-8", cr_only)
        return InputFile(display, name, sha, dst, newlines)
    digest, newlines = hashlib.sha256(), 0
    utf8 = codecs.getincrementaldecoder("utf-8")()
    local: Path | None = getattr(opener, "path", None)
    # sha256 releases the GIL: each chunk is hashed on a second thread while this one counts its
    # lines and checks its encoding (an ASCII chunk needs no decoding to be valid UTF-8).
    with opener() as fh, ThreadPoolExecutor(1, thread_name_prefix="sha256") as hasher:
        out = None if local else dst.open("wb")
        try:
            while chunk := fh.read(CHUNK):
                hashed = hasher.submit(digest.update, chunk)
                newlines += chunk.count(b"\n")
                if utf8.getstate()[0] or not chunk.isascii():
                    utf8.decode(chunk)
                if out:
                    out.write(chunk)
                hashed.result()
            utf8.decode(b"", final=True)
        except UnicodeDecodeError:
            # Not UTF-8 after all (past the first megabyte): a legacy Windows export.
            if out:
                out.close()
                out = None
            with opener() as again:
                sha, newlines = _transcode(again, dst, "cp1252", cr_only)
            return InputFile(display, name, sha, dst, newlines)
        finally:
            if out:
                out.close()
    return InputFile(display, name, digest.hexdigest(), local or dst, newlines)


class _FileOpener:
    def __init__(self, path: Path):
        self.path = path

    def __call__(self):
        return self.path.open("rb")


def expand_paths(paths: list[str | Path]) -> list[Path]:
    """Files named, with directories expanded to the files under them (sorted; hidden ones skipped)."""
    files = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise UserError(f"{path}: no such file")
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and not any(
                part.startswith(".") for part in p.relative_to(path).parts))
            if not found:
                raise UserError(f"{path}: directory holds no files")
            files += found
        else:
            files.append(path)
    return files


def iter_inputs(paths: list[str | Path], workdir: Path) -> Iterator[InputFile]:
    """Every logical input behind the given paths (archives expanded, junk members skipped)."""
    index = 0
    for path in expand_paths(paths):
        lower = path.name.lower()
        if lower.endswith(".zip"):
            try:
                archive = zipfile.ZipFile(path)
            except zipfile.BadZipFile as exc:
                raise DataRefused(f"{path}: not a readable zip archive ({exc})") from None
            with archive:
                for info in archive.infolist():
                    if info.is_dir() or _JUNK_MEMBER.search(info.filename):
                        continue
                    member = info.filename
                    index += 1
                    opener = lambda m=member, a=archive: a.open(m)  # noqa: E731
                    inner = _maybe_gunzip(opener, member)
                    yield _materialize(f"{path}!{member}", Path(member).name.removesuffix(".gz"), inner, workdir, index)
        elif lower.endswith(".gz"):
            index += 1
            yield _materialize(str(path), path.name[:-3], lambda p=path: gzip.open(p, "rb"), workdir, index)
        else:
            index += 1
            yield _materialize(str(path), path.name, _FileOpener(path), workdir, index)


def _maybe_gunzip(opener, member: str):
    if member.lower().endswith(".gz"):
        return lambda: gzip.open(opener(), "rb")
    return opener


# ---------------------------------------------------------------------------------------------
# Parsing


def _first_text(path: Path, limit: int = 1 << 16) -> str:
    with path.open("rb") as fh:
        head = fh.read(limit)
    return head.decode("utf-8-sig", errors="replace")


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


def _dedupe_names(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for i, name in enumerate(names):
        name = name.strip().strip("\ufeff").strip().strip('"').strip() or f"_col{i + 1}"
        key = name.lower()
        if key in seen:
            seen[key] += 1
            name = f"{name}__{seen[key]}"
        else:
            seen[key] = 1
        out.append(name)
    return out


def read_table(source: InputFile) -> Table:
    """Parse one input into a lazy frame of strings with `_line`."""
    text = _first_text(source.local_path)
    stripped = text.lstrip()
    if not stripped:
        raise DataRefused(f"{source.display}: the file is empty")
    if stripped[0] in "[{":
        return _read_json(source, text)
    return _read_csv(source, text)


def _read_csv(source: InputFile, head: str) -> Table:
    lines = [ln for ln in head.splitlines()[:20] if ln.strip()]
    if len(head) >= (1 << 16) - 1 and len(lines) > 1:
        lines = lines[:-1]  # the last one may be cut
    delimiter = _sniff_delimiter(lines)
    first = next(csv.reader([lines[0]], delimiter=delimiter))
    has_header = not _looks_like_data(first)
    names = _dedupe_names(first) if has_header else [f"_col{i + 1}" for i in range(len(first))]
    try:
        frame = pl.scan_csv(
            source.local_path,
            separator=delimiter,
            has_header=False,
            skip_rows=1 if has_header else 0,
            new_columns=names,
            schema={n: pl.String for n in names},
            # A one-column list is a list of lines: `"Jane" <jane@example.com>` is not CSV quoting.
            quote_char='"' if len(names) > 1 else None,
            truncate_ragged_lines=True,
            row_index_name="_row",
            encoding="utf8",
        )
        sample = frame.head(SAMPLE_ROWS).collect()
    except pl.exceptions.ComputeError as exc:
        raise DataRefused(
            f"{source.display}: cannot be read as {_delim_name(delimiter)}-separated text ({first_line(exc)})"
        ) from None
    header_lines = 1 if has_header else 0
    exact = _has_multiline_records(source, frame, header_lines)
    frame = _with_lines(frame, names, header_lines, exact)
    return Table(source, "csv", names, has_header, frame, _with_lines(sample.lazy(), names, 1 if has_header else 0, True).collect(), delimiter)


def _delim_name(d: str) -> str:
    return {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}[d]


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
    return frame.with_columns(line.alias("_line")).filter(~blank).drop("_row")


def _read_json(source: InputFile, head: str) -> Table:
    lines = [ln for ln in head.lstrip().splitlines() if ln.strip()]
    first_line = lines[0].strip()
    ndjson = False
    if first_line.startswith("{") and len(lines) > 1:  # one object a line, and more than one line
        try:
            ndjson = isinstance(json.loads(first_line), dict)
        except json.JSONDecodeError:
            ndjson = False
    if first_line.startswith("[") and first_line.endswith("]") and len(head.strip().splitlines()) > 1:
        return _read_array_lines(source)
    if ndjson:
        records = []
        lines = []
        with source.local_path.open("r", encoding="utf-8-sig") as fh:
            for number, line in enumerate(fh, start=1):
                if line.strip():
                    lines.append(number)
                    records.append(line)
        try:
            frame = pl.read_ndjson(io.StringIO("".join(records)), infer_schema_length=None)
        except pl.exceptions.ComputeError as exc:
            raise DataRefused(f"{source.display}: not valid NDJSON ({first_line(exc)})") from None
        frame = frame.with_columns(pl.Series("_line", lines, dtype=pl.Int64))
        return _json_table(source, "ndjson", frame)
    try:
        with source.local_path.open("r", encoding="utf-8-sig") as fh:
            doc = json.load(fh)
    except json.JSONDecodeError as exc:
        raise DataRefused(f"{source.display}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    records = _find_records(doc)
    if records is None:
        raise DataRefused(f"{source.display}: JSON holds no list of records")
    if records and all(isinstance(r, str) for r in records):
        records = [{"email": r} for r in records]
    frame = pl.json_normalize(records, separator=".", infer_schema_length=None) if records else pl.DataFrame()
    frame = frame.with_columns(pl.int_range(1, frame.height + 1, dtype=pl.Int64).alias("_line"))
    return _json_table(source, "json", frame)


def _read_array_lines(source: InputFile) -> Table:
    """Mailchimp's legacy export API: a header array, then one array per member."""
    rows, numbers = [], []
    with source.local_path.open("r", encoding="utf-8-sig") as fh:
        for number, line in enumerate(fh, start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise DataRefused(f"{source.display}: line {number}: not a JSON array ({exc.msg})") from None
                numbers.append(number)
    header = _dedupe_names([str(h) for h in rows[0]])
    body = [[None if v is None else str(v) for v in (r + [None] * len(header))[: len(header)]] for r in rows[1:]]
    frame = pl.DataFrame(body, schema={h: pl.String for h in header}, orient="row")
    frame = frame.with_columns(pl.Series("_line", numbers[1:], dtype=pl.Int64))
    return _json_table(source, "json", frame)


def _find_records(doc):
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict):
        for key in _RECORD_KEYS:
            if isinstance(doc.get(key), list):
                return doc[key]
        for value in doc.values():
            if isinstance(value, list) and value and isinstance(value[0], dict):
                return value
        if doc.get("contacts", 0) is None:  # Brevo's exhausted page
            return []
        return [doc]  # a single record
    return None


def _json_table(source: InputFile, fmt: str, frame: pl.DataFrame) -> Table:
    # Flatten nested structs and stringify everything else, so adapters see strings only.
    while any(isinstance(dt, pl.Struct) for dt in frame.dtypes):
        struct_cols = [c for c, dt in frame.schema.items() if isinstance(dt, pl.Struct)]
        frame = frame.with_columns(
            pl.col(c).name.map_fields(lambda f, c=c: f"{c}.{f}") for c in struct_cols
        ).unnest(struct_cols)
    exprs = []
    for name, dtype in frame.schema.items():
        if name == "_line":
            exprs.append(pl.col(name))
        elif dtype == pl.String:
            exprs.append(pl.col(name))
        elif isinstance(dtype, (pl.List, pl.Array)) and isinstance(dtype.inner, pl.Struct):
            # A list of objects stays JSON text, field names and all (a cast would drop them).
            items = pl.col(name).list.eval(pl.element().struct.json_encode()).list.join(",")
            exprs.append(pl.when(pl.col(name).is_null()).then(None).otherwise("[" + items + "]").alias(name))
        elif isinstance(dtype, (pl.List, pl.Array)):
            exprs.append(pl.col(name).cast(pl.List(pl.String), strict=False).list.join(",").alias(name))
        else:
            exprs.append(pl.col(name).cast(pl.String, strict=False))
    frame = frame.select(exprs)
    names = [c for c in frame.columns if c != "_line"]
    return Table(source, fmt, names, True, frame.lazy(), frame.head(SAMPLE_ROWS))

