"""`dockyard network-rule add|list|remove`: the IP addresses and CIDR ranges let in when the
registry's default action is Deny, as `az acr network-rule`. The default action is set with
`dockyard registry update --default-action Allow|Deny` (`az acr update --default-action`)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dockyard.cli.access.common import (
    TableView,
    print_answer,
)
from dockyard.cli.remote import Login, Output, remote

network_rule_app = typer.Typer(
    help="Network rules: the IP addresses and ranges allowed in when the default action is "
    "Deny (Premium).",
    no_args_is_help=True,
)

IpAddressOption = Annotated[
    str,
    typer.Option(
        "--ip-address",
        help="An IPv4 or IPv6 address, or a CIDR range (e.g. 10.0.0.0/24)",
        show_default=False,
    ),
]


def _show(answer: dict[str, Any]) -> None:
    TableView(
        f"network rules (default action: {answer['default_action']})",
        ("action", "ip_address_or_range"),
        lambda found: found["ip_rules"],
    ).print(answer)


@network_rule_app.command("list")
@remote
def list_rules(*, login: Login, output: Output) -> None:
    """List the IP rules and the default action."""
    with login.connect() as api:
        answer = api.get("/network-rules")
    print_answer(answer, output, _show)


@network_rule_app.command("add")
@remote
def add(
    ip_address: IpAddressOption,
    *,
    login: Login,
    output: Output,
) -> None:
    """Allow an IP address or CIDR range."""
    with login.connect() as api:
        answer = api.post("/network-rules", {"ip_address_or_range": ip_address})
    print_answer(answer, output, _show)


@network_rule_app.command("remove")
@remote
def remove(
    ip_address: IpAddressOption,
    *,
    login: Login,
    output: Output,
) -> None:
    """Remove the rule for an IP address or CIDR range."""
    with login.connect() as api:
        answer = api.call("DELETE", "/network-rules", params={"ip_address_or_range": ip_address})
    print_answer(answer, output, _show)
