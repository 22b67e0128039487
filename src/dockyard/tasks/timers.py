"""Named cron timers of saved tasks (`task_timers`), and their firing.

Each timer keeps `next_due`. Firing one locks the task, then the timer, re-checks it, queues
a run as the task's owner and moves `next_due` past now: a timer missed while no worker ran
fires once, not once per missed slot. A new schedule, or enabling, counts from now."""

from __future__ import annotations

import re
import time
from typing import Any

from sqlalchemy import Connection, delete, select, update

from dockyard.errors import Conflict, Invalid, NotFound
from dockyard.storage.db.database import Database, insert_ignore
from dockyard.storage.db.schema import task_timers, tasks
from dockyard.tasks.cron import check_schedule, next_slot
from dockyard.tasks.launch import TaskLauncher
from dockyard.tasks.model import Trigger
from dockyard.tasks.task_model import Fired, TaskStatus, Timer
from dockyard.tasks.task_rows import existing_task, locked_task, read_task, timer_from_row

TIMER_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,50}$")


def check_timer_name(name: str) -> None:
    if not TIMER_NAME_PATTERN.match(name):
        raise Invalid(f"timer name {name!r}: 1 to 50 letters, digits, '-' or '_'")


def timer_row(task: str, name: str, schedule: str, now: float) -> dict[str, Any]:
    return {
        "task": task,
        "name": name,
        "schedule": schedule,
        "enabled": True,
        "created_at": now,
        "next_due": next_slot(schedule, now),
    }


def reschedule(conn: Connection, task: str, now: float) -> None:
    """Move every timer of the task to its next slot after now (slots passed while the task
    was disabled do not fire)."""
    rows = conn.execute(
        select(task_timers.c.name, task_timers.c.schedule).where(task_timers.c.task == task)
    ).all()
    for name, schedule in rows:
        conn.execute(
            update(task_timers)
            .where(task_timers.c.task == task, task_timers.c.name == name)
            .values(next_due=next_slot(str(schedule), now))
        )


def _timer_not_found(task: str, name: str) -> NotFound:
    return NotFound(f"task {task} has no timer {name}")


def _locked_timer(conn: Connection, task: str, name: str) -> Timer | None:
    row = conn.execute(
        select(task_timers)
        .where(task_timers.c.task == task, task_timers.c.name == name)
        .with_for_update()
    ).first()
    return None if row is None else timer_from_row(row)


class TaskTimers:
    def __init__(self, db: Database, launcher: TaskLauncher) -> None:
        self._db = db
        self._launcher = launcher

    def of(self, task: str | None = None) -> list[Timer]:
        """The timers of a task (NotFound when there is no such task), or of every task."""
        query = select(task_timers).order_by(task_timers.c.task, task_timers.c.name)
        with self._db.read() as conn:
            if task is not None:
                existing_task(conn, task)
                query = query.where(task_timers.c.task == task)
            return [timer_from_row(row) for row in conn.execute(query)]

    def get(self, task: str, name: str) -> Timer:
        with self._db.read() as conn:
            row = conn.execute(
                select(task_timers).where(task_timers.c.task == task, task_timers.c.name == name)
            ).first()
        if row is None:
            raise _timer_not_found(task, name)
        return timer_from_row(row)

    def add(self, task: str, name: str, schedule: str, enabled: bool = True) -> Timer:
        check_timer_name(name)
        cron = check_schedule(schedule)
        now = time.time()
        with self._db.write() as conn:
            locked_task(conn, task)
            row = {**timer_row(task, name, cron, now), "enabled": enabled}
            if not insert_ignore(conn, task_timers, row):
                raise Conflict(f"task {task} already has a timer {name}")
        return self.get(task, name)

    def update(
        self, task: str, name: str, schedule: str | None = None, enabled: bool | None = None
    ) -> Timer:
        """A new schedule, or enabling, counts from now: slots passed before do not fire."""
        cron = None if schedule is None else check_schedule(schedule)
        now = time.time()
        with self._db.write() as conn:
            locked_task(conn, task)
            current = _locked_timer(conn, task, name)
            if current is None:
                raise _timer_not_found(task, name)
            values: dict[str, Any] = {}
            if cron is not None:
                values["schedule"] = cron
            if enabled is not None:
                values["enabled"] = enabled
            if cron is not None or (enabled and not current.enabled):
                values["next_due"] = next_slot(cron or current.schedule, now)
            if values:
                conn.execute(
                    update(task_timers)
                    .where(task_timers.c.task == task, task_timers.c.name == name)
                    .values(**values)
                )
        return self.get(task, name)

    def remove(self, task: str, name: str) -> None:
        with self._db.write() as conn:
            gone = conn.execute(
                delete(task_timers).where(task_timers.c.task == task, task_timers.c.name == name)
            ).rowcount
        if not gone:
            raise _timer_not_found(task, name)

    def due(self, now: float) -> list[Timer]:
        """Enabled timers of enabled tasks whose next slot has passed (a read)."""
        query = (
            select(task_timers)
            .join(tasks, tasks.c.name == task_timers.c.task)
            .where(
                task_timers.c.enabled.is_(True),
                task_timers.c.next_due <= now,
                tasks.c.status == TaskStatus.ENABLED.value,
            )
            .order_by(task_timers.c.next_due)
        )
        with self._db.read() as conn:
            return [timer_from_row(row) for row in conn.execute(query)]

    def fire_due(self, now: float | None = None) -> list[Fired]:
        """Fire every due timer once, however many of its slots passed, and move it to its
        next slot after now. Answers the timers fired with their run ids (None when the task
        could not make a run; that firing is recorded all the same)."""
        moment = time.time() if now is None else now
        fired: list[Fired] = []
        for due in self.due(moment):
            with self._db.write() as conn:
                # The task first, then its timer: the order every change takes (no deadlock).
                task = read_task(conn, due.task, lock=True)
                if task is None or not task.spec.enabled:
                    continue
                timer = _locked_timer(conn, due.task, due.name)
                if timer is None or not timer.enabled or timer.next_due > moment:
                    continue  # another process fired it, or it changed
                run_id = self._launcher.queue_for_owner(
                    conn, task, Trigger.TIMER, timer.name, label=f"timer {timer.name}"
                )
                conn.execute(
                    update(task_timers)
                    .where(task_timers.c.task == timer.task, task_timers.c.name == timer.name)
                    .values(
                        last_fired_at=moment,
                        last_run_id=run_id,
                        next_due=next_slot(timer.schedule, moment),
                    )
                )
            fired.append(Fired(timer, run_id))
        return fired
