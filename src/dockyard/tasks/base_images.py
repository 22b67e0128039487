"""Where a build's base images come from, and which digest each named when the build began.

An engine looks an unqualified `FROM` name up in this registry first, then in the upstream
registries in order; a name whose first component is a host (it holds `.` or `:`, or is
`localhost`) names that registry, and the host of this registry's task URL is this registry.
A digest of this registry comes from its `LocalImages` port (tasks/images.py); one of another
registry from a HEAD of the manifest, with the saved task's credential for that registry when
it has one. The HEAD itself is done by a `RemoteDigest` given by the caller (it needs the
registry client).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from dockyard.errors import DockyardError
from dockyard.storage.db.database import Database
from dockyard.tasks.dockerfile import SCRATCH
from dockyard.tasks.engines.base import RegistryAccess
from dockyard.tasks.images import LocalImages
from dockyard.tasks.model import BaseImage, Run
from dockyard.tasks.policy import image_repository
from dockyard.tasks.runs import RunStore
from dockyard.tasks.task_secrets import TaskSecrets

log = logging.getLogger("dockyard.tasks")


@dataclass(frozen=True, slots=True)
class ImageSource:
    """A repository and tag in this registry (`registry` None) or another one."""

    registry: str | None  # host[:port], or an upstream entry as configured (http://host)
    repository: str
    tag: str

    @property
    def local(self) -> bool:
        return self.registry is None

    @property
    def reference(self) -> str:
        """`repository:tag` in this registry, `host/repository:tag` in another."""
        if self.registry is None:
            return f"{self.repository}:{self.tag}"
        return f"{_host(self.registry)}/{self.repository}:{self.tag}"


# (source, credentials) -> the digest its tag names, None when it has no such tag; raises
# DockyardError when the registry cannot be asked.
RemoteDigest = Callable[[ImageSource, tuple[str, str] | None], str | None]


def _host(registry: str) -> str:
    return registry.split("://", 1)[-1].rstrip("/")


def _names_a_host(component: str) -> bool:
    return "." in component or ":" in component or component == "localhost"


def pinned_digest(image: str) -> str | None:
    """The digest of `name@sha256:...`, which no push can change."""
    _, at, digest = image.partition("@")
    return digest if at else None


def image_sources(image: str, registry_host: str, upstream: Sequence[str]) -> list[ImageSource]:
    """Where an engine looks for `FROM image`, in order; none for scratch or a pinned digest."""
    if image == SCRATCH or pinned_digest(image) is not None:
        return []
    first, slash, rest = image.partition("/")
    if slash and _names_a_host(first):
        repository, tag = image_repository(rest)
        if first.lower() == registry_host.lower():
            return [ImageSource(None, repository, tag)]
        configured = [entry for entry in upstream if _host(entry).lower() == first.lower()]
        return [ImageSource(configured[0] if configured else first, repository, tag)]
    repository, tag = image_repository(image)
    return [ImageSource(None, repository, tag)] + [
        ImageSource(entry, repository, tag) for entry in upstream
    ]


def local_source(image: str, registry_host: str, upstream: Sequence[str]) -> ImageSource | None:
    """The repository and tag of this registry that `FROM image` would use when it is there."""
    found = image_sources(image, registry_host, upstream)
    return found[0] if found and found[0].local else None


class BaseImageDigests:
    """Resolves (and records) the digests of a run's base images."""

    def __init__(
        self, db: Database, images: LocalImages, remote: RemoteDigest | None = None
    ) -> None:
        self._images = images
        self._remote = remote
        self._runs = RunStore(db)
        self._secrets = TaskSecrets(db)

    def credentials(self, task_name: str | None) -> dict[str, tuple[str, str]]:
        """The saved task's credentials by login server (host[:port], lowercase)."""
        if task_name is None:
            return {}
        return {
            login.login_server.lower(): (login.username, login.password)
            for login in self._secrets.logins(task_name)
        }

    def locate(
        self,
        image: str,
        registry_host: str,
        upstream: Sequence[str],
        credentials: dict[str, tuple[str, str]],
    ) -> tuple[ImageSource, str] | None:
        """The first source that has the image, with its digest; None when none has it.
        Raises DockyardError when another registry that comes first cannot be asked."""
        for source in image_sources(image, registry_host, upstream):
            if source.registry is None:
                digest = self._images.tag_digest(source.repository, source.tag)
            elif self._remote is None:
                return None
            else:
                login = credentials.get(_host(source.registry).lower())
                digest = self._remote(source, login)
            if digest is not None:
                return source, digest
        return None

    def resolve(
        self, run: Run, registry: RegistryAccess, bases: Sequence[BaseImage]
    ) -> list[BaseImage]:
        """The base images with the digests their references name now (None where that
        cannot be found out; the build goes on all the same)."""
        credentials = self.credentials(run.task_name)
        resolved: list[BaseImage] = []
        for base in bases:
            digest = pinned_digest(base.image)
            if digest is None and base.image != SCRATCH:
                try:
                    found = self.locate(base.image, registry.host, registry.upstream, credentials)
                except DockyardError as exc:
                    log.warning("run %s: no digest for %s: %s", run.run_id, base.image, exc)
                    found = None
                digest = None if found is None else found[1]
            resolved.append(replace(base, digest=digest))
        return resolved

    def record(
        self, run: Run, worker: str, registry: RegistryAccess, bases: Sequence[BaseImage]
    ) -> list[BaseImage] | None:
        """Resolve the digests of one build's base images and add them to those the run
        recorded (a multi-step run records each build step's); None when the run is no
        longer this worker's."""
        resolved = self.resolve(run, registry, bases)
        if not self._runs.add_base_images(run.run_id, worker, resolved):
            return None
        return resolved
