"""How commands take their arguments, the same way across the CLI.

- What a command acts on may come first, as a positional argument, where `az acr` users write
  it (`dockyard repository show team/app`, `dockyard manifest show team/app:v1`), or through
  its option (`--repository team/app`, `--image team/app:v1`); `one_of` takes whichever was
  given.
- One concept has one option name everywhere (`--repository`, `--image`, `--name`,
  `--assignee`, `--top`). Older or `az`-style spellings keep working as hidden aliases:
  `aliased` makes a command class that rewrites them before click parses the line, so they
  never show in `--help`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import typer
from typer.core import TyperCommand

from dockyard.cli.client import CliError, registry_host

if TYPE_CHECKING:
    # Typer's own copy of click, whose Context its commands take.
    from typer._click.core import Context

# An alias whose target is this is replaced by its value alone: the positional argument.
POSITIONAL = ""


def rewrite_aliases(args: list[str], aliases: Mapping[str, str]) -> list[str]:
    """`args` with each hidden alias replaced by the option it stands for (`--old v` and
    `--old=v`), or by its value alone when it stands for the positional argument. Nothing
    after `--` is touched."""
    rewritten: list[str] = []
    position = 0
    while position < len(args):
        arg = args[position]
        position += 1
        if arg == "--":
            rewritten += args[position - 1 :]
            break
        name, equals, value = arg.partition("=")
        target = aliases.get(name) if name.startswith("-") else None
        if target is None:
            rewritten.append(arg)
        elif target != POSITIONAL:
            rewritten.append(f"{target}={value}" if equals else target)
        elif equals:
            rewritten.append(value)
        elif position < len(args):
            rewritten.append(args[position])
            position += 1
        else:
            raise CliError(f"{name} needs a value")
    return rewritten


def aliased(aliases: Mapping[str, str]) -> type[TyperCommand]:
    """A command class that accepts the hidden `aliases` ({"--old": "--new"}; "--new" is
    `POSITIONAL` for the positional argument)."""

    class AliasedCommand(TyperCommand):
        hidden_aliases = dict(aliases)

        def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
            try:
                args = rewrite_aliases(args, self.hidden_aliases)
            except CliError as exc:
                raise typer.BadParameter(exc.message, ctx) from None
            return super().parse_args(ctx, args)

    return AliasedCommand


def one_of(what: str, *given: tuple[str, str | None]) -> str:
    """The value of `what` given one way: as the positional argument or one of its options,
    each given as (how it is spelled, its value or None)."""
    values = {value for _, value in given if value is not None}
    spellings = " or ".join(label for label, _ in given)
    if not values:
        raise CliError(f"which {what}?", f"give it as {spellings}")
    if len(values) > 1:
        raise CliError(f"{what} given twice, differently", f"give it once, as {spellings}")
    return values.pop()


def without_registry_host(reference: str, registry: str) -> str:
    """`reference` without a leading `<this registry's host>/`, as docker and `az acr`
    users write images (`myregistry.example.com/team/app:v1`)."""
    return reference.removeprefix(registry_host(registry) + "/")
