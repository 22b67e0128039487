"""`dockyard repository list|show|show-tags|show-manifests|delete|untag|update`, as
`az acr repository` does them, over the registry's ACR data plane (`/acr/v1`)."""

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
    YesOption,
    confirm,
    print_answer,
    print_json,
    print_table,
    reports_errors,
    when,
)
from dockyard.cli.client import CliError
from dockyard.cli.content.acr import (
    ImageReference,
    OrderByOption,
    Switch,
    TopOption,
    acr_call,
    fetch_all,
    locked,
    one_target,
)
from dockyard.cli.content.apps import repository_app
from dockyard.spec.sizes import human_bytes

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


def _show_target(answer: dict[str, Any]) -> None:
    if "tag" in answer:
        _show_tag(answer)
    elif "manifest" in answer:
        _show_manifest(answer)
    else:
        _show_repository(answer)


def _target_path(target: ImageReference | str) -> str:
    return target.path if isinstance(target, ImageReference) else target


@repository_app.command("list")
@reports_errors
def list_repositories(
    top: TopOption = None,
    registry: RegistryOption = None,
    username: UsernameOption = None,
    password: PasswordOption = None,
    output: OutputOption = Output.table,
) -> None:
    """List the repositories (those you may read, that are not unlisted)."""
    with Login(registry, username, password).connect() as api:
        names = fetch_all(api, "_catalog", "repositories", str, top)
    print_answer(names, output, lambda n: print_table("repositories", ("name",), [(x,) for x in n]))


@repository_app.command("show")
@reports_errors
def show(
    repository: RepositoryOption = None,
    image: ImageOption = None,
    registry: RegistryOption = None,
    username: UsernameOption = None,
    password: PasswordOption = None,
    output: OutputOption = Output.table,
) -> None:
    """Show the attributes of a repository, or of an image by tag or digest."""
    target = one_target(repository, image)
    with Login(registry, username, password).connect() as api:
        answer = acr_call(api, "GET", _target_path(target))
    print_answer(answer, output, _show_target)


@repository_app.command("show-tags")
@reports_errors
def show_tags(
    repository: Annotated[str, typer.Option("--repository", help="The repository")],
    top: TopOption = None,
    orderby: OrderByOption = None,
    detail: DetailOption = False,
    registry: RegistryOption = None,
    username: UsernameOption = None,
    password: PasswordOption = None,
    output: OutputOption = Output.table,
) -> None:
    """List a repository's tags, by name or by last update."""
    params = {"orderby": orderby.acr} if orderby else {}
    with Login(registry, username, password).connect() as api:
        found = fetch_all(api, f"{repository}/_tags", "tags", lambda t: t["name"], top, params)
    if output == Output.json:
        print_json(found if detail else [t["name"] for t in found])
        return
    rows = [
        (t["name"], t["digest"], when(t["lastUpdateTime"]), locked(t["changeableAttributes"]))
        for t in found
    ]
    print_table(f"tags of {repository}", ("tag", "digest", "last update", "locked"), rows)


@repository_app.command("show-manifests")
@reports_errors
def show_manifests(
    repository: Annotated[str, typer.Option("--repository", help="The repository")],
    top: TopOption = None,
    orderby: OrderByOption = None,
    detail: DetailOption = False,
    registry: RegistryOption = None,
    username: UsernameOption = None,
    password: PasswordOption = None,
    output: OutputOption = Output.table,
) -> None:
    """List a repository's manifests with their tags, by digest or by last update."""
    params = {"orderby": orderby.acr} if orderby else {}
    with Login(registry, username, password).connect() as api:
        found = fetch_all(
            api, f"{repository}/_manifests", "manifests", lambda m: m["digest"], top, params
        )
    if output == Output.json:
        brief = [
            {"digest": m["digest"], "tags": m["tags"], "timestamp": m["lastUpdateTime"]}
            for m in found
        ]
        print_json(found if detail else brief)
        return
    rows = [
        (
            m["digest"],
            ", ".join(m["tags"]) or "-",
            _platform(m),
            _size(m.get("imageSize")),
            when(m["lastUpdateTime"]),
            locked(m["changeableAttributes"]),
        )
        for m in found
    ]
    columns = ("digest", "tags", "platform", "size", "last update", "locked")
    print_table(f"manifests of {repository}", columns, rows)


@repository_app.command("delete")
@reports_errors
def delete(
    repository: RepositoryOption = None,
    image: ImageOption = None,
    yes: YesOption = False,
    registry: RegistryOption = None,
    username: UsernameOption = None,
    password: PasswordOption = None,
    output: OutputOption = Output.table,
) -> None:
    """Delete a repository, or an image: the manifest (by tag or digest) and every tag on it."""
    target = one_target(repository, image)
    with Login(registry, username, password).connect() as api:
        if isinstance(target, str):
            confirm(f"Delete repository {target!r} with all its images?", yes)
            answer = acr_call(api, "DELETE", target)
            print_answer(answer, output, lambda a: _deleted_repository(target, a))
            return
        digest = target.digest
        if digest is None:
            digest = acr_call(api, "GET", target.path)["tag"]["digest"]
        confirm(f"Delete manifest {target.repository}@{digest} and every tag on it?", yes)
        acr_call(api, "DELETE", f"{target.repository}/_manifests/{digest}")
    print_answer(
        {"deleted": f"{target.repository}@{digest}"},
        output,
        lambda _: typer.echo(f"deleted {target.repository}@{digest}"),
    )


def _deleted_repository(name: str, answer: dict[str, Any]) -> None:
    manifests = answer.get("manifestsDeleted", [])
    tags = answer.get("tagsDeleted", [])
    typer.echo(f"deleted repository {name}: {len(manifests)} manifests, {len(tags)} tags")


@repository_app.command("untag")
@reports_errors
def untag(
    image: Annotated[str, typer.Option("--image", "-t", help="repository:tag")],
    registry: RegistryOption = None,
    username: UsernameOption = None,
    password: PasswordOption = None,
) -> None:
    """Remove a tag; the manifest it pointed at stays."""
    target = ImageReference.parse(image)
    if target.tag is None:
        raise CliError(f"--image {image!r} names a digest; untag takes repository:tag")
    with Login(registry, username, password).connect() as api:
        acr_call(api, "DELETE", target.path)
    typer.echo(f"untagged {target}")


def _switch(value: Switch | None) -> bool | None:
    return None if value is None else value == Switch.true


@repository_app.command("update")
@reports_errors
def update(
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
    registry: RegistryOption = None,
    username: UsernameOption = None,
    password: PasswordOption = None,
    output: OutputOption = Output.table,
) -> None:
    """Lock or unlock a repository, or an image by tag or digest (its changeable attributes)."""
    target = one_target(repository, image)
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
    if immutable_tags is not None:
        if isinstance(target, ImageReference):
            raise CliError("--immutable-tags applies to a --repository, not to an image")
        body["tagImmutability"] = immutable_tags
    if not body:
        raise CliError(
            "nothing to change",
            "give --delete-enabled, --write-enabled, --read-enabled or --list-enabled",
        )
    with Login(registry, username, password).connect() as api:
        answer = acr_call(api, "PATCH", _target_path(target), body)
    print_answer(answer, output, _show_target)
