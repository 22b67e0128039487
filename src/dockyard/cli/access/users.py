"""`dockyard user`: users and service principals."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from dockyard.cli.access.common import (
    ModelTable,
    NameOption,
    YesOption,
    confirm,
    print_answer,
    print_secret,
    when,
)
from dockyard.cli.remote import Login, Output, remote

if TYPE_CHECKING:
    from dockyard.wire.access import UserCreated

user_app = typer.Typer(help="Users and service principals.", no_args_is_help=True)


class UserKind(StrEnum):
    user = "user"
    service_principal = "service-principal"


USERS_TABLE = ModelTable("users", {"created": when})


def _print_created(created: UserCreated) -> None:
    typer.echo(f"{created.kind} {created.name} created")
    print_secret("password", created.password)


@user_app.command("create")
@remote
def user_create(
    name: NameOption,
    kind: Annotated[UserKind, typer.Option("--kind", help="user or service-principal")] = (
        UserKind.user
    ),
    *,
    login: Login,
    output: Output,
) -> None:
    """Create a user; prints its password, once. Give it a role with `dockyard role assign`."""
    with login.api() as api:
        created = api.create_user(name, kind.value)
    print_answer(created, output, _print_created)


@user_app.command("list")
@remote
def user_list(*, login: Login, output: Output) -> None:
    """List users and service principals."""
    with login.api() as api:
        users = api.list_users()
    print_answer(users, output, USERS_TABLE.print)


@user_app.command("delete")
@remote
def user_delete(
    name: NameOption,
    yes: YesOption = False,
    *,
    login: Login,
) -> None:
    """Delete a user, its password and its role assignments."""
    confirm(f"Delete user {name} and its role assignments?", yes)
    with login.api() as api:
        api.delete_user(name)
    typer.echo(f"user {name} deleted")


@user_app.command("reset-password")
@remote
def user_reset_password(
    name: NameOption,
    *,
    login: Login,
) -> None:
    """Give a user a new generated password (the old one stops working)."""
    with login.api() as api:
        reset = api.reset_user_password(name)
    print_secret("password", reset.password)


def _set_user(login: Login, name: str, enable: bool) -> None:
    with login.api() as api:
        user = api.set_user_enabled(name, enable)
    typer.echo(f"user {user.name} is {'enabled' if user.enabled else 'disabled'}")


@user_app.command("enable")
@remote
def user_enable(
    name: NameOption,
    *,
    login: Login,
) -> None:
    """Let a disabled user sign in again."""
    _set_user(login, name, enable=True)


@user_app.command("disable")
@remote
def user_disable(
    name: NameOption,
    *,
    login: Login,
) -> None:
    """Stop a user's password and refresh tokens from working."""
    _set_user(login, name, enable=False)
