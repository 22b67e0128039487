"""`dockyard role`: role assignments (ACR's built-in roles)."""

from __future__ import annotations

from typing import Annotated

import typer

from dockyard.cli.access.common import ModelTable, print_answer
from dockyard.cli.conventions import aliased
from dockyard.cli.remote import Login, Output, remote

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

ROLES_TABLE = ModelTable("role assignments")


@role_app.command("assign", cls=ALIASES)
@remote
def role_assign(
    assignee: AssigneeOption,
    role: RoleOption,
    scope: ScopeOption = "*",
    *,
    login: Login,
) -> None:
    """Give a user a role over the registry or some repositories."""
    with login.api() as api:
        api.assign_role(assignee, role, scope)
    typer.echo(f"{assignee} has {role} on {scope}")


@role_app.command("list", cls=ALIASES)
@remote
def role_list(
    assignee: Annotated[str | None, typer.Option("--assignee", help="Only this user's")] = None,
    *,
    login: Login,
    output: Output,
) -> None:
    """List role assignments."""
    with login.api() as api:
        assignments = api.list_roles(assignee)
    print_answer(assignments, output, ROLES_TABLE.print)


@role_app.command("remove", cls=ALIASES)
@remote
def role_remove(
    assignee: AssigneeOption,
    role: RoleOption,
    scope: ScopeOption = "*",
    *,
    login: Login,
) -> None:
    """Remove one role assignment."""
    with login.api() as api:
        api.remove_role(assignee, role, scope)
    typer.echo(f"{assignee} no longer has {role} on {scope}")
