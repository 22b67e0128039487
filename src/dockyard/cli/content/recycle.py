"""`dockyard manifest list-deleted | list-deleted-tags | restore`: the recycle bin of
soft-deleted manifests and tags, as `az acr manifest` has it."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

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
    when,
)
from dockyard.cli.content.apps import manifest_app

RepositoryOption = Annotated[
    str, typer.Option("--name", "-n", help="The repository", show_default=False)
]
ImageOption = Annotated[
    str,
    typer.Option("--name", "-n", help="The repository, with :tag to restore only that tag"),
]


def split_image(text: str) -> tuple[str, str | None]:
    """`repo[:tag]`; a colon before the last slash belongs to the name."""
    name, colon, tag = text.rpartition(":")
    if not colon or "/" in tag:
        return text, None
    return name, tag


def _path(name: str, what: str) -> str:
    return f"/repositories/{quote(name, safe='/')}/{what}"


def _show_manifests(answer: dict[str, Any]) -> None:
    print_table(
        f"deleted manifests of {answer['repository']}",
        ("digest", "media type", "size", "tags", "deleted", "expires"),
        [
            (
                m["digest"],
                m["media_type"],
                m["size"],
                ", ".join(m["tags"]) or "-",
                when(m["deleted_at"]),
                when(m["expires_at"]),
            )
            for m in answer["manifests"]
        ],
    )


def _show_tags(answer: dict[str, Any]) -> None:
    print_table(
        f"deleted tags of {answer['repository']}",
        ("tag", "digest", "deleted", "expires"),
        [
            (t["tag"], t["digest"], when(t["deleted_at"]), when(t["expires_at"]))
            for t in answer["tags"]
        ],
    )


def _show_restored(answer: dict[str, Any]) -> None:
    rows = [
        ("repository", answer["repository"]),
        ("digest", answer["digest"]),
        ("manifest", "restored" if answer["manifest_restored"] else "was present"),
        ("tags", ", ".join(answer["tags"]) or "-"),
    ]
    if answer["moved"]:
        rows.append(("moved (force)", ", ".join(answer["moved"])))
    if answer["skipped"]:
        rows.append(("left (point elsewhere; use --force)", ", ".join(answer["skipped"])))
    print_table("restored", ("", ""), rows)


@manifest_app.command("list-deleted")
@reports_errors
def list_deleted(
    name: RepositoryOption,
    registry: RegistryOption = None,
    username: UsernameOption = None,
    password: PasswordOption = None,
    output: OutputOption = Output.table,
) -> None:
    """List the soft-deleted manifests of a repository (also of a deleted repository)."""
    with Login(registry, username, password).connect() as api:
        answer = api.get(_path(name, "deleted-manifests"))
    print_answer(answer, output, _show_manifests)


@manifest_app.command("list-deleted-tags")
@reports_errors
def list_deleted_tags(
    name: Annotated[
        str, typer.Option("--name", "-n", help="The repository, with :tag for only that tag")
    ],
    registry: RegistryOption = None,
    username: UsernameOption = None,
    password: PasswordOption = None,
    output: OutputOption = Output.table,
) -> None:
    """List the soft-deleted tags of a repository.

    Both the tags deleted on their own and the tags of deleted manifests."""
    repository, tag = split_image(name)
    with Login(registry, username, password).connect() as api:
        answer = api.get(_path(repository, "deleted-tags"), {"tag": tag} if tag else None)
    print_answer(answer, output, _show_tags)


@manifest_app.command("restore")
@reports_errors
def restore(
    name: ImageOption,
    digest: Annotated[
        str | None,
        typer.Option(
            "--digest", "-d", help="The manifest; without it, the latest deleted with the tag"
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Move tags that now point at another manifest")
    ] = False,
    registry: RegistryOption = None,
    username: UsernameOption = None,
    password: PasswordOption = None,
    output: OutputOption = Output.table,
) -> None:
    """Restore a soft-deleted manifest (same digest, same bytes) with its deleted tags.

    With --name repo:tag only that tag comes back; without --digest, onto the manifest most
    recently deleted with it. A tag that now points elsewhere is moved only with --force."""
    repository, tag = split_image(name)
    if digest is None and tag is None:
        raise typer.BadParameter("give --digest, or a tag with --name repo:tag")
    body = {"digest": digest, "tag": tag, "force": force}
    with Login(registry, username, password).connect() as api:
        answer = api.post(_path(repository, "restore"), body)
    print_answer(answer, output, _show_restored)
