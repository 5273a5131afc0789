"""The settings a command runs with and the store it opens, without the CLI framework: the fast
lane of `suppress check` (`pipelines/cli/checks.py`) uses them before Typer is imported, if at all."""
from __future__ import annotations


def cli_settings(**given):
    """A command's `Settings`, built once per command: the environment, with the command's options
    over it (`store=--store`, `sources_file=--sources`, ...); `airflow:` credentials read from
    Airflow's connections where Airflow is installed."""
    from pipelines.settings import Settings

    return Settings.from_env(connection=_airflow_connection, **given)


def _airflow_connection(conn_id: str):
    """`pipelines.airflow.resources.connection`, imported only for an `airflow:` reference."""
    from pipelines.airflow.resources import connection

    return connection(conn_id)


def store_at(store, create: bool = False):
    """The store a command names (`--store`, else the environment's; or a command's settings);
    only the commands that write (ingest, contacts import, settings, lists map, sync) may create one."""
    from pipelines.settings import Settings
    from pipelines.store import open_store

    settings = store if isinstance(store, Settings) else cli_settings(store=store)
    return open_store(settings.store, create=create)
