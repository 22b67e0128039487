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
from dockyard.cli.conventions import aliased

role_app = typer.Typer(help="Role assignments (ACR's built-in roles).", no_args_is_help=True)

AssigneeOption = Annotated[
    str,
    typer.Option(
        "--assignee",
        help="User or service principal name (as `az role assignment`)",
        show_default=False,
    ),
]
# `--principal`, the first spelling, still works.
ALIASES = aliased({"--principal": "--assignee"})
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

ROLES_VIEW = TableView("role assignments", ("principal", "role", "scope"))


@role_app.command("assign", cls=ALIASES)
@reports_errors
def role_assign(
    assignee: AssigneeOption,
    role: RoleOption,
    scope: ScopeOption = "*",
    registry: RegistryOption = None,
    username: UsernameOption = None,
    password: PasswordOption = None,
) -> None:
    """Give a user a role over the registry or some repositories."""
    with Login(registry, username, password).connect() as api:
        api.post("/roles", {"principal": assignee, "role": role, "scope": scope})
    typer.echo(f"{assignee} has {role} on {scope}")


@role_app.command("list", cls=ALIASES)
@reports_errors
def role_list(
    assignee: Annotated[str | None, typer.Option("--assignee", help="Only this user's")] = None,
    registry: RegistryOption = None,
    username: UsernameOption = None,
    password: PasswordOption = None,
    output: OutputOption = Output.table,
) -> None:
    """List role assignments."""
    params = {"principal": assignee} if assignee else None
    print_listing(Login(registry, username, password), "/roles", output, ROLES_VIEW, params)


@role_app.command("remove", cls=ALIASES)
@reports_errors
def role_remove(
    assignee: AssigneeOption,
    role: RoleOption,
    scope: ScopeOption = "*",
    registry: RegistryOption = None,
    username: UsernameOption = None,
    password: PasswordOption = None,
) -> None:
    """Remove one role assignment."""
    with Login(registry, username, password).connect() as api:
        api.call("DELETE", "/roles", params={"principal": assignee, "role": role, "scope": scope})
    typer.echo(f"{assignee} no longer has {role} on {scope}")
