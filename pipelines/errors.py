"""Exceptions that carry an exit code and a message for a person (SPEC 4.1 exit codes)."""
from __future__ import annotations


class PipelineError(Exception):
    exit_code = 1


class UserError(PipelineError):
    """Bad input or bad usage that the user can fix: one clear message, no traceback."""

    exit_code = 1


class UsageError(UserError):
    exit_code = 2


class DataRefused(UserError):
    """Validation failed or the reject rate is over the limit: nothing was loaded."""

    exit_code = 3


def first_line(exc: BaseException, with_type: bool = False) -> str:
    """An exception as one line for a person or a log: library errors run to paragraphs of hints,
    and a database error's CONTEXT/DETAIL lines can quote rows (addresses). Its type when empty."""
    line = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), "")
    if not line:
        return type(exc).__name__
    return f"{type(exc).__name__}: {line}" if with_type else line


class Interrupted(BaseException):
    """SIGTERM or SIGINT while a command runs: unwinds the stack like Ctrl-C (past `except
    Exception`), so temp folders go and a run in progress is closed as failed (`interrupted`). Not
    a KeyboardInterrupt: the CLI framework would swallow that into a silent exit 130."""

    def __init__(self, signal_name: str = "SIGINT"):
        super().__init__(signal_name)
        self.signal_name = signal_name


def interrupted_text(exc: BaseException) -> str:
    name = getattr(exc, "signal_name", "SIGINT")
    return f"interrupted ({name}): the run stopped before it finished; nothing was loaded"
