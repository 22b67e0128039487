"""Repository rows: lookup, creation on first push, and deletion of a whole repository."""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, delete, func, select

from dockyard import events
from dockyard.errors import NameUnknown
from dockyard.events import Action, Event, RepositoryTarget, RequestInfo
from dockyard.registry import recycle_bin
from dockyard.registry.locks import check_repository_delete
from dockyard.registry.names import check_name
from dockyard.storage.db.database import Database, insert_ignore
from dockyard.storage.db.schema import (
    manifest_blobs,
    manifest_children,
    manifests,
    repositories,
    repository_blobs,
    tags,
)

_REPOSITORY_ID = select(repositories.c.id).where(repositories.c.name == bindparam("name"))


def repository_id(conn: Connection, name: str) -> int | None:
    row = conn.execute(_REPOSITORY_ID, {"name": name}).first()
    return None if row is None else int(row[0])


def ensure_repository(conn: Connection, name: str) -> int:
    existing = repository_id(conn, name)
    if existing is not None:
        return existing
    insert_ignore(conn, repositories, {"name": name, "created_at": time.time()})
    created = repository_id(conn, name)
    assert created is not None
    return created


@dataclass(frozen=True, slots=True)
class RepositoryDeletion:
    manifests_deleted: list[str]
    tags_deleted: list[str]


class RepositoryService:
    def __init__(self, db: Database) -> None:
        self._db = db

    def delete(self, name: str, request: RequestInfo | None = None) -> RepositoryDeletion:
        """Delete a repository with its manifests, tags and blob links; GC frees the bytes."""
        check_name(name)
        with self._db.write() as conn:
            repo_id = repository_id(conn, name)
            if repo_id is None:
                raise NameUnknown(f"repository {name!r} not found", detail={"name": name})
            check_repository_delete(conn, name, repo_id)
            digests = [
                r[0]
                for r in conn.execute(
                    select(manifests.c.digest).where(manifests.c.repository_id == repo_id)
                )
            ]
            tag_names = [
                r[0]
                for r in conn.execute(select(tags.c.name).where(tags.c.repository_id == repo_id))
            ]
            recycle_bin.keep_repository(conn, name, repo_id)
            for table in (tags, manifest_blobs, manifest_children, manifests, repository_blobs):
                conn.execute(delete(table).where(table.c.repository_id == repo_id))
            conn.execute(delete(repositories).where(repositories.c.id == repo_id))
            events.append(conn, Event(Action.DELETE, RepositoryTarget(name), request))
        return RepositoryDeletion(sorted(digests), sorted(tag_names))

    def count(self) -> int:
        with self._db.read() as conn:
            return int(conn.execute(select(func.count()).select_from(repositories)).scalar_one())
