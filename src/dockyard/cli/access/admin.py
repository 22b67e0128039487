"""The admin user: `dockyard credential show|renew` and `dockyard admin enable|disable`."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer

from dockyard.cli.access.common import (
    Login,
    Output,
    OutputOption,
    PasswordOption,
    RegistryOption,
    TableView,
    UsernameOption,
    print_answer,
    print_listing,
    print_secret,
    reports_errors,
)
from dockyard.cli.output import err

credential_app = typer.Typer(
    help="The admin user's name and passwords (like az acr credential).", no_args_is_help=True
)
admin_app = typer.Typer(help="Turn the admin user on or off.", no_args_is_help=True)


class AdminPassword(StrEnum):
    password = "password"
    password2 = "password2"


ADMIN_VIEW = TableView("admin user", ("username", "enabled"), lambda admin: [admin])


def _print_secrets(answer: dict[str, Any]) -> None:
    for secret in answer["passwords"]:
        print_secret(secret["name"], secret["value"])


@credential_app.command("show")
@reports_errors
def credential_show(
    registry: RegistryOption = None,
    username: UsernameOption = None,
    password: PasswordOption = None,
    output: OutputOption = Output.table,
) -> None:
    """Whether the admin user is on, and its username (passwords are shown only when made)."""
    print_listing(Login(registry, username, password), "/admin", output, ADMIN_VIEW)
    if output != Output.json:
        err.print("passwords are shown once, when made: `dockyard credential renew` makes new ones")


def _print_renewed(answer: dict[str, Any]) -> None:
    print_secret("username", answer["username"])
    _print_secrets(answer)
    if not answer["enabled"]:
        err.print("[yellow]note:[/yellow] the admin user is off: `dockyard admin enable`")


@credential_app.command("renew")
@reports_errors
def credential_renew(
    password_name: Annotated[
        AdminPassword, typer.Option("--password-name", help="Which password to replace")
    ],
    registry: RegistryOption = None,
    username: UsernameOption = None,
    password: PasswordOption = None,
    output: OutputOption = Output.table,
) -> None:
    """Replace one of the admin user's two passwords."""
    slot = 1 if password_name == AdminPassword.password else 2
    with Login(registry, username, password).connect() as api:
        answer = api.post(f"/admin/credentials/{slot}/regenerate")
    print_answer(answer, output, _print_renewed)


@admin_app.command("enable")
@reports_errors
def admin_enable(
    registry: RegistryOption = None,
    username: UsernameOption = None,
    password: PasswordOption = None,
) -> None:
    """Turn the admin user on (the first time, this makes and shows its passwords)."""
    with Login(registry, username, password).connect() as api:
        answer = api.post("/admin/enable")
    typer.echo(f"admin user {answer['username']} is enabled")
    _print_secrets(answer)
    if not answer["passwords"]:
        err.print("its passwords are unchanged; `dockyard credential renew` makes new ones")


@admin_app.command("disable")
@reports_errors
def admin_disable(
    registry: RegistryOption = None,
    username: UsernameOption = None,
    password: PasswordOption = None,
) -> None:
    """Turn the admin user off."""
    with Login(registry, username, password).connect() as api:
        answer = api.post("/admin/disable")
    typer.echo(f"admin user {answer['username']} is disabled")
