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
