"""Online garbage collection.

What goes: blobs that no manifest references (soft-deleted manifests in the recycle bin count)
and that no repository has linked or touched within the grace period; their bytes; files in
storage that no row knows (left by a crash); upload sessions idle past their time-to-live;
and, when configured, untagged manifests that no index lists and whose subject is gone.

Each blob is deleted in its own write transaction that first locks the row and then checks
again that it is unreferenced, so a push that links or references the blob at the same moment
either commits first (and the blob stays) or waits for the deletion and sees the blob gone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from prometheus_client import Counter
from sqlalchemy import and_, delete, exists, select

from dockyard import telemetry
from dockyard.registry.locks import undeletable
from dockyard.registry.manifests import delete_manifest
from dockyard.spec.digest import Digest, InvalidDigest
from dockyard.storage.db.database import Database
from dockyard.storage.db.schema import (
    blobs,
    manifest_blobs,
    manifest_children,
    manifests,
    recycle_bin_blobs,
    repository_blobs,
    tags,
    upload_sessions,
)
from dockyard.storage.driver import BlobDriver, blob_key, upload_key

# Runs of this server's processes (the background loop); `dockyard gc` runs in its own.
GC_RUNS = Counter("dockyard_gc_runs_total", "Garbage collection runs (not dry runs)")
GC_BYTES_FREED = Counter(
    "dockyard_gc_bytes_freed_total", "Bytes garbage collection removed (blobs, orphan files)"
)


@dataclass
class GcReport:
    blobs: list[tuple[str, int]] = field(default_factory=list)
    manifests: list[tuple[int, str]] = field(default_factory=list)
    uploads: list[str] = field(default_factory=list)
    orphan_files: list[tuple[str, int]] = field(default_factory=list)

    @property
    def bytes_freed(self) -> int:
        return sum(size for _, size in self.blobs) + sum(size for _, size in self.orphan_files)


class GarbageCollector:
    def __init__(
        self,
        db: Database,
        driver: BlobDriver,
        grace_seconds: float,
        upload_ttl_seconds: float,
        delete_untagged: bool,
    ) -> None:
        self._db = db
        self._driver = driver
        self.grace_seconds = grace_seconds
        self.upload_ttl_seconds = upload_ttl_seconds
        self.delete_untagged = delete_untagged

    def run(self, dry_run: bool = False) -> GcReport:
        report = GcReport()
        now = time.time()
        if self.delete_untagged:
            self._collect_manifests(now - self.grace_seconds, dry_run, report)
        self._collect_blobs(now - self.grace_seconds, dry_run, report)
        self._collect_uploads(now - self.upload_ttl_seconds, dry_run, report)
        self._collect_orphan_files(
            now - self.grace_seconds, now - self.upload_ttl_seconds, dry_run, report
        )
        if not dry_run:
            telemetry.record(GC_RUNS.inc)
            telemetry.record(lambda: GC_BYTES_FREED.inc(report.bytes_freed))
        return report

    def _unreferenced_blob(self, cutoff: float):  # type: ignore[no-untyped-def]
        return and_(
            blobs.c.created_at < cutoff,
            ~exists().where(manifest_blobs.c.blob_digest == blobs.c.digest),
            # A soft-deleted manifest keeps its blobs until its recycle-bin entry expires.
            ~exists().where(recycle_bin_blobs.c.blob_digest == blobs.c.digest),
            ~exists().where(
                (repository_blobs.c.digest == blobs.c.digest)
                & (repository_blobs.c.touched_at >= cutoff)
            ),
        )

    def _collect_blobs(self, cutoff: float, dry_run: bool, report: GcReport) -> None:
        with self._db.read() as conn:
            candidates = conn.execute(
                select(blobs.c.digest, blobs.c.size).where(self._unreferenced_blob(cutoff))
            ).all()
        for digest, size in candidates:
            if dry_run:
                report.blobs.append((digest, int(size)))
                continue
            with self._db.write() as conn:
                locked = conn.execute(
                    select(blobs.c.digest).where(blobs.c.digest == digest).with_for_update()
                ).first()
                if locked is None:
                    continue
                # Checked again after the lock: a push may have referenced it meanwhile.
                still = conn.execute(
                    select(blobs.c.digest).where(
                        blobs.c.digest == digest, self._unreferenced_blob(cutoff)
                    )
                ).first()
                if still is None:
                    continue
                conn.execute(delete(repository_blobs).where(repository_blobs.c.digest == digest))
                conn.execute(delete(blobs).where(blobs.c.digest == digest))
                self._driver.delete(blob_key(digest))
            report.blobs.append((digest, int(size)))

    def _collect_manifests(self, cutoff: float, dry_run: bool, report: GcReport) -> None:
        seen: set[tuple[int, str]] = set()
        while True:
            subject = manifests.alias("subject_manifest")
            unreferenced = and_(
                manifests.c.created_at < cutoff,
                ~undeletable(manifests),  # locked manifests stay, as in ACR
                ~exists().where(
                    (tags.c.repository_id == manifests.c.repository_id)
                    & (tags.c.manifest_digest == manifests.c.digest)
                ),
                ~exists().where(
                    (manifest_children.c.repository_id == manifests.c.repository_id)
                    & (manifest_children.c.child_digest == manifests.c.digest)
                ),
                (manifests.c.subject_digest.is_(None))
                | ~exists().where(
                    (subject.c.repository_id == manifests.c.repository_id)
                    & (subject.c.digest == manifests.c.subject_digest)
                ),
            )
            with self._db.read() as conn:
                rows = [
                    (int(r[0]), str(r[1]))
                    for r in conn.execute(
                        select(manifests.c.repository_id, manifests.c.digest).where(unreferenced)
                    )
                ]
            fresh = [r for r in rows if r not in seen]
            if not fresh:
                return
            for repo_id, digest in fresh:
                seen.add((repo_id, digest))
                if dry_run:
                    report.manifests.append((repo_id, digest))
                    continue
                with self._db.write() as conn:
                    still = conn.execute(
                        select(manifests.c.digest).where(
                            manifests.c.repository_id == repo_id,
                            manifests.c.digest == digest,
                            unreferenced,
                        )
                    ).first()
                    if still is not None and delete_manifest(conn, repo_id, digest) is not None:
                        report.manifests.append((repo_id, digest))
            if dry_run:
                return

    def _collect_uploads(self, cutoff: float, dry_run: bool, report: GcReport) -> None:
        with self._db.read() as conn:
            stale = [
                r[0]
                for r in conn.execute(
                    select(upload_sessions.c.id).where(upload_sessions.c.updated_at < cutoff)
                )
            ]
        for upload_id in stale:
            report.uploads.append(upload_id)
            if dry_run:
                continue
            with self._db.write() as conn:
                conn.execute(delete(upload_sessions).where(upload_sessions.c.id == upload_id))
            self._driver.delete(upload_key(upload_id))

    def _collect_orphan_files(
        self, cutoff: float, upload_cutoff: float, dry_run: bool, report: GcReport
    ) -> None:
        """Files that a crash left behind: blob files with no row, upload files with no session.

        An upload file without a session is also what a request in flight writes (a
        monolithic push, a session's first chunk): it is judged by the upload time-to-live,
        as a session is, not by the grace period, which may be shorter than a request."""
        with self._db.read() as conn:
            sessions = {r[0] for r in conn.execute(select(upload_sessions.c.id))}
        for key, size, modified in list(self._driver.walk("uploads")):
            upload_id = key.rsplit("/", 1)[-1]
            if modified < upload_cutoff and upload_id not in sessions:
                report.orphan_files.append((key, size))
                if not dry_run:
                    self._driver.delete(key)
        for key, size, modified in list(self._driver.walk("blobs")):
            if modified >= cutoff:
                continue
            parts = key.split("/")
            try:
                digest = str(Digest.parse(f"{parts[1]}:{parts[-1]}"))
            except (InvalidDigest, IndexError):
                continue
            with self._db.read() as conn:
                known = conn.execute(select(blobs.c.digest).where(blobs.c.digest == digest)).first()
            if known is None:
                report.orphan_files.append((key, size))
                if not dry_run:
                    self._driver.delete(key)
