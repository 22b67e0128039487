"""`dockyard manifest list-deleted | list-deleted-tags | restore`: the recycle bin of
soft-deleted manifests and tags, as `az acr manifest` has it.

The repository (`team/app`, or `team/app:v1` for one tag) comes first, or with --repository
(--image for repository:tag); `-n/--name`, the first spelling, still works."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Annotated

import typer

from dockyard.cli.access.common import Columns, print_answer, print_table, when
from dockyard.cli.client import CliError
from dockyard.cli.content.acr import one_repository, one_target
from dockyard.cli.content.apps import manifest_app
from dockyard.cli.content.manifests import NAME_ALIASES
from dockyard.cli.content.repository import RepositoryOption
from dockyard.cli.content_api import content_api
from dockyard.cli.remote import Login, Output, remote

if TYPE_CHECKING:
    from dockyard.wire.recycle_bin import DeletedManifests, DeletedTags, Restored

ImageOption = Annotated[
    str | None,
    typer.Option("--image", "-t", help="repository:tag: only that tag", show_default=False),
]
NameArgument = Annotated[
    str | None,
    typer.Argument(
        metavar="REPOSITORY[:TAG]",
        help="The repository, or repository:tag for only that tag",
        show_default=False,
    ),
]


def _repository_and_tag(
    registry: str, positional: str | None, repository: str | None, image: str | None
) -> tuple[str, str | None]:
    """The repository (and maybe tag) a recycle-bin command is about: REPOSITORY[:TAG] first,
    or --repository, or --image repository:tag."""
    target = one_target(registry, positional, repository, image)
    if isinstance(target, str):
        return target, None
    if target.tag is None:
        raise CliError(f"{target} names a digest: give the repository and --digest")
    return target.repository, target.tag


DELETED_MANIFESTS_VIEW = Columns(
    "deleted manifests",
    ("digest", "media_type", "size", "tags", "deleted_at", "expires_at"),
    {"tags": lambda tags: ", ".join(tags) or "-", "deleted_at": when, "expires_at": when},
)
DELETED_TAGS_VIEW = Columns(
    "deleted tags",
    ("tag", "digest", "deleted_at", "expires_at"),
    {"deleted_at": when, "expires_at": when},
)


def _show_deleted_manifests(answer: DeletedManifests) -> None:
    from dockyard.wire.recycle_bin import DeletedManifest

    title = f"deleted manifests of {answer.repository}"
    replace(DELETED_MANIFESTS_VIEW, title=title).print_models(DeletedManifest, answer.manifests)


def _show_deleted_tags(answer: DeletedTags) -> None:
    from dockyard.wire.recycle_bin import DeletedTag

    title = f"deleted tags of {answer.repository}"
    replace(DELETED_TAGS_VIEW, title=title).print_models(DeletedTag, answer.tags)


def _show_restored(answer: Restored) -> None:
    rows = [
        ("repository", answer.repository),
        ("digest", answer.digest),
        ("manifest", "restored" if answer.manifest_restored else "was present"),
        ("tags", ", ".join(answer.tags) or "-"),
    ]
    if answer.moved:
        rows.append(("moved (force)", ", ".join(answer.moved)))
    if answer.skipped:
        rows.append(("left (point elsewhere; use --force)", ", ".join(answer.skipped)))
    print_table("restored", ("", ""), rows)


@manifest_app.command("list-deleted", cls=NAME_ALIASES)
@remote
def list_deleted(
    positional: Annotated[
        str | None, typer.Argument(metavar="REPOSITORY", help="The repository", show_default=False)
    ] = None,
    repository: RepositoryOption = None,
    *,
    login: Login,
    output: Output,
) -> None:
    """List the soft-deleted manifests of a repository (also of a deleted repository)."""
    with content_api(login) as api:
        name = one_repository(api.registry, positional, repository)
        answer = api.list_deleted_manifests(name)
    print_answer(answer, output, _show_deleted_manifests)


@manifest_app.command("list-deleted-tags", cls=NAME_ALIASES)
@remote
def list_deleted_tags(
    positional: NameArgument = None,
    repository: RepositoryOption = None,
    image: ImageOption = None,
    *,
    login: Login,
    output: Output,
) -> None:
    """List the soft-deleted tags of a repository.

    Both the tags deleted on their own and the tags of deleted manifests."""
    with content_api(login) as api:
        name, tag = _repository_and_tag(api.registry, positional, repository, image)
        answer = api.list_deleted_tags(name, tag)
    print_answer(answer, output, _show_deleted_tags)


@manifest_app.command("restore", cls=NAME_ALIASES)
@remote
def restore(
    positional: NameArgument = None,
    repository: RepositoryOption = None,
    image: ImageOption = None,
    digest: Annotated[
        str | None,
        typer.Option(
            "--digest", "-d", help="The manifest; without it, the latest deleted with the tag"
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Move tags that now point at another manifest")
    ] = False,
    *,
    login: Login,
    output: Output,
) -> None:
    """Restore a soft-deleted manifest (same digest, same bytes) with its deleted tags.

    With repo:tag only that tag comes back; without --digest, onto the manifest most
    recently deleted with it. A tag that now points elsewhere is moved only with --force."""
    with content_api(login) as api:
        name, tag = _repository_and_tag(api.registry, positional, repository, image)
        if digest is None and tag is None:
            raise CliError("give --digest, or a tag: repository:tag")
        answer = api.restore(name, digest, tag, force)
    print_answer(answer, output, _show_restored)
