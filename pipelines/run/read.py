"""A file's rows in bounded batches, normalized on a few threads into Parquet parts."""
from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import polars as pl

from pipelines.errors import DataRefused, first_line

BATCH_ROWS = 500_000  # rows normalized at once; NORMALIZE_THREADS batches are in flight
NORMALIZE_THREADS = 2
# Parts are written once and read back by the staging DuckDB moments later: fast beats small, and
# nothing filters on their statistics.
PART_COMPRESSION = "uncompressed"
# What Polars raises for a file it cannot parse to its end (hostile or broken).
UNREADABLE = (pl.exceptions.PolarsError, pl.exceptions.PanicException)

T = TypeVar("T")


def unreadable(display: str, exc: BaseException) -> DataRefused:
    """The refusal of a file Polars cannot parse, naming it."""
    return DataRefused(f"{display}: cannot be read ({first_line(exc)})")


def write_part(frame: pl.DataFrame, part: Path) -> None:
    frame.write_parquet(part, compression=PART_COMPRESSION, statistics=False)


def in_batches(frame: pl.LazyFrame, normalize: Callable[[pl.DataFrame, Path], T], parts: Path,
               display: str, on_read: Callable[[int], None] | None = None) -> Iterator[tuple[Path, int, T]]:
    """Stream a file's mapped rows in batches of BATCH_ROWS (Polars parses ahead) through
    `normalize(batch, part)`, which writes the batch's Parquet part (`<parts>_<n>.parquet`), on
    NORMALIZE_THREADS threads (Polars releases the GIL; the Python-side work on distinct values,
    IDNA and phones, needs eager batches). Yields (part, input rows, what `normalize` returned) in
    the file's order; a file Polars cannot parse to its end is refused, naming it (`display`).
    `on_read(rows)` is told of each batch as it is read, before it is normalized (progress)."""
    batches = iter(frame.collect_batches(chunk_size=BATCH_ROWS))
    running: deque = deque()
    with ThreadPoolExecutor(NORMALIZE_THREADS, thread_name_prefix="normalize") as pool:
        for n in itertools.count():
            try:
                batch = next(batches, None)
            except UNREADABLE as exc:
                raise unreadable(display, exc) from None
            if batch is not None:
                if on_read is not None:
                    on_read(batch.height)
                path = parts.with_name(f"{parts.name}_{n:05d}.parquet")
                running.append((path, batch.height, pool.submit(normalize, batch, path)))
            while running and (batch is None or len(running) >= NORMALIZE_THREADS):
                path, rows, future = running.popleft()
                try:
                    result = future.result()
                except UNREADABLE as exc:
                    raise unreadable(display, exc) from None
                yield path, rows, result
            if batch is None:
                break
