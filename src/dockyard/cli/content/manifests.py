"""`dockyard manifest show|show-metadata|list-metadata|list-referrers`, as `az acr manifest`
has them: a manifest itself, its attributes, a repository's manifests, and what refers to an
image (signatures, SBOMs, ...)."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

import typer

from dockyard.cli.access.common import (
    Column,
    TableView,
    print_answer,
    print_json,
)
from dockyard.cli.content.acr import (
    OrderByOption,
    TopOption,
    digest_of,
    get_target,
    one_image,
    one_repository,
)
from dockyard.cli.content.apps import manifest_app
from dockyard.cli.content.repository import (
    ImageOption,
    RepositoryArgument,
    RepositoryOption,
    print_manifests,
    show_target,
)
from dockyard.cli.content.views import print_shaped
from dockyard.cli.content_api import acr_api
from dockyard.cli.conventions import POSITIONAL, aliased
from dockyard.cli.remote import Login, Output, remote
from dockyard.spec.mediatypes import MANIFESTS

# `az acr manifest` names the image or repository with -n/--name; here it comes first, or with
# --image / --repository, and -n/--name still works.
NAME_ALIASES = aliased({"--name": POSITIONAL, "-n": POSITIONAL})
ImageArgument = Annotated[
    str | None,
    typer.Argument(metavar="IMAGE", help="repository:tag or repository@digest", show_default=False),
]
REFERRERS_VIEW = TableView(
    "referrers",
    ("digest", Column("artifactType", lambda kind: kind or "-"), "mediaType", "size"),
    lambda answer: answer["manifests"],
)
# Every manifest type, so that the registry answers the manifest as it was pushed.
ACCEPT = ", ".join(sorted(MANIFESTS))


@manifest_app.command("show", cls=NAME_ALIASES)
@remote
def show(
    positional: ImageArgument = None,
    image: ImageOption = None,
    *,
    login: Login,
) -> None:
    """Print an image's manifest, as the registry stores it (JSON).

    dockyard manifest show team/app:v1"""
    with login.connect() as api:
        target = one_image(api.registry, positional, image)
        reference = target.digest or target.tag
        manifest = api.call(
            "GET",
            f"{api.registry}/v2/{target.repository}/manifests/{reference}",
            headers={"Accept": ACCEPT},
        )
    print_json(manifest)


@manifest_app.command("show-metadata", cls=NAME_ALIASES)
@remote
def show_metadata(
    positional: ImageArgument = None,
    image: ImageOption = None,
    *,
    login: Login,
    output: Output,
) -> None:
    """Show the attributes of an image, by tag or by digest."""
    with acr_api(login) as acr:
        answer = get_target(acr, one_image(acr.registry, positional, image))
    print_shaped(answer, output, show_target)


@manifest_app.command("list-metadata", cls=NAME_ALIASES)
@remote
def list_metadata(
    positional: RepositoryArgument = None,
    repository: RepositoryOption = None,
    top: TopOption = None,
    orderby: OrderByOption = None,
    *,
    login: Login,
    output: Output,
) -> None:
    """List a repository's manifests with their attributes."""
    with acr_api(login) as acr:
        name = one_repository(acr.registry, positional, repository)
        found = acr.list_manifests(name, top, orderby.acr if orderby else None)
    print_shaped(
        found, output, lambda manifests: print_manifests(f"manifests of {name}", manifests)
    )


@manifest_app.command("list-referrers", cls=NAME_ALIASES)
@remote
def list_referrers(
    positional: ImageArgument = None,
    image: ImageOption = None,
    artifact_type: Annotated[
        str | None, typer.Option("--artifact-type", help="Only referrers of this type")
    ] = None,
    *,
    login: Login,
    output: Output,
) -> None:
    """List the manifests whose subject is this image (OCI referrers API)."""
    params = {"artifactType": artifact_type} if artifact_type else None
    with acr_api(login) as acr:
        target = one_image(acr.registry, positional, image)
        digest = digest_of(acr, target)
        # The OCI image index of the referrers API, as the distribution spec writes it.
        index = acr.http.call(
            "GET", f"{acr.registry}/v2/{target.repository}/referrers/{digest}", params=params
        )
    subject = f"{target.repository}@{digest}"
    answer: dict[str, Any] = {"subject": subject, "manifests": index["manifests"]}
    print_answer(answer, output, replace(REFERRERS_VIEW, title=f"referrers of {subject}").print)
