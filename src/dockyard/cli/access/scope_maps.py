"""`dockyard scope-map`: which actions on which repositories a token gets."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dockyard.cli.access.common import (
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
    print_listing,
    reports_errors,
)
from dockyard.cli.client import CliError

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
COLUMNS = ("name", "system", "actions", "description")
SCOPE_MAPS_VIEW = TableView("scope maps", COLUMNS)
SCOPE_MAP_VIEW = TableView("scope map", COLUMNS, lambda found: [found])


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


def _print_actions(headline: str, scope_map: dict[str, Any]) -> None:
    typer.echo(headline)
    for item in scope_map["actions"]:
        typer.echo(f"  {item}")


@scope_map_app.command("create", context_settings=RAW_ARGS)
@reports_errors
def scope_map_create(
    ctx: typer.Context,
    name: NameOption,
    description: Annotated[str, typer.Option("--description", help="What it is for")] = "",
    action: ActionOption = None,
    registry: RegistryOption = None,
    username: UsernameOption = None,
    password: PasswordOption = None,
) -> None:
    """Create a scope map: --repository REPO ACTION... (repeatable) and/or --action.

    ACTION is content/read, content/write, content/delete, metadata/read or metadata/write;
    REPO is a repository or 'prefix/*'. Example:
    dockyard scope-map create --name ci --repository team/* content/read content/write
    """
    actions = _repository_actions(ctx.args, ("--repository",))["--repository"] + (action or [])
    if not actions:
        raise CliError("a scope map needs actions", "--repository REPO ACTION... or --action")
    with Login(registry, username, password).connect() as api:
        created = api.post(
            "/scope-maps", {"name": name, "actions": actions, "description": description}
        )
    _print_actions(f"scope map {created['name']} created:", created)


@scope_map_app.command("update", context_settings=RAW_ARGS)
@reports_errors
def scope_map_update(
    ctx: typer.Context,
    name: NameOption,
    description: Annotated[str | None, typer.Option("--description")] = None,
    add_action: Annotated[list[str] | None, typer.Option("--add-action")] = None,
    remove_action: Annotated[list[str] | None, typer.Option("--remove-action")] = None,
    registry: RegistryOption = None,
    username: UsernameOption = None,
    password: PasswordOption = None,
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
    with Login(registry, username, password).connect() as api:
        updated = api.call(
            "PATCH",
            f"/scope-maps/{name}",
            {"add": add, "remove": remove, "description": description},
        )
    _print_actions(f"scope map {updated['name']} now allows:", updated)


@scope_map_app.command("list")
@reports_errors
def scope_map_list(
    registry: RegistryOption = None,
    username: UsernameOption = None,
    password: PasswordOption = None,
    output: OutputOption = Output.table,
) -> None:
    """List scope maps, the system ones first."""
    print_listing(Login(registry, username, password), "/scope-maps", output, SCOPE_MAPS_VIEW)


@scope_map_app.command("show")
@reports_errors
def scope_map_show(
    name: NameOption,
    registry: RegistryOption = None,
    username: UsernameOption = None,
    password: PasswordOption = None,
    output: OutputOption = Output.table,
) -> None:
    """Show one scope map."""
    login = Login(registry, username, password)
    print_listing(login, f"/scope-maps/{name}", output, SCOPE_MAP_VIEW)


@scope_map_app.command("delete")
@reports_errors
def scope_map_delete(
    name: NameOption,
    yes: YesOption = False,
    registry: RegistryOption = None,
    username: UsernameOption = None,
    password: PasswordOption = None,
) -> None:
    """Delete a scope map that no token uses."""
    login = Login(registry, username, password)
    delete(login, f"/scope-maps/{name}", f"scope map {name}", f"Delete scope map {name}?", yes)
