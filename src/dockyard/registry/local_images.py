"""This registry's images as the task wing sees them: the adapter of its `LocalImages` port
(tasks/images.py), which the composition root hands to the task worker."""

from __future__ import annotations

from sqlalchemy import select

from dockyard.storage.db.database import Database
from dockyard.storage.db.schema import repositories, tags


class RegistryImages:
    def __init__(self, db: Database) -> None:
        self._db = db

    def tag_digest(self, repository: str, tag: str) -> str | None:
        with self._db.read() as conn:
            found = conn.execute(
                select(tags.c.manifest_digest)
                .select_from(tags.join(repositories, repositories.c.id == tags.c.repository_id))
                .where(repositories.c.name == repository, tags.c.name == tag)
            ).scalar()
        return None if found is None else str(found)
