"""What a saved task is: its definition, its timers, its credentials of other registries, and
what its triggers did. Typed values only; the services of tasks/definitions.py, timers.py,
commit_trigger.py and task_secrets.py answer these, and the API shapes them as JSON."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from dockyard.tasks.cron import next_slot
from dockyard.tasks.model import RunKind

NO_CONTEXT = "/"
MULTI_STEP_SUFFIXES = (".yaml", ".yml")


class TaskStatus(StrEnum):
    ENABLED = "Enabled"
    DISABLED = "Disabled"


class BaseImageTriggerType(StrEnum):
    RUNTIME = "Runtime"  # the base image of the stage the image is built from
    ALL = "All"  # the base image of any stage


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
    status: TaskStatus = TaskStatus.ENABLED
    commit_trigger_enabled: bool = False
    base_image_trigger_enabled: bool = False
    base_image_trigger_type: BaseImageTriggerType = BaseImageTriggerType.RUNTIME
    git_access_token: str | None = None
    webhook_secret: str | None = None  # of the push webhook (the commit trigger)

    @property
    def kind(self) -> RunKind:
        return RunKind.CMD if self.cmd is not None else RunKind.BUILD

    @property
    def multi_step(self) -> bool:
        return self.file is not None and self.file.lower().endswith(MULTI_STEP_SUFFIXES)

    @property
    def enabled(self) -> bool:
        return self.status == TaskStatus.ENABLED


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


class Fired(NamedTuple):
    """A timer that fired, and the run it queued (None: the task could not make one)."""

    timer: Timer
    run_id: str | None


@dataclass(frozen=True, slots=True)
class Credential:
    """A task's login to another registry, as answered (the password is never)."""

    task: str
    login_server: str
    username: str
    created_at: float


@dataclass(frozen=True, slots=True)
class RegistryLogin:
    """A task's login to another registry, as a worker uses it."""

    login_server: str
    username: str
    password: str


@dataclass(frozen=True, slots=True)
class RunSecrets:
    """What a worker doing a run of a saved task reads from the task: never in the run."""

    secret_values: dict[str, str] = field(default_factory=dict)
    logins: list[RegistryLogin] = field(default_factory=list)


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
