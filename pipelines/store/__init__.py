"""Suppression stores: `open_store(url)` picks the backend from the URL."""
from __future__ import annotations

from pipelines.settings import store_url
from pipelines.store.base import Stage, Store


def open_store(url: str | None = None, read_only: bool = False) -> Store:
    """A `.duckdb` path (the embedded default) or a `postgresql://` URL."""
    url = store_url(url)
    if url.startswith(("postgresql://", "postgres://")):
        from pipelines.store.postgres_store import PostgresStore

        return PostgresStore(url, read_only=read_only)
    from pipelines.store.duckdb_store import DuckDBStore

    return DuckDBStore(url, read_only=read_only)


__all__ = ["Stage", "Store", "open_store"]
