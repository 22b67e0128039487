"""Quarantine: with the policy on, new manifests are held (pulls refused to all but quarantine
readers) until a scanner marks them passed."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update

from dockyard.errors import ManifestUnknown, Unsupported
from dockyard.registry.manifests import PASSED, QUARANTINED
from dockyard.registry.names import check_digest, check_name
from dockyard.storage.db.database import Database
from dockyard.storage.db.schema import manifests, repositories, tags

STATES = (QUARANTINED, PASSED)


@dataclass(frozen=True, slots=True)
class HeldManifest:
    repository: str
    digest: str
    media_type: str
    state: str
    created_at: float
    tags: list[str]


class QuarantineService:
    def __init__(self, db: Database) -> None:
        self._db = db

    def held(self, repository: str | None = None, state: str | None = None) -> list[HeldManifest]:
        """Manifests with a quarantine state (`quarantined` or `passed`), oldest first."""
        if state is not None and state not in STATES:
            raise Unsupported(f"state is one of {', '.join(STATES)}, not {state!r}")
        query = (
            select(
                repositories.c.name,
                manifests.c.repository_id,
                manifests.c.digest,
                manifests.c.media_type,
                manifests.c.quarantine_state,
                manifests.c.created_at,
            )
            .select_from(
                manifests.join(repositories, repositories.c.id == manifests.c.repository_id)
            )
            .where(manifests.c.quarantine_state.is_not(None))
            .order_by(manifests.c.created_at, manifests.c.digest)
        )
        if repository is not None:
            query = query.where(repositories.c.name == check_name(repository))
        if state is not None:
            query = query.where(manifests.c.quarantine_state == state)
        tagged = (
            select(tags.c.repository_id, tags.c.manifest_digest, tags.c.name)
            .select_from(
                tags.join(
                    manifests,
                    (manifests.c.repository_id == tags.c.repository_id)
                    & (manifests.c.digest == tags.c.manifest_digest),
                )
            )
            .where(manifests.c.quarantine_state.is_not(None))
        )
        with self._db.read() as conn:
            rows = conn.execute(query).all()
            tag_names: dict[tuple[int, str], list[str]] = {}
            for repo_id, digest, tag in conn.execute(tagged):
                tag_names.setdefault((int(repo_id), str(digest)), []).append(str(tag))
        return [
            HeldManifest(
                name,
                digest,
                media_type,
                current,
                float(created_at),
                sorted(tag_names.get((int(repo_id), str(digest)), [])),
            )
            for name, repo_id, digest, media_type, current, created_at in rows
        ]

    def set_state(self, repository: str, digest: str, state: str) -> HeldManifest:
        """Mark a manifest passed (pullable) or quarantined (held) again."""
        check_name(repository)
        text = str(check_digest(digest))
        if state not in STATES:
            raise Unsupported(f"state is one of {', '.join(STATES)}, not {state!r}")
        with self._db.write() as conn:
            row = conn.execute(
                select(manifests.c.repository_id)
                .select_from(
                    manifests.join(repositories, repositories.c.id == manifests.c.repository_id)
                )
                .where(repositories.c.name == repository, manifests.c.digest == text)
            ).first()
            if row is None:
                raise ManifestUnknown(
                    f"manifest {text} not found in {repository!r}", detail={"digest": text}
                )
            conn.execute(
                update(manifests)
                .where(manifests.c.repository_id == row[0], manifests.c.digest == text)
                .values(quarantine_state=state)
            )
        found = [m for m in self.held(repository) if m.digest == text]
        return found[0]
