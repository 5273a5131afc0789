"""The `suppress` command line (SPEC 4.1): parsing and printing only; the work is in the library.

`app` holds the commands (`app.py`, in `--help` order), grouped in modules: `runs` (ingest, runs,
rejects, rollback, formats, detect), `lookups` (check, export, audience), `contacts` (the contacts
group, resubscribe, unblock), `admin` (settings, lists, maintenance), `stores` (migrate-store),
`sync` (sync, report); `options` the options they share, `output` how they print; `entry` the entry
point `main()` (`console()` for the process), and `checks` the `check` command, with its fast lane around Typer.
"""
from pipelines.cli.entry import console, main

__all__ = ["app", "console", "main"]


def __getattr__(name: str):
    """`app`, the Typer application, is built on first use: a plain `check` runs without it
    (`entry.py`)."""
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from pipelines.cli.app import app as application

    globals()["app"] = application  # importing the module `app` made `app` name it; the name is the application
    return application
