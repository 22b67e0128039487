"""`dockyard network-rule add|list|remove`: the IP addresses and CIDR ranges let in when the
registry's default action is Deny, as `az acr network-rule`. The default action is set with
`dockyard registry update --default-action Allow|Deny` (`az acr update --default-action`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from dockyard.cli.access.common import ModelTable, print_answer
from dockyard.cli.remote import Login, Output, remote

if TYPE_CHECKING:
    from dockyard.wire.network_rules import NetworkRuleSetModel

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


def _show(rules: NetworkRuleSetModel) -> None:
    from dockyard.wire.network_rules import IpRule

    table = ModelTable(f"network rules (default action: {rules.default_action})")
    table.print_models(IpRule, rules.ip_rules)


@network_rule_app.command("list")
@remote
def list_rules(*, login: Login, output: Output) -> None:
    """List the IP rules and the default action."""
    with login.api() as api:
        answer = api.get_network_rules()
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
    with login.api() as api:
        answer = api.add_network_rule(ip_address)
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
    with login.api() as api:
        answer = api.remove_network_rule(ip_address)
    print_answer(answer, output, _show)
