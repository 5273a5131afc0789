"""The `suppress` command line (SPEC 4.1): parsing and printing only; the work is in the library.

`app` holds the commands (`app.py`, in `--help` order), grouped in modules: `runs` (ingest, runs,
rejects, rollback, formats, detect), `lookups` (check, export, audience), `contacts` (the contacts
group, resubscribe, unblock), `admin` (settings, lists, maintenance), `stores` (migrate-store),
`sync` (sync, report); `options` the options they share, `output` how they print.
"""
from pipelines.cli.app import app, main

__all__ = ["app", "main"]
