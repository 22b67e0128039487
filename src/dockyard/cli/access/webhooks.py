"""`dockyard webhook`: HTTP callbacks on registry events, in the spirit of `az acr webhook`."""

from __future__ import annotations

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
from dockyard.cli.client import CliError
from dockyard.cli.remote import Login, Output, remote

if TYPE_CHECKING:
    from dockyard.wire.webhooks import Webhook

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
# A webhook's custom headers show with `-o json` only.
WEBHOOK_RENDER = {
    "actions": ",".join,
    "scope": lambda scope: scope or "(registry)",
    "created_at": when,
}
WEBHOOK_FIRST = ("name", "status", "uri")
WEBHOOKS_TABLE = ModelTable("webhooks", WEBHOOK_RENDER, frozenset({"headers"}), WEBHOOK_FIRST)
WEBHOOK_TABLE = ModelTable("webhook", WEBHOOK_RENDER, frozenset({"headers"}), WEBHOOK_FIRST)
# The secret goes out as its own plain line, below the table.
WEBHOOK_WITH_SECRET_TABLE = ModelTable(
    "webhook", WEBHOOK_RENDER, frozenset({"headers", "secret"}), WEBHOOK_FIRST
)
# A delivery's request and response are for `-o json`; the table says how it went.
EVENTS_TABLE = ModelTable(
    "webhook events",
    hidden=frozenset(
        {
            "webhook",
            "next_attempt_at",
            "request_headers",
            "request_body",
            "response_headers",
            "response_excerpt",
            "created_at",
            "delivered_at",
        }
    ),
    first=(
        "id",
        "event_id",
        "action",
        "repository",
        "status",
        "attempts",
        "response_status",
        "last_error",
        "duration_ms",
    ),
)


def _print_webhook(hook: Webhook) -> None:
    from dockyard.wire.webhooks import WebhookWithSecret

    if isinstance(hook, WebhookWithSecret):
        WEBHOOK_WITH_SECRET_TABLE.print_one(hook)
        print_secret("secret", hook.secret)
    else:
        WEBHOOK_TABLE.print_one(hook)


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
    with login.api() as api:
        created = api.create_webhook(
            name,
            uri,
            _actions(actions),
            scope or "",
            _headers(headers or []),
            status or "enabled",
        )
    print_answer(created, output, _print_webhook)


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
    changes = (uri, actions, scope, headers, status)
    if all(change is None for change in changes) and not regenerate_secret:
        raise CliError(
            "nothing to change",
            "--uri, --actions, --scope, --headers, --status or --regenerate-secret",
        )
    with login.api() as api:
        updated = api.update_webhook(
            name,
            uri=uri,
            actions=None if actions is None else _actions(actions),
            scope=scope,
            headers=None if headers is None else _headers(headers),
            status=status,
            regenerate_secret=regenerate_secret,
        )
    print_answer(updated, output, _print_webhook)


@webhook_app.command("list")
@remote
def webhook_list(*, login: Login, output: Output) -> None:
    """List webhooks."""
    with login.api() as api:
        webhooks = api.list_webhooks()
    print_answer(webhooks, output, WEBHOOKS_TABLE.print)


@webhook_app.command("show")
@remote
def webhook_show(
    name: NameOption,
    *,
    login: Login,
    output: Output,
) -> None:
    """Show one webhook."""
    with login.api() as api:
        found = api.get_webhook(name)
    print_answer(found, output, WEBHOOK_TABLE.print_one)


@webhook_app.command("delete")
@remote
def webhook_delete(
    name: NameOption,
    yes: YesOption = False,
    *,
    login: Login,
) -> None:
    """Delete a webhook and its deliveries, pending ones included."""
    confirm(f"Delete webhook {name}?", yes)
    with login.api() as api:
        api.delete_webhook(name)
    typer.echo(f"webhook {name} deleted")


@webhook_app.command("ping")
@remote
def webhook_ping(
    name: NameOption,
    *,
    login: Login,
    output: Output,
) -> None:
    """Send a ping event to the webhook now."""
    from dockyard.wire.webhooks import DeliveryStatus

    with login.api() as api:
        delivery = api.ping_webhook(name)
    print_answer(delivery, output, EVENTS_TABLE.print_one)
    if delivery.status != DeliveryStatus.DELIVERED:
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
    with login.api() as api:
        deliveries = api.list_webhook_deliveries(name, limit)
    print_answer(deliveries, output, EVENTS_TABLE.print)
