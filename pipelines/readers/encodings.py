"""Bytes to a local UTF-8 file: UTF-8 with or without BOM, UTF-16 "Unicode text", cp1252, bare-CR
line endings; the original bytes hashed on the way."""
from __future__ import annotations

import codecs
import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pipelines.readers.common import CHUNK, InputFile


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


def materialize(display: str, name: str, opener, workdir: Path, index: int) -> InputFile:
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


class FileOpener:
    def __init__(self, path: Path):
        self.path = path

    def __call__(self):
        return self.path.open("rb")
