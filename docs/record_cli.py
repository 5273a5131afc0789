"""`python docs/record_cli.py` (`make cli-recording`): what `suppress ingest` of data/samples/
prints, as `make demo` runs it, recorded both ways the README describes:

- on a terminal (a pseudo-terminal 100 columns wide, so the CLI draws its tables and progress
  line), rendered as docs/ingest-terminal.svg;
- in a log (stdout a pipe, as in CI or an Airflow task: one line per file), as docs/ingest-log.txt.

Both runs go into throw-away stores; the run ids and report paths vary from run to run.
"""
from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COLUMNS = 100
DEMO = ["ingest", "--tenant", "demo", "--default-region", "US", "--max-reject-rate", "0.2", "data/samples/"]


def _suppress(store: Path) -> list[str]:
    return [sys.executable, "-m", "pipelines.cli", *DEMO, "--store", str(store)]


def on_a_terminal(store: Path) -> str:
    """The CLI's output under a pseudo-terminal (ANSI colours and the final frame of the
    progress line included), as the bytes a terminal would get."""
    env = {**os.environ, "COLUMNS": str(COLUMNS), "LINES": "50", "TERM": "xterm-256color"}
    env.pop("CI", None)  # the progress line is off in CI
    main, child = pty.openpty()
    done = subprocess.Popen(_suppress(store), cwd=ROOT, env=env, stdin=child, stdout=child, stderr=child)
    os.close(child)
    chunks = []
    while True:
        try:
            data = os.read(main, 65536)
        except OSError:  # the child closed its end
            break
        if not data:
            break
        chunks.append(data)
    done.wait()
    os.close(main)
    return b"".join(chunks).decode("utf-8", "replace")


def in_a_log(store: Path) -> str:
    done = subprocess.run(_suppress(store), cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "CI": "1"})
    return done.stdout + done.stderr


def render_svg(ansi: str, path: Path) -> None:
    """Terminal bytes as an SVG picture of the terminal: what is left on screen after the
    progress line's redraws (carriage returns and line erasures) is what gets drawn."""
    from rich.console import Console
    from rich.text import Text

    screen, row, fresh = [""], 0, False
    for token in re.split(r"(\r\n|\n|\r|\x1b\[\d*A|\x1b\[2K|\x1b\[\?25[lh])", ansi):
        if token in ("\n", "\r\n"):
            row += 1
            screen += [""] * (row + 1 - len(screen))
        elif token == "\r":
            fresh = True  # what follows overwrites the line
        elif token.startswith("\x1b[") and token.endswith("A"):
            row = max(row - int(token[2:-1] or 1), 0)
        elif token == "\x1b[2K":
            screen[row] = ""
        elif token and not token.startswith("\x1b[?25"):
            screen[row] = token if fresh else screen[row] + token
            fresh = False
    console = Console(record=True, width=COLUMNS, force_terminal=True, file=open(os.devnull, "w"))
    console.print(Text.from_ansi("\n".join(screen)))
    console.save_svg(str(path), title="suppress ingest data/samples/ (on a terminal)")


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="suppress-record-") as tmp:
        def shown(text: str) -> str:  # the throw-away folder as what it stands for
            return text.replace(tmp, "/data/stores")

        render_svg(shown(on_a_terminal(Path(tmp) / "terminal.duckdb")), ROOT / "docs" / "ingest-terminal.svg")
        (ROOT / "docs" / "ingest-log.txt").write_text(shown(in_a_log(Path(tmp) / "log.duckdb")))
    print("docs/ingest-terminal.svg, docs/ingest-log.txt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
