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
    """No markup in what is printed (a value such as `[/]` is text), and no raw control characters."""

    def print(self, *objects, **kwargs):
        super().print(*(plain(o) if isinstance(o, str) else o for o in objects), **kwargs)


class _PlainTable(Table):
    def add_row(self, *cells, **kwargs):
        super().add_row(*(plain(c) if isinstance(c, str) else c for c in cells), **kwargs)


err = _PlainConsole(stderr=True, soft_wrap=True, markup=False, emoji=False, highlight=False)  # one line each
out = _PlainConsole(highlight=False, soft_wrap=True, markup=False, emoji=False)


def print_json(doc) -> None:
    sys.stdout.write(json.dumps(doc, default=json_default, indent=2) + "\n")


def make_table(*columns: str) -> Table:
    """A plain table that folds long values (file names, addresses) instead of cutting them."""
    table = _PlainTable(box=None)
    for name in columns:
        table.add_column(name, overflow="fold")
    return table


class ProgressLine:
    """A rich progress line on stderr, only when stderr is a terminal."""

    def __init__(self):
        self.enabled = sys.stderr.isatty() and not os.environ.get("CI")
        self._progress = None
        self._task = None

    def __enter__(self):
        if self.enabled:
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}"),
                                      TextColumn("{task.completed:,} rows"), TimeElapsedColumn(), console=err,
                                      transient=True)
            self._progress.__enter__()
            self._task = self._progress.add_task("reading", total=None)
        return self

    def __call__(self, what: str, rows: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, description=what, completed=rows)

    def __exit__(self, *exc):
        if self._progress is not None:
            self._progress.__exit__(*exc)
