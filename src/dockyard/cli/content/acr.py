"""What the repository and manifest commands share: image references, calls to `/acr/v1`,
paged listings, and how locks read in a table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

import typer

from dockyard.cli.client import CliError, ManagementClient
from dockyard.cli.conventions import one_of, without_registry_host

PAGE_SIZE = 100
LOCK_NAMES = (
    ("deleteEnabled", "delete"),
    ("writeEnabled", "write"),
    ("readEnabled", "read"),
    ("listEnabled", "list"),
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

    @property
    def path(self) -> str:
        """Its `/acr/v1` path: the tag's or the manifest's attributes."""
        if self.digest is not None:
            return f"{self.repository}/_manifests/{self.digest}"
        return f"{self.repository}/_tags/{self.tag}"

    def __str__(self) -> str:
        if self.digest is not None:
            return f"{self.repository}@{self.digest}"
        return f"{self.repository}:{self.tag}"


def acr_call(
    api: ManagementClient,
    method: str,
    path: str,
    body: Any = None,
    params: dict[str, Any] | None = None,
) -> Any:
    """A call to the registry's ACR data plane (`/acr/v1/<path>`)."""
    return api.call(method, f"{api.registry}/acr/v1/{path}", body, params)


def fetch_all(
    api: ManagementClient,
    path: str,
    key: str,
    last_of: Callable[[Any], str],
    top: int | None = None,
    params: dict[str, Any] | None = None,
) -> list[Any]:
    """Every item of a paged `/acr/v1` listing (or the first `top`), page by page."""
    items: list[Any] = []
    last: str | None = None
    while top is None or len(items) < top:
        size = PAGE_SIZE if top is None else min(PAGE_SIZE, top - len(items))
        query = {**(params or {}), "n": size}
        if last is not None:
            query["last"] = last
        page = acr_call(api, "GET", path, params=query)[key]
        items.extend(page)
        if len(page) < size:
            break
        last = last_of(page[-1])
    return items


def locked(attributes: dict[str, Any]) -> str:
    """What a lock forbids, e.g. `write, delete`; `-` when nothing is locked."""
    off = [label for key, label in LOCK_NAMES if attributes.get(key) is False]
    return ", ".join(off) if off else "-"


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
