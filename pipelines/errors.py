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
