"""The `suppress` application: its commands, in the order `--help` lists them, and `main()`, where
every error becomes one line on stderr and an exit code."""
from __future__ import annotations

import errno
import io
import os
import signal
import sys
import threading

from pipelines.cli import admin, contacts, lookups, runs, stores, sync
from pipelines.cli.help import new_app
from pipelines.cli.output import err, plain
from pipelines.errors import Interrupted, PipelineError, first_line, interrupted_text

app = new_app(
    name="suppress",
    help="Move bounce, complaint and unsubscribe history from a previous email/SMS platform into the suppression store.",
    add_completion=False,
    pretty_exceptions_enable=False,
)
# The commands, in the order `suppress --help` lists them (the groups come last).
for command in (runs.ingest, lookups.check, lookups.export, runs.runs, runs.rejects, runs.rollback, sync.report,
                sync.sync, sync.sources):
    app.command()(command)
app.command("migrate-store")(stores.migrate_store)
for command in (runs.formats, runs.detect, contacts.resubscribe, contacts.unblock, lookups.audience, admin.maintenance,
                admin.settings):
    app.command()(command)
app.add_typer(contacts.contacts_app, name="contacts")
app.add_typer(admin.lists_app, name="lists")


def _store_urls() -> list[str]:
    """The PostgreSQL URLs this command was given (an error must never show their secrets)."""
    from pipelines.cli.options import cli_settings

    argv = sys.argv[1:]
    given = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a in ("--store", "--from", "--to")]
    given += [a.split("=", 1)[1] for a in argv if a.startswith(("--store=", "--from=", "--to="))]
    given.append(cli_settings().store or "")
    return [u for u in given if "://" in u]


def _error(message: str) -> None:
    from rich.text import Text

    from pipelines.redact import scrub

    for url in _store_urls():
        message = scrub(message, url)
    err.print(Text.assemble(("error: ", "bold red"), plain(message)), highlight=False)


def main() -> None:
    """Entry point: errors become one line on stderr and an exit code, never a traceback.

    The CLI framework runs outside its standalone mode so that its usage errors are one line
    too (exit 2); a reader that closes the pipe (`| head`) ends the command quietly.
    """
    from typer.exceptions import Abort, Exit, TyperException

    if threading.current_thread() is threading.main_thread():  # unwind: temp folders go, a run is closed
        signal.signal(signal.SIGTERM, _on_signal)
        signal.signal(signal.SIGINT, _on_signal)
    try:
        code = app(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except Exit as exc:
        sys.exit(exc.exit_code)
    except Abort:
        _error("aborted")
        sys.exit(1)
    except TyperException as exc:  # the framework's usage errors: unknown option, missing value...
        ctx = getattr(exc, "ctx", None)
        message = " ".join(exc.format_message().split())
        if message:  # none after a bare command, whose help has been shown
            _error(message + (f" (see `{ctx.command_path} --help`)" if ctx is not None else ""))
        sys.exit(exc.exit_code)
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
        if os.environ.get("SUPPRESS_DEBUG"):
            raise
        # One line: a database error's CONTEXT/DETAIL lines can quote rows (addresses) into logs.
        _error(f"unexpected failure: {first_line(exc, with_type=True)} (set SUPPRESS_DEBUG=1 for a traceback)")
        sys.exit(1)


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
