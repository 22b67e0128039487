"""`dockyard registry show|update`: the registry's tier (SKU), its limits and its policies."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from dockyard.cli.access.common import (
    print_answer,
    print_table,
)
from dockyard.cli.content.apps import registry_app
from dockyard.cli.remote import Login, Output, remote
from dockyard.spec.ip_ranges import DefaultAction
from dockyard.spec.sizes import human_bytes
from dockyard.tiers.table import Sku

if TYPE_CHECKING:
    from dockyard.wire.registry import RegistryView


def _on(flag: bool) -> str:
    return "on" if flag else "off"


def _show(answer: RegistryView) -> None:
    limits = answer.limits
    retention = answer.retention_policy
    soft_delete = answer.soft_delete_policy
    rows = [
        ("sku", answer.sku),
        ("included storage", human_bytes(limits.included_storage_bytes)),
        ("storage limit", human_bytes(limits.storage_limit_bytes)),
        ("webhooks", limits.webhooks),
        ("scope maps", limits.scope_maps),
        ("tokens", limits.tokens),
        ("geo-replication", "offered" if limits.geo_replication else "not offered"),
        ("anonymous pull", _on(answer.anonymous_pull)),
        ("immutable tags", _on(answer.immutable_tags)),
        ("retention policy", f"{_on(retention.enabled)}, {retention.days} days"),
        ("soft delete", f"{_on(soft_delete.enabled)}, {soft_delete.days} days"),
        ("quarantine", _on(answer.quarantine_enabled)),
        ("network default action", answer.network_default_action),
        ("IP network rules", limits.ip_rules or "not offered"),
    ]
    rows += [(f"{kind} per minute", rate) for kind, rate in limits.rates_per_minute.items()]
    print_table("registry", ("setting", "value"), rows)


@registry_app.command("show")
@remote
def show(*, login: Login, output: Output) -> None:
    """Show the registry's tier (SKU) with its limits, and its policies."""
    with login.api() as api:
        answer = api.get_registry()
    print_answer(answer, output, _show)


@registry_app.command("update")
@remote
def update(
    sku: Annotated[Sku | None, typer.Option("--sku", help="Basic, Standard or Premium")] = None,
    immutable_tags: Annotated[
        bool | None,
        typer.Option("--immutable-tags/--mutable-tags", help="Make every tag write-once"),
    ] = None,
    retention: Annotated[
        bool | None,
        typer.Option(
            "--retention/--no-retention", help="Delete untagged manifests after some days"
        ),
    ] = None,
    retention_days: Annotated[int | None, typer.Option("--retention-days", min=0, max=365)] = None,
    soft_delete: Annotated[
        bool | None,
        typer.Option("--soft-delete/--no-soft-delete", help="Keep deleted items, restorable"),
    ] = None,
    soft_delete_days: Annotated[
        int | None, typer.Option("--soft-delete-days", min=1, max=90)
    ] = None,
    quarantine: Annotated[
        bool | None,
        typer.Option("--quarantine/--no-quarantine", help="Hold new pushes until scanned"),
    ] = None,
    default_action: Annotated[
        DefaultAction | None,
        typer.Option(
            "--default-action",
            help="Allow, or Deny but for the clients a network rule allows (Premium)",
        ),
    ] = None,
    *,
    login: Login,
    output: Output,
) -> None:
    """Change the tier (SKU) or the policies.

    A tier that the registry's current use does not fit is refused with the reasons."""
    changes = (
        sku,
        immutable_tags,
        retention,
        retention_days,
        soft_delete,
        soft_delete_days,
        quarantine,
        default_action,
    )
    if all(change is None for change in changes):
        raise typer.BadParameter("nothing to change: give --sku or a policy option")
    with login.api() as api:
        answer = api.update_registry(
            sku=None if sku is None else sku.value,
            immutable_tags=immutable_tags,
            retention_enabled=retention,
            retention_days=retention_days,
            soft_delete_enabled=soft_delete,
            soft_delete_days=soft_delete_days,
            quarantine_enabled=quarantine,
            network_default_action=None if default_action is None else default_action.value,
        )
    print_answer(answer, output, _show)
