"""Base-image triggers: a saved task runs again when a base image its last successful build
recorded names another digest.

A task is a dependent of a reference when the trigger is on, the task is Enabled, and its
most recent Succeeded run recorded that reference (its runtime stage for the type Runtime,
any stage for All) with a digest other than the new one.

- This registry: pushes are read from the events outbox past this consumer's own cursor
  (`Consumer.BASE_IMAGE_TRIGGERS`), in `seq` order, in one write transaction that queues the
  runs and moves the cursor, so that a push is acted on once, even across crashes. As the
  webhook fan-out does, a young `seq` gap stops the batch (events/cursors.py).
- Other registries: `poll_external` asks each recorded external base image's registry again.
- Chains: a run queued by a push made by a run of saved task T (found from the run's output
  images, or the images of a run still going) carries that run's chain plus T. A task already
  in the chain is not started again, and no chain grows past MAX_CHAIN, so a cycle of tasks
  that build each other's bases stops.
- A task gets one run per new digest: none when a run of it for the same reference and
  digest was queued since its last successful build.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, or_, select

from dockyard.errors import DockyardError
from dockyard.events import Action, Consumer, Cursor, ManifestTarget, StoredEvent
from dockyard.storage.db.database import Database
from dockyard.storage.db.schema import task_runs, tasks
from dockyard.tasks.base_images import BaseImageDigests, image_sources, local_source
from dockyard.tasks.model import ACTIVE, SUCCEEDED, BaseImage
from dockyard.tasks.saved import ENABLED, SavedTasks
from dockyard.tasks.service import image_repository

log = logging.getLogger("dockyard.tasks")

TRIGGER = "base_image"
MAX_CHAIN = 10
MAX_DETAIL = 300  # task_runs.trigger_detail


@dataclass(frozen=True, slots=True)
class Triggered:
    """What a new digest did for one dependent task."""

    task: str
    detail: str  # <reference>@<digest>
    run_id: str | None
    skipped: str | None = None  # why no run was queued


@dataclass(frozen=True, slots=True)
class Dependent:
    """A task with the trigger on, and the base images its last successful run recorded."""

    task: str
    bases: list[BaseImage]
    since_seq: int  # that run's
    since_time: float  # when it began (pushes before it are in what it recorded)


class BaseImageTriggers:
    def __init__(
        self,
        db: Database,
        saved: SavedTasks,
        digests: BaseImageDigests,
        registry_host: str,
        upstream: Sequence[str] = (),
    ) -> None:
        self._db = db
        self._saved = saved
        self._digests = digests
        self._host = registry_host
        self._upstream = tuple(upstream)
        self._cursor = Cursor(db, Consumer.BASE_IMAGE_TRIGGERS)

    # --- pushes to this registry -----------------------------------------------------------

    def pending(self) -> bool:
        """Whether events wait past the cursor (a read, so idle polls take no write lock)."""
        return self._cursor.has_unread()

    def consume(self, limit: int = 200) -> list[Triggered]:
        """Queue the runs that the pushes past the cursor call for, and move the cursor."""
        done: list[Triggered] = []
        with self._db.write() as conn:
            taken = self._cursor.take(conn, limit, time.time())
            dependents = _dependents(conn) if taken else []
            for stored in taken:
                target = stored.event.target
                if (
                    stored.event.action is Action.PUSH
                    and isinstance(target, ManifestTarget)
                    and target.tag is not None
                    and dependents
                ):
                    done += self._on_push(conn, stored, target, dependents)
        return done

    def _on_push(
        self,
        conn: Connection,
        stored: StoredEvent,
        target: ManifestTarget,
        dependents: list[Dependent],
    ) -> list[Triggered]:
        repository, tag, digest = target.repository, str(target.tag), target.digest
        pushed_at = stored.created_at
        detail = f"{repository}:{tag}@{digest}"
        chain: list[str] | None = None  # looked up once, when some task depends on it
        done: list[Triggered] = []
        for dependent in dependents:
            if pushed_at < dependent.since_time or not any(
                base.digest != digest and self._names_local(base.image, repository, tag)
                for base in dependent.bases
            ):
                continue
            if chain is None:
                chain = self._chain_of_pusher(conn, repository, tag, digest, pushed_at)
            done.append(self._queue(conn, dependent, detail, chain))
        return done

    def _names_local(self, image: str, repository: str, tag: str) -> bool:
        source = local_source(image, self._host, self._upstream)
        return source is not None and (source.repository, source.tag) == (repository, tag)

    def _chain_of_pusher(
        self, conn: Connection, repository: str, tag: str, digest: str, pushed_at: float
    ) -> list[str]:
        """The chain the pushing run's dependents carry: its own plus its task; empty when
        no run of a saved task made the push."""
        rows = conn.execute(
            select(
                task_runs.c.task_name,
                task_runs.c.status,
                task_runs.c.request,
                task_runs.c.output_images,
                task_runs.c.steps,
            )
            .where(
                task_runs.c.task_name.is_not(None),
                or_(task_runs.c.status.in_(ACTIVE), task_runs.c.finished_at >= pushed_at),
            )
            .order_by(task_runs.c.seq.desc())
        ).all()
        wanted = (repository, tag)
        pusher = None
        for row in rows:  # a finished run's output names the very digest
            outputs = json.loads(row.output_images or "[]")
            if any((o["repository"], o["tag"], o["digest"]) == (*wanted, digest) for o in outputs):
                pusher = row
                break
        if pusher is None:  # else a run still going that builds the tag
            for row in rows:
                if row.status in ACTIVE and wanted in self._images_of(row):
                    pusher = row
                    break
        if pusher is None:
            return []
        chain = json.loads(pusher.request).get("trigger_chain") or []
        return [*map(str, chain), str(pusher.task_name)]

    def _images_of(self, row: Any) -> set[tuple[str, str]]:
        names = list(json.loads(row.request).get("images") or [])
        for step in json.loads(row.steps or "[]"):
            names += step.get("images") or []
        prefix = f"{self._host}/"
        return {image_repository(name.removeprefix(prefix)) for name in map(str, names)}

    def _queue(
        self, conn: Connection, dependent: Dependent, detail: str, chain: list[str]
    ) -> Triggered:
        task = dependent.task
        refused = None
        if len(detail) > MAX_DETAIL:
            refused = f"the reference is longer than {MAX_DETAIL} characters"
        elif task in chain:
            refused = f"a cycle: {' -> '.join([*chain, task])}"
        elif len(chain) >= MAX_CHAIN:
            refused = f"the trigger chain {' -> '.join(chain)} reached {MAX_CHAIN} tasks"
        if refused is not None:
            log.warning("base image %s: task %s not started: %s", detail, task, refused)
            return Triggered(task, detail, None, refused)
        if _already_triggered(conn, dependent, detail):
            return Triggered(task, detail, None, "a run for this digest was already queued")
        run_id = self._saved.queue_triggered(conn, task, TRIGGER, detail, chain)
        if run_id is None:
            return Triggered(task, detail, None, "the task could not make a run")
        log.info("base image %s: task %s run %s (chain %s)", detail, task, run_id, chain)
        return Triggered(task, detail, run_id)

    # --- other registries ------------------------------------------------------------------

    def poll_external(self) -> list[Triggered]:
        """Ask other registries for the recorded external base images of the dependents; a
        new digest queues a run (one per task and poll)."""
        with self._db.read() as conn:
            dependents = _dependents(conn)
        done: list[Triggered] = []
        for dependent in dependents:
            found = self._external_change(dependent)
            if found is not None:
                with self._db.write() as conn:
                    done.append(self._queue(conn, dependent, found, []))
        return done

    def _external_change(self, dependent: Dependent) -> str | None:
        """`<reference>@<digest>` of the first external base image that changed, if any."""
        credentials: dict[str, tuple[str, str]] | None = None
        for base in dependent.bases:
            sources = image_sources(base.image, self._host, self._upstream)
            if base.digest is None or all(source.local for source in sources):
                continue
            if credentials is None:
                credentials = self._digests.credentials(dependent.task)
            try:
                located = self._digests.locate(base.image, self._host, self._upstream, credentials)
            except DockyardError as exc:
                log.warning("polling base image %s of task %s: %s", base.image, dependent.task, exc)
                continue
            # Found here now: a push event of this registry is what triggers.
            if located is not None and not located[0].local and located[1] != base.digest:
                return f"{located[0].reference}@{located[1]}"
        return None


def _dependents(conn: Connection) -> list[Dependent]:
    found: list[Dependent] = []
    rows = conn.execute(
        select(tasks.c.name, tasks.c.base_image_trigger_type)
        .where(tasks.c.base_image_trigger_enabled.is_(True), tasks.c.status == ENABLED)
        .order_by(tasks.c.name)
    ).all()
    for name, trigger_type in rows:
        run = conn.execute(
            select(task_runs.c.seq, task_runs.c.started_at, task_runs.c.base_images)
            .where(task_runs.c.task_name == name, task_runs.c.status == SUCCEEDED)
            .order_by(task_runs.c.seq.desc())
            .limit(1)
        ).first()
        if run is None:
            continue
        bases = [BaseImage(**b) for b in json.loads(run.base_images or "[]")]
        if trigger_type != "All":
            bases = [base for base in bases if base.runtime]
        if bases:
            found.append(Dependent(str(name), bases, int(run.seq), float(run.started_at or 0)))
    return found


def _already_triggered(conn: Connection, dependent: Dependent, detail: str) -> bool:
    """A run for this reference and digest was queued since the last successful build (it
    is queued, running, or ended without success: one try per digest)."""
    found = conn.execute(
        select(task_runs.c.run_id)
        .where(
            task_runs.c.task_name == dependent.task,
            task_runs.c.trigger == TRIGGER,
            task_runs.c.trigger_detail == detail,
            task_runs.c.seq > dependent.since_seq,
        )
        .limit(1)
    ).first()
    return found is not None
