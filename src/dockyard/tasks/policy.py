"""What a run must be: a valid request, an engine that can do it, a timeout within the
policy. The API (quick runs, saved tasks) and every worker's triggers check against one
`TaskPolicy`, built from the settings."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from urllib.parse import urlsplit

from dockyard.errors import Invalid
from dockyard.spec.names import is_valid_name, is_valid_tag
from dockyard.spec.reference import InvalidReference, parse_reference
from dockyard.spec.run_ids import RUN_ID_PREFIX, RUN_ID_TEMPLATE
from dockyard.tasks.fetch import parse_context_url
from dockyard.tasks.model import MAX_TIMEOUT_SECONDS, RunRequest

MULTI_STEP_ENGINE = "docker"  # steps run as containers of a Docker daemon, on its networks


@dataclass(frozen=True, slots=True)
class TaskPolicy:
    default_engine: str = "buildah"
    min_timeout_seconds: int = 300
    max_source_bytes: int = 512 * 1024 * 1024
    allow_private_sources: bool = False  # git remotes read to see commits

    def check_timeout(self, timeout: int) -> None:
        low, high = self.min_timeout_seconds, MAX_TIMEOUT_SECONDS
        if not low <= timeout <= high:
            raise Invalid(f"timeout must be between {low} and {high} seconds")


def image_repository(image: str) -> tuple[str, str]:
    """(repository, tag) of `repository[:tag]` (tag `latest` when none)."""
    repository, sep, tag = image.rpartition(":")
    if not sep or "/" in tag:
        return image, "latest"
    return repository, tag


def check_request(request: RunRequest) -> None:
    """Refuse (400) a request that cannot make a run."""
    if request.kind == "build":
        if (request.source is None) == (request.context_url is None):
            raise Invalid("a build needs exactly one of source and context_url")
        if (
            not request.dockerfile
            or request.dockerfile.startswith("/")
            or (".." in request.dockerfile.split("/"))
        ):
            raise Invalid(f"dockerfile {request.dockerfile!r} must be a path in the context")
    elif request.kind == "cmd":
        if request.source is not None and request.context_url is not None:
            raise Invalid("a run takes at most one of source and context_url")
        try:
            words = shlex.split(request.cmd or "")
        except ValueError as exc:
            raise Invalid(f"cmd {request.cmd!r}: {exc}") from None
        if not words:
            raise Invalid("a cmd run needs cmd: '<image> <args...>'")
        try:
            parse_reference(words[0].replace(RUN_ID_TEMPLATE, f"{RUN_ID_PREFIX}1"))
        except InvalidReference as exc:
            raise Invalid(f"cmd: {exc}") from None
    elif request.kind == "task":
        if (request.source is None) == (request.context_url is None):
            raise Invalid("a multi-step run needs exactly one of source and context_url")
        name = request.task_file or ""
        if not name or name.startswith("/") or ".." in name.split("/"):
            raise Invalid(f"task file {name!r} must be a path in the context")
    else:
        raise Invalid(f"unknown kind {request.kind!r}: build, cmd or task")
    if request.context_url is not None:
        parse_context_url(request.context_url)
        if urlsplit(request.context_url).username:
            raise Invalid("context_url may not carry credentials")
    for image in request.images:
        repository, tag = image_repository(image.replace(RUN_ID_TEMPLATE, f"{RUN_ID_PREFIX}1"))
        if not is_valid_name(repository) or not is_valid_tag(tag):
            raise Invalid(f"image {image!r} is not repository[:tag] of this registry")
    for key in request.build_args:
        if not key or "=" in key:
            raise Invalid(f"build arg {key!r} is not a valid name")
