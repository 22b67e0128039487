"""The command groups of the content commands; each module adds its commands to them."""

from __future__ import annotations

import typer

repository_app = typer.Typer(
    help="Repositories: list, show, tags, manifests, locks, delete.", no_args_is_help=True
)
manifest_app = typer.Typer(help="Manifests: referrers, deleted manifests.", no_args_is_help=True)
registry_app = typer.Typer(help="The registry: its tier (SKU) and policies.", no_args_is_help=True)
