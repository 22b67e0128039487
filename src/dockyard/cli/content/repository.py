"""`dockyard repository list|show|show-tags|show-manifests|delete|untag|update`, as
`az acr repository` does them, over the registry's ACR data plane (`/acr/v1`)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dockyard.cli.access.common import (
    Column,
    Columns,
    TableView,
    YesOption,
    confirm,
    print_answer,
    print_table,
    when,
)
from dockyard.cli.api_client import body
from dockyard.cli.client import CliError
from dockyard.cli.content.acr import (
    OrderBy,
    OrderByOption,
    Switch,
    TopOption,
    digest_of,
    get_target,
    locked,
    one_image,
    one_repository,
    one_target,
)
from dockyard.cli.content.apps import repository_app
from dockyard.cli.content.views import print_shaped
from dockyard.cli.content_api import acr_api
from dockyard.cli.remote import Login, Output, remote
from dockyard.spec.sizes import human_bytes

if TYPE_CHECKING:
    from dockyard.cli.content.acr import Target
    from dockyard.wire.acr import (
        ArtifactManifestProperties,
        ArtifactTagProperties,
        ContainerRepositoryProperties,
        DeleteRepositoryResult,
        ManifestAttributes,
        ManifestPlatform,
    )

TargetArgument = Annotated[
    str | None,
    typer.Argument(
        metavar="REPOSITORY|IMAGE",
        help="A repository, or an image: repository:tag or repository@digest",
        show_default=False,
    ),
]
RepositoryArgument = Annotated[
    str | None, typer.Argument(metavar="REPOSITORY", help="The repository", show_default=False)
]
RepositoryOption = Annotated[
    str | None, typer.Option("--repository", help="The repository", show_default=False)
]
ImageOption = Annotated[
    str | None,
    typer.Option("--image", "-t", help="repository:tag or repository@digest", show_default=False),
]
DetailOption = Annotated[bool, typer.Option("--detail", help="Every attribute, not only names")]


def _size(count: int | None) -> str:
    return "-" if count is None else human_bytes(count)


def _platform(manifest: ManifestAttributes | ManifestPlatform) -> str:
    if manifest.architecture or manifest.operating_system:
        return f"{manifest.operating_system or '?'}/{manifest.architecture or '?'}"
    return "-"


def _show_repository(answer: ContainerRepositoryProperties) -> None:
    attributes = answer.changeable_attributes
    rows = [
        ("repository", answer.name),
        ("registry", answer.registry),
        ("created", when(answer.created_on)),
        ("last update", when(answer.last_updated_on)),
        ("manifests", answer.manifest_count),
        ("tags", answer.tag_count),
        ("locked", locked(attributes)),
        ("write-once tags", "on" if attributes.tag_immutability else "off"),
    ]
    print_table("repository", ("attribute", "value"), rows)


def _show_tag(answer: ArtifactTagProperties) -> None:
    tag = answer.tag
    rows = [
        ("image", f"{answer.repository}:{tag.name}"),
        ("digest", tag.digest),
        ("created", when(tag.created_on)),
        ("last update", when(tag.last_updated_on)),
        ("locked", locked(tag.changeable_attributes)),
    ]
    print_table("tag", ("attribute", "value"), rows)


def _show_manifest(answer: ArtifactManifestProperties) -> None:
    manifest = answer.manifest
    rows: list[tuple[str, Any]] = [
        ("image", f"{answer.repository}@{manifest.digest}"),
        ("tags", ", ".join(manifest.tags) or "-"),
        ("media type", manifest.media_type),
        ("config media type", manifest.config_media_type or "-"),
        ("platform", _platform(manifest)),
        ("size", _size(manifest.image_size)),
        ("created", when(manifest.created_on)),
        ("last update", when(manifest.last_updated_on)),
        ("locked", locked(manifest.changeable_attributes)),
    ]
    for reference in manifest.references or []:
        rows.append(("platform manifest", f"{reference.digest} ({_platform(reference)})"))
    print_table("manifest", ("attribute", "value"), rows)


def show_target(answer: Target) -> None:
    from dockyard.wire.acr import ArtifactManifestProperties, ArtifactTagProperties

    if isinstance(answer, ArtifactTagProperties):
        _show_tag(answer)
    elif isinstance(answer, ArtifactManifestProperties):
        _show_manifest(answer)
    else:
        _show_repository(answer)


def _order(orderby: OrderBy | None) -> str | None:
    return orderby.acr if orderby else None


# Without --detail, `-o json` is what `az acr repository show-tags|show-manifests` print; the
# tables show the same fields, and with --detail the same fields as the detailed JSON.
TAGS_VIEW = TableView("tags", ("name",), lambda names: [{"name": name} for name in names])
TAGS_DETAIL_VIEW = Columns(
    "tags",
    ("name", "digest", "last_updated_on", "changeable_attributes"),
    {"last_updated_on": when, "changeable_attributes": locked},
)
MANIFESTS_VIEW = TableView(
    "manifests", ("digest", Column("tags", ", ".join), Column("timestamp", when))
)
MANIFESTS_DETAIL_VIEW = Columns(
    "manifests",
    (
        "digest",
        "tags",
        "operating_system",
        "architecture",
        "image_size",
        "last_updated_on",
        "changeable_attributes",
    ),
    {
        "tags": ", ".join,
        "image_size": _size,
        "last_updated_on": when,
        "changeable_attributes": locked,
    },
)


def print_manifests(title: str, found: list[ManifestAttributes]) -> None:
    """Manifests with their attributes, as a table."""
    from dockyard.wire.acr import ManifestAttributes

    replace(MANIFESTS_DETAIL_VIEW, title=title).print_models(ManifestAttributes, found)


@repository_app.command("list")
@remote
def list_repositories(
    top: TopOption = None,
    *,
    login: Login,
    output: Output,
) -> None:
    """List the repositories (those you may read, that are not unlisted)."""
    with acr_api(login) as acr:
        names = acr.list_repositories(top)
    view = TableView("repositories", ("name",), lambda found: [{"name": n} for n in found])
    print_answer(names, output, view.print)


@repository_app.command("show")
@remote
def show(
    target: TargetArgument = None,
    repository: RepositoryOption = None,
    image: ImageOption = None,
    *,
    login: Login,
    output: Output,
) -> None:
    """Show the attributes of a repository, or of an image by tag or digest.

    dockyard repository show team/app; dockyard repository show team/app:v1"""
    with acr_api(login) as acr:
        answer = get_target(acr, one_target(acr.registry, target, repository, image))
    print_shaped(answer, output, show_target)


@repository_app.command("show-tags")
@remote
def show_tags(
    positional: RepositoryArgument = None,
    repository: RepositoryOption = None,
    top: TopOption = None,
    orderby: OrderByOption = None,
    detail: DetailOption = False,
    *,
    login: Login,
    output: Output,
) -> None:
    """List a repository's tags, by name or by last update (--detail: digests, times, locks)."""
    from dockyard.wire.acr import TagAttributes

    with acr_api(login) as acr:
        name = one_repository(acr.registry, positional, repository)
        found = acr.list_tags(name, top, _order(orderby))
    title = f"tags of {name}"
    if detail:
        detail_view = replace(TAGS_DETAIL_VIEW, title=title)
        print_shaped(found, output, lambda tags: detail_view.print_models(TagAttributes, tags))
    else:
        print_answer([tag.name for tag in found], output, replace(TAGS_VIEW, title=title).print)


@repository_app.command("show-manifests")
@remote
def show_manifests(
    positional: RepositoryArgument = None,
    repository: RepositoryOption = None,
    top: TopOption = None,
    orderby: OrderByOption = None,
    detail: DetailOption = False,
    *,
    login: Login,
    output: Output,
) -> None:
    """List a repository's manifests with their tags, by digest or by last update (--detail:
    platforms, sizes, locks)."""
    with acr_api(login) as acr:
        name = one_repository(acr.registry, positional, repository)
        found = acr.list_manifests(name, top, _order(orderby))
    title = f"manifests of {name}"
    if detail:
        print_shaped(found, output, lambda manifests: print_manifests(title, manifests))
    else:
        brief = [_brief(manifest) for manifest in found]
        print_answer(brief, output, replace(MANIFESTS_VIEW, title=title).print)


def _brief(manifest: ManifestAttributes) -> dict[str, Any]:
    """What `az acr repository show-manifests` prints of a manifest without --detail."""
    return {
        "digest": manifest.digest,
        "tags": manifest.tags,
        "timestamp": manifest.last_updated_on,
    }


@repository_app.command("delete")
@remote
def delete(
    target: TargetArgument = None,
    repository: RepositoryOption = None,
    image: ImageOption = None,
    yes: YesOption = False,
    *,
    login: Login,
    output: Output,
) -> None:
    """Delete a repository, or an image: the manifest (by tag or digest) and every tag on it."""
    with acr_api(login) as acr:
        chosen = one_target(acr.registry, target, repository, image)
        if isinstance(chosen, str):
            confirm(f"Delete repository {chosen!r} with all its images?", yes)
            answer = acr.delete_repository(chosen)
            print_shaped(answer, output, lambda a: _deleted_repository(chosen, a))
            return
        digest = digest_of(acr, chosen)
        confirm(f"Delete manifest {chosen.repository}@{digest} and every tag on it?", yes)
        acr.delete_manifest(chosen.repository, digest)
    gone = f"{chosen.repository}@{digest}"
    print_answer({"deleted": gone}, output, lambda _: typer.echo(f"deleted {gone}"))


def _deleted_repository(name: str, answer: DeleteRepositoryResult) -> None:
    manifests, tags = answer.deleted_manifests, answer.deleted_tags
    typer.echo(f"deleted repository {name}: {len(manifests)} manifests, {len(tags)} tags")


@repository_app.command("untag")
@remote
def untag(
    positional: Annotated[
        str | None, typer.Argument(metavar="IMAGE", help="repository:tag", show_default=False)
    ] = None,
    image: Annotated[
        str | None, typer.Option("--image", "-t", help="repository:tag", show_default=False)
    ] = None,
    *,
    login: Login,
) -> None:
    """Remove a tag; the manifest it pointed at stays."""
    with acr_api(login) as acr:
        target = one_image(acr.registry, positional, image)
        if target.tag is None:
            raise CliError(f"{target} names a digest; untag takes repository:tag")
        acr.delete_tag(target.repository, target.tag)
    typer.echo(f"untagged {target}")


def _switch(value: Switch | None) -> bool | None:
    return None if value is None else value == Switch.true


@repository_app.command("update")
@remote
def update(
    target: TargetArgument = None,
    repository: RepositoryOption = None,
    image: ImageOption = None,
    delete_enabled: Annotated[
        Switch | None, typer.Option("--delete-enabled", help="May it be deleted")
    ] = None,
    write_enabled: Annotated[
        Switch | None, typer.Option("--write-enabled", help="May it be written (pushed, moved)")
    ] = None,
    read_enabled: Annotated[
        Switch | None, typer.Option("--read-enabled", help="May it be pulled")
    ] = None,
    list_enabled: Annotated[
        Switch | None, typer.Option("--list-enabled", help="Is it listed")
    ] = None,
    immutable_tags: Annotated[
        bool | None,
        typer.Option(
            "--immutable-tags/--mutable-tags",
            help="Make the repository's tags write-once (repositories only)",
        ),
    ] = None,
    *,
    login: Login,
    output: Output,
) -> None:
    """Lock or unlock a repository, or an image by tag or digest (its changeable attributes)."""
    from dockyard.wire.acr import RepositoryWriteableProperties, WriteableProperties

    changes = RepositoryWriteableProperties.model_construct(
        delete_enabled=_switch(delete_enabled),
        write_enabled=_switch(write_enabled),
        read_enabled=_switch(read_enabled),
        list_enabled=_switch(list_enabled),
        tag_immutability=immutable_tags,
    )
    locks = WriteableProperties.model_construct(
        **changes.model_dump(include=set(WriteableProperties.model_fields))
    )
    if not body(changes):
        raise CliError(
            "nothing to change",
            "give --delete-enabled, --write-enabled, --read-enabled or --list-enabled",
        )
    with acr_api(login) as acr:
        chosen = one_target(acr.registry, target, repository, image)
        answer: Target
        if isinstance(chosen, str):
            answer = acr.update_repository(chosen, changes)
        elif immutable_tags is not None:
            raise CliError(
                "--immutable-tags applies to a repository (REPOSITORY or --repository), "
                "not to an image"
            )
        elif chosen.digest is not None:
            answer = acr.update_manifest(chosen.repository, chosen.digest, locks)
        else:
            answer = acr.update_tag(chosen.repository, str(chosen.tag), locks)
    print_shaped(answer, output, show_target)
