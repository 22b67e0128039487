"""The registry as a whole: `dockyard config anonymous-pull`, `dockyard audit` and
`dockyard keys rotate`."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any

import typer

from dockyard.cli.access.common import (
    Column,
    TableView,
    print_listing,
    when,
)
from dockyard.cli.remote import Login, Output, remote

config_app = typer.Typer(help="Registry-wide settings.", no_args_is_help=True)
keys_app = typer.Typer(help="The keys that sign tokens.", no_args_is_help=True)


class Switch(StrEnum):
    on = "on"
    off = "off"


@config_app.command("anonymous-pull")
@remote
def config_anonymous_pull(
    state: Annotated[
        Switch | None, typer.Argument(help="on or off; without it, show the setting")
    ] = None,
    *,
    login: Login,
) -> None:
    """Let clients without credentials pull every repository (on), or not (off)."""
    with login.api() as api:
        if state is None:
            setting = api.get_anonymous_pull()
        else:
            setting = api.set_anonymous_pull(state == Switch.on)
    typer.echo(f"anonymous pull is {'on' if setting.enabled else 'off'}")


AUDIT_FIELDS = ("ts", "event", "actor", "outcome")


def _audit_items(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Entries carry fields of their own beyond the common ones: the table shows those
    together, as `field=value` words, under `detail`."""
    items = []
    for entry in entries:
        detail = " ".join(
            f"{k}={v if isinstance(v, str) else json.dumps(v)}"
            for k, v in entry.items()
            if k not in AUDIT_FIELDS
        )
        items.append({**{k: entry.get(k) for k in AUDIT_FIELDS}, "detail": detail})
    return items


AUDIT_VIEW = TableView(
    "audit log",
    (Column("ts", when), "event", "actor", "outcome", Column("detail")),
    _audit_items,
)


@remote
def audit(
    top: Annotated[int, typer.Option("--top", min=1, max=10000, help="Newest entries")] = 50,
    *,
    login: Login,
    output: Output,
) -> None:
    """Show the newest audit log entries: logins, decisions and every change, with who."""
    print_listing(login, "/audit", output, AUDIT_VIEW, {"limit": top})


@keys_app.command("rotate")
@remote
def keys_rotate(*, login: Login) -> None:
    """Sign tokens with a new key from now on (tokens signed before keep working until they
    expire)."""
    with login.api() as api:
        rotated = api.rotate_signing_key()
    typer.echo(f"tokens are now signed with key {rotated.kid}")
