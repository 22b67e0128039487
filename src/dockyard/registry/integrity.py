"""Consistency check of metadata against storage (`dockyard check`).

It reports what a crash or a bug could have broken: metadata pointing at missing bytes, bytes
of the wrong size, tags on missing manifests, manifests needing missing blobs, and a storage
counter (which the storage limit reads) that disagrees with what is stored.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, func, select

from dockyard.registry.usage import stored_bytes
from dockyard.storage.db.database import Database
from dockyard.storage.db.schema import (
    blobs,
    manifest_blobs,
    manifest_children,
    manifests,
    repositories,
    tags,
)
from dockyard.storage.driver import BlobDriver, blob_key


@dataclass(frozen=True, slots=True)
class Problem:
    kind: str
    subject: str
    detail: str


class IntegrityChecker:
    def __init__(self, db: Database, driver: BlobDriver, allow_sparse_manifests: bool) -> None:
        self._db = db
        self._driver = driver
        self._allow_sparse_manifests = allow_sparse_manifests

    def run(self) -> list[Problem]:
        problems: list[Problem] = []
        with self._db.read() as conn:
            blob_rows = conn.execute(select(blobs.c.digest, blobs.c.size)).all()
            dangling_refs = conn.execute(
                select(
                    repositories.c.name,
                    manifest_blobs.c.manifest_digest,
                    manifest_blobs.c.blob_digest,
                )
                .select_from(
                    manifest_blobs.join(
                        repositories, repositories.c.id == manifest_blobs.c.repository_id
                    ).outerjoin(blobs, blobs.c.digest == manifest_blobs.c.blob_digest)
                )
                .where(blobs.c.digest.is_(None))
            ).all()
            dangling_tags = conn.execute(
                select(repositories.c.name, tags.c.name, tags.c.manifest_digest)
                .select_from(
                    tags.join(repositories, repositories.c.id == tags.c.repository_id).outerjoin(
                        manifests,
                        and_(
                            manifests.c.repository_id == tags.c.repository_id,
                            manifests.c.digest == tags.c.manifest_digest,
                        ),
                    )
                )
                .where(manifests.c.digest.is_(None))
            ).all()
            missing_children = conn.execute(
                select(
                    repositories.c.name,
                    manifest_children.c.manifest_digest,
                    manifest_children.c.child_digest,
                )
                .select_from(
                    manifest_children.join(
                        repositories, repositories.c.id == manifest_children.c.repository_id
                    ).outerjoin(
                        manifests,
                        and_(
                            manifests.c.repository_id == manifest_children.c.repository_id,
                            manifests.c.digest == manifest_children.c.child_digest,
                        ),
                    )
                )
                .where(manifests.c.digest.is_(None))
            ).all()
            counted = stored_bytes(conn)
            summed = int(
                conn.execute(select(func.coalesce(func.sum(blobs.c.size), 0))).scalar_one()
            ) + int(conn.execute(select(func.coalesce(func.sum(manifests.c.size), 0))).scalar_one())
        if counted != summed:
            problems.append(
                Problem(
                    "usage-counter",
                    "storage_usage",
                    f"counts {counted} bytes, blobs and manifests hold {summed}",
                )
            )
        for digest, size in blob_rows:
            stored = self._driver.size(blob_key(digest))
            if stored is None:
                problems.append(Problem("blob-missing", digest, "row exists, bytes are missing"))
            elif stored != int(size):
                problems.append(
                    Problem("blob-size", digest, f"row says {size} bytes, storage has {stored}")
                )
        if not self._allow_sparse_manifests:  # else a manifest may name blobs not stored
            for repo, manifest, blob in dangling_refs:
                problems.append(
                    Problem("manifest-blob-missing", f"{repo}@{manifest}", f"needs blob {blob}")
                )
        for repo, tag, digest in dangling_tags:
            problems.append(Problem("tag-dangling", f"{repo}:{tag}", f"points at missing {digest}"))
        if not self._allow_sparse_manifests:
            for repo, index, child in missing_children:
                problems.append(
                    Problem("index-child-missing", f"{repo}@{index}", f"lists missing {child}")
                )
        return problems
