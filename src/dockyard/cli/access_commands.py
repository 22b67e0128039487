"""Access-control commands, in the spirit of `az acr`: login, the admin user's credentials,
users, role assignments, scope maps, tokens, anonymous pull, the audit log and signing keys.

They talk to a running registry over HTTP (`/oauth2/token` and the management API under
`/api/v1`, see cli/client.py), never to its database.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, ParamSpec, TypeVar

import httpx
import typer
from rich.markup import escape
from rich.table import Table

from dockyard.cli.client import (
    TIMEOUT_SECONDS,
    CliError,
    CredentialStore,
    StoredLogin,
    connect,
    discover_service,
    docker_login,
    docker_logout,
    registry_host,
    request_refresh_token,
    resolve_registry,
    token_expiry,
)
from dockyard.cli.output import err, out

P = ParamSpec("P")
T = TypeVar("T")


class Output(StrEnum):
    table = "table"
    json = "json"


class Status(StrEnum):
    enabled = "enabled"
    disabled = "disabled"


class Switch(StrEnum):
    on = "on"
    off = "off"


class UserKind(StrEnum):
    user = "user"
    service_principal = "service-principal"


class AdminPassword(StrEnum):
    password = "password"
    password2 = "password2"


RegistryOption = Annotated[
    str | None,
    typer.Option(
        "--registry",
        "-r",
        help="Registry URL [$DOCKYARD_REGISTRY, else the last `dockyard login`]",
        show_default=False,
    ),
]
UsernameOption = Annotated[
    str | None,
    typer.Option(
        "--username", "-u", help="Sign in as this user, token or admin instead of the stored login"
    ),
]
PasswordOption = Annotated[str | None, typer.Option("--password", "-p", help="Its password")]
OutputOption = Annotated[Output, typer.Option("--output", "-o", help="table or json")]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation")]


def reports_errors(func: Callable[P, T]) -> Callable[P, T]:
    """Failures become one red line (and a hint) on stderr and exit status 1."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return func(*args, **kwargs)
        except CliError as exc:
            err.print(f"[red]error:[/red] {escape(exc.message)}")
            if exc.hint:
                err.print(f"[dim]hint:[/dim] {escape(exc.hint)}")
            raise typer.Exit(1) from None

    return wrapper


# --- output ----------------------------------------------------------------------------------


def _when(value: Any) -> str:
    """An ISO 8601 time or a Unix time, shown in UTC to the second."""
    if value is None or value == "":
        return "never"
    try:
        moment = (
            datetime.fromtimestamp(float(value), UTC)
            if isinstance(value, int | float)
            else datetime.fromisoformat(str(value))
        )
    except (TypeError, ValueError):
        return str(value)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _print_json(data: Any) -> None:
    """Plain JSON (never re-wrapped to the terminal's width), for scripts."""
    typer.echo(json.dumps(data, indent=2))


def _table(title: str, columns: Iterable[str], rows: Iterable[Iterable[Any]]) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(escape(str(cell)) for cell in row))
    out.print(table)


def _secret(label: str, value: str) -> None:
    """Secrets go out as plain lines, never wrapped or styled, so they copy cleanly."""
    typer.echo(f"{label}: {value}")


def _confirm(question: str, yes: bool) -> None:
    if not yes:
        typer.confirm(question, abort=True)


# --- login -----------------------------------------------------------------------------------


@reports_errors
def login(
    registry: RegistryOption = None,
    username: UsernameOption = None,
    password: PasswordOption = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin")
    ] = False,
) -> None:
    """Log in to a registry: get a refresh token, give it to docker, keep it for dockyard."""
    store = CredentialStore()
    url = resolve_registry(registry, store)
    if password_stdin:
        if password is not None:
            raise CliError("--password and --password-stdin exclude each other")
        if not username:
            raise CliError("--password-stdin needs --username")
        password = sys.stdin.read().rstrip("\r\n")
    with httpx.Client(timeout=TIMEOUT_SECONDS) as http:
        service = discover_service(http, url)
        if service is None:
            store.save(url, StoredLogin())
            out.print(f"{url} lets everyone in (auth is off); saved it as the default registry")
            return
        if not username:
            username = typer.prompt("Username")
        if password is None:
            password = typer.prompt("Password", hide_input=True)
        token = request_refresh_token(http, url, service, username, password)
    expires_at = token_expiry(token)
    store.save(
        url,
        StoredLogin(service=service, username=username, refresh_token=token, expires_at=expires_at),
    )
    docker_ok, docker_message = docker_login(registry_host(url), token)
    if docker_ok:
        err.print(escape(docker_message))
    else:
        err.print(f"[yellow]warning:[/yellow] {escape(docker_message)}")
    until = f" until {_when(expires_at)}" if expires_at else ""
    err.print(f"dockyard commands will use this login to {escape(url)}{until}")
    typer.echo("Login Succeeded")


@reports_errors
def logout(registry: RegistryOption = None) -> None:
    """Forget the stored login to a registry (in dockyard and in docker)."""
    store = CredentialStore()
    url = resolve_registry(registry, store)
    removed = store.remove(url)
    docker_ok, docker_message = docker_logout(registry_host(url))
    err.print(
        escape(docker_message) if docker_ok else f"[yellow]warning:[/yellow] {docker_message}"
    )
    typer.echo(f"logged out of {url}" if removed else f"no stored login to {url}")


# --- admin user ------------------------------------------------------------------------------

credential_app = typer.Typer(
    help="The admin user's name and passwords (like az acr credential).", no_args_is_help=True
)
admin_app = typer.Typer(help="Turn the admin user on or off.", no_args_is_help=True)


@credential_app.command("show")
@reports_errors
def credential_show(
    registry: RegistryOption = None,
    username: UsernameOption = None,
    password: PasswordOption = None,
    output: OutputOption = Output.table,
) -> None:
    """Whether the admin user is on, and its username (passwords are shown only when made)."""
    with connect(registry, username, password) as api:
        admin = api.get("/admin")
    if output == Output.json:
        _print_json(admin)
        return
    _table(
        "admin user",
        ("username", "enabled"),
        [(admin["username"], "yes" if admin["enabled"] else "no")],
    )
    err.print("passwords are shown once, when made: `dockyard credential renew` makes new ones")


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
    with connect(registry, username, password) as api:
        answer = api.post(f"/admin/credentials/{slot}/regenerate")
    if output == Output.json:
        _print_json(answer)
        return
    _secret("username", answer["username"])
    for secret in answer["passwords"]:
        _secret(secret["name"], secret["value"])
    if not answer["enabled"]:
        err.print("[yellow]note:[/yellow] the admin user is off: `dockyard admin enable`")


@admin_app.command("enable")
@reports_errors
def admin_enable(
    registry: RegistryOption = None,
    username: UsernameOption = None,
    password: PasswordOption = None,
) -> None:
    """Turn the admin user on (the first time, this makes and shows its passwords)."""
    with connect(registry, username, password) as api:
        answer = api.post("/admin/enable")
    typer.echo(f"admin user {answer['username']} is enabled")
    for secret in answer["passwords"]:
        _secret(secret["name"], secret["value"])
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
    with connect(registry, username, password) as api:
        answer = api.post("/admin/disable")
    typer.echo(f"admin user {answer['username']} is disabled")


# --- users -----------------------------------------------------------------------------------

user_app = typer.Typer(help="Users and service principals.", no_args_is_help=True)
NameOption = Annotated[str, typer.Option("--name", "-n", help="Name", show_default=False)]


def _user_rows(users: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (u["name"], u["kind"], "enabled" if u["enabled"] else "disabled", _when(u["created"]))
        for u in users
    ]


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
    with connect(registry, username, password) as api:
        answer = api.post("/users", {"name": name, "kind": kind.value})
    if output == Output.json:
        _print_json(answer)
        return
    typer.echo(f"{answer['kind']} {answer['name']} created")
    _secret("password", answer["password"])


@user_app.command("list")
@reports_errors
def user_list(
    registry: RegistryOption = None,
    username: UsernameOption = None,
    password: PasswordOption = None,
    output: OutputOption = Output.table,
) -> None:
    """List users and service principals."""
    with connect(registry, username, password) as api:
        users = api.get("/users")
    if output == Output.json:
        _print_json(users)
        return
    _table("users", ("name", "kind", "status", "created"), _user_rows(users))


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
    _confirm(f"Delete user {name} and its role assignments?", yes)
    with connect(registry, username, password) as api:
        api.call("DELETE", f"/users/{name}")
    typer.echo(f"user {name} deleted")


@user_app.command("reset-password")
@reports_errors
def user_reset_password(
    name: NameOption,
    registry: RegistryOption = None,
    username: UsernameOption = None,
    password: PasswordOption = None,
) -> None:
    """Give a user a new generated password (the old one stops working)."""
    with connect(registry, username, password) as api:
        answer = api.post(f"/users/{name}/password")
    _secret("password", answer["password"])


def _set_user(
    name: str, enable: bool, registry: str | None, user: str | None, pw: str | None
) -> None:
    with connect(registry, user, pw) as api:
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
    _set_user(name, True, registry, username, password)


@user_app.command("disable")
@reports_errors
def user_disable(
    name: NameOption,
    registry: RegistryOption = None,
    username: UsernameOption = None,
    password: PasswordOption = None,
) -> None:
    """Stop a user's password and refresh tokens from working."""
    _set_user(name, False, registry, username, password)


# --- roles -----------------------------------------------------------------------------------

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
    with connect(registry, username, password) as api:
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
    with connect(registry, username, password) as api:
        roles = api.get("/roles", {"principal": principal} if principal else None)
    if output == Output.json:
        _print_json(roles)
        return
    _table(
        "role assignments",
        ("principal", "role", "scope"),
        [(r["principal"], r["role"], r["scope"]) for r in roles],
    )


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
    with connect(registry, username, password) as api:
        api.call("DELETE", "/roles", params={"principal": principal, "role": role, "scope": scope})
    typer.echo(f"{principal} no longer has {role} on {scope}")


# --- scope maps ------------------------------------------------------------------------------

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


def _scope_map_rows(maps: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (m["name"], "system" if m["system"] else "", "\n".join(m["actions"]), m["description"])
        for m in maps
    ]


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
    with connect(registry, username, password) as api:
        created = api.post(
            "/scope-maps", {"name": name, "actions": actions, "description": description}
        )
    typer.echo(f"scope map {created['name']} created:")
    for item in created["actions"]:
        typer.echo(f"  {item}")


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
    with connect(registry, username, password) as api:
        updated = api.call(
            "PATCH",
            f"/scope-maps/{name}",
            {"add": add, "remove": remove, "description": description},
        )
    typer.echo(f"scope map {updated['name']} now allows:")
    for item in updated["actions"]:
        typer.echo(f"  {item}")


@scope_map_app.command("list")
@reports_errors
def scope_map_list(
    registry: RegistryOption = None,
    username: UsernameOption = None,
    password: PasswordOption = None,
    output: OutputOption = Output.table,
) -> None:
    """List scope maps, the system ones first."""
    with connect(registry, username, password) as api:
        maps = api.get("/scope-maps")
    if output == Output.json:
        _print_json(maps)
        return
    _table("scope maps", ("name", "kind", "actions", "description"), _scope_map_rows(maps))


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
    with connect(registry, username, password) as api:
        found = api.get(f"/scope-maps/{name}")
    if output == Output.json:
        _print_json(found)
        return
    _table("scope map", ("name", "kind", "actions", "description"), _scope_map_rows([found]))


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
    _confirm(f"Delete scope map {name}?", yes)
    with connect(registry, username, password) as api:
        api.call("DELETE", f"/scope-maps/{name}")
    typer.echo(f"scope map {name} deleted")


# --- tokens ----------------------------------------------------------------------------------

token_app = typer.Typer(
    help="Repository-scoped tokens: a name and two passwords bound to a scope map.",
    no_args_is_help=True,
)
token_credential_app = typer.Typer(help="A token's passwords.", no_args_is_help=True)
token_app.add_typer(token_credential_app, name="credential")


def _token_rows(tokens: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (
            t["name"],
            t["scopeMap"],
            t["status"],
            _when(t["created"]),
            "\n".join(f"{p['name']} (expires: {_when(p['expiry'])})" for p in t["passwords"]),
        )
        for t in tokens
    ]


def _print_token_secrets(answer: dict[str, Any]) -> None:
    for secret in answer["passwords"]:
        expiry = f" (expires {_when(secret['expiry'])})" if secret.get("expiry") else ""
        _secret(secret["name"] + expiry, secret["value"])
    err.print("save these passwords now: the registry cannot show them again")


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
    with connect(registry, username, password) as api:
        answer = api.post("/tokens", {"name": name, "scopeMap": scope_map, "status": status.value})
    if output == Output.json:
        _print_json(answer)
        return
    typer.echo(
        f"token {answer['name']} created ({answer['status']}, scope map {answer['scopeMap']})"
    )
    _print_token_secrets(answer)


@token_app.command("list")
@reports_errors
def token_list(
    registry: RegistryOption = None,
    username: UsernameOption = None,
    password: PasswordOption = None,
    output: OutputOption = Output.table,
) -> None:
    """List tokens."""
    with connect(registry, username, password) as api:
        tokens = api.get("/tokens")
    if output == Output.json:
        _print_json(tokens)
        return
    _table("tokens", ("name", "scope map", "status", "created", "passwords"), _token_rows(tokens))


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
    with connect(registry, username, password) as api:
        token = api.get(f"/tokens/{name}")
    if output == Output.json:
        _print_json(token)
        return
    _table("token", ("name", "scope map", "status", "created", "passwords"), _token_rows([token]))


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
    _confirm(f"Delete token {name}?", yes)
    with connect(registry, username, password) as api:
        api.call("DELETE", f"/tokens/{name}")
    typer.echo(f"token {name} deleted")


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
    with connect(registry, username, password) as api:
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
    with connect(registry, username, password) as api:
        for slot in slots:
            body: dict[str, Any] = {"password": slot}
            if expiration_in_days is not None:
                body["expiryDays"] = expiration_in_days
            secrets += api.post(f"/tokens/{name}/credentials", body)["passwords"]
    answer = {"name": name, "passwords": secrets}
    if output == Output.json:
        _print_json(answer)
        return
    _print_token_secrets(answer)


# --- registry settings, audit log, keys ------------------------------------------------------

config_app = typer.Typer(help="Registry-wide settings.", no_args_is_help=True)
keys_app = typer.Typer(help="The keys that sign tokens.", no_args_is_help=True)


@config_app.command("anonymous-pull")
@reports_errors
def config_anonymous_pull(
    state: Annotated[
        Switch | None, typer.Argument(help="on or off; without it, show the setting")
    ] = None,
    registry: RegistryOption = None,
    username: UsernameOption = None,
    password: PasswordOption = None,
) -> None:
    """Let clients without credentials pull every repository (on), or not (off)."""
    with connect(registry, username, password) as api:
        if state is None:
            answer = api.get("/settings/anonymous-pull")
        else:
            answer = api.call("PUT", "/settings/anonymous-pull", {"enabled": state == Switch.on})
    typer.echo(f"anonymous pull is {'on' if answer['enabled'] else 'off'}")


@reports_errors
def audit(
    limit: Annotated[int, typer.Option("--limit", min=1, max=10000, help="Newest entries")] = 50,
    registry: RegistryOption = None,
    username: UsernameOption = None,
    password: PasswordOption = None,
    output: OutputOption = Output.table,
) -> None:
    """Show the newest audit log entries: logins, decisions and every change, with who."""
    with connect(registry, username, password) as api:
        entries = api.get("/audit", {"limit": limit})
    if output == Output.json:
        _print_json(entries)
        return
    rows = []
    for entry in entries:
        detail = {k: v for k, v in entry.items() if k not in ("ts", "event", "actor", "outcome")}
        rows.append(
            (
                _when(entry.get("ts")),
                entry.get("event", ""),
                entry.get("actor", ""),
                entry.get("outcome", ""),
                " ".join(
                    f"{k}={json.dumps(v) if not isinstance(v, str) else v}"
                    for k, v in detail.items()
                ),
            )
        )
    _table("audit log", ("time", "event", "actor", "outcome", "detail"), rows)


@keys_app.command("rotate")
@reports_errors
def keys_rotate(
    registry: RegistryOption = None,
    username: UsernameOption = None,
    password: PasswordOption = None,
) -> None:
    """Sign tokens with a new key from now on (tokens signed before keep working until they
    expire)."""
    with connect(registry, username, password) as api:
        answer = api.post("/keys/rotate")
    typer.echo(f"tokens are now signed with key {answer['kid']}")


def register(app: typer.Typer) -> None:
    """Add the access-control commands to the `dockyard` command."""
    app.command()(login)
    app.command()(logout)
    app.add_typer(credential_app, name="credential")
    app.add_typer(admin_app, name="admin")
    app.add_typer(user_app, name="user")
    app.add_typer(role_app, name="role")
    app.add_typer(scope_map_app, name="scope-map")
    app.add_typer(token_app, name="token")
    app.add_typer(config_app, name="config")
    app.command()(audit)
    app.add_typer(keys_app, name="keys")
