"""`dockyard manifest list-referrers`: what refers to an image (signatures, SBOMs, ...)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dockyard.cli.access.common import (
    Login,
    Output,
    OutputOption,
    PasswordOption,
    RegistryOption,
    UsernameOption,
    print_answer,
    print_table,
    reports_errors,
)
from dockyard.cli.content.acr import ImageReference, acr_call
from dockyard.cli.content.apps import manifest_app


def _show_referrers(answer: dict[str, Any]) -> None:
    rows = [
        (
            referrer["digest"],
            referrer.get("artifactType") or "-",
            referrer["mediaType"],
            referrer["size"],
        )
        for referrer in answer["manifests"]
    ]
    print_table(
        f"referrers of {answer['subject']}", ("digest", "artifact type", "media type", "size"), rows
    )


@manifest_app.command("list-referrers")
@reports_errors
def list_referrers(
    name: Annotated[str, typer.Option("--name", "-n", help="repository@digest or repository:tag")],
    artifact_type: Annotated[
        str | None, typer.Option("--artifact-type", help="Only referrers of this type")
    ] = None,
    registry: RegistryOption = None,
    username: UsernameOption = None,
    password: PasswordOption = None,
    output: OutputOption = Output.table,
) -> None:
    """List the manifests whose subject is this image (OCI referrers API)."""
    target = ImageReference.parse(name, "--name")
    params = {"artifactType": artifact_type} if artifact_type else None
    with Login(registry, username, password).connect() as api:
        digest = target.digest
        if digest is None:
            digest = acr_call(api, "GET", target.path)["tag"]["digest"]
        index = api.call(
            "GET", f"{api.registry}/v2/{target.repository}/referrers/{digest}", params=params
        )
    answer = {"subject": f"{target.repository}@{digest}", "manifests": index["manifests"]}
    print_answer(answer, output, _show_referrers)
