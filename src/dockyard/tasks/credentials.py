"""What a run's own credential for this registry may open: the repositories its task file,
Dockerfile or command names, pull where it reads and push where it pushes, and nothing of the
management API. The worker turns these into a credential (the intersection with the
requester's rights, valid while the run is active); a run never holds the requester's own."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from dockyard.spec.reference import InvalidReference, parse_reference
from dockyard.tasks.engines.base import RegistryAccess

PULL, PUSH = "pull", "push"


@dataclass(frozen=True, slots=True)
class RepositoryAccess:
    """Actions on a repository (`name`) or on the repositories under a name (`name/*`)."""

    pattern: str
    actions: frozenset[str]


# The worker's side: the run's credential for these repositories (raises Unauthorized when the
# requester may no longer have one).
RunCredential = Callable[[tuple[RepositoryAccess, ...]], RegistryAccess]


def local_repository(image: str, registry_host: str) -> str | None:
    """The repository of this registry an image reference names (an unqualified name is
    looked for here first), or None for another registry's or no reference."""
    try:
        reference = parse_reference(image)
    except InvalidReference:
        return None
    if reference.host is None or reference.host.lower() == registry_host.lower():
        return reference.repository
    return None


def merged(accesses: Iterable[RepositoryAccess]) -> tuple[RepositoryAccess, ...]:
    """One entry per pattern, its actions joined; in a stable order."""
    actions: dict[str, set[str]] = {}
    for access in accesses:
        actions.setdefault(access.pattern, set()).update(access.actions)
    return tuple(RepositoryAccess(p, frozenset(a)) for p, a in sorted(actions.items()))


def pulls(images: Iterable[str], registry_host: str) -> list[RepositoryAccess]:
    found = (local_repository(image, registry_host) for image in images)
    return [RepositoryAccess(r, frozenset({PULL})) for r in found if r is not None]


def pushes(images: Iterable[str], registry_host: str) -> list[RepositoryAccess]:
    found = (local_repository(image, registry_host) for image in images)
    return [RepositoryAccess(r, frozenset({PULL, PUSH})) for r in found if r is not None]


def mentioned(text: str, registry_host: str) -> list[RepositoryAccess]:
    """Repositories of this registry that a command's words name (`<host>/<path>`, also
    inside a URL such as `oci://<host>/charts`): the step's own client may pull and push
    there and under it (helm and oras push `charts/<name>` to `oci://<host>/charts`)."""
    pattern = re.compile(rf"(?<![A-Za-z0-9.-]){re.escape(registry_host)}/([a-z0-9][a-z0-9._/-]*)")
    found: list[RepositoryAccess] = []
    for path in pattern.findall(text):
        repository = local_repository(f"{registry_host}/{path.rstrip('/')}", registry_host)
        if repository is None:
            continue
        both = frozenset({PULL, PUSH})
        found += [RepositoryAccess(repository, both), RepositoryAccess(f"{repository}/*", both)]
    return found
