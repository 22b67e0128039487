"""Content commands, in the spirit of `az acr`: repositories and their locks, manifests, purge,
import, usage, and the registry's tier and policies. Like the access-control commands they
talk to a running registry over HTTP (`/acr/v1` and `/api/v1`)."""

from __future__ import annotations

import typer

from dockyard.cli.content import imports, manifests, purge, recycle, registry, repository
from dockyard.cli.content.apps import manifest_app, registry_app, repository_app
from dockyard.cli.content.usage import show_usage

# Imported for the commands they add to the groups.
__all__ = ["manifests", "recycle", "registry", "repository"]


def register(app: typer.Typer) -> None:
    """Add the content commands to the `dockyard` command."""
    app.add_typer(repository_app, name="repository")
    app.add_typer(manifest_app, name="manifest")
    app.add_typer(registry_app, name="registry")
    # `import` is a keyword, so the function has another name.
    app.command("import")(imports.import_image)
    app.command("show-usage")(show_usage)
    app.command("purge")(purge.purge)
