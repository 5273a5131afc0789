"""The `suppress` application: its commands, in the order `--help` lists them. `main()`, where
every error becomes one line on stderr and an exit code, is in `entry.py`."""
from __future__ import annotations

from pipelines.cli import admin, contacts, lookups, runs, stores, sync
from pipelines.cli.entry import main
from pipelines.cli.help import new_app

__all__ = ["app", "main"]

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
