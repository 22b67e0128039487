"""Saved tasks: stored definitions of a build or a command, run by hand or by their timers.

A task is a row of `tasks`; its named cron timers (5 fields, UTC) and the credentials of
other registries are rows of `task_timers` and `task_credentials`. Running a task makes a
run as a quick build or command makes one, in the same transaction that reads the task, with
the task's name and what triggered it recorded on the run. Secret values and the git access
token are stored but never answered. A commit on the task's branch, seen by the push webhook
or the poller, is built once (`commit_seen`).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from secrets import token_urlsafe
from typing import Any
from urllib.parse import urlsplit

from croniter import croniter
from sqlalchemy import Connection, delete, select, update
from sqlalchemy.engine import Row

from dockyard.errors import DockyardError, NameUnknown, Unsupported
from dockyard.storage.db.database import Database, insert_ignore
from dockyard.storage.db.schema import task_credentials, task_runs, task_timers, tasks
from dockyard.tasks.fetch import ContextUrl, branch_head, parse_context_url
from dockyard.tasks.model import ENGINES, MAX_TIMEOUT_SECONDS, Run, RunRequest
from dockyard.tasks.runs import RunStore, insert_run
from dockyard.tasks.service import MULTI_STEP_ENGINE, TaskPolicy, check_request

log = logging.getLogger("dockyard.tasks")

NAME_PATTERN = re.compile(r"^[A-Za-z0-9-]{5,50}$")
TIMER_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,50}$")
VALUE_TEMPLATE = re.compile(r"\{\{\s*\.Values\.([A-Za-z0-9_.-]+)\s*\}\}")
ENABLED, DISABLED = "Enabled", "Disabled"
WEBHOOK_SECRET_BYTES = 32
TASK_STATUSES = (ENABLED, DISABLED)
BASE_IMAGE_TRIGGER_TYPES = ("Runtime", "All")
NO_CONTEXT = "/"
MULTI_STEP_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """What a task does, as its owner set it."""

    context: str = NO_CONTEXT
    file: str | None = None
    cmd: str | None = None
    images: list[str] = field(default_factory=list)
    values: dict[str, str] = field(default_factory=dict)
    secret_values: dict[str, str] = field(default_factory=dict)
    timeout: int = 3600
    platform: str | None = None
    engine: str | None = None
    status: str = ENABLED
    commit_trigger_enabled: bool = False
    base_image_trigger_enabled: bool = False
    base_image_trigger_type: str = "Runtime"
    git_access_token: str | None = None
    webhook_secret: str | None = None  # of the push webhook (the commit trigger)

    @property
    def kind(self) -> str:
        return "cmd" if self.cmd is not None else "build"

    @property
    def multi_step(self) -> bool:
        return self.file is not None and self.file.lower().endswith(MULTI_STEP_SUFFIXES)


@dataclass(frozen=True, slots=True)
class SavedTask:
    name: str
    spec: TaskSpec
    owner: str  # principal id; runs started by a trigger run as it
    created_at: float
    updated_at: float
    last_commit: str | None = None  # the branch head the commit trigger saw last
    last_trigger_error: str | None = None  # why the last trigger could not start a run
    last_trigger_error_at: float | None = None


@dataclass(frozen=True, slots=True)
class Timer:
    task: str
    name: str
    schedule: str
    enabled: bool
    created_at: float
    last_fired_at: float | None
    last_run_id: str | None
    next_due: float

    def upcoming(self, count: int = 3) -> list[float]:
        """The next firing times from now (or from the missed slot that is still due)."""
        if not self.enabled:
            return []
        times = [self.next_due]
        while len(times) < count:
            times.append(next_slot(self.schedule, max(times[-1], time.time())))
        return times


@dataclass(frozen=True, slots=True)
class Credential:
    task: str
    login_server: str
    username: str
    created_at: float


@dataclass(frozen=True, slots=True)
class CommitOutcome:
    """What a commit seen by the push webhook or the poller did: a run, or why none."""

    commit: str
    branch: str
    run_id: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class RunOverrides:
    """What a manual run may change: values (merged), and an uploaded context."""

    values: dict[str, str] = field(default_factory=dict)
    secret_values: dict[str, str] = field(default_factory=dict)
    source: str | None = None
    timeout: int | None = None


# --- schedules --------------------------------------------------------------------------------


def check_schedule(schedule: str) -> str:
    """A 5-field cron expression in UTC, normalized to single spaces."""
    fields = schedule.split()
    if len(fields) != 5 or not croniter.is_valid(" ".join(fields)):
        raise Unsupported(
            f"schedule {schedule!r} is not a 5-field cron expression "
            "(minute hour day-of-month month day-of-week, UTC)"
        )
    return " ".join(fields)


def next_slot(schedule: str, after: float) -> float:
    """The first slot of `schedule` strictly after `after` (epoch seconds, UTC)."""
    start = datetime.fromtimestamp(after, UTC)
    found = croniter(schedule, start).get_next(datetime)
    assert isinstance(found, datetime)
    return found.timestamp()


def check_timer_name(name: str) -> None:
    if not TIMER_NAME_PATTERN.match(name):
        raise Unsupported(f"timer name {name!r}: 1 to 50 letters, digits, '-' or '_'")


# --- validation -------------------------------------------------------------------------------


def check_task_name(name: str) -> None:
    if not NAME_PATTERN.match(name):
        raise Unsupported(f"task name {name!r}: 5 to 50 letters, digits or '-'")


def check_timeout(timeout: int, policy: TaskPolicy) -> None:
    low, high = policy.min_timeout_seconds, MAX_TIMEOUT_SECONDS
    if not low <= timeout <= high:
        raise Unsupported(f"timeout must be between {low} and {high} seconds")


def render(text: str, values: Mapping[str, str]) -> str:
    """Put `{{.Values.x}}` in place; an unknown value is refused."""

    def value(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise Unsupported(f"{match.group(0)} names no value of the task (--set {key}=...)")
        return values[key]

    return VALUE_TEMPLATE.sub(value, text)


def check_spec(spec: TaskSpec, policy: TaskPolicy) -> TaskSpec:
    """Refuse (400) a definition that cannot make runs; answers it with its engine chosen."""
    if (spec.file is None) == (spec.cmd is None):
        raise Unsupported("a task has exactly one of file (a Dockerfile) and cmd")
    if spec.status not in TASK_STATUSES:
        raise Unsupported(f"status {spec.status!r}: Enabled or Disabled")
    if spec.base_image_trigger_type not in BASE_IMAGE_TRIGGER_TYPES:
        raise Unsupported(
            f"base image trigger type {spec.base_image_trigger_type!r}: Runtime or All"
        )
    engine = spec.engine or (MULTI_STEP_ENGINE if spec.multi_step else policy.default_engine)
    if spec.multi_step and engine != MULTI_STEP_ENGINE:
        raise Unsupported(f"a multi-step task runs on the {MULTI_STEP_ENGINE} engine")
    if engine not in ENGINES:
        raise Unsupported(f"unknown engine {engine!r}; known: {', '.join(ENGINES)}")
    check_timeout(spec.timeout, policy)
    if spec.context != NO_CONTEXT:
        parse_context_url(spec.context)
    elif spec.kind == "build":
        raise Unsupported("a Dockerfile or task file needs a context: a git or tarball URL")
    if spec.commit_trigger_enabled and _git_context(spec) is None:
        raise Unsupported("the commit trigger needs a git context (https://host/repo.git#branch)")
    for key in (*spec.values, *spec.secret_values):
        if not key or "=" in key or not VALUE_TEMPLATE.fullmatch(f"{{{{.Values.{key}}}}}"):
            raise Unsupported(f"value name {key!r}: letters, digits, '_', '-' or '.'")
    checked = replace(spec, engine=engine)
    check_request(run_request(checked, RunOverrides()))
    return checked


def run_request(spec: TaskSpec, overrides: RunOverrides) -> RunRequest:
    """The run a task makes (templates of values resolved)."""
    values = {**spec.values, **overrides.values}
    context_url = None if overrides.source or spec.context == NO_CONTEXT else spec.context
    if spec.multi_step:
        return RunRequest(
            kind="task",
            source=overrides.source,
            context_url=context_url,
            task_file=spec.file,
            images=[render(image, values) for image in spec.images],
            values=values,
            secret_values=dict(overrides.secret_values),
            platform=spec.platform,
        )
    if spec.kind == "cmd":
        return RunRequest(
            kind="cmd",
            source=overrides.source,
            context_url=context_url,
            cmd=render(spec.cmd or "", values),
            platform=spec.platform,
        )
    return RunRequest(
        kind="build",
        source=overrides.source,
        context_url=context_url,
        dockerfile=spec.file or "Dockerfile",
        images=[render(image, values) for image in spec.images],
        build_args={**values, **spec.secret_values, **overrides.secret_values},
        platform=spec.platform,
    )


# --- the store --------------------------------------------------------------------------------


class SavedTasks:
    def __init__(self, db: Database, policy: TaskPolicy | None = None) -> None:
        self._db = db
        self._policy = policy or TaskPolicy()
        self._runs = RunStore(db)

    # --- tasks -----------------------------------------------------------------------------

    def create(
        self, name: str, spec: TaskSpec, owner: str, schedules: Mapping[str, str] | None = None
    ) -> SavedTask:
        """Save a task (409 when the name is taken), with its first timers."""
        check_task_name(name)
        checked = _with_webhook_secret(check_spec(spec, self._policy))
        timers = {timer: check_schedule(cron) for timer, cron in (schedules or {}).items()}
        for timer in timers:
            check_timer_name(timer)
        now = time.time()
        with self._db.write() as conn:
            if not insert_ignore(conn, tasks, _task_row(name, checked, owner, now)):
                raise Unsupported(f"task {name} already exists", status=409)
            for timer, cron in timers.items():
                conn.execute(task_timers.insert().values(_timer_row(name, timer, cron, now)))
        if checked.commit_trigger_enabled:
            self.take_baseline(name)
        return self.get(name)

    def get(self, name: str) -> SavedTask:
        with self._db.read() as conn:
            row = conn.execute(select(tasks).where(tasks.c.name == name)).first()
        if row is None:
            raise NameUnknown(f"task {name} not found")
        return _task(row)

    def all(self) -> list[SavedTask]:
        with self._db.read() as conn:
            return [_task(row) for row in conn.execute(select(tasks).order_by(tasks.c.name))]

    def update(self, name: str, changes: Mapping[str, Any]) -> SavedTask:
        """Change some fields; `values` and `secret_values` are merged (None removes a key)."""
        with self._db.write() as conn:
            row = conn.execute(select(tasks).where(tasks.c.name == name).with_for_update()).first()
            if row is None:
                raise NameUnknown(f"task {name} not found")
            current = _task(row)
            fields = dict(changes)
            for key in ("values", "secret_values"):
                if key in fields:
                    merged = {**getattr(current.spec, key), **fields[key]}
                    fields[key] = {k: v for k, v in merged.items() if v is not None}
            unknown = set(fields) - set(TaskSpec.__dataclass_fields__)
            if unknown:
                raise Unsupported(f"unknown task fields: {', '.join(sorted(unknown))}")
            spec = _with_webhook_secret(check_spec(replace(current.spec, **fields), self._policy))
            now = time.time()
            values = _task_row(name, spec, current.owner, now)
            del values["created_at"], values["name"], values["owner"]
            rebase = spec.commit_trigger_enabled and _watches_otherwise(current.spec, spec)
            if rebase:
                values["last_commit"] = None  # the next head seen is the baseline
            conn.execute(update(tasks).where(tasks.c.name == name).values(**values))
            if current.spec.status == DISABLED and spec.status == ENABLED:
                _reschedule(conn, name, now)  # slots passed while disabled do not fire
        if rebase:
            self.take_baseline(name)
        return self.get(name)

    def delete(self, name: str) -> None:
        with self._db.write() as conn:
            _locked_task(conn, name)  # before its timers, as firing locks them
            conn.execute(delete(task_timers).where(task_timers.c.task == name))
            conn.execute(delete(task_credentials).where(task_credentials.c.task == name))
            conn.execute(delete(tasks).where(tasks.c.name == name))

    # --- runs ------------------------------------------------------------------------------

    def run(
        self,
        name: str,
        requester: str,
        overrides: RunOverrides | None = None,
        trigger: str = "manual",
        trigger_detail: str | None = None,
    ) -> Run:
        """Queue a run of the task, as it is saved in the same transaction."""
        with self._db.write() as conn:
            task = _locked_task(conn, name)
            run_id = self._insert_run(conn, task, requester, overrides, trigger, trigger_detail)
        return self._runs.get(run_id)

    def _insert_run(
        self,
        conn: Connection,
        task: SavedTask,
        requester: str,
        overrides: RunOverrides | None,
        trigger: str,
        trigger_detail: str | None,
    ) -> str:
        request, timeout = self._prepare(task, overrides or RunOverrides())
        engine = task.spec.engine or self._policy.default_engine
        return insert_run(
            conn, request, requester, engine, timeout, trigger, task.name, trigger_detail
        )

    def _prepare(
        self,
        task: SavedTask,
        overrides: RunOverrides,
        commit: str | None = None,
        branch: str | None = None,
    ) -> tuple[RunRequest, int]:
        """The run's request and timeout; refused (400) when the task cannot make one. A git
        context's run names its branch, and the commit a commit trigger saw."""
        request = run_request(task.spec, overrides)
        request = _with_git_revision(request, commit, branch)
        check_request(request)
        timeout = overrides.timeout or task.spec.timeout
        check_timeout(timeout, self._policy)
        return request, timeout

    def queue_triggered(
        self,
        conn: Connection,
        name: str,
        trigger: str,
        trigger_detail: str,
        chain: Sequence[str] = (),
    ) -> str | None:
        """Queue a run of an enabled task as its owner, in the trigger's write transaction,
        with the trigger chain that led to it; None when the task is gone, disabled or
        cannot make a run (logged)."""
        row = conn.execute(select(tasks).where(tasks.c.name == name).with_for_update()).first()
        if row is None or _task(row).spec.status != ENABLED:
            return None
        task = _task(row)
        try:
            request, timeout = self._prepare(task, RunOverrides())
        except DockyardError as exc:
            log.warning("%s trigger of task %s: no run: %s", trigger, name, exc)
            _trigger_failed(conn, name, f"{trigger} trigger ({trigger_detail}): {exc.message}")
            return None
        request = replace(request, trigger_chain=list(chain))
        engine = task.spec.engine or self._policy.default_engine
        _trigger_started(conn, task)
        return insert_run(
            conn, request, task.owner, engine, timeout, trigger, task.name, trigger_detail
        )

    # --- timers ----------------------------------------------------------------------------

    def timers(self, task: str | None = None) -> list[Timer]:
        query = select(task_timers).order_by(task_timers.c.task, task_timers.c.name)
        if task is not None:
            self.get(task)
            query = query.where(task_timers.c.task == task)
        with self._db.read() as conn:
            return [_timer(row) for row in conn.execute(query)]

    def add_timer(self, task: str, name: str, schedule: str, enabled: bool = True) -> Timer:
        check_timer_name(name)
        cron = check_schedule(schedule)
        now = time.time()
        with self._db.write() as conn:
            _locked_task(conn, task)
            row = {**_timer_row(task, name, cron, now), "enabled": enabled}
            if not insert_ignore(conn, task_timers, row):
                raise Unsupported(f"task {task} already has a timer {name}", status=409)
        return self._timer(task, name)

    def update_timer(
        self, task: str, name: str, schedule: str | None = None, enabled: bool | None = None
    ) -> Timer:
        """A new schedule, or enabling, counts from now: slots passed before do not fire."""
        cron = None if schedule is None else check_schedule(schedule)
        now = time.time()
        with self._db.write() as conn:
            _locked_task(conn, task)
            current = _locked_timer(conn, task, name)
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
        return self._timer(task, name)

    def remove_timer(self, task: str, name: str) -> None:
        with self._db.write() as conn:
            gone = conn.execute(
                delete(task_timers).where(task_timers.c.task == task, task_timers.c.name == name)
            ).rowcount
        if not gone:
            raise NameUnknown(f"task {task} has no timer {name}")

    def _timer(self, task: str, name: str) -> Timer:
        with self._db.read() as conn:
            row = conn.execute(
                select(task_timers).where(task_timers.c.task == task, task_timers.c.name == name)
            ).first()
        if row is None:
            raise NameUnknown(f"task {task} has no timer {name}")
        return _timer(row)

    def due_timers(self, now: float) -> list[Timer]:
        """Enabled timers of enabled tasks whose next slot has passed (a read)."""
        query = (
            select(task_timers)
            .join(tasks, tasks.c.name == task_timers.c.task)
            .where(
                task_timers.c.enabled.is_(True),
                task_timers.c.next_due <= now,
                tasks.c.status == ENABLED,
            )
            .order_by(task_timers.c.next_due)
        )
        with self._db.read() as conn:
            return [_timer(row) for row in conn.execute(query)]

    def fire_due(self, now: float | None = None) -> list[tuple[Timer, str | None]]:
        """Fire every due timer once, however many of its slots passed, and move it to its
        next slot after now. Answers the timers fired with their run ids (None when the task
        could not make a run; that firing is recorded all the same)."""
        moment = time.time() if now is None else now
        fired: list[tuple[Timer, str | None]] = []
        for due in self.due_timers(moment):
            with self._db.write() as conn:
                # The task first, then its timer: the order every change takes (no deadlock).
                row = conn.execute(
                    select(tasks).where(tasks.c.name == due.task).with_for_update()
                ).first()
                if row is None or _task(row).spec.status != ENABLED:
                    continue
                task = _task(row)
                timer = _locked_timer_or_none(conn, due.task, due.name)
                if timer is None or not timer.enabled or timer.next_due > moment:
                    continue  # another process fired it, or it changed
                run_id: str | None = None
                try:
                    request, timeout = self._prepare(task, RunOverrides())
                except DockyardError as exc:
                    log.warning("timer %s of task %s: no run: %s", timer.name, task.name, exc)
                    _trigger_failed(conn, task.name, f"timer {timer.name}: {exc.message}")
                else:
                    engine = task.spec.engine or self._policy.default_engine
                    _trigger_started(conn, task)
                    run_id = insert_run(
                        conn, request, task.owner, engine, timeout, "timer", task.name, timer.name
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
            fired.append((timer, run_id))
        return fired

    # --- the commit trigger ----------------------------------------------------------------

    def take_baseline(self, name: str) -> str | None:
        """Record the head of the task's branch as the commit already seen, so that switching
        the trigger on builds nothing at once. When the remote cannot be read now, the poller
        records the head it first sees instead. Answers the head, or None."""
        task = self.get(name)
        try:
            head = branch_head(
                task.spec.context, task.spec.git_access_token, self._policy.allow_private_sources
            )
        except DockyardError as exc:
            log.warning("task %s: no commit baseline yet: %s", name, exc.message)
            return None
        with self._db.write() as conn:
            conn.execute(
                update(tasks)
                .where(
                    tasks.c.name == name,
                    tasks.c.context == task.spec.context,
                    tasks.c.last_commit.is_(None),
                )
                .values(last_commit=head.commit)
            )
        return head.commit

    def commit_watched(self) -> list[SavedTask]:
        """Enabled tasks with the commit trigger on (the poller reads their remotes)."""
        query = select(tasks).where(
            tasks.c.status == ENABLED, tasks.c.commit_trigger_enabled.is_(True)
        )
        with self._db.read() as conn:
            return [_task(row) for row in conn.execute(query.order_by(tasks.c.name))]

    def commit_seen(
        self,
        name: str,
        commit: str,
        branch: str,
        *,
        polled_context: str | None = None,
        default_branch: str | None = None,
        repositories: Sequence[str] = (),
    ) -> CommitOutcome:
        """A commit at the head of `branch` of the task's repository, seen by the push webhook
        or (`polled_context`: the context it read) the poller. Queues one run of it (trigger
        `commit`), as the task's owner, unless the task does not build that branch or already
        built or queued that commit; the commit is recorded as seen in the same transaction, so
        a webhook and a poll seeing one commit make one run."""

        def skip(reason: str) -> CommitOutcome:
            return CommitOutcome(commit, branch, None, reason)

        with self._db.write() as conn:
            task = _locked_task(conn, name)
            spec = task.spec
            if spec.status != ENABLED:
                return skip(f"task {name} is disabled")
            if not spec.commit_trigger_enabled:
                return skip(f"the commit trigger of task {name} is disabled")
            if polled_context is not None and polled_context != spec.context:
                return skip(f"task {name} changed its context meanwhile")
            source = _git_context(spec)
            if source is None:
                return skip(f"task {name} has no git context")
            if repositories and not any(_same_repository(r, source.url) for r in repositories):
                return skip(f"the push is to {repositories[0]}, not to {source.url}")
            wanted = source.branch or default_branch
            if wanted is None:
                return skip(f"the context of task {name} names no branch")
            if branch != wanted:
                return skip(f"the push is to branch {branch}; task {name} builds {wanted}")
            seen = conn.execute(
                select(task_runs.c.run_id)
                .where(
                    task_runs.c.task_name == name,
                    task_runs.c.trigger == "commit",
                    task_runs.c.trigger_detail == commit,
                )
                .limit(1)
            ).first()
            mark = update(tasks).where(tasks.c.name == name).values(last_commit=commit)
            if task.last_commit == commit or seen is not None:
                conn.execute(mark)
                return skip(f"commit {commit} was already built or queued for task {name}")
            if polled_context is not None and task.last_commit is None:
                conn.execute(mark)  # the first head the poller sees is the baseline
                return skip(f"commit {commit} is the baseline of task {name}")
            try:
                request, timeout = self._prepare(task, RunOverrides(), commit, branch)
            except DockyardError as exc:
                # Not marked as seen: the next delivery or poll of it tries again.
                log.warning("commit %s of task %s: no run: %s", commit, name, exc.message)
                _trigger_failed(conn, name, f"commit {commit}: {exc.message}")
                return skip(f"task {name} cannot make a run: {exc.message}")
            engine = spec.engine or self._policy.default_engine
            run_id = insert_run(conn, request, task.owner, engine, timeout, "commit", name, commit)
            conn.execute(mark)
            _trigger_started(conn, task)
        return CommitOutcome(commit, branch, run_id)

    def renew_webhook_secret(self, name: str) -> str:
        """A new random secret for the task's push webhook; answers it."""
        secret = token_urlsafe(WEBHOOK_SECRET_BYTES)
        with self._db.write() as conn:
            _locked_task(conn, name)
            conn.execute(update(tasks).where(tasks.c.name == name).values(webhook_secret=secret))
        return secret

    def git_access_token(self, name: str, context_url: str) -> str | None:
        """For a worker cloning a run's git context: the task's access token, only while the
        task's context is still that repository."""
        with self._db.read() as conn:
            row = conn.execute(
                select(tasks.c.context, tasks.c.git_access_token).where(tasks.c.name == name)
            ).first()
        if row is None or row[1] is None or row[0] == NO_CONTEXT:
            return None
        ours, theirs = parse_context_url(str(row[0])), parse_context_url(context_url)
        return str(row[1]) if _same_repository(ours.url, theirs.url) else None

    # --- credentials -----------------------------------------------------------------------

    def credentials(self, task: str) -> list[Credential]:
        self.get(task)
        with self._db.read() as conn:
            rows = conn.execute(
                select(
                    task_credentials.c.task,
                    task_credentials.c.login_server,
                    task_credentials.c.username,
                    task_credentials.c.created_at,
                )
                .where(task_credentials.c.task == task)
                .order_by(task_credentials.c.login_server)
            )
            return [Credential(str(r[0]), str(r[1]), str(r[2]), float(r[3])) for r in rows]

    def add_credential(
        self, task: str, login_server: str, username: str, password: str
    ) -> Credential:
        server = login_server.strip().lower()
        if not server or "/" in server or " " in server:
            raise Unsupported(f"login server {login_server!r}: a host[:port], e.g. myregistry.io")
        if not username or not password:
            raise Unsupported("a credential needs a username and a password")
        now = time.time()
        with self._db.write() as conn:
            _locked_task(conn, task)
            row = {
                "task": task,
                "login_server": server,
                "username": username,
                "password": password,
                "created_at": now,
            }
            if not insert_ignore(conn, task_credentials, row):
                raise Unsupported(f"task {task} already has a credential for {server}", status=409)
        return Credential(task, server, username, now)

    def run_secrets(self, task: str) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
        """For a worker doing a run of the task: its secret values and its credentials
        (login server, username, password); none when the task is gone."""
        with self._db.read() as conn:
            row = conn.execute(select(tasks.c.secret_values).where(tasks.c.name == task)).first()
            logins = conn.execute(
                select(
                    task_credentials.c.login_server,
                    task_credentials.c.username,
                    task_credentials.c.password,
                ).where(task_credentials.c.task == task)
            ).all()
        secrets = json.loads(row[0]) if row is not None else {}
        return dict(secrets), [(str(r[0]), str(r[1]), str(r[2])) for r in logins]

    def remove_credential(self, task: str, login_server: str) -> None:
        with self._db.write() as conn:
            gone = conn.execute(
                delete(task_credentials).where(
                    task_credentials.c.task == task,
                    task_credentials.c.login_server == login_server.strip().lower(),
                )
            ).rowcount
        if not gone:
            raise NameUnknown(f"task {task} has no credential for {login_server}")


# --- rows -------------------------------------------------------------------------------------


def _task_row(name: str, spec: TaskSpec, owner: str, now: float) -> dict[str, Any]:
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
        "status": spec.status,
        "commit_trigger_enabled": spec.commit_trigger_enabled,
        "base_image_trigger_enabled": spec.base_image_trigger_enabled,
        "base_image_trigger_type": spec.base_image_trigger_type,
        "git_access_token": spec.git_access_token,
        "webhook_secret": spec.webhook_secret,
        "owner": owner,
        "created_at": now,
        "updated_at": now,
    }


def _with_webhook_secret(spec: TaskSpec) -> TaskSpec:
    """A task with the commit trigger on has a push webhook secret (made when none is set)."""
    if spec.commit_trigger_enabled and not spec.webhook_secret:
        return replace(spec, webhook_secret=token_urlsafe(WEBHOOK_SECRET_BYTES))
    return spec


def _watches_otherwise(before: TaskSpec, after: TaskSpec) -> bool:
    """Whether the commit trigger now watches another branch head than before."""
    return (
        not before.commit_trigger_enabled
        or before.context != after.context
        or before.git_access_token != after.git_access_token
    )


def _git_context(spec: TaskSpec) -> ContextUrl | None:
    if spec.context == NO_CONTEXT:
        return None
    source = parse_context_url(spec.context)
    return source if source.kind == "git" else None


def _same_repository(pushed: str, ours: str) -> bool:
    """Two URLs of one repository: host and path alike, whatever the scheme, credentials,
    letter case (as GitHub and GitLab treat it) or `.git` suffix."""

    def key(url: str) -> tuple[str, str]:
        parts = urlsplit(url.strip())
        path = parts.path.rstrip("/").removesuffix(".git").rstrip("/")
        return (parts.hostname or "").lower(), path.lower()

    return key(pushed) == key(ours)


def _with_git_revision(request: RunRequest, commit: str | None, branch: str | None) -> RunRequest:
    """A run of a git context names its branch (and the commit a trigger saw)."""
    if request.context_url is None:
        return request
    source = parse_context_url(request.context_url)
    if source.kind != "git":
        return request
    return replace(request, commit=commit, branch=branch or source.branch)


def _timer_row(task: str, name: str, schedule: str, now: float) -> dict[str, Any]:
    return {
        "task": task,
        "name": name,
        "schedule": schedule,
        "enabled": True,
        "created_at": now,
        "next_due": next_slot(schedule, now),
    }


def _reschedule(conn: Connection, task: str, now: float) -> None:
    rows = conn.execute(
        select(task_timers.c.name, task_timers.c.schedule).where(task_timers.c.task == task)
    ).all()
    for name, schedule in rows:
        conn.execute(
            update(task_timers)
            .where(task_timers.c.task == task, task_timers.c.name == name)
            .values(next_due=next_slot(str(schedule), now))
        )


def _trigger_failed(conn: Connection, task: str, error: str) -> None:
    conn.execute(
        update(tasks)
        .where(tasks.c.name == task)
        .values(last_trigger_error=error, last_trigger_error_at=time.time())
    )


def _trigger_started(conn: Connection, task: SavedTask) -> None:
    if task.last_trigger_error is not None:
        conn.execute(
            update(tasks)
            .where(tasks.c.name == task.name)
            .values(last_trigger_error=None, last_trigger_error_at=None)
        )


def _locked_task(conn: Connection, name: str) -> SavedTask:
    row = conn.execute(select(tasks).where(tasks.c.name == name).with_for_update()).first()
    if row is None:
        raise NameUnknown(f"task {name} not found")
    return _task(row)


def _locked_timer_or_none(conn: Connection, task: str, name: str) -> Timer | None:
    row = conn.execute(
        select(task_timers)
        .where(task_timers.c.task == task, task_timers.c.name == name)
        .with_for_update()
    ).first()
    return None if row is None else _timer(row)


def _locked_timer(conn: Connection, task: str, name: str) -> Timer:
    found = _locked_timer_or_none(conn, task, name)
    if found is None:
        raise NameUnknown(f"task {task} has no timer {name}")
    return found


def _task(row: Row[Any]) -> SavedTask:
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
        status=data["status"],
        commit_trigger_enabled=bool(data["commit_trigger_enabled"]),
        base_image_trigger_enabled=bool(data["base_image_trigger_enabled"]),
        base_image_trigger_type=data["base_image_trigger_type"],
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


def _timer(row: Row[Any]) -> Timer:
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
