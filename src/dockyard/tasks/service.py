"""Scheduling runs: what a valid request is, which engine does it, how long it may take."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from urllib.parse import urlsplit

from dockyard.config import Settings
from dockyard.errors import Unsupported
from dockyard.spec.names import is_valid_name, is_valid_tag
from dockyard.spec.reference import InvalidReference, parse_reference
from dockyard.spec.run_ids import RUN_ID_PREFIX, RUN_ID_TEMPLATE
from dockyard.storage.db.database import Database
from dockyard.storage.driver import BlobDriver
from dockyard.tasks.fetch import parse_context_url
from dockyard.tasks.logs import LogStore
from dockyard.tasks.model import ENGINES, MAX_TIMEOUT_SECONDS, TRIGGERS, Run, RunRequest
from dockyard.tasks.runs import RunStore
from dockyard.tasks.sources import SourceStore

MULTI_STEP_ENGINE = "docker"  # steps run as containers of a Docker daemon, on its networks


@dataclass(frozen=True, slots=True)
class TaskPolicy:
    default_engine: str = "buildah"
    min_timeout_seconds: int = 300
    max_source_bytes: int = 512 * 1024 * 1024
    allow_private_sources: bool = False  # git remotes read to see commits

    @classmethod
    def from_settings(cls, settings: Settings) -> TaskPolicy:
        """The policy as configured: the API and every worker's triggers use this one."""
        return cls(
            default_engine=settings.task_engines[0] if settings.task_engines else "buildah",
            min_timeout_seconds=settings.task_min_timeout_seconds,
            max_source_bytes=settings.task_max_source_bytes,
            allow_private_sources=settings.task_allow_private_sources,
        )


class TaskService:
    def __init__(self, db: Database, driver: BlobDriver, policy: TaskPolicy) -> None:
        self.policy = policy
        self.db = db
        self.runs = RunStore(db)
        self.logs = LogStore(db)
        self.sources = SourceStore(db, driver, policy.max_source_bytes)

    def schedule(
        self,
        request: RunRequest,
        requester: str,
        timeout: int,
        engine: str | None = None,
        trigger: str = "manual",
    ) -> Run:
        chosen = self.check(request, timeout, engine, trigger)
        return self.runs.create(request, requester, chosen, timeout, trigger)

    def check(
        self, request: RunRequest, timeout: int, engine: str | None, trigger: str = "manual"
    ) -> str:
        """Refuse (400) what cannot be scheduled; answers the engine that will do it."""
        check_request(request)
        self.check_timeout(timeout)
        default = MULTI_STEP_ENGINE if request.kind == "task" else self.policy.default_engine
        chosen = engine or default
        if request.kind == "task" and chosen != MULTI_STEP_ENGINE:
            raise Unsupported(f"a multi-step run runs on the {MULTI_STEP_ENGINE} engine")
        if chosen not in ENGINES:
            raise Unsupported(f"unknown engine {chosen!r}; known: {', '.join(ENGINES)}")
        if trigger not in TRIGGERS:
            raise Unsupported(f"unknown trigger {trigger!r}")
        return chosen

    def check_timeout(self, timeout: int) -> None:
        low, high = self.policy.min_timeout_seconds, MAX_TIMEOUT_SECONDS
        if not low <= timeout <= high:
            raise Unsupported(f"timeout must be between {low} and {high} seconds")


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
            raise Unsupported("a build needs exactly one of source and context_url")
        if (
            not request.dockerfile
            or request.dockerfile.startswith("/")
            or (".." in request.dockerfile.split("/"))
        ):
            raise Unsupported(f"dockerfile {request.dockerfile!r} must be a path in the context")
    elif request.kind == "cmd":
        if request.source is not None and request.context_url is not None:
            raise Unsupported("a run takes at most one of source and context_url")
        try:
            words = shlex.split(request.cmd or "")
        except ValueError as exc:
            raise Unsupported(f"cmd {request.cmd!r}: {exc}") from None
        if not words:
            raise Unsupported("a cmd run needs cmd: '<image> <args...>'")
        try:
            parse_reference(words[0].replace(RUN_ID_TEMPLATE, f"{RUN_ID_PREFIX}1"))
        except InvalidReference as exc:
            raise Unsupported(f"cmd: {exc}") from None
    elif request.kind == "task":
        if (request.source is None) == (request.context_url is None):
            raise Unsupported("a multi-step run needs exactly one of source and context_url")
        name = request.task_file or ""
        if not name or name.startswith("/") or ".." in name.split("/"):
            raise Unsupported(f"task file {name!r} must be a path in the context")
    else:
        raise Unsupported(f"unknown kind {request.kind!r}: build, cmd or task")
    if request.context_url is not None:
        parse_context_url(request.context_url)
        if urlsplit(request.context_url).username:
            raise Unsupported("context_url may not carry credentials")
    for image in request.images:
        repository, tag = image_repository(image.replace(RUN_ID_TEMPLATE, f"{RUN_ID_PREFIX}1"))
        if not is_valid_name(repository) or not is_valid_tag(tag):
            raise Unsupported(f"image {image!r} is not repository[:tag] of this registry")
    for key in request.build_args:
        if not key or "=" in key:
            raise Unsupported(f"build arg {key!r} is not a valid name")
