"""`dockyard role`: role assignments (ACR's built-in roles)."""

from __future__ import annotations

from typing import Annotated

import typer

from dockyard.cli.access.common import (
    Login,
    Output,
    OutputOption,
    PasswordOption,
    RegistryOption,
    TableView,
    UsernameOption,
    print_listing,
    reports_errors,
)

role_app = typer.Typer(help="Role assignments (ACR's built-in roles).", no_args_is_help=True)

PrincipalOption = Annotated[
    str, typer.Option("--principal", help="User or service principal name", show_default=False)
]
RoleOption = Annotated[
    str,
    typer.Option(
        "--role",
        help="Owner, Contributor, Reader, AcrPush, AcrPull, AcrDelete or AcrImageSigner",
        show_default=False,
    ),
]
ScopeOption = Annotated[
    str, typer.Option("--scope", help="'*' (the registry), a repository, or 'prefix/*'")
]

ROLES_VIEW = TableView(
    "role assignments",
    ("principal", "role", "scope"),
    lambda roles: [(r["principal"], r["role"], r["scope"]) for r in roles],
)


@role_app.command("assign")
@reports_errors
def role_assign(
    principal: PrincipalOption,
    role: RoleOption,
    scope: ScopeOption = "*",
    registry: RegistryOption = None,
    username: UsernameOption = None,
    password: PasswordOption = None,
) -> None:
    """Give a user a role over the registry or some repositories."""
    with Login(registry, username, password).connect() as api:
        api.post("/roles", {"principal": principal, "role": role, "scope": scope})
    typer.echo(f"{principal} has {role} on {scope}")


@role_app.command("list")
@reports_errors
def role_list(
    principal: Annotated[str | None, typer.Option("--principal", help="Only this user's")] = None,
    registry: RegistryOption = None,
    username: UsernameOption = None,
    password: PasswordOption = None,
    output: OutputOption = Output.table,
) -> None:
    """List role assignments."""
    params = {"principal": principal} if principal else None
    print_listing(Login(registry, username, password), "/roles", output, ROLES_VIEW, params)


@role_app.command("remove")
@reports_errors
def role_remove(
    principal: PrincipalOption,
    role: RoleOption,
    scope: ScopeOption = "*",
    registry: RegistryOption = None,
    username: UsernameOption = None,
    password: PasswordOption = None,
) -> None:
    """Remove one role assignment."""
    with Login(registry, username, password).connect() as api:
        api.call("DELETE", "/roles", params={"principal": principal, "role": role, "scope": scope})
    typer.echo(f"{principal} no longer has {role} on {scope}")
