"""The run store: runs are rows; workers claim them with a lease and renew it while they work.

A worker claims the oldest Queued run whose engine it has (PostgreSQL: `FOR UPDATE SKIP
LOCKED`, so that workers never wait on each other's claims; SQLite: writers are serialized
anyway). Every change by a worker is conditional on it still holding the run, so that a worker
that lost its lease (the run was reaped as Error) cannot overwrite the final status.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from sqlalchemy import Connection, func, select, update
from sqlalchemy.engine import Row

from dockyard.errors import Conflict, NotFound, Unsupported
from dockyard.spec.run_ids import RUN_ID_PREFIX, RUN_ID_TEMPLATE
from dockyard.storage.db.database import Database, insert_ignore
from dockyard.storage.db.schema import task_counters, task_runs, task_sources
from dockyard.tasks.model import (
    ACTIVE,
    CANCELED,
    ERROR,
    FINAL,
    QUEUED,
    RUNNING,
    STARTED,
    BaseImage,
    OutputImage,
    Run,
    RunRequest,
    StepResult,
)

RUN_COUNTER = "runs"


class RunStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    # --- scheduling ------------------------------------------------------------------------

    def create(
        self,
        request: RunRequest,
        requester: str,
        engine: str,
        timeout: int,
        trigger: str = "manual",
        task_name: str | None = None,
        trigger_detail: str | None = None,
    ) -> Run:
        """Queue a run; `{{.Run.ID}}` in its images becomes the new run id."""
        with self._db.write() as conn:
            run_id = insert_run(
                conn, request, requester, engine, timeout, trigger, task_name, trigger_detail
            )
        return self.get(run_id)

    def get(self, run_id: str) -> Run:
        with self._db.read() as conn:
            row = conn.execute(select(task_runs).where(task_runs.c.run_id == run_id)).first()
        if row is None:
            raise NotFound(f"run {run_id} not found")
        return _run(row)

    def recent(
        self, top: int = 50, status: str | None = None, task_name: str | None = None
    ) -> list[Run]:
        """Newest first."""
        query = select(task_runs).order_by(task_runs.c.seq.desc()).limit(top)
        if status is not None:
            query = query.where(task_runs.c.status == status)
        if task_name is not None:
            query = query.where(task_runs.c.task_name == task_name)
        with self._db.read() as conn:
            return [_run(row) for row in conn.execute(query)]

    def request_cancel(self, run_id: str) -> Run:
        """A Queued run ends Canceled at once; a running one is stopped by its worker."""
        now = time.time()
        with self._db.write() as conn:
            row = conn.execute(
                select(task_runs.c.status).where(task_runs.c.run_id == run_id).with_for_update()
            ).first()
            if row is None:
                raise NotFound(f"run {run_id} not found")
            status = str(row[0])
            if status in FINAL:
                raise Conflict(f"run {run_id} has finished ({status})")
            values: dict[str, Any] = {"cancel_requested": True}
            if status == QUEUED:
                values.update(status=CANCELED, finished_at=now, error="canceled before it started")
            conn.execute(update(task_runs).where(task_runs.c.run_id == run_id).values(**values))
        return self.get(run_id)

    # --- workers ---------------------------------------------------------------------------

    def has_queued(self, engines: Sequence[str]) -> bool:
        """A read-only check, so that idle polls never take the write lock."""
        if not engines:
            return False
        with self._db.read() as conn:
            found = conn.execute(
                select(task_runs.c.run_id)
                .where(task_runs.c.status == QUEUED, task_runs.c.engine.in_(list(engines)))
                .limit(1)
            ).first()
        return found is not None

    def claim(
        self, worker: str, engines: Sequence[str], lease_seconds: float, platform: str
    ) -> Run | None:
        """Take the oldest Queued run this worker has an engine for; None when there is none."""
        if not engines:
            return None
        now = time.time()
        with self._db.write() as conn:
            row = conn.execute(
                select(task_runs.c.run_id, task_runs.c.platform)
                .where(task_runs.c.status == QUEUED, task_runs.c.engine.in_(list(engines)))
                .order_by(task_runs.c.seq)
                .limit(1)
                .with_for_update(skip_locked=True)
            ).first()
            if row is None:
                return None
            run_id = str(row[0])
            conn.execute(
                update(task_runs)
                .where(task_runs.c.run_id == run_id)
                .values(
                    status=STARTED,
                    worker=worker,
                    lease_until=now + lease_seconds,
                    started_at=now,
                    platform=row[1] or platform,
                )
            )
        return self.get(run_id)

    def renew(self, run_id: str, worker: str, lease_seconds: float) -> bool | None:
        """Extend the lease; answers whether a cancel was requested, None when the run is no
        longer this worker's."""
        with self._db.write() as conn:
            row = conn.execute(
                update(task_runs)
                .where(
                    task_runs.c.run_id == run_id,
                    task_runs.c.worker == worker,
                    task_runs.c.status.in_(ACTIVE),
                )
                .values(lease_until=time.time() + lease_seconds)
                .returning(task_runs.c.cancel_requested)
            ).first()
        return None if row is None else bool(row[0])

    def cancel_requested(self, run_id: str, worker: str) -> bool | None:
        """As `renew` answers, without extending the lease (a read)."""
        with self._db.read() as conn:
            row = conn.execute(
                select(task_runs.c.cancel_requested).where(
                    task_runs.c.run_id == run_id,
                    task_runs.c.worker == worker,
                    task_runs.c.status.in_(ACTIVE),
                )
            ).first()
        return None if row is None else bool(row[0])

    def mark_running(self, run_id: str, worker: str, base_images: Sequence[BaseImage]) -> bool:
        return self._update_held(
            run_id,
            worker,
            status=RUNNING,
            base_images=json.dumps([_base_json(b) for b in base_images]),
        )

    def add_base_images(self, run_id: str, worker: str, base_images: Sequence[BaseImage]) -> bool:
        """Add base images to those the run recorded (each build step of a multi-step run);
        False when the run is no longer this worker's."""
        held = (
            task_runs.c.run_id == run_id,
            task_runs.c.worker == worker,
            task_runs.c.status.in_(ACTIVE),
        )
        with self._db.write() as conn:
            row = conn.execute(select(task_runs.c.base_images).where(*held).with_for_update())
            found = row.first()
            if found is None:
                return False
            recorded = json.loads(found[0] or "[]")
            recorded += [_base_json(b) for b in base_images]
            conn.execute(update(task_runs).where(*held).values(base_images=json.dumps(recorded)))
        return True

    def finish(
        self,
        run_id: str,
        worker: str,
        status: str,
        error: str | None = None,
        output_images: Sequence[OutputImage] = (),
    ) -> bool:
        """Record the final status; False when the run was no longer this worker's."""
        assert status in FINAL
        return self._update_held(
            run_id,
            worker,
            status=status,
            error=error,
            finished_at=time.time(),
            lease_until=None,
            output_images=json.dumps([_output_json(o) for o in output_images]),
        )

    def set_steps(self, run_id: str, worker: str, steps: Sequence[StepResult]) -> bool:
        """Record how the steps of a multi-step run stand; False when the run is no longer
        this worker's."""
        payload = json.dumps([asdict(step) for step in steps])
        return self._update_held(run_id, worker, steps=payload)

    def _update_held(self, run_id: str, worker: str, **values: Any) -> bool:
        with self._db.write() as conn:
            changed = conn.execute(
                update(task_runs)
                .where(
                    task_runs.c.run_id == run_id,
                    task_runs.c.worker == worker,
                    task_runs.c.status.in_(ACTIVE),
                )
                .values(**values)
                .returning(task_runs.c.run_id)
            ).first()
        return changed is not None

    def reap(self) -> list[str]:
        """End every run whose worker stopped renewing its lease: Error "worker lost" (or
        Canceled when a cancel was asked for). Answers the run ids ended."""
        now = time.time()
        expired = (
            task_runs.c.status.in_(ACTIVE),
            task_runs.c.lease_until < now,
        )
        with self._db.read() as conn:
            if conn.execute(select(task_runs.c.run_id).where(*expired).limit(1)).first() is None:
                return []
        ended: list[str] = []
        with self._db.write() as conn:
            rows = conn.execute(
                select(task_runs.c.run_id, task_runs.c.worker, task_runs.c.cancel_requested)
                .where(*expired)
                .with_for_update(skip_locked=True)
            ).all()
            for run_id, worker, cancel_requested in rows:
                values: dict[str, Any] = {"finished_at": now, "lease_until": None}
                if cancel_requested:
                    values.update(status=CANCELED, error="canceled; its worker was lost")
                else:
                    values.update(
                        status=ERROR,
                        error=f"worker lost: {worker} stopped renewing its lease",
                    )
                conn.execute(update(task_runs).where(task_runs.c.run_id == run_id).values(**values))
                ended.append(str(run_id))
        return ended

    def finished_ids(self, run_ids: Sequence[str]) -> set[str]:
        """Which of these runs are finished or unknown (their leftovers may go)."""
        if not run_ids:
            return set()
        with self._db.read() as conn:
            active = {
                str(r[0])
                for r in conn.execute(
                    select(task_runs.c.run_id).where(
                        task_runs.c.run_id.in_(list(run_ids)),
                        task_runs.c.status.not_in(FINAL),
                    )
                )
            }
        return set(run_ids) - active

    def count(self) -> int:
        with self._db.read() as conn:
            return int(conn.execute(select(func.count()).select_from(task_runs)).scalar_one())


def insert_run(
    conn: Connection,
    request: RunRequest,
    requester: str,
    engine: str,
    timeout: int,
    trigger: str = "manual",
    task_name: str | None = None,
    trigger_detail: str | None = None,
) -> str:
    """Queue a run in the caller's write transaction; answers its id."""
    now = time.time()
    if request.source is not None:
        touched = conn.execute(
            update(task_sources).where(task_sources.c.digest == request.source).values(used_at=now)
        ).rowcount
        if not touched:
            raise Unsupported(
                f"source {request.source} is not uploaded (POST /api/v1/runs/sources)",
            )
    seq = _next_value(conn, RUN_COUNTER)
    run_id = f"{RUN_ID_PREFIX}{seq}"
    images = [image.replace(RUN_ID_TEMPLATE, run_id) for image in request.images]
    resolved = RunRequest.from_json({**request.to_json(), "images": images})
    conn.execute(
        task_runs.insert().values(
            run_id=run_id,
            seq=seq,
            kind=resolved.kind,
            status=QUEUED,
            trigger=trigger,
            request=json.dumps(resolved.to_json()),
            requester=requester,
            engine=engine,
            platform=resolved.platform,
            cancel_requested=False,
            timeout=timeout,
            created_at=now,
            log_size=0,
            task_name=task_name,
            trigger_detail=trigger_detail,
        )
    )
    return run_id


def _next_value(conn: Connection, name: str) -> int:
    """The counter's next value, taken in the caller's write transaction (the row lock
    serializes concurrent creations on PostgreSQL)."""
    row = conn.execute(
        update(task_counters)
        .where(task_counters.c.name == name)
        .values(value=task_counters.c.value + 1)
        .returning(task_counters.c.value)
    ).first()
    if row is not None:
        return int(row[0])
    if insert_ignore(conn, task_counters, {"name": name, "value": 1}):
        return 1
    return _next_value(conn, name)


def _base_json(image: BaseImage) -> dict[str, Any]:
    return {
        "stage": image.stage,
        "name": image.name,
        "image": image.image,
        "runtime": image.runtime,
        "digest": image.digest,
    }


def _output_json(image: OutputImage) -> dict[str, Any]:
    return {"repository": image.repository, "tag": image.tag, "digest": image.digest}


def _run(row: Row[Any]) -> Run:
    data = row._mapping
    outputs = json.loads(data["output_images"] or "[]")
    bases = json.loads(data["base_images"] or "[]")
    return Run(
        run_id=data["run_id"],
        seq=int(data["seq"]),
        kind=data["kind"],
        status=data["status"],
        trigger=data["trigger"],
        request=RunRequest.from_json(json.loads(data["request"])),
        requester=data["requester"],
        engine=data["engine"],
        platform=data["platform"],
        worker=data["worker"],
        lease_until=data["lease_until"],
        cancel_requested=bool(data["cancel_requested"]),
        timeout=int(data["timeout"]),
        created_at=float(data["created_at"]),
        started_at=data["started_at"],
        finished_at=data["finished_at"],
        output_images=[OutputImage(**o) for o in outputs],
        base_images=[BaseImage(**b) for b in bases],
        error=data["error"],
        log_size=int(data["log_size"]),
        task_name=data["task_name"],
        trigger_detail=data["trigger_detail"],
        steps=[StepResult(**s) for s in json.loads(data["steps"] or "[]")],
    )
