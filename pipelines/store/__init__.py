"""Suppression stores: `open_store(url)` picks the backend from the URL."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pipelines.settings import store_url
from pipelines.store.base import Stage, Store


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def open_store(url: str | None = None, read_only: bool = False, create: bool = True) -> Store:
    """A `.duckdb` path (the embedded default) or a `postgresql://` URL.

    `create=False` (every command that only reads, SPEC 4.1) refuses a store that does not exist
    instead of creating an empty one: a mistyped path must never answer "may be mailed".
    """
    url = store_url(url)
    if is_postgres(url):
        from pipelines.store.postgres_store import PostgresStore

        return PostgresStore(url, read_only=read_only, create=create)
    from pipelines.store.duckdb_store import DuckDBStore

    return DuckDBStore(url, read_only=read_only, create=create)


@contextmanager
def opened(store: Store | str | None, **options) -> Iterator[Store]:
    """The one "open the store if given a URL": an open `Store` is used as it is (whoever opened
    it closes it); a URL (None: the environment's store) is opened with `options` and closed on
    the way out."""
    if isinstance(store, Store):
        yield store
        return
    with open_store(store, **options) as st:
        yield st


def missing_store(url: str) -> str:
    """The one message for a store that does not exist where one must."""
    return (f"store {url} does not exist (only the commands that write, such as ingest, contacts import and "
            "settings, create one; check --store or $SUPPRESSION_STORE)")


__all__ = ["Stage", "Store", "is_postgres", "missing_store", "open_store", "opened"]
