"""A tenant's settings and list mappings (`settings`, `lists show|map|unmap`, SPEC 2.2), and
housekeeping (`maintenance`)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from pipelines.cli.help import new_app
from pipelines.cli.options import JsonOpt, StoreOpt, TenantOpt, store_at
from pipelines.cli.output import make_table, out, print_json
from pipelines.errors import UsageError


def maintenance(as_json: JsonOpt = False, store: StoreOpt = None) -> None:
    """Housekeeping: remove safety copies of deleted contacts once their 3 days have passed.

    \b
    Example:
      suppress maintenance
    """
    from pipelines.enforce import maintenance as run_maintenance

    with store_at(store) as st:
        result = run_maintenance(st)
    if as_json:
        print_json(result)
        return
    out.print(f"removed {len(result['safety_exports_removed'])} expired safety copies")


def settings(
    tenant: TenantOpt,
    soft_bounce_threshold: Annotated[Optional[int], typer.Option("--soft-bounce-threshold", metavar="N", min=1, help="Consecutive soft bounces that block an email address (default 10).")] = None,
    as_json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Show or change a tenant's settings.

    \b
    Example:
      suppress settings --tenant acme --soft-bounce-threshold 5
    """
    from pipelines.store.base import TENANT_SETTINGS

    with store_at(store, create=True) as st:
        if soft_bounce_threshold is not None:
            st.set_setting(tenant, "soft_bounce_threshold", str(soft_bounce_threshold))
        values = {**{k: str(v) for k, v in TENANT_SETTINGS.items()}, **st.settings(tenant)}
        mapping = st.list_mappings(tenant)
    if as_json:
        print_json({"tenant": tenant, **values, "list_mappings": mapping})
        return
    for key, value in values.items():
        out.print(f"{key} = {value}")
    for previous, new in mapping.items():
        out.print(f"list {previous} -> {new}")


lists_app = new_app(help="Previous platforms' lists and the tenant's new lists they map to.")


@lists_app.command("show")
def lists_show(tenant: TenantOpt, as_json: JsonOpt = False, store: StoreOpt = None) -> None:
    """The previous lists the tenant's suppressions name, and the new list each maps to.

    \b
    Example:
      suppress lists show --tenant acme
    """
    import polars as pl

    with store_at(store) as st:
        scopes = st.list_scopes(tenant)
        mapping = st.list_mappings(tenant)
    seen = scopes.group_by("previous_list", maintain_order=True).agg(pl.col("suppressions").sum())
    rows = [{"previous_list": r["previous_list"], "suppressions": r["suppressions"], "new_list": mapping.get(r["previous_list"])}
            for r in seen.iter_rows(named=True)]
    rows += [{"previous_list": k, "suppressions": 0, "new_list": v} for k, v in mapping.items()
             if k not in set(seen["previous_list"].to_list())]
    if as_json:
        print_json({"tenant": tenant, "lists": rows})
        return
    table = make_table("previous list", "active suppressions", "new list")
    for r in rows:
        table.add_row(r["previous_list"], f"{r['suppressions']:,}", r["new_list"] or "(unmapped: blocks all marketing)")
    out.print(table)


@lists_app.command("map")
def lists_map(
    tenant: TenantOpt,
    previous: Annotated[Optional[str], typer.Argument(metavar="PREVIOUS_ID", help="The previous list's id, as in list:<id>.", show_default=False)] = None,
    new: Annotated[Optional[str], typer.Argument(metavar="NEW_NAME", help="The tenant's new list it becomes.", show_default=False)] = None,
    file: Annotated[Optional[Path], typer.Option("--file", metavar="FILE", help="CSV `previous_list,new_list`, or TOML with a [lists] table.")] = None,
    as_json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Map a previous list to a new list: with --list, its unsubscribes then block only that list's mail.

    \b
    Example:
      suppress lists map --tenant acme 4f2a9c newsletter
    """
    from pipelines.lists import new_list, previous_list, read_mapping_file

    if file is not None and (previous or new):
        raise UsageError("give PREVIOUS NEW or --file, not both")
    if file is None and not (previous and new):
        raise UsageError("give the previous list id and the new list name, or --file")
    mapping = read_mapping_file(file) if file is not None else {previous_list(previous): new_list(new)}
    with store_at(store, create=True) as st:
        st.map_lists(tenant, mapping)
        current = st.list_mappings(tenant)
    if as_json:
        print_json({"tenant": tenant, "list_mappings": current})
        return
    for k, v in mapping.items():
        out.print(f"list {k} -> {v}")


@lists_app.command("unmap")
def lists_unmap(
    tenant: TenantOpt,
    previous: Annotated[str, typer.Argument(metavar="PREVIOUS_ID", help="The previous list's id, as in list:<id>.", show_default=False)],
    store: StoreOpt = None,
) -> None:
    """Remove a previous list's mapping: its unsubscribes block all marketing again.

    \b
    Example:
      suppress lists unmap --tenant acme 4f2a9c
    """
    from pipelines.lists import previous_list

    key = previous_list(previous)
    with store_at(store) as st:
        if key not in st.list_mappings(tenant):
            raise UsageError(f"{key} is not mapped for tenant {tenant}")
        st.map_lists(tenant, {key: None})
    out.print(f"list {key} unmapped: its unsubscribes block all marketing")
