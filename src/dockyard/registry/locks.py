"""Locks (ACR's changeable attributes) and write-once tags: what they forbid.

Each check runs inside the write transaction of the operation it guards and locks the rows it
reads, so a PATCH of the attributes either commits before the operation (which then sees it)
or waits for it. As in ACR, a tag's or manifest's `writeEnabled=false` forbids deleting it as
`deleteEnabled=false` does, a repository's `writeEnabled=false` locks everything in it, and
locking a tag does not lock its manifest.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, NoReturn

from sqlalchemy import Connection, bindparam, false, or_, select, true, update

from dockyard.errors import Disallowed, NameUnknown
from dockyard.registry.names import check_digest, check_tag
from dockyard.spec.digest import is_digest_reference
from dockyard.storage.db.database import insert_ignore
from dockyard.storage.db.schema import manifests, repositories, tags
from dockyard.tiers.settings import load_policies

ATTRIBUTES = {
    "deleteEnabled": "delete_enabled",
    "writeEnabled": "write_enabled",
    "readEnabled": "read_enabled",
    "listEnabled": "list_enabled",
}


@dataclass(frozen=True, slots=True)
class Locks:
    """What may be done to a repository, tag or manifest (all allowed by default)."""

    delete_enabled: bool = True
    write_enabled: bool = True
    read_enabled: bool = True
    list_enabled: bool = True

    @classmethod
    def of(cls, row: Any) -> Locks:
        """From a row that has the four lock columns."""
        mapping = row._mapping
        return cls(*(bool(mapping[column]) for column in ATTRIBUTES.values()))

    def as_acr(self) -> dict[str, bool]:
        return {name: bool(getattr(self, column)) for name, column in ATTRIBUTES.items()}


def lock_columns(table: Any) -> list[Any]:
    return [table.c[column] for column in ATTRIBUTES.values()]


def listed(table: Any) -> Any:
    """The condition that keeps rows with `listEnabled=false` out of listings."""
    return table.c.list_enabled == true()


def undeletable(table: Any) -> Any:
    """Rows that a lock keeps from being deleted."""
    return or_(table.c.delete_enabled == false(), table.c.write_enabled == false())


def refuse(what: str, attribute: str, action: str) -> NoReturn:
    raise Disallowed(
        f"cannot {action}: {what} is locked ({attribute}=false)",
        detail={"locked": what, "attribute": attribute},
    )


def refuse_immutable(tag: str, name: str, action: str) -> NoReturn:
    raise Disallowed(
        f"cannot {action}: tag {tag!r} of {name!r} is immutable (write-once tags are on)",
        detail={"tag": tag, "repository": name, "immutable": True},
    )


_REPOSITORY_ROW = select(*lock_columns(repositories), repositories.c.tag_immutability).where(
    repositories.c.id == bindparam("repo_id")
)
_REPOSITORY_LOCKS = {
    "share": _REPOSITORY_ROW.with_for_update(read=True),
    "change": _REPOSITORY_ROW.with_for_update(key_share=True),  # FOR NO KEY UPDATE, as an UPDATE
    "delete": _REPOSITORY_ROW.with_for_update(),
}


def _repository(conn: Connection, name: str, repo_id: int, lock: str = "share") -> Any:
    """The repository's locks, with its row locked: `share` to read them, `change` for an
    operation that will touch the row (its lastUpdateTime), `delete` to remove it. Taking the
    row for a change up front, rather than upgrading a shared lock later, keeps two pushes into
    one repository from deadlocking on PostgreSQL."""
    row = conn.execute(_REPOSITORY_LOCKS[lock], {"repo_id": repo_id}).first()
    if row is None:  # deleted by a transaction that committed since we looked it up
        raise NameUnknown(f"repository {name!r} not found", detail={"name": name})
    return row


def tags_are_immutable(conn: Connection, repository_flag: bool) -> bool:
    return repository_flag or load_policies(conn).immutable_tags


def touch_repository(conn: Connection, repo_id: int) -> None:
    """Record a change in the repository (its lastUpdateTime)."""
    conn.execute(
        update(repositories).where(repositories.c.id == repo_id).values(updated_at=time.time())
    )


def check_writable(conn: Connection, name: str, repo_id: int | None, action: str = "") -> None:
    """Pushes (blobs, mounts, manifests) into a repository with `writeEnabled=false` fail, as
    do blob deletes; a repository that does not exist yet is not locked."""
    if repo_id is not None and not _repository(conn, name, repo_id).write_enabled:
        refuse(f"repository {name!r}", "writeEnabled", action or f"push to {name!r}")


@dataclass(frozen=True, slots=True)
class PushInto:
    repo_id: int
    moved_from: set[str]  # the manifests other than the pushed one that its tags point at now


_TOUCH_FOR_PUSH = (
    update(repositories)
    .where(repositories.c.name == bindparam("repository"))
    .values(updated_at=bindparam("now"))
    .returning(repositories.c.id, repositories.c.write_enabled, repositories.c.tag_immutability)
)
_TAGS_FOR_PUSH = (
    select(tags.c.name, tags.c.manifest_digest, tags.c.write_enabled)
    .where(
        tags.c.repository_id == bindparam("repo_id"),
        tags.c.name.in_(bindparam("names", expanding=True)),
    )
    .with_for_update()
)


def take_for_push(conn: Connection, name: str, digest: str, tag_names: list[str]) -> PushInto:
    """A manifest push: the repository (created when new) must be writable, and no tag the
    push names may move away from its manifest while locked or write-once (pushing the same
    digest again is fine). The repository's row is taken for the change, and its
    lastUpdateTime set, in the same statement; the tags' rows are locked."""
    now = time.time()
    touch = {"repository": name, "now": now}
    repo = conn.execute(_TOUCH_FOR_PUSH, touch).first()
    if repo is None:
        insert_ignore(conn, repositories, {"name": name, "created_at": now})
        repo = conn.execute(_TOUCH_FOR_PUSH, touch).one()
    if not repo.write_enabled:
        refuse(f"repository {name!r}", "writeEnabled", f"push to {name!r}")
    if not tag_names:
        return PushInto(repo.id, set())
    existing = conn.execute(_TAGS_FOR_PUSH, {"repo_id": repo.id, "names": tag_names}).all()
    moving = [row for row in existing if row.manifest_digest != digest]
    for row in moving:
        if not row.write_enabled:
            refuse(f"tag {row.name!r} of {name!r}", "writeEnabled", f"overwrite tag {row.name!r}")
    if moving and tags_are_immutable(conn, repo.tag_immutability):
        refuse_immutable(moving[0].name, name, f"overwrite tag {moving[0].name!r}")
    return PushInto(repo.id, {row.manifest_digest for row in moving})


def check_delete(conn: Connection, name: str, repo_id: int, reference: str) -> None:
    """Deleting a tag, or a manifest with the tags on it."""
    repo = _repository(conn, name, repo_id, lock="change")
    if not repo.write_enabled:
        refuse(f"repository {name!r}", "writeEnabled", f"delete {reference} from {name!r}")
    if is_digest_reference(reference):
        digest = str(check_digest(reference))
        manifest = conn.execute(
            select(*lock_columns(manifests))
            .where(manifests.c.repository_id == repo_id, manifests.c.digest == digest)
            .with_for_update()
        ).first()
        if manifest is not None:
            _check_deletable(Locks.of(manifest), f"manifest {digest} in {name!r}", digest)
        held = conn.execute(
            select(tags.c.name, *lock_columns(tags))
            .where(tags.c.repository_id == repo_id, tags.c.manifest_digest == digest)
            .order_by(tags.c.name)
            .with_for_update()
        ).all()
    else:
        tag = check_tag(reference)
        held = conn.execute(
            select(tags.c.name, *lock_columns(tags))
            .where(tags.c.repository_id == repo_id, tags.c.name == tag)
            .with_for_update()
        ).all()
    for row in held:
        _check_deletable(Locks.of(row), f"tag {row.name!r} of {name!r}", reference)
    if held and tags_are_immutable(conn, repo.tag_immutability):
        refuse_immutable(held[0].name, name, f"delete {reference}")


def _check_deletable(locks: Locks, what: str, reference: str) -> None:
    if not locks.delete_enabled:
        refuse(what, "deleteEnabled", f"delete {reference}")
    if not locks.write_enabled:
        refuse(what, "writeEnabled", f"delete {reference}")


def check_repository_delete(conn: Connection, name: str, repo_id: int) -> None:
    """A repository goes only when neither it nor anything in it is locked (and, with
    write-once tags, when it has no tags)."""
    repo = _repository(conn, name, repo_id, lock="delete")
    _check_deletable(Locks.of(repo), f"repository {name!r}", f"repository {name!r}")
    manifest = conn.execute(
        select(manifests.c.digest, *lock_columns(manifests))
        .where(manifests.c.repository_id == repo_id, undeletable(manifests))
        .limit(1)
    ).first()
    if manifest is not None:
        _check_deletable(
            Locks.of(manifest), f"manifest {manifest.digest} in {name!r}", f"repository {name!r}"
        )
    tag = conn.execute(
        select(tags.c.name, *lock_columns(tags))
        .where(tags.c.repository_id == repo_id, undeletable(tags))
        .limit(1)
    ).first()
    if tag is not None:
        _check_deletable(Locks.of(tag), f"tag {tag.name!r} of {name!r}", f"repository {name!r}")
    if tags_are_immutable(conn, repo.tag_immutability):
        first = conn.execute(
            select(tags.c.name).where(tags.c.repository_id == repo_id).limit(1)
        ).first()
        if first is not None:
            refuse_immutable(first[0], name, f"delete repository {name!r}")


def check_readable(
    name: str, reference: str, repository: bool, tag: bool | None, manifest: bool | None
) -> None:
    """Pulls: `readEnabled=false` on the repository, the tag pulled by, or the manifest."""
    if not repository:
        refuse(f"repository {name!r}", "readEnabled", f"pull {reference} from {name!r}")
    if tag is False:
        refuse(f"tag {reference!r} of {name!r}", "readEnabled", f"pull {reference}")
    if manifest is False:
        refuse(f"the manifest of {reference} in {name!r}", "readEnabled", f"pull {reference}")
