"""`dockyard scope-map`: which actions on which repositories a token gets."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Annotated

import typer

from dockyard.cli.access.common import (
    ModelTable,
    NameOption,
    YesOption,
    confirm,
    print_answer,
)
from dockyard.cli.client import CliError
from dockyard.cli.remote import Login, Output, remote

if TYPE_CHECKING:
    from dockyard.wire.access import ScopeMap

scope_map_app = typer.Typer(
    help="Scope maps: which actions on which repositories a token gets.", no_args_is_help=True
)
# `--repository REPO ACTION...` takes a variable number of values, which click's options
# cannot; these commands read such groups from their extra arguments.
RAW_ARGS = {"allow_extra_args": True, "ignore_unknown_options": True}
ActionOption = Annotated[
    list[str] | None,
    typer.Option("--action", help="A whole action, e.g. repositories/a/*/content/read"),
]
SCOPE_MAPS_TABLE = ModelTable("scope maps", first=("name", "system", "actions"))
SCOPE_MAP_TABLE = replace(SCOPE_MAPS_TABLE, title="scope map")


def _repository_actions(args: list[str], options: tuple[str, ...]) -> dict[str, list[str]]:
    """The `--option REPO ACTION...` groups in `args`, as full actions per option."""
    found: dict[str, list[str]] = {option: [] for option in options}
    option: str | None = None
    repository: str | None = None
    count = 0

    def close() -> None:
        if option is not None and (repository is None or count == 0):
            raise CliError(f"{option} needs a repository and actions: {option} REPO ACTION...")

    for arg in args:
        name, equals, value = arg.partition("=")
        if name in options:
            close()
            option, repository, count = name, (value or None) if equals else None, 0
            continue
        if arg.startswith("-"):
            raise CliError(f"no such option: {arg}")
        if option is None:
            raise CliError(f"unexpected argument {arg!r}")
        if repository is None:
            repository = arg
            continue
        found[option].append(
            arg if arg.startswith("repositories/") else f"repositories/{repository}/{arg}"
        )
        count += 1
    close()
    return found


def _print_actions(headline: str, scope_map: ScopeMap) -> None:
    typer.echo(headline)
    for item in scope_map.actions:
        typer.echo(f"  {item}")


@scope_map_app.command("create", context_settings=RAW_ARGS)
@remote
def scope_map_create(
    ctx: typer.Context,
    name: NameOption,
    description: Annotated[str, typer.Option("--description", help="What it is for")] = "",
    action: ActionOption = None,
    *,
    login: Login,
) -> None:
    """Create a scope map: --repository REPO ACTION... (repeatable) and/or --action.

    ACTION is content/read, content/write, content/delete, metadata/read or metadata/write;
    REPO is a repository or 'prefix/*'. Example:
    dockyard scope-map create --name ci --repository team/* content/read content/write
    """
    actions = _repository_actions(ctx.args, ("--repository",))["--repository"] + (action or [])
    if not actions:
        raise CliError("a scope map needs actions", "--repository REPO ACTION... or --action")
    with login.api() as api:
        created = api.create_scope_map(name, actions, description)
    _print_actions(f"scope map {created.name} created:", created)


@scope_map_app.command("update", context_settings=RAW_ARGS)
@remote
def scope_map_update(
    ctx: typer.Context,
    name: NameOption,
    description: Annotated[str | None, typer.Option("--description")] = None,
    add_action: Annotated[list[str] | None, typer.Option("--add-action")] = None,
    remove_action: Annotated[list[str] | None, typer.Option("--remove-action")] = None,
    *,
    login: Login,
) -> None:
    """Change a scope map: --add-repository / --remove-repository REPO ACTION... (repeatable).

    ACTION is content/read, content/write, content/delete, metadata/read or metadata/write.
    Tokens that use the scope map get the new rights at once.
    """
    groups = _repository_actions(ctx.args, ("--add-repository", "--remove-repository"))
    add = groups["--add-repository"] + (add_action or [])
    remove = groups["--remove-repository"] + (remove_action or [])
    if not add and not remove and description is None:
        raise CliError("nothing to change", "--add-repository, --remove-repository, --description")
    with login.api() as api:
        updated = api.update_scope_map(name, add, remove, description)
    _print_actions(f"scope map {updated.name} now allows:", updated)


@scope_map_app.command("list")
@remote
def scope_map_list(*, login: Login, output: Output) -> None:
    """List scope maps, the system ones first."""
    with login.api() as api:
        scope_maps = api.list_scope_maps()
    print_answer(scope_maps, output, SCOPE_MAPS_TABLE.print)


@scope_map_app.command("show")
@remote
def scope_map_show(
    name: NameOption,
    *,
    login: Login,
    output: Output,
) -> None:
    """Show one scope map."""
    with login.api() as api:
        scope_map = api.get_scope_map(name)
    print_answer(scope_map, output, SCOPE_MAP_TABLE.print_one)


@scope_map_app.command("delete")
@remote
def scope_map_delete(
    name: NameOption,
    yes: YesOption = False,
    *,
    login: Login,
) -> None:
    """Delete a scope map that no token uses."""
    confirm(f"Delete scope map {name}?", yes)
    with login.api() as api:
        api.delete_scope_map(name)
    typer.echo(f"scope map {name} deleted")
