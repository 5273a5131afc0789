"""What the CLI prints: plain text (never markup, never raw control characters), tables, one JSON
document, and a progress line on stderr when it is a terminal."""
from __future__ import annotations

import json
import os
import re
import sys

from rich.console import Console
from rich.table import Table

from pipelines.summary import json_default

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def plain(text: str) -> str:
    """User data (file names, values, tenants) as plain text: control characters and escape codes
    shown escaped, never sent to the terminal or log raw."""
    return _CONTROL.sub(lambda m: repr(m[0])[1:-1], text)


class _PlainConsole(Console):
    """No markup in what is printed (a value such as `[/]` is text), and no raw control characters.
    Off a terminal (a log, a pipe) a table prints as tab-separated lines: a header, then one line
    a row, never wrapped or folded at 80 columns."""

    def print(self, *objects, **kwargs):
        if not self.is_terminal and any(isinstance(o, _PlainTable) for o in objects):
            for o in objects:  # written as they are: the console would expand the tabs
                self.file.write("".join(line + "\n" for line in (o.lines() if isinstance(o, _PlainTable) else [plain(str(o))])))
            return
        super().print(*(plain(o) if isinstance(o, str) else o for o in objects), **kwargs)


class _PlainTable(Table):
    def add_row(self, *cells, **kwargs):
        cells = tuple(plain(c) if isinstance(c, str) else c for c in cells)
        self._plain_rows.append(cells)
        super().add_row(*cells, **kwargs)

    def lines(self) -> list[str]:
        header = "\t".join(str(c.header) for c in self.columns)
        return [header, *("\t".join("" if c is None else str(c) for c in row) for row in self._plain_rows)]


err = _PlainConsole(stderr=True, soft_wrap=True, markup=False, emoji=False, highlight=False)  # one line each
out = _PlainConsole(highlight=False, soft_wrap=True, markup=False, emoji=False)


def on_terminal() -> bool:
    """Whether stdout is a terminal (rich's view: `TTY_COMPATIBLE=1` or `FORCE_COLOR` say yes,
    `TTY_COMPATIBLE=0` no): tables there; plain lines in logs and pipes."""
    return out.is_terminal


def print_json(doc) -> None:
    sys.stdout.write(json.dumps(doc, default=json_default, indent=2) + "\n")


def make_table(*columns: str) -> Table:
    """A plain table that folds long values (file names, addresses) instead of cutting them; off a
    terminal it prints as tab-separated lines."""
    table = _PlainTable(box=None)
    table._plain_rows = []
    for name in columns:
        table.add_column(name, overflow="fold")
    return table


def _bytes_column():
    """A progress column: `12.3 MB`, or `12.3/40.1 MB` once the size of the whole input is known.
    (Rich's progress modules are imported only for a progress line, not by every command.)"""
    from rich import filesize
    from rich.progress import ProgressColumn
    from rich.text import Text

    class _Bytes(ProgressColumn):
        def render(self, task) -> Text:
            done = task.fields.get("bytes")
            if not done:
                return Text("")
            if task.total:
                return Text(f"{filesize.decimal(int(task.completed))}/{filesize.decimal(int(task.total))}")
            return Text(filesize.decimal(done))

    return _Bytes()


class ProgressLine:
    """A progress line on stderr, only when stderr is a terminal (and not under CI): what is being
    done, rows so far, bytes read so far; a bar where the total size is known. A callback of
    `pipelines.ingest` (`progress(what, rows, done_bytes=, total_bytes=)`)."""

    def __init__(self, console: Console | None = None):
        self.console = console or err
        self.enabled = self.console.is_terminal and not os.environ.get("CI")
        self._progress = None
        self._task = None

    def __enter__(self):
        if self.enabled:
            from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(bar_width=24),
                                      TextColumn("{task.fields[rows]:,} rows"), _bytes_column(), TimeElapsedColumn(),
                                      console=self.console, transient=True)
            self._progress.__enter__()
            self._task = self._progress.add_task("starting", total=None, rows=0, bytes=0)
        return self

    def __call__(self, what: str, rows: int, done_bytes: int | None = None, total_bytes: int | None = None) -> None:
        if self._progress is None:
            return
        fields: dict = {"description": plain(what), "rows": rows}
        if done_bytes is not None:
            fields.update(bytes=done_bytes, completed=done_bytes, total=total_bytes)
        self._progress.update(self._task, **fields)

    def __exit__(self, *exc):
        if self._progress is not None:
            self._progress.__exit__(*exc)
