"""`dockyard repository list|show|show-tags|show-manifests|delete|untag|update`, as
`az acr repository` does them, over the registry's ACR data plane (`/acr/v1`)."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

import typer

from dockyard.cli.access.common import (
    Column,
    TableView,
    YesOption,
    confirm,
    print_answer,
    print_table,
    when,
)
from dockyard.cli.client import CliError, ManagementClient
from dockyard.cli.content.acr import (
    ImageReference,
    OrderBy,
    OrderByOption,
    Switch,
    TopOption,
    acr_call,
    fetch_all,
    locked,
    one_image,
    one_repository,
    one_target,
)
from dockyard.cli.content.apps import repository_app
from dockyard.cli.remote import Login, Output, remote
from dockyard.spec.sizes import human_bytes

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


def _platform(manifest: dict[str, Any]) -> str:
    if manifest.get("architecture") or manifest.get("os"):
        return f"{manifest.get('os') or '?'}/{manifest.get('architecture') or '?'}"
    return "-"


def _show_repository(answer: dict[str, Any]) -> None:
    attributes = answer["changeableAttributes"]
    rows = [
        ("repository", answer["imageName"]),
        ("registry", answer["registry"]),
        ("created", when(answer["createdTime"])),
        ("last update", when(answer["lastUpdateTime"])),
        ("manifests", answer["manifestCount"]),
        ("tags", answer["tagCount"]),
        ("locked", locked(attributes)),
        ("write-once tags", "on" if attributes.get("tagImmutability") else "off"),
    ]
    print_table("repository", ("attribute", "value"), rows)


def _show_tag(answer: dict[str, Any]) -> None:
    tag = answer["tag"]
    rows = [
        ("image", f"{answer['imageName']}:{tag['name']}"),
        ("digest", tag["digest"]),
        ("created", when(tag["createdTime"])),
        ("last update", when(tag["lastUpdateTime"])),
        ("locked", locked(tag["changeableAttributes"])),
    ]
    print_table("tag", ("attribute", "value"), rows)


def _show_manifest(answer: dict[str, Any]) -> None:
    manifest = answer["manifest"]
    rows = [
        ("image", f"{answer['imageName']}@{manifest['digest']}"),
        ("tags", ", ".join(manifest["tags"]) or "-"),
        ("media type", manifest["mediaType"]),
        ("config media type", manifest.get("configMediaType") or "-"),
        ("platform", _platform(manifest)),
        ("size", _size(manifest.get("imageSize"))),
        ("created", when(manifest["createdTime"])),
        ("last update", when(manifest["lastUpdateTime"])),
        ("locked", locked(manifest["changeableAttributes"])),
    ]
    for reference in manifest.get("references", []):
        rows.append(("platform manifest", f"{reference['digest']} ({_platform(reference)})"))
    print_table("manifest", ("attribute", "value"), rows)


def show_target(answer: dict[str, Any]) -> None:
    if "tag" in answer:
        _show_tag(answer)
    elif "manifest" in answer:
        _show_manifest(answer)
    else:
        _show_repository(answer)


def _target_path(target: ImageReference | str) -> str:
    return target.path if isinstance(target, ImageReference) else target


def _locks(attributes: dict[str, Any]) -> str:
    return locked(attributes or {})


# Without --detail, `-o json` is what `az acr repository show-tags|show-manifests` print; the
# tables show the same fields, and with --detail the same fields as the detailed JSON.
TAGS_VIEW = TableView("tags", ("name",), lambda names: [{"name": name} for name in names])
TAGS_DETAIL_VIEW = TableView(
    "tags",
    (
        "name",
        "digest",
        Column("lastUpdateTime", when),
        Column("changeableAttributes", _locks),
    ),
)
MANIFESTS_VIEW = TableView(
    "manifests", ("digest", Column("tags", ", ".join), Column("timestamp", when))
)
MANIFESTS_DETAIL_VIEW = TableView(
    "manifests",
    (
        "digest",
        Column("tags", ", ".join),
        "os",
        "architecture",
        Column("imageSize", _size),
        Column("lastUpdateTime", when),
        Column("changeableAttributes", _locks),
    ),
)


@repository_app.command("list")
@remote
def list_repositories(
    top: TopOption = None,
    *,
    login: Login,
    output: Output,
) -> None:
    """List the repositories (those you may read, that are not unlisted)."""
    with login.connect() as api:
        names = fetch_all(api, "_catalog", "repositories", str, top)
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
    with login.connect() as api:
        chosen = one_target(api.registry, target, repository, image)
        answer = acr_call(api, "GET", _target_path(chosen))
    print_answer(answer, output, show_target)


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
    params = {"orderby": orderby.acr} if orderby else {}
    with login.connect() as api:
        name = one_repository(api.registry, positional, repository)
        found = fetch_all(api, f"{name}/_tags", "tags", lambda t: t["name"], top, params)
    answer = found if detail else [t["name"] for t in found]
    view = TAGS_DETAIL_VIEW if detail else TAGS_VIEW
    print_answer(answer, output, replace(view, title=f"tags of {name}").print)


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
    with login.connect() as api:
        name = one_repository(api.registry, positional, repository)
        found = list_manifests(api, name, top, orderby)
    answer = found if detail else [_brief(m) for m in found]
    view = MANIFESTS_DETAIL_VIEW if detail else MANIFESTS_VIEW
    print_answer(answer, output, replace(view, title=f"manifests of {name}").print)


def list_manifests(
    api: ManagementClient, repository: str, top: int | None, orderby: OrderBy | None
) -> list[dict[str, Any]]:
    """A repository's manifests with every attribute (`/acr/v1/<repo>/_manifests`)."""
    params = {"orderby": orderby.acr} if orderby else {}
    return fetch_all(
        api, f"{repository}/_manifests", "manifests", lambda m: m["digest"], top, params
    )


def _brief(manifest: dict[str, Any]) -> dict[str, Any]:
    """What `az acr repository show-manifests` prints of a manifest without --detail."""
    return {
        "digest": manifest["digest"],
        "tags": manifest["tags"],
        "timestamp": manifest["lastUpdateTime"],
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
    with login.connect() as api:
        chosen = one_target(api.registry, target, repository, image)
        if isinstance(chosen, str):
            confirm(f"Delete repository {chosen!r} with all its images?", yes)
            answer = acr_call(api, "DELETE", chosen)
            print_answer(answer, output, lambda a: _deleted_repository(chosen, a))
            return
        digest = chosen.digest
        if digest is None:
            digest = acr_call(api, "GET", chosen.path)["tag"]["digest"]
        confirm(f"Delete manifest {chosen.repository}@{digest} and every tag on it?", yes)
        acr_call(api, "DELETE", f"{chosen.repository}/_manifests/{digest}")
    gone = f"{chosen.repository}@{digest}"
    print_answer({"deleted": gone}, output, lambda _: typer.echo(f"deleted {gone}"))


def _deleted_repository(name: str, answer: dict[str, Any]) -> None:
    manifests = answer.get("manifestsDeleted", [])
    tags = answer.get("tagsDeleted", [])
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
    with login.connect() as api:
        target = one_image(api.registry, positional, image)
        if target.tag is None:
            raise CliError(f"{target} names a digest; untag takes repository:tag")
        acr_call(api, "DELETE", target.path)
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
    body: dict[str, bool] = {}
    for key, value in (
        ("deleteEnabled", delete_enabled),
        ("writeEnabled", write_enabled),
        ("readEnabled", read_enabled),
        ("listEnabled", list_enabled),
    ):
        flag = _switch(value)
        if flag is not None:
            body[key] = flag
    if not body and immutable_tags is None:
        raise CliError(
            "nothing to change",
            "give --delete-enabled, --write-enabled, --read-enabled or --list-enabled",
        )
    with login.connect() as api:
        chosen = one_target(api.registry, target, repository, image)
        if immutable_tags is not None:
            if isinstance(chosen, ImageReference):
                raise CliError(
                    "--immutable-tags applies to a repository (REPOSITORY or --repository), "
                    "not to an image"
                )
            body["tagImmutability"] = immutable_tags
        answer = acr_call(api, "PATCH", _target_path(chosen), body)
    print_answer(answer, output, show_target)
