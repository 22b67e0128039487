"""`dockyard user`: users and service principals."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer

from dockyard.cli.access.common import (
    Column,
    Login,
    NameOption,
    Output,
    OutputOption,
    PasswordOption,
    RegistryOption,
    TableView,
    UsernameOption,
    YesOption,
    delete,
    print_answer,
    print_listing,
    print_secret,
    reports_errors,
    when,
)

user_app = typer.Typer(help="Users and service principals.", no_args_is_help=True)


class UserKind(StrEnum):
    user = "user"
    service_principal = "service-principal"


USERS_VIEW = TableView("users", ("name", "kind", "enabled", Column("created", when)))


def _print_created(answer: dict[str, Any]) -> None:
    typer.echo(f"{answer['kind']} {answer['name']} created")
    print_secret("password", answer["password"])


@user_app.command("create")
@reports_errors
def user_create(
    name: NameOption,
    kind: Annotated[UserKind, typer.Option("--kind", help="user or service-principal")] = (
        UserKind.user
    ),
    registry: RegistryOption = None,
    username: UsernameOption = None,
    password: PasswordOption = None,
    output: OutputOption = Output.table,
) -> None:
    """Create a user; prints its password, once. Give it a role with `dockyard role assign`."""
    with Login(registry, username, password).connect() as api:
        answer = api.post("/users", {"name": name, "kind": kind.value})
    print_answer(answer, output, _print_created)


@user_app.command("list")
@reports_errors
def user_list(
    registry: RegistryOption = None,
    username: UsernameOption = None,
    password: PasswordOption = None,
    output: OutputOption = Output.table,
) -> None:
    """List users and service principals."""
    print_listing(Login(registry, username, password), "/users", output, USERS_VIEW)


@user_app.command("delete")
@reports_errors
def user_delete(
    name: NameOption,
    yes: YesOption = False,
    registry: RegistryOption = None,
    username: UsernameOption = None,
    password: PasswordOption = None,
) -> None:
    """Delete a user, its password and its role assignments."""
    question = f"Delete user {name} and its role assignments?"
    delete(Login(registry, username, password), f"/users/{name}", f"user {name}", question, yes)


@user_app.command("reset-password")
@reports_errors
def user_reset_password(
    name: NameOption,
    registry: RegistryOption = None,
    username: UsernameOption = None,
    password: PasswordOption = None,
) -> None:
    """Give a user a new generated password (the old one stops working)."""
    with Login(registry, username, password).connect() as api:
        answer = api.post(f"/users/{name}/password")
    print_secret("password", answer["password"])


def _set_user(login: Login, name: str, enable: bool) -> None:
    with login.connect() as api:
        answer = api.post(f"/users/{name}/{'enable' if enable else 'disable'}")
    typer.echo(f"user {answer['name']} is {'enabled' if answer['enabled'] else 'disabled'}")


@user_app.command("enable")
@reports_errors
def user_enable(
    name: NameOption,
    registry: RegistryOption = None,
    username: UsernameOption = None,
    password: PasswordOption = None,
) -> None:
    """Let a disabled user sign in again."""
    _set_user(Login(registry, username, password), name, enable=True)


@user_app.command("disable")
@reports_errors
def user_disable(
    name: NameOption,
    registry: RegistryOption = None,
    username: UsernameOption = None,
    password: PasswordOption = None,
) -> None:
    """Stop a user's password and refresh tokens from working."""
    _set_user(Login(registry, username, password), name, enable=False)
