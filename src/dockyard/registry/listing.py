"""Listings: tags of a repository, the catalog, and referrers of a subject."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from dockyard.errors import NameUnknown
from dockyard.registry.locks import listed
from dockyard.registry.names import check_name
from dockyard.registry.repositories import repository_id
from dockyard.spec.digest import Digest
from dockyard.storage.db.database import Database, sort_key
from dockyard.storage.db.schema import manifests, repositories, tags


@dataclass(frozen=True, slots=True)
class Page:
    items: list[str]
    next_last: str | None  # `last` for the next page, when there is one


class ListingService:
    def __init__(self, db: Database) -> None:
        self._db = db

    def tags(self, name: str, limit: int | None, last: str | None) -> Page:
        check_name(name)
        with self._db.read() as conn:
            repo_id = repository_id(conn, name)
            if repo_id is None:
                raise NameUnknown(f"repository {name!r} not found", detail={"name": name})
            shown = (tags.c.repository_id == repo_id) & listed(tags)
            return _page(conn, tags.c.name, shown, limit, last)

    def catalog(self, limit: int | None, last: str | None) -> Page:
        with self._db.read() as conn:
            return _page(conn, repositories.c.name, listed(repositories), limit, last)

    def referrers(
        self, name: str, subject: Digest, artifact_type: str | None
    ) -> list[dict[str, Any]]:
        """Descriptors of the manifests in `name` whose subject is `subject`."""
        check_name(name)
        query = (
            select(
                manifests.c.media_type,
                manifests.c.digest,
                manifests.c.size,
                manifests.c.artifact_type,
                manifests.c.annotations,
            )
            .select_from(
                manifests.join(repositories, repositories.c.id == manifests.c.repository_id)
            )
            .where(repositories.c.name == name, manifests.c.subject_digest == str(subject))
            .order_by(manifests.c.created_at, manifests.c.digest)
        )
        if artifact_type is not None:
            query = query.where(manifests.c.artifact_type == artifact_type)
        with self._db.read() as conn:
            rows = conn.execute(query).all()
        descriptors: list[dict[str, Any]] = []
        for media_type, digest, size, found_type, annotation_json in rows:
            descriptor: dict[str, Any] = {
                "mediaType": media_type,
                "digest": digest,
                "size": int(size),
            }
            if found_type:
                descriptor["artifactType"] = found_type
            if annotation_json:
                descriptor["annotations"] = json.loads(annotation_json)
            descriptors.append(descriptor)
        return descriptors


def _page(conn: Connection, column: Any, where: Any, limit: int | None, last: str | None) -> Page:
    """One page of `column` values in byte order after `last` (distribution-spec pagination)."""
    key = sort_key(conn, column)
    query = select(column).where(where).order_by(key)
    if last:
        query = query.where(key > last)
    if limit is not None:
        query = query.limit(limit + 1)
    names = [row[0] for row in conn.execute(query)]
    if limit is not None and len(names) > limit:
        names = names[:limit]
        return Page(names, names[-1] if names else None)
    return Page(names, None)
