"""Archives (.zip, .gz) streamed member by member, refused past the size and expansion-ratio limits.

A member is refused once it expands past `ArchiveLimits.max_member_bytes`, or, past RATIO_FLOOR,
past `max_ratio` times the compressed bytes read so far (SUPPRESSION_MAX_MEMBER_BYTES,
SUPPRESSION_MAX_RATIO). Counted while streaming: a zip header's sizes can lie. Small members are
exempt from the ratio, since a short repetitive file compresses far beyond any ratio a bomb needs.
"""
from __future__ import annotations

import gzip
import re
import zipfile
from pathlib import Path

from pipelines.errors import DataRefused, PipelineError, first_line
from pipelines.settings import ArchiveLimits

RATIO_FLOOR = 64 << 20
JUNK_MEMBER = re.compile(r"(^|/)(__MACOSX/|\._|\.DS_Store$|Thumbs\.db$)")


class CountingFile:
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

    def __init__(self, display: str, stream, compressed, closers: list, limits: ArchiveLimits):
        self.display = display
        self.stream = stream
        self.compressed = compressed  # () -> compressed bytes consumed so far
        self.closers = closers
        self.out = 0
        self.max_bytes = limits.max_member_bytes
        self.max_ratio = limits.max_ratio

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


def gz_opener(path: Path, display: str, limits: ArchiveLimits):
    def opener():
        raw = CountingFile(path.open("rb"))
        stream = _opening(display, lambda: gzip.GzipFile(fileobj=raw, mode="rb"))
        return _Expansion(display, stream, lambda: raw.count, [stream, raw], limits)
    return opener


def zip_opener(archive: zipfile.ZipFile, counting: CountingFile, info: zipfile.ZipInfo, display: str,
               limits: ArchiveLimits):
    gunzip = info.filename.lower().endswith(".gz")

    def opener():
        start = counting.count

        def open_stream():
            member = archive.open(info)
            return (gzip.GzipFile(fileobj=member, mode="rb"), member) if gunzip else (member, member)

        stream, member = _opening(display, open_stream)
        return _Expansion(display, stream, lambda: counting.count - start, [stream, member], limits)
    return opener


def check_member_header(display: str, info: zipfile.ZipInfo, archive_size: int, limits: ArchiveLimits) -> None:
    """Refuse what the zip directory already admits to; the stream is checked again as it expands."""
    if info.flag_bits & 0x1:
        raise DataRefused(f"{display}: is encrypted; export it again without a password")
    max_bytes, max_ratio = limits.max_member_bytes, limits.max_ratio
    if info.file_size > max_bytes:
        raise DataRefused(f"{display}: expands to {info.file_size} bytes, over the limit of {max_bytes} "
                          "(SUPPRESSION_MAX_MEMBER_BYTES); refused")
    compressed = max(min(info.compress_size, archive_size), 1)
    if info.file_size > RATIO_FLOOR and info.file_size > max_ratio * compressed:
        raise DataRefused(f"{display}: expands {info.file_size // compressed} times its compressed size, over the "
                          f"limit of {max_ratio} (SUPPRESSION_MAX_RATIO), like an archive bomb; refused")
