"""Opening customer files into frames of strings with their 1-based line numbers.

Handles archives (.zip, .gz), encodings (UTF-8 with or without BOM, UTF-16 "Unicode text",
cp1252), bare-CR line endings, delimiter and header sniffing, JSON documents and NDJSON.
Files are streamed in chunks; large CSVs are scanned lazily by Polars, never loaded row by row,
and JSON is converted in batches into Parquet parts, so memory stays flat in the file size.
Paths are literal: no Polars scan expands a glob.

Hostile input is refused with one line naming the file (`DataRefused`): archive members past
a size or expansion-ratio limit, undecompressable or encrypted members, unreadable CSV, JSON
that is invalid or nested too deeply. Fields are capped at read time (`FIELD_MAX_BYTES`).
"""
from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import itertools
import json
import os
import re
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import ijson
import numpy as np
import polars as pl

from pipelines.errors import DataRefused, PipelineError, UsageError, first_line

CHUNK = 16 * 1024 * 1024
HEAD_BYTES = 1 << 16  # what header, delimiter and JSON-shape sniffing look at
SAMPLE_ROWS = 200
# Every field is cut to this many characters (plus "…") while it is read: a 200 MB value must not
# travel through adapters and normalizer. 64 KiB is far above any real cell (a JSON list of a
# profile's subscriptions included); the normalizer then quarantines addresses over 4 KiB.
FIELD_MAX_BYTES = 1 << 16
ELLIPSIS = "\u2026"
# JSON deeper than this is refused: real exports nest a handful of levels, and Polars' struct
# handling slows down sharply (and can crash) on deep nesting.
JSON_MAX_DEPTH = 32
JSON_BATCH_ROWS = 100_000
# A JSON string this long is refused outright: ijson holds a string whole, several times over,
# and its parse time grows with the square of the string over its 16 MiB read buffer.
JSON_MAX_STRING = 256 << 20
_DEPTH_CHUNK = 4 << 20
# Archive members: refused once they expand past SUPPRESSION_MAX_MEMBER_BYTES, or, past
# RATIO_FLOOR, past SUPPRESSION_MAX_RATIO times the compressed bytes read so far. Counted while
# streaming: a zip header's sizes can lie. Small members are exempt from the ratio, since a short
# repetitive file compresses far beyond any ratio a bomb needs.
DEFAULT_MAX_MEMBER_BYTES = 4 << 30
DEFAULT_MAX_RATIO = 200
RATIO_FLOOR = 64 << 20
_JUNK_MEMBER = re.compile(r"(^|/)(__MACOSX/|\._|\.DS_Store$|Thumbs\.db$)")
_RECORD_KEYS = (
    "Suppressions", "SuppressedDestinationSummaries", "items", "members", "contacts", "results",
    "data", "Results", "suppressions", "profiles", "records",
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")
_WS = " \t\r\n\f\v"  # what makes a line blank (Polars splits lines on \n only)
_NAME_MAX = 200


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
class Table:
    """A file read as strings: `frame` has the file's columns plus `_line`."""

    source: InputFile
    fmt: str  # csv | json | ndjson
    columns: list[str]
    has_header: bool
    frame: pl.LazyFrame
    sample: pl.DataFrame = field(repr=False)
    delimiter: str = ","


# ---------------------------------------------------------------------------------------------
# Bytes to a local UTF-8 file


def _env_limit(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise UsageError(f"{name} must be a positive whole number, not {raw!r}")
    return value


class _CountingFile:
    """A binary file that counts the bytes read from it: the compressed side of an archive."""

    def __init__(self, raw):
        self.raw = raw
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.count += len(data)
        return data

    def seek(self, *args):
        return self.raw.seek(*args)

    def tell(self) -> int:
        return self.raw.tell()

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self.raw.close()

    @property
    def closed(self) -> bool:
        return self.raw.closed


class _Expansion:
    """A decompressed stream that refuses to grow past the size and ratio limits.

    Any error of the decompressor (truncated, corrupt, encrypted, not gzip at all) becomes a
    refusal naming the member, instead of a library message without it.
    """

    def __init__(self, display: str, stream, compressed, closers: list):
        self.display = display
        self.stream = stream
        self.compressed = compressed  # () -> compressed bytes consumed so far
        self.closers = closers
        self.out = 0
        self.max_bytes = _env_limit("SUPPRESSION_MAX_MEMBER_BYTES", DEFAULT_MAX_MEMBER_BYTES)
        self.max_ratio = _env_limit("SUPPRESSION_MAX_RATIO", DEFAULT_MAX_RATIO)

    def read(self, n: int = -1) -> bytes:
        try:
            data = self.stream.read(n)
        except PipelineError:
            raise
        except Exception as exc:  # noqa: BLE001 - whatever the decompressor raises is about the data
            raise DataRefused(f"{self.display}: cannot be decompressed ({first_line(exc, with_type=True)})") from None
        self.out += len(data)
        if self.out > self.max_bytes:
            raise DataRefused(
                f"{self.display}: expands to more than {self.max_bytes} bytes "
                "(limit SUPPRESSION_MAX_MEMBER_BYTES); refused")
        if self.out > RATIO_FLOOR and self.out > self.max_ratio * max(self.compressed(), 1):
            raise DataRefused(
                f"{self.display}: expands more than {self.max_ratio} times its compressed size "
                "(limit SUPPRESSION_MAX_RATIO), like an archive bomb; refused")
        return data

    def close(self) -> None:
        for c in self.closers:
            try:
                c.close()
            except Exception:  # noqa: BLE001, S110 - closing a broken stream must not hide why it broke
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _opening(display: str, open_stream):
    """Run `open_stream` (which may already fail on a corrupt or encrypted member) as a refusal."""
    try:
        return open_stream()
    except PipelineError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise DataRefused(f"{display}: cannot be decompressed ({first_line(exc, with_type=True)})") from None


def _gz_opener(path: Path, display: str):
    def opener():
        raw = _CountingFile(path.open("rb"))
        stream = _opening(display, lambda: gzip.GzipFile(fileobj=raw, mode="rb"))
        return _Expansion(display, stream, lambda: raw.count, [stream, raw])
    return opener


def _zip_opener(archive: zipfile.ZipFile, counting: _CountingFile, info: zipfile.ZipInfo, display: str):
    gunzip = info.filename.lower().endswith(".gz")

    def opener():
        start = counting.count

        def open_stream():
            member = archive.open(info)
            return (gzip.GzipFile(fileobj=member, mode="rb"), member) if gunzip else (member, member)

        stream, member = _opening(display, open_stream)
        return _Expansion(display, stream, lambda: counting.count - start, [stream, member])
    return opener


def _utf8_counts(chunk: bytes, text: str) -> tuple[int, int]:
    """(valid non-ASCII characters, invalid sequences replaced) of one decoded chunk."""
    if chunk.isascii():
        return 0, 0
    fffd = text.count("\ufffd")
    replaced = max(fffd - chunk.count(b"\xef\xbf\xbd"), 0)
    non_ascii = len(text) - len(text.encode("ascii", "ignore"))
    return non_ascii - replaced, replaced


def _transcode(opener, dst: Path, encoding: str, cr_only: bool) -> tuple[str, int, int, int]:
    """Stream the input into `dst` as UTF-8, invalid sequences replaced by U+FFFD.

    Returns the sha256 of the *original* bytes, the newline count, and (UTF-8 only) the valid
    non-ASCII characters and the invalid sequences seen.
    """
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    newlines = valid = replaced = 0
    count = encoding == "utf-8"
    with opener() as src, dst.open("wb") as out:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
            text = decoder.decode(chunk)
            if count:
                v, r = _utf8_counts(chunk, text)
                valid, replaced = valid + v, replaced + r
            if cr_only:
                text = text.replace("\r", "\n")
            data = text.encode("utf-8")
            newlines += data.count(b"\n")
            out.write(data)
        tail = decoder.decode(b"", final=True)
        replaced += tail.count("\ufffd") if count else 0
        out.write(tail.encode("utf-8"))
    return digest.hexdigest(), newlines, valid, replaced


def _pass_through(opener, dst: Path) -> tuple[str, int, Path] | None:
    """A file that is valid UTF-8 as it is: hashed and line-counted (copied out of an archive).

    None as soon as an invalid byte turns up: the caller decodes it again with replacement.
    """
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
                try:
                    newlines += chunk.count(b"\n")
                    if utf8.getstate()[0] or not chunk.isascii():
                        utf8.decode(chunk)
                    if out:
                        out.write(chunk)
                finally:
                    hashed.result()
            utf8.decode(b"", final=True)
        except UnicodeDecodeError:
            return None
        finally:
            if out:
                out.close()
    return digest.hexdigest(), newlines, local or dst


def _materialize(display: str, name: str, opener, workdir: Path, index: int) -> InputFile:
    """Bring one input to a local UTF-8 file, hashing the original bytes on the way.

    Encoding: a UTF-16 BOM means UTF-16. Otherwise the file is UTF-8 unless it holds more
    invalid UTF-8 sequences than valid non-ASCII characters (and no UTF-8 BOM): then it is a
    legacy Windows export, decoded as cp1252 as a whole. cp1252 text almost never forms valid
    UTF-8 by accident, while a UTF-8 export with a few damaged rows has far more intact non-ASCII
    text than damaged bytes; those rows keep U+FFFD and are quarantined, the rest stays UTF-8.
    A file whose only non-ASCII byte is invalid (`ren\\xe9`) is thus cp1252: likely a Latin letter.
    """
    with opener() as fh:
        head = fh.read(1 << 20)
    cr_only = b"\r" in head and b"\n" not in head
    dst = workdir / f"in{index:04d}.txt"

    def made(sha: str, local: Path, newlines: int, encoding: str, invalid: int = 0) -> InputFile:
        return InputFile(display, name, sha, local, newlines, encoding, invalid, workdir, index)

    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        sha, newlines, _, _ = _transcode(opener, dst, "utf-16", cr_only)
        return made(sha, dst, newlines, "utf-16")
    if not cr_only:
        done = _pass_through(opener, dst)
        if done is not None:
            return made(done[0], done[2], done[1], "utf-8")
    bom = head.startswith(codecs.BOM_UTF8)
    head_text = head.decode("utf-8", errors="replace")
    head_valid, head_replaced = _utf8_counts(head, head_text)
    whole = len(head) < (1 << 20)  # the head is the whole file: its counts decide at once
    if not (whole and head_replaced > head_valid and not bom):
        sha, newlines, valid, replaced = _transcode(opener, dst, "utf-8", cr_only)
        if replaced <= valid or bom:
            return made(sha, dst, newlines, "utf-8", replaced)
    sha, newlines, _, _ = _transcode(opener, dst, "cp1252", cr_only)
    return made(sha, dst, newlines, "cp1252")


class _FileOpener:
    def __init__(self, path: Path):
        self.path = path

    def __call__(self):
        return self.path.open("rb")


def expand_paths(paths: list[str | Path]) -> list[Path]:
    """Files named, with directories expanded to the files under them (sorted; hidden ones skipped).

    Paths are literal: `bounces[12].csv` is that file, never a pattern.
    """
    files = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise UsageError(f"{path}: no such file")
        if path.is_dir():
            # rglob's pattern is "*": the folder's own name (`[acme]`) is never a pattern.
            found = sorted(p for p in path.rglob("*") if p.is_file() and not any(
                part.startswith(".") for part in p.relative_to(path).parts))
            if not found:
                raise UsageError(f"{path}: directory holds no files")
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
            raw = path.open("rb")
            counting = _CountingFile(raw)
            try:
                archive = zipfile.ZipFile(counting)
            except Exception as exc:  # noqa: BLE001 - any failure to read the directory is about the data
                raw.close()
                raise DataRefused(f"{path}: not a readable zip archive ({first_line(exc)})") from None
            with raw, archive:
                for info in archive.infolist():
                    if info.is_dir() or _JUNK_MEMBER.search(info.filename):
                        continue
                    member = info.filename
                    display = f"{path}!{_CONTROL.sub('?', member)}"  # messages stay one line
                    _check_member_header(display, info, path.stat().st_size)
                    index += 1
                    opener = _zip_opener(archive, counting, info, display)
                    yield _materialize(display, Path(member).name.removesuffix(".gz"), opener, workdir, index)
        elif lower.endswith(".gz"):
            index += 1
            yield _materialize(str(path), path.name[:-3], _gz_opener(path, str(path)), workdir, index)
        else:
            index += 1
            yield _materialize(str(path), path.name, _FileOpener(path), workdir, index)


def _check_member_header(display: str, info: zipfile.ZipInfo, archive_size: int) -> None:
    """Refuse what the zip directory already admits to; the stream is checked again as it expands."""
    if info.flag_bits & 0x1:
        raise DataRefused(f"{display}: is encrypted; export it again without a password")
    max_bytes = _env_limit("SUPPRESSION_MAX_MEMBER_BYTES", DEFAULT_MAX_MEMBER_BYTES)
    max_ratio = _env_limit("SUPPRESSION_MAX_RATIO", DEFAULT_MAX_RATIO)
    if info.file_size > max_bytes:
        raise DataRefused(f"{display}: expands to {info.file_size} bytes, over the limit of {max_bytes} "
                          "(SUPPRESSION_MAX_MEMBER_BYTES); refused")
    compressed = max(min(info.compress_size, archive_size), 1)
    if info.file_size > RATIO_FLOOR and info.file_size > max_ratio * compressed:
        raise DataRefused(f"{display}: expands {info.file_size // compressed} times its compressed size, over the "
                          f"limit of {max_ratio} (SUPPRESSION_MAX_RATIO), like an archive bomb; refused")


# ---------------------------------------------------------------------------------------------
# Parsing


def _refuse(source: InputFile, what: str) -> DataRefused:
    return DataRefused(f"{source.display}: {what}")


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


def _clean_name(name: str) -> str:
    """A column name safe for one-line messages: no control characters, bounded length."""
    name = _CONTROL.sub(" ", name)
    return name if len(name) <= _NAME_MAX else name[:_NAME_MAX] + ELLIPSIS


def _dedupe_names(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for i, name in enumerate(names):
        name = _clean_name(name).strip().strip("\ufeff").strip().strip('"').strip() or f"_col{i + 1}"
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


def _capped(col: pl.Expr) -> pl.Expr:
    """A string column with every value over FIELD_MAX_BYTES cut (and marked with "…").

    The condition is all false in any real batch, and Polars then skips the slicing."""
    return pl.when(col.str.len_bytes() > FIELD_MAX_BYTES).then(
        col.str.slice(0, FIELD_MAX_BYTES) + ELLIPSIS).otherwise(col)


def read_table(source: InputFile) -> Table:
    """Parse one input into a lazy frame of strings with `_line`.

    Whatever Polars or the JSON parser raises on a malformed file is a refusal naming it."""
    try:
        skip, head, cut = _content_start(source.local_path)
        if not head.strip(_WS):
            raise _refuse(source, "the file is empty")
        if head.lstrip(_WS)[0] in "[{":
            return _read_json(source, head, skip)
        return _read_csv(source, head, skip, cut)
    except (pl.exceptions.PolarsError, pl.exceptions.PanicException) as exc:
        raise _refuse(source, f"cannot be read ({first_line(exc)})") from None
    except ijson.JSONError as exc:
        raise _refuse(source, f"not valid JSON ({_json_error(source, exc)})") from None
    except RecursionError:
        raise _refuse(source, f"JSON nested more than {JSON_MAX_DEPTH} levels deep") from None


def _json_error(source: InputFile, exc: Exception) -> str:
    """Where a document breaks: ijson does not say, so a small file is parsed again for the line."""
    if source.local_path.stat().st_size <= (16 << 20):
        try:
            with _json_bytes(source) as fh:
                json.loads(fh.read().decode("utf-8"))
        except json.JSONDecodeError as err:
            return f"line {err.lineno}: {err.msg}"
        except (ValueError, RecursionError):
            pass
    return first_line(exc)


def _read_csv(source: InputFile, head: str, skip: int, cut: bool) -> Table:
    raw_lines = head.split("\n")
    first_cut = cut and len(raw_lines) == 1  # no line end in the whole head
    if cut and len(raw_lines) > 1:
        raw_lines = raw_lines[:-1]  # the last one may be cut
    lines = [ln.rstrip("\r") for ln in raw_lines[:20] if ln.strip(_WS)]
    # The csv module refuses NUL and a carriage return inside a line.
    sniffable = [ln.replace("\x00", " ").replace("\r", " ") for ln in lines]
    delimiter = _sniff_delimiter(sniffable)
    first = next(csv.reader([sniffable[0]], delimiter=delimiter))
    has_header = not _looks_like_data(first)
    if has_header and first_cut:
        raise _refuse(source, f"its first line (the header) is longer than {HEAD_BYTES} bytes; not a CSV export")
    names = _dedupe_names(first) if has_header else [f"_col{i + 1}" for i in range(len(first))]
    header_lines = skip + (1 if has_header else 0)
    if len(names) == 1:
        return _read_lines(source, names, header_lines, has_header, delimiter)
    if has_header and lines[0].count('"') % 2:
        raise _refuse(source, "its header line has an unclosed quote (a line break inside a column name?)")
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
        raise _refuse(source, f"cannot be read as {_delim_name(delimiter)}-separated text ({first_line(exc)})") from None
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
            .with_columns(_capped(pl.col(n)).alias(n) for n in names))


# ---------------------------------------------------------------------------------------------
# JSON: NDJSON, documents and Mailchimp's array lines, converted in batches to Parquet parts


def _read_json(source: InputFile, head: str, skip: int) -> Table:
    lines = [ln.strip(_WS) for ln in head.split("\n") if ln.strip(_WS)]
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


def _nonblank_lines(source: InputFile) -> Iterator[pl.DataFrame]:
    """The file's non-blank lines in batches: `_text` and its 1-based `_line`."""
    frame = (
        pl.scan_lines(source.local_path, name="_text", row_index_name="_row", glob=False)
        .with_columns(pl.when(pl.col("_row") == 0).then(pl.col("_text").str.strip_prefix("\ufeff"))
                      .otherwise(pl.col("_text")).alias("_text"))
        .filter(pl.col("_text").str.strip_chars(_WS) != "")
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
                    raise _refuse(source, f"line {batch['_line'][0]}: not a JSON array ({first_line(exc)})") from None
                if not isinstance(names, list):
                    raise _refuse(source, f"line {batch['_line'][0]}: not a JSON array")
                header = _dedupe_names([str(h) for h in names])
                parts.columns = list(header)
                batch = batch.slice(1)
            parts.submit(_decode_arrays, source, batch["_text"], batch["_line"], header)
        if header is None:
            raise _refuse(source, "the file is empty")
        return parts.table()


def _decode_arrays(source: InputFile, texts: pl.Series, numbers: pl.Series, header: list[str]) -> pl.DataFrame:
    _check_depth(source, texts, numbers, "line")
    try:
        rows = texts.str.json_decode(dtype=pl.List(pl.String))
    except pl.exceptions.PolarsError:
        raise _refuse(source, f"line {_first_invalid(texts, numbers)}: not a JSON array") from None
    return numbers.to_frame().with_columns(
        _capped(rows.list.get(i, null_on_oob=True)).alias(h) for i, h in enumerate(header))


def _read_document(source: InputFile) -> Table:
    """One JSON document: a top-level array of records (or of bare addresses), or an object
    whose records are in a list (`{"results": [...]}`), read incrementally with ijson.

    The records are the first list, in document order, under one of `_RECORD_KEYS`; else the
    first list of objects; a Brevo page with `"contacts": null` has none; an object without any
    list is a single record.
    """
    _check_document(source)
    where = _locate_records(source)
    if where is None:
        raise _refuse(source, "JSON holds no list of records")
    with _Parts(source, "json") as parts:
        if where == "":
            return parts.table()
        with _json_bytes(source) as fh:
            items = ijson.items(fh, "" if where == "." else where, use_float=True, buf_size=CHUNK)
            number = 0
            while batch := list(itertools.islice(items, JSON_BATCH_ROWS)):
                numbers = pl.int_range(number + 1, number + len(batch) + 1, dtype=pl.Int64, eager=True).alias("_line")
                number += len(batch)
                # One C call a batch; the batch is parsed by Polars on the parts thread meanwhile.
                try:
                    text = json.dumps(batch, allow_nan=False)
                except RecursionError:
                    raise _refuse(source, f"JSON nested more than {JSON_MAX_DEPTH} levels deep") from None
                except ValueError as exc:
                    raise _refuse(source, f"not usable JSON ({first_line(exc)})") from None
                parts.submit(_decode_objects, source, text, numbers, batch)
        return parts.table()


def _decode_objects(source: InputFile, text: str, numbers: pl.Series, objects: list) -> pl.DataFrame:
    """A batch of records (a JSON array `text` of `objects`) as string columns plus `_line`."""
    if objects and isinstance(objects[0], str):  # a list of bare addresses
        try:
            return pl.Series("email", objects, dtype=pl.String, strict=True).to_frame().with_columns(
                _capped(pl.col("email")), numbers)
        except (TypeError, pl.exceptions.PolarsError):
            raise _refuse(source, "JSON records of mixed kinds: addresses and others") from None
    if not all(type(o) is dict for o in objects):
        raise _refuse(source, f"record {_first_invalid_object(objects, numbers)}: not a JSON object")
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
        raise _refuse(source, f"JSON records of clashing shapes ({first_line(exc)})") from None


def _decode_lines(source: InputFile, texts: pl.Series, numbers: pl.Series) -> pl.DataFrame:
    """NDJSON lines (one object each) as string columns plus `_line`."""
    _check_depth(source, texts, numbers, "line")
    try:
        decoded = texts.str.json_decode(infer_schema_length=None)
    except pl.exceptions.PolarsError:
        try:
            objects = [json.loads(t) for t in texts]
        except (ValueError, RecursionError):
            raise _refuse(source, f"line {_first_invalid(texts, numbers)}: not valid JSON") from None
        if not all(type(o) is dict for o in objects):
            raise _refuse(source, f"line {_first_invalid_object(objects, numbers)}: not a JSON object") from None
        return _numbered(_normalized(source, objects), numbers)
    if isinstance(decoded.dtype, pl.Struct) and decoded.dtype.fields:
        return _numbered(decoded.struct.unnest(), numbers)
    if isinstance(decoded.dtype, (pl.Struct, pl.Null)):  # `{}` or `null` lines: no fields
        return numbers.to_frame()
    raise _refuse(source, f"line {numbers[0]}: not a JSON object")


def _first_invalid_object(objects: list, numbers: pl.Series) -> int:
    return next((n for o, n in zip(objects, numbers, strict=True) if type(o) is not dict), numbers[0])


class _json_bytes:
    """The file's bytes for ijson, past a UTF-8 BOM."""

    def __init__(self, source: InputFile):
        self.fh = source.local_path.open("rb")
        if self.fh.read(3) != codecs.BOM_UTF8:
            self.fh.seek(0)

    def __enter__(self):
        return self.fh

    def __exit__(self, *exc):
        self.fh.close()


def _check_document(source: InputFile) -> None:
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
                    raise _refuse(source, f"line {line}: JSON nested more than {JSON_MAX_DEPTH} levels deep")
                depth = int(level[-1])
            edges = np.concatenate(([opened], offset + quotes)) if in_string else offset + quotes
            longest = int(np.max(edges[1::2] - edges[0:-1:2])) - 1 if edges.size > 1 else 0  # bytes between
            in_string = (in_string + quotes.size) % 2 == 1
            if in_string:
                opened = int(edges[-1])
                longest = max(longest, offset + b.size - opened - 1)
            if longest > JSON_MAX_STRING:
                raise _refuse(source, f"a JSON string longer than {JSON_MAX_STRING} bytes; not an export")
            lines += chunk.count(b"\n")
            offset += b.size


def _locate_records(source: InputFile) -> str | None:
    """The ijson prefix of the document's records: "item" (top-level array), "key.item",
    "." (the document is one record), "" (no records: Brevo's exhausted page) or None.

    Only the events before the records list are walked here: the list itself is left to
    ijson's C parser in the second pass.
    """
    with _json_bytes(source) as fh:
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


def _first_invalid(texts: pl.Series, numbers: pl.Series) -> int:
    """The line of the first text that is not JSON (after a batch failed to decode)."""
    for text, number in zip(texts, numbers, strict=True):
        try:
            json.loads(text)
        except (ValueError, RecursionError, TypeError):
            return number
    return numbers[0]


def _check_depth(source: InputFile, texts: pl.Series, numbers: pl.Series, unit: str) -> None:
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
        raise _refuse(source, f"{unit} {number}: JSON nested more than {JSON_MAX_DEPTH} levels deep (or not closed)")


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
        exprs.append(_capped(expr).alias(name))
    frame = frame.select(exprs)
    clean = _json_names(frame.columns)
    return frame.rename(dict(zip(frame.columns, clean, strict=True))) if clean != frame.columns else frame


def _json_names(names: list[str]) -> list[str]:
    """JSON keys as column names: control characters and excess length removed, `_line` kept
    for the line numbers, exact duplicates that this makes numbered."""
    out: list[str] = []
    seen: set[str] = set()
    for name in names:
        name = _clean_name(name) or "_empty"
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
