"""Untagged manifests: when a manifest lost its last tag (`manifests.untagged_at`, kept in the
transaction that moves or deletes the tag), and which untagged manifests the registry still
needs, so that no cleanup (retention, purge) deletes them.

An untagged manifest is still needed while an index in its repository lists it, or while it
is a referrer whose subject is in the repository (ACR keeps referrers and removes them with
their subject).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, and_, exists, update

from dockyard.storage.db.schema import manifest_children, manifests, tags


def mark_untagged(conn: Connection, repo_id: int, digests: Iterable[str], now: float) -> None:
    """Record `now` on those of `digests` that no tag points at any more."""
    wanted = sorted(set(digests))
    if not wanted:
        return
    conn.execute(
        update(manifests)
        .where(
            manifests.c.repository_id == repo_id,
            manifests.c.digest.in_(wanted),
            ~exists().where(
                (tags.c.repository_id == manifests.c.repository_id)
                & (tags.c.manifest_digest == manifests.c.digest)
            ),
        )
        .values(untagged_at=now)
    )


def mark_tagged(conn: Connection, repo_id: int, digest: str) -> None:
    conn.execute(
        update(manifests)
        .where(
            manifests.c.repository_id == repo_id,
            manifests.c.digest == digest,
            manifests.c.untagged_at.is_not(None),
        )
        .values(untagged_at=None)
    )


def unneeded_untagged() -> Any:
    """SQL condition on `manifests`: untagged, listed by no index of its repository, and not a
    referrer whose subject is present."""
    subject = manifests.alias("subject_manifest")
    return and_(
        ~exists().where(
            (tags.c.repository_id == manifests.c.repository_id)
            & (tags.c.manifest_digest == manifests.c.digest)
        ),
        ~exists().where(
            (manifest_children.c.repository_id == manifests.c.repository_id)
            & (manifest_children.c.child_digest == manifests.c.digest)
        ),
        manifests.c.subject_digest.is_(None)
        | ~exists().where(
            (subject.c.repository_id == manifests.c.repository_id)
            & (subject.c.digest == manifests.c.subject_digest)
        ),
    )


def subject_gone() -> Any:
    """SQL condition on `manifests`: a referrer whose subject is not in the repository."""
    subject = manifests.alias("gone_subject")
    return manifests.c.subject_digest.is_not(None) & ~exists().where(
        (subject.c.repository_id == manifests.c.repository_id)
        & (subject.c.digest == manifests.c.subject_digest)
    )
