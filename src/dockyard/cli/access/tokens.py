"""`dockyard token`: repository-scoped tokens, a name and two passwords bound to a scope map."""

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
from dockyard.cli.output import err

token_app = typer.Typer(
    help="Repository-scoped tokens: a name and two passwords bound to a scope map.",
    no_args_is_help=True,
)
token_credential_app = typer.Typer(help="A token's passwords.", no_args_is_help=True)
token_app.add_typer(token_credential_app, name="credential")


class Status(StrEnum):
    enabled = "enabled"
    disabled = "disabled"


def _passwords(passwords: list[dict[str, Any]]) -> str:
    return "\n".join(f"{p['name']} (expires: {when(p['expiry'])})" for p in passwords)


COLUMNS = ("name", "scopeMap", "status", Column("created", when), Column("passwords", _passwords))
TOKENS_VIEW = TableView("tokens", COLUMNS)
TOKEN_VIEW = TableView("token", COLUMNS, lambda token: [token])


def _print_secrets(answer: dict[str, Any]) -> None:
    for secret in answer["passwords"]:
        expiry = f" (expires {when(secret['expiry'])})" if secret.get("expiry") else ""
        print_secret(secret["name"] + expiry, secret["value"])
    err.print("save these passwords now: the registry cannot show them again")


def _print_created(answer: dict[str, Any]) -> None:
    typer.echo(
        f"token {answer['name']} created ({answer['status']}, scope map {answer['scopeMap']})"
    )
    _print_secrets(answer)


@token_app.command("create")
@reports_errors
def token_create(
    name: NameOption,
    scope_map: Annotated[
        str,
        typer.Option("--scope-map", help="Scope map (or a system one, e.g. _repositories_pull)"),
    ],
    status: Annotated[Status, typer.Option("--status")] = Status.enabled,
    registry: RegistryOption = None,
    username: UsernameOption = None,
    password: PasswordOption = None,
    output: OutputOption = Output.table,
) -> None:
    """Create a token; prints its two passwords, once. Use it as docker's username/password."""
    with Login(registry, username, password).connect() as api:
        answer = api.post("/tokens", {"name": name, "scopeMap": scope_map, "status": status.value})
    print_answer(answer, output, _print_created)


@token_app.command("list")
@reports_errors
def token_list(
    registry: RegistryOption = None,
    username: UsernameOption = None,
    password: PasswordOption = None,
    output: OutputOption = Output.table,
) -> None:
    """List tokens."""
    print_listing(Login(registry, username, password), "/tokens", output, TOKENS_VIEW)


@token_app.command("show")
@reports_errors
def token_show(
    name: NameOption,
    registry: RegistryOption = None,
    username: UsernameOption = None,
    password: PasswordOption = None,
    output: OutputOption = Output.table,
) -> None:
    """Show one token (never its passwords)."""
    print_listing(Login(registry, username, password), f"/tokens/{name}", output, TOKEN_VIEW)


@token_app.command("delete")
@reports_errors
def token_delete(
    name: NameOption,
    yes: YesOption = False,
    registry: RegistryOption = None,
    username: UsernameOption = None,
    password: PasswordOption = None,
) -> None:
    """Delete a token and its passwords."""
    login = Login(registry, username, password)
    delete(login, f"/tokens/{name}", f"token {name}", f"Delete token {name}?", yes)


@token_app.command("update")
@reports_errors
def token_update(
    name: NameOption,
    status: Annotated[Status, typer.Option("--status", help="enabled or disabled")],
    registry: RegistryOption = None,
    username: UsernameOption = None,
    password: PasswordOption = None,
) -> None:
    """Enable or disable a token."""
    verb = "enable" if status == Status.enabled else "disable"
    with Login(registry, username, password).connect() as api:
        answer = api.post(f"/tokens/{name}/{verb}")
    typer.echo(f"token {answer['name']} is {answer['status']}")


@token_credential_app.command("generate")
@reports_errors
def token_credential_generate(
    name: NameOption,
    password1: Annotated[bool, typer.Option("--password1", help="Make a new password1")] = False,
    password2: Annotated[bool, typer.Option("--password2", help="Make a new password2")] = False,
    expiration_in_days: Annotated[
        int | None,
        typer.Option(
            "--expiration-in-days", min=1, help="Expire after this many days (default: never)"
        ),
    ] = None,
    registry: RegistryOption = None,
    username: UsernameOption = None,
    password: PasswordOption = None,
    output: OutputOption = Output.table,
) -> None:
    """Make new passwords for a token (both unless --password1 or --password2 picks one)."""
    slots = [slot for slot, chosen in ((1, password1), (2, password2)) if chosen] or [1, 2]
    secrets: list[dict[str, Any]] = []
    with Login(registry, username, password).connect() as api:
        for slot in slots:
            body: dict[str, Any] = {"password": slot}
            if expiration_in_days is not None:
                body["expiryDays"] = expiration_in_days
            secrets += api.post(f"/tokens/{name}/credentials", body)["passwords"]
    print_answer({"name": name, "passwords": secrets}, output, _print_secrets)
