"""The options several commands share, and the store a command opens."""
from __future__ import annotations

from typing import Annotated, Optional

import typer

StoreOpt = Annotated[
    Optional[str],
    typer.Option("--store", metavar="FILE|URL", help="A .duckdb file or a postgresql:// URL (default: $SUPPRESSION_STORE or ./suppressions.duckdb)."),
]


def _tenant(value):
    from pipelines.model import check_tenant

    return value if value is None else check_tenant(value)


TenantOpt = Annotated[str, typer.Option("--tenant", metavar="TENANT", help="The customer account (letters, digits, . _ -).", callback=_tenant)]
ListOpt = Annotated[
    Optional[str],
    typer.Option("--list", metavar="LIST", help="Mail to this new list of the tenant: unsubscribes of previous lists mapped to other lists do not block it (see `suppress lists`)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout and nothing else there.")]
RegionOpt = Annotated[Optional[str], typer.Option("--default-region", metavar="REGION", help="Country code for phone numbers written without one, e.g. US.")]
YesOpt = Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation (scripts).")]


def cli_settings(**given):
    """A command's `Settings`, built once per command: the environment, with the command's options
    over it (`store=--store`, `sources_file=--sources`, ...); `airflow:` credentials read from
    Airflow's connections where Airflow is installed."""
    from pipelines.airflow.resources import connection
    from pipelines.settings import Settings

    return Settings.from_env(connection=connection, **given)


def store_at(store, create: bool = False):
    """The store a command names (`--store`, else the environment's; or a command's settings);
    only the commands that write (ingest, contacts import, settings, lists map, sync) may create one."""
    from pipelines.settings import Settings
    from pipelines.store import open_store

    settings = store if isinstance(store, Settings) else cli_settings(store=store)
    return open_store(settings.store, create=create)
