"""`dockyard login` and `dockyard logout`: a refresh token from the registry's token service,
handed to docker and kept for the other dockyard commands."""

from __future__ import annotations

import sys
from typing import Annotated

import httpx
import typer
from rich.markup import escape

from dockyard.cli.access.common import (
    when,
)
from dockyard.cli.client import (
    TIMEOUT_SECONDS,
    CliError,
    CredentialStore,
    StoredLogin,
    discover_service,
    docker_login,
    docker_logout,
    registry_host,
    request_refresh_token,
    resolve_registry,
    token_expiry,
)
from dockyard.cli.output import err, out
from dockyard.cli.remote import (
    PasswordOption,
    RegistryOption,
    UsernameOption,
    reports_errors,
)


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
    until = f" until {when(expires_at)}" if expires_at else ""
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
