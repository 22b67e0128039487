"""What the repository and manifest commands share: image references, the attributes an image
or repository reference leads to (`/acr/v1`), and how locks read in a table."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, TypeAlias

import typer

from dockyard.cli.client import CliError
from dockyard.cli.content_api import AcrApi
from dockyard.cli.conventions import one_of, without_registry_host

if TYPE_CHECKING:
    from dockyard.wire.acr import (
        ArtifactManifestProperties,
        ArtifactTagProperties,
        ContainerRepositoryProperties,
        WriteableProperties,
    )

    Target: TypeAlias = (
        ContainerRepositoryProperties | ArtifactTagProperties | ArtifactManifestProperties
    )

LOCK_NAMES = (
    ("delete_enabled", "delete"),
    ("write_enabled", "write"),
    ("read_enabled", "read"),
    ("list_enabled", "list"),
)


class OrderBy(StrEnum):
    """`az acr`'s names for ACR's `orderby`."""

    time_desc = "time_desc"
    time_asc = "time_asc"

    @property
    def acr(self) -> str:
        return self.value.replace("_", "")


class Switch(StrEnum):
    true = "true"
    false = "false"


TopOption = Annotated[
    int | None, typer.Option("--top", min=1, help="List at most this many", show_default=False)
]
OrderByOption = Annotated[
    OrderBy | None, typer.Option("--orderby", help="Newest or oldest first (else by name)")
]


@dataclass(frozen=True, slots=True)
class ImageReference:
    """`repo:tag` or `repo@digest`."""

    repository: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str, option: str = "--image") -> ImageReference:
        if "@" in text:
            repository, digest = text.split("@", 1)
            if repository and ":" in digest:
                return cls(repository, digest=digest)
        else:
            repository, _, tag = text.rpartition(":")
            if repository and tag and "/" not in tag:
                return cls(repository, tag=tag)
        raise CliError(
            f"{option} {text!r} is not repository:tag or repository@digest",
            "e.g. hello-world:v1 or hello-world@sha256:…",
        )

    def __str__(self) -> str:
        if self.digest is not None:
            return f"{self.repository}@{self.digest}"
        return f"{self.repository}:{self.tag}"


def locked(attributes: WriteableProperties) -> str:
    """What a lock forbids, e.g. `write, delete`; `-` when nothing is locked."""
    off = [label for name, label in LOCK_NAMES if getattr(attributes, name) is False]
    return ", ".join(off) if off else "-"


def get_target(acr: AcrApi, target: ImageReference | str) -> Target:
    """The attributes of a repository, or of an image by tag or digest."""
    if isinstance(target, str):
        return acr.get_repository(target)
    if target.digest is not None:
        return acr.get_manifest(target.repository, target.digest)
    return acr.get_tag(target.repository, str(target.tag))


def digest_of(acr: AcrApi, image: ImageReference) -> str:
    """The digest an image names, or that its tag points at."""
    if image.digest is not None:
        return image.digest
    return acr.get_tag(image.repository, str(image.tag)).tag.digest


def is_image(text: str) -> bool:
    """Whether a name on the command line has a tag or digest (repository names have neither
    `:` nor `@`; a registry host's port comes before the first `/`)."""
    return "@" in text or ":" in text.rpartition("/")[2]


def one_target(
    registry: str, positional: str | None, repository: str | None, image: str | None
) -> ImageReference | str:
    """What a command that takes a repository or an image acts on: the positional argument
    (an image when it has a tag or digest), or --repository, or --image."""
    given = [value for value in (positional, repository, image) if value is not None]
    if len(given) != 1:
        raise CliError(
            "give one repository or image",
            "as REPOSITORY, REPOSITORY:TAG or REPOSITORY@DIGEST, or with --repository or --image",
        )
    text = without_registry_host(given[0], registry)
    if image is not None:
        return ImageReference.parse(text)
    if positional is not None and is_image(text):
        return ImageReference.parse(text, "image")
    return text


def one_repository(registry: str, positional: str | None, repository: str | None) -> str:
    """The repository a command acts on: the positional argument or --repository."""
    chosen = one_of("repository", ("REPOSITORY", positional), ("--repository", repository))
    return without_registry_host(chosen, registry)


def one_image(registry: str, positional: str | None, image: str | None) -> ImageReference:
    """The image (repository:tag or repository@digest) a command acts on: the positional
    argument or --image."""
    chosen = one_of("image", ("IMAGE", positional), ("--image", image))
    return ImageReference.parse(without_registry_host(chosen, registry), "image")
