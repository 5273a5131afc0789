"""`main()`, the `suppress` entry point: every error becomes one line on stderr and an exit code.

A plain `suppress check` command line runs without the CLI framework (`checks.py`: SPEC 5, a
one-address check in under 0.3 s); every other command line goes to the Typer application
(`app.py`), imported only then.
"""
from __future__ import annotations

import atexit
import errno
import io
import os
import signal
import sys
import threading

from pipelines.errors import Interrupted, PipelineError, first_line, interrupted_text


def _store_urls() -> list[str]:
    """The PostgreSQL URLs this command was given (an error must never show their secrets)."""
    from pipelines.cli.context import cli_settings

    argv = sys.argv[1:]
    given = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a in ("--store", "--from", "--to")]
    given += [a.split("=", 1)[1] for a in argv if a.startswith(("--store=", "--from=", "--to="))]
    given.append(cli_settings().store or "")
    return [u for u in given if "://" in u]


def _error(message: str) -> None:
    from rich.text import Text

    from pipelines.cli.output import err, plain
    from pipelines.redact import scrub

    for url in _store_urls():
        message = scrub(message, url)
    err.print(Text.assemble(("error: ", "bold red"), plain(message)), highlight=False)


def _run(argv: list[str]):
    """A plain `check` through its fast lane, anything else through the Typer application."""
    from pipelines.cli.checks import plain_check_args, run_plain_check

    if argv[:1] in (["ingest"], ["sync"]) and not {"--help", "-h"} & set(argv):
        # GX's process starts before this one imports Polars, DuckDB and Typer: its import of GX
        # is what a nightly run waits for last.
        from pipelines.validate import preload

        preload()
    args = plain_check_args(argv)
    if args is not None:
        run_plain_check(args)
        return 0
    from pipelines.cli import app  # the application (`pipelines/cli/__init__.py`)

    return app(standalone_mode=False)


def main() -> None:
    """Entry point: errors become one line on stderr and an exit code, never a traceback.

    The CLI framework runs outside its standalone mode so that its usage errors are one line
    too (exit 2); a reader that closes the pipe (`| head`) ends the command quietly.
    """
    if threading.current_thread() is threading.main_thread():  # unwind: temp folders go, a run is closed
        signal.signal(signal.SIGTERM, _on_signal)
        signal.signal(signal.SIGINT, _on_signal)
    try:
        code = _run(sys.argv[1:])
        sys.exit(code if isinstance(code, int) else 0)
    except OSError as exc:
        if not _broken_pipe(exc):
            _error(f"unexpected failure: {first_line(exc, with_type=True)} (set SUPPRESS_DEBUG=1 for a traceback)")
            sys.exit(1)
        _quiet_stdout()
        sys.exit(0)
    except (Interrupted, KeyboardInterrupt) as exc:
        _error(interrupted_text(exc))
        sys.exit(143 if getattr(exc, "signal_name", "") == "SIGTERM" else 130)
    except PipelineError as exc:
        _error(str(exc))
        sys.exit(exc.exit_code)
    except Exception as exc:
        _framework_error(exc)  # exits if it is one
        if os.environ.get("SUPPRESS_DEBUG"):
            raise
        # One line: a database error's CONTEXT/DETAIL lines can quote rows (addresses) into logs.
        _error(f"unexpected failure: {first_line(exc, with_type=True)} (set SUPPRESS_DEBUG=1 for a traceback)")
        sys.exit(1)


def console() -> None:
    """The `suppress` process: `main()`, its exit handlers, then exit without tearing the
    interpreter down. GX leaves tens of thousands of objects whose teardown alone took 1.4 s of
    a 100k-row nightly ingest; nothing of ours waits for it (files are closed, temp folders gone,
    atexit handlers and logging have run, stdout and stderr are flushed)."""
    try:
        main()
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    if not isinstance(code, int):
        if code is not None:
            print(code, file=sys.stderr)
        code = 0 if code is None else 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass  # a reader that went away (`| head`): nothing left to say
    os._exit(code)


def _framework_error(exc: Exception) -> None:
    """The CLI framework's own exceptions (none of them an OSError or a PipelineError): its exit,
    an abort, its usage errors (unknown option, missing value...). Only Typer raises them, so
    they are looked for only where Typer has been imported."""
    if "typer" not in sys.modules:
        return
    from typer.exceptions import Abort, Exit, TyperException

    if isinstance(exc, Exit):
        sys.exit(exc.exit_code)
    if isinstance(exc, Abort):
        _error("aborted")
        sys.exit(1)
    if isinstance(exc, TyperException):
        ctx = getattr(exc, "ctx", None)
        message = " ".join(exc.format_message().split())
        if message:  # none after a bare command, whose help has been shown
            _error(message + (f" (see `{ctx.command_path} --help`)" if ctx is not None else ""))
        sys.exit(exc.exit_code)


def _on_signal(signum, _frame) -> None:
    raise Interrupted(signal.Signals(signum).name)


def _broken_pipe(exc: OSError) -> bool:
    """The reader closed the pipe (`| head`): Python's own error, or a writer's in Rust (Polars)."""
    return isinstance(exc, BrokenPipeError) or exc.errno == errno.EPIPE or "Broken pipe" in str(exc)


def _quiet_stdout() -> None:
    """After a closed pipe: point stdout at /dev/null so the interpreter's final flush is silent."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        pass
