"""`dockyard webhook`: HTTP callbacks on registry events, in the spirit of `az acr webhook`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dockyard.cli.access.common import (
    Column,
    NameOption,
    TableView,
    YesOption,
    delete,
    print_answer,
    print_listing,
    print_secret,
    when,
)
from dockyard.cli.client import CliError
from dockyard.cli.remote import Login, Output, remote

webhook_app = typer.Typer(
    help="Webhooks: HTTP callbacks on pushes, deletes and other registry events.",
    no_args_is_help=True,
)

ActionsOption = Annotated[
    str | None,
    typer.Option(
        "--actions",
        help="Comma-separated: push, delete, chart_push, chart_delete, quarantine, "
        "tag_delete, referrer_push",
    ),
]
ScopeOption = Annotated[
    str | None,
    typer.Option("--scope", help="'' (everything), 'repo', 'repo:*', 'repo:tag'; '*' wildcards"),
]
HeadersOption = Annotated[
    list[str] | None, typer.Option("--headers", help="Custom header key=value (repeatable)")
]
StatusOption = Annotated[str | None, typer.Option("--status", help="enabled or disabled")]
UriOption = Annotated[str | None, typer.Option("--uri", help="http(s) URL to POST events to")]
COLUMNS = (
    "name",
    "status",
    "uri",
    Column("actions", ",".join),
    Column("scope", lambda scope: scope or "(registry)"),
    Column("created_at", when),
)
EVENT_COLUMNS = (
    "id",
    "event_id",
    "action",
    "repository",
    "status",
    "attempts",
    "response_status",
    "last_error",
    "duration_ms",
)
WEBHOOKS_VIEW = TableView("webhooks", COLUMNS)
WEBHOOK_VIEW = TableView("webhook", COLUMNS, lambda found: [found])
EVENTS_VIEW = TableView("webhook events", EVENT_COLUMNS)


def _actions(actions: str) -> list[str]:
    return [a.strip() for a in actions.split(",") if a.strip()]


def _headers(pairs: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key:
            raise CliError(f"--headers takes key=value, not {pair!r}")
        found[key.strip()] = value
    return found


@webhook_app.command("create")
@remote
def webhook_create(
    name: NameOption,
    uri: UriOption = None,
    actions: ActionsOption = None,
    scope: ScopeOption = None,
    headers: HeadersOption = None,
    status: StatusOption = None,
    *,
    login: Login,
    output: Output,
) -> None:
    """Create a webhook. Its deliveries carry X-Dockyard-Signature: sha256=<HMAC of the body>
    keyed with the secret printed here (only here)."""
    if not uri or not actions:
        raise CliError("a webhook needs --uri and --actions", "e.g. --actions push,delete")
    body = {
        "name": name,
        "uri": uri,
        "actions": _actions(actions),
        "scope": scope or "",
        "headers": _headers(headers or []),
        "status": status or "enabled",
    }
    with login.connect() as api:
        created = api.post("/webhooks", body)

    def show(answer: dict[str, Any]) -> None:
        WEBHOOK_VIEW.print(answer)
        print_secret("secret", answer["secret"])

    print_answer(created, output, show)


@webhook_app.command("update")
@remote
def webhook_update(
    name: NameOption,
    uri: UriOption = None,
    actions: ActionsOption = None,
    scope: ScopeOption = None,
    headers: HeadersOption = None,
    status: StatusOption = None,
    regenerate_secret: Annotated[
        bool, typer.Option("--regenerate-secret", help="Issue a new signing secret")
    ] = False,
    *,
    login: Login,
    output: Output,
) -> None:
    """Change a webhook's URI, actions, scope, headers (replaced as a whole) or status."""
    body: dict[str, Any] = {"regenerate_secret": regenerate_secret}
    if uri is not None:
        body["uri"] = uri
    if actions is not None:
        body["actions"] = _actions(actions)
    if scope is not None:
        body["scope"] = scope
    if headers is not None:
        body["headers"] = _headers(headers)
    if status is not None:
        body["status"] = status
    if len(body) == 1 and not regenerate_secret:
        raise CliError(
            "nothing to change",
            "--uri, --actions, --scope, --headers, --status or --regenerate-secret",
        )
    with login.connect() as api:
        updated = api.call("PATCH", f"/webhooks/{name}", body)

    def show(answer: dict[str, Any]) -> None:
        WEBHOOK_VIEW.print(answer)
        if "secret" in answer:
            print_secret("secret", answer["secret"])

    print_answer(updated, output, show)


@webhook_app.command("list")
@remote
def webhook_list(*, login: Login, output: Output) -> None:
    """List webhooks."""
    print_listing(login, "/webhooks", output, WEBHOOKS_VIEW)


@webhook_app.command("show")
@remote
def webhook_show(
    name: NameOption,
    *,
    login: Login,
    output: Output,
) -> None:
    """Show one webhook."""
    print_listing(login, f"/webhooks/{name}", output, WEBHOOK_VIEW)


@webhook_app.command("delete")
@remote
def webhook_delete(
    name: NameOption,
    yes: YesOption = False,
    *,
    login: Login,
) -> None:
    """Delete a webhook and its deliveries, pending ones included."""
    delete(login, f"/webhooks/{name}", f"webhook {name}", f"Delete webhook {name}?", yes)


@webhook_app.command("ping")
@remote
def webhook_ping(
    name: NameOption,
    *,
    login: Login,
    output: Output,
) -> None:
    """Send a ping event to the webhook now."""
    with login.connect() as api:
        delivery = api.post(f"/webhooks/{name}/ping")

    def show(answer: dict[str, Any]) -> None:
        EVENTS_VIEW.print([answer])

    print_answer(delivery, output, show)
    if delivery["status"] != "delivered":
        raise typer.Exit(1)


@webhook_app.command("list-events")
@remote
def webhook_list_events(
    name: NameOption,
    limit: Annotated[int, typer.Option("--top", help="At most this many, newest first")] = 100,
    *,
    login: Login,
    output: Output,
) -> None:
    """List the webhook's deliveries, newest first (`-o json` adds requests and responses)."""
    print_listing(login, f"/webhooks/{name}/events", output, EVENTS_VIEW, {"limit": limit})
