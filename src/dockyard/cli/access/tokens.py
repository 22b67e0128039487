"""`dockyard token`: repository-scoped tokens, a name and two passwords bound to a scope map."""

from __future__ import annotations

from dataclasses import replace
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
from dockyard.cli.output import err
from dockyard.cli.remote import Login, Output, remote

if TYPE_CHECKING:
    from dockyard.wire.access import TokenCreated, TokenCredentials, TokenPasswordInfo

token_app = typer.Typer(
    help="Repository-scoped tokens: a name and two passwords bound to a scope map.",
    no_args_is_help=True,
)
token_credential_app = typer.Typer(help="A token's passwords.", no_args_is_help=True)
token_app.add_typer(token_credential_app, name="credential")


class Status(StrEnum):
    enabled = "enabled"
    disabled = "disabled"


def _passwords(passwords: list[TokenPasswordInfo]) -> str:
    return "\n".join(f"{p.name} (expires: {when(p.expiry)})" for p in passwords)


TOKENS_TABLE = ModelTable("tokens", {"created": when, "passwords": _passwords})
TOKEN_TABLE = replace(TOKENS_TABLE, title="token")


def _print_secrets(answer: TokenCreated | TokenCredentials) -> None:
    for secret in answer.passwords:
        expiry = f" (expires {when(secret.expiry)})" if secret.expiry else ""
        print_secret(secret.name + expiry, secret.value)
    err.print("save these passwords now: the registry cannot show them again")


def _print_created(created: TokenCreated) -> None:
    typer.echo(f"token {created.name} created ({created.status}, scope map {created.scope_map})")
    _print_secrets(created)


@token_app.command("create")
@remote
def token_create(
    name: NameOption,
    scope_map: Annotated[
        str,
        typer.Option("--scope-map", help="Scope map (or a system one, e.g. _repositories_pull)"),
    ],
    status: Annotated[Status, typer.Option("--status")] = Status.enabled,
    *,
    login: Login,
    output: Output,
) -> None:
    """Create a token; prints its two passwords, once. Use it as docker's username/password."""
    with login.api() as api:
        created = api.create_token(name, scope_map, status.value)
    print_answer(created, output, _print_created)


@token_app.command("list")
@remote
def token_list(*, login: Login, output: Output) -> None:
    """List tokens."""
    with login.api() as api:
        tokens = api.list_tokens()
    print_answer(tokens, output, TOKENS_TABLE.print)


@token_app.command("show")
@remote
def token_show(
    name: NameOption,
    *,
    login: Login,
    output: Output,
) -> None:
    """Show one token (never its passwords)."""
    with login.api() as api:
        token = api.get_token(name)
    print_answer(token, output, TOKEN_TABLE.print_one)


@token_app.command("delete")
@remote
def token_delete(
    name: NameOption,
    yes: YesOption = False,
    *,
    login: Login,
) -> None:
    """Delete a token and its passwords."""
    confirm(f"Delete token {name}?", yes)
    with login.api() as api:
        api.delete_token(name)
    typer.echo(f"token {name} deleted")


@token_app.command("update")
@remote
def token_update(
    name: NameOption,
    status: Annotated[Status, typer.Option("--status", help="enabled or disabled")],
    *,
    login: Login,
) -> None:
    """Enable or disable a token."""
    with login.api() as api:
        token = api.set_token_enabled(name, status == Status.enabled)
    typer.echo(f"token {token.name} is {token.status}")


@token_credential_app.command("generate")
@remote
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
    *,
    login: Login,
    output: Output,
) -> None:
    """Make new passwords for a token (both unless --password1 or --password2 picks one)."""
    slots = [slot for slot, chosen in ((1, password1), (2, password2)) if chosen] or [1, 2]
    with login.api() as api:
        made = [api.generate_token_password(name, slot, expiration_in_days) for slot in slots]
    secrets = [secret for answer in made for secret in answer.passwords]
    print_answer(made[0].model_copy(update={"passwords": secrets}), output, _print_secrets)
