"""The options several commands share, and the store a command opens (`context.py`)."""
from __future__ import annotations

from typing import Annotated, Optional

import typer

from pipelines.cli.context import cli_settings, store_at

__all__ = ["JsonOpt", "ListOpt", "RegionOpt", "StoreOpt", "TenantOpt", "YesOpt", "cli_settings", "store_at"]

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
