"""The admin user: `dockyard credential show|renew` and `dockyard admin enable|disable`."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from dockyard.cli.access.common import ModelTable, print_answer, print_secret
from dockyard.cli.output import err
from dockyard.cli.remote import Login, Output, remote

if TYPE_CHECKING:
    from dockyard.wire.access import AdminCredentials

credential_app = typer.Typer(
    help="The admin user's name and passwords (like az acr credential).", no_args_is_help=True
)
admin_app = typer.Typer(help="Turn the admin user on or off.", no_args_is_help=True)


class AdminPassword(StrEnum):
    password = "password"
    password2 = "password2"


# The admin user's name first, as `az acr credential show` shows it.
ADMIN_TABLE = ModelTable("admin user", first=("username",))


def _print_secrets(answer: AdminCredentials) -> None:
    for secret in answer.passwords:
        print_secret(secret.name, secret.value)


@credential_app.command("show")
@remote
def credential_show(*, login: Login, output: Output) -> None:
    """Whether the admin user is on, and its username (passwords are shown only when made)."""
    with login.api() as api:
        admin = api.get_admin()
    print_answer(admin, output, ADMIN_TABLE.print_one)
    if output != Output.json:
        err.print("passwords are shown once, when made: `dockyard credential renew` makes new ones")


def _print_renewed(answer: AdminCredentials) -> None:
    print_secret("username", answer.username)
    _print_secrets(answer)
    if not answer.enabled:
        err.print("[yellow]note:[/yellow] the admin user is off: `dockyard admin enable`")


@credential_app.command("renew")
@remote
def credential_renew(
    password_name: Annotated[
        AdminPassword, typer.Option("--password-name", help="Which password to replace")
    ],
    *,
    login: Login,
    output: Output,
) -> None:
    """Replace one of the admin user's two passwords."""
    slot = 1 if password_name == AdminPassword.password else 2
    with login.api() as api:
        answer = api.regenerate_admin_password(slot)
    print_answer(answer, output, _print_renewed)


@admin_app.command("enable")
@remote
def admin_enable(*, login: Login) -> None:
    """Turn the admin user on (the first time, this makes and shows its passwords)."""
    with login.api() as api:
        answer = api.enable_admin()
    typer.echo(f"admin user {answer.username} is enabled")
    _print_secrets(answer)
    if not answer.passwords:
        err.print("its passwords are unchanged; `dockyard credential renew` makes new ones")


@admin_app.command("disable")
@remote
def admin_disable(*, login: Login) -> None:
    """Turn the admin user off."""
    with login.api() as api:
        status = api.disable_admin()
    typer.echo(f"admin user {status.username} is disabled")
