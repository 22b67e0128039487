"""Rows of `tasks` and `task_timers` as typed values, and the reads every saved-task service
shares: a task (locked for a change, or not) and the bookkeeping of trigger failures.

Lock order: a change locks the task row first, then its timers (firing does the same), so
that no two transactions wait on each other."""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.engine import Row

from dockyard.errors import NotFound
from dockyard.storage.db.schema import tasks
from dockyard.tasks.task_model import (
    BaseImageTriggerType,
    SavedTask,
    TaskSpec,
    TaskStatus,
    Timer,
)


def task_not_found(name: str) -> NotFound:
    return NotFound(f"task {name} not found")


def task_row(name: str, spec: TaskSpec, owner: str, now: float) -> dict[str, Any]:
    return {
        "name": name,
        "context": spec.context,
        "file": spec.file,
        "cmd": spec.cmd,
        "images": json.dumps(spec.images),
        "task_values": json.dumps(spec.values),
        "secret_values": json.dumps(spec.secret_values),
        "timeout": spec.timeout,
        "platform": spec.platform,
        "engine": spec.engine,
        "status": str(spec.status),
        "commit_trigger_enabled": spec.commit_trigger_enabled,
        "base_image_trigger_enabled": spec.base_image_trigger_enabled,
        "base_image_trigger_type": str(spec.base_image_trigger_type),
        "git_access_token": spec.git_access_token,
        "webhook_secret": spec.webhook_secret,
        "owner": owner,
        "created_at": now,
        "updated_at": now,
    }


def read_task(conn: Connection, name: str, *, lock: bool = False) -> SavedTask | None:
    query = select(tasks).where(tasks.c.name == name)
    row = conn.execute(query.with_for_update() if lock else query).first()
    return None if row is None else task_from_row(row)


def locked_task(conn: Connection, name: str) -> SavedTask:
    """The task, its row locked for the transaction; NotFound when there is none."""
    found = read_task(conn, name, lock=True)
    if found is None:
        raise task_not_found(name)
    return found


def existing_task(conn: Connection, name: str) -> SavedTask:
    found = read_task(conn, name)
    if found is None:
        raise task_not_found(name)
    return found


def trigger_failed(conn: Connection, task: str, error: str) -> None:
    """Record why a trigger could not start a run of the task (shown on the task)."""
    conn.execute(
        update(tasks)
        .where(tasks.c.name == task)
        .values(last_trigger_error=error, last_trigger_error_at=time.time())
    )


def trigger_started(conn: Connection, task: SavedTask) -> None:
    if task.last_trigger_error is not None:
        conn.execute(
            update(tasks)
            .where(tasks.c.name == task.name)
            .values(last_trigger_error=None, last_trigger_error_at=None)
        )


def task_from_row(row: Row[Any]) -> SavedTask:
    data = row._mapping
    spec = TaskSpec(
        context=data["context"],
        file=data["file"],
        cmd=data["cmd"],
        images=json.loads(data["images"]),
        values=json.loads(data["task_values"]),
        secret_values=json.loads(data["secret_values"]),
        timeout=int(data["timeout"]),
        platform=data["platform"],
        engine=data["engine"],
        status=TaskStatus(data["status"]),
        commit_trigger_enabled=bool(data["commit_trigger_enabled"]),
        base_image_trigger_enabled=bool(data["base_image_trigger_enabled"]),
        base_image_trigger_type=BaseImageTriggerType(data["base_image_trigger_type"]),
        git_access_token=data["git_access_token"],
        webhook_secret=data["webhook_secret"],
    )
    return SavedTask(
        name=data["name"],
        spec=spec,
        owner=data["owner"],
        created_at=float(data["created_at"]),
        updated_at=float(data["updated_at"]),
        last_commit=data["last_commit"],
        last_trigger_error=data["last_trigger_error"],
        last_trigger_error_at=data["last_trigger_error_at"],
    )


def timer_from_row(row: Row[Any]) -> Timer:
    data = row._mapping
    return Timer(
        task=data["task"],
        name=data["name"],
        schedule=data["schedule"],
        enabled=bool(data["enabled"]),
        created_at=float(data["created_at"]),
        last_fired_at=data["last_fired_at"],
        last_run_id=data["last_run_id"],
        next_due=float(data["next_due"]),
    )
