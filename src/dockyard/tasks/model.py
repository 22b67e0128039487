"""What a run is: its kinds, statuses and the request it was created from."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class RunKind(StrEnum):
    BUILD = "build"
    CMD = "cmd"
    TASK = "task"  # a multi-step task file


class Trigger(StrEnum):
    """What queued a run."""

    MANUAL = "manual"
    COMMIT = "commit"
    BASE_IMAGE = "base_image"
    TIMER = "timer"


class RunStatus(StrEnum):
    QUEUED = "Queued"
    STARTED = "Started"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELED = "Canceled"
    ERROR = "Error"
    TIMEOUT = "Timeout"


KINDS = tuple(RunKind)
TRIGGERS = tuple(Trigger)
ENGINES = ("buildah", "docker")

QUEUED, STARTED, RUNNING = RunStatus.QUEUED, RunStatus.STARTED, RunStatus.RUNNING
SUCCEEDED, FAILED, CANCELED = RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELED
ERROR, TIMEOUT = RunStatus.ERROR, RunStatus.TIMEOUT
ACTIVE = (STARTED, RUNNING)  # held by a worker
FINAL = (SUCCEEDED, FAILED, CANCELED, ERROR, TIMEOUT)
STATUSES = tuple(RunStatus)

MAX_TIMEOUT_SECONDS = 28800
DEFAULT_TIMEOUT_SECONDS = 3600


@dataclass(frozen=True, slots=True)
class RunRequest:
    """What to do, as the client asked (templates in `images` already resolved)."""

    kind: str
    source: str | None = None  # sha256:<hex> of an uploaded context
    context_url: str | None = None
    dockerfile: str = "Dockerfile"
    images: list[str] = field(default_factory=list)
    build_args: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    platform: str | None = None
    push: bool = True
    cmd: str | None = None
    task_file: str | None = None  # a multi-step task's YAML file, in the context
    values: dict[str, str] = field(default_factory=dict)  # {{.Values.x}} of a task file
    # Secret values a manual run of a saved task gave (--secret-set); never answered.
    secret_values: dict[str, str] = field(default_factory=dict)
    commit: str | None = None  # the commit a commit trigger saw: the one built
    branch: str | None = None
    # Saved tasks whose base-image-triggered runs led to this one (cycle protection).
    trigger_chain: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunRequest:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass(frozen=True, slots=True)
class OutputImage:
    repository: str
    tag: str
    digest: str


@dataclass(frozen=True, slots=True)
class BaseImage:
    stage: int
    name: str | None  # the stage's alias
    image: str  # as the Dockerfile names it, ARGs resolved; "scratch" for none
    runtime: bool  # the stage the image is built from (the final one, or --target)
    digest: str | None = None  # what the reference named when the run began, when known


@dataclass(frozen=True, slots=True)
class StepResult:
    """One step of a multi-step run, as it went."""

    id: str
    kind: str  # build | push | cmd
    status: str  # Queued | Running | Succeeded | Failed | Skipped | Canceled
    started_at: float | None = None
    finished_at: float | None = None
    exit_code: int | None = None
    error: str | None = None
    detached: bool = False
    images: list[str] = field(default_factory=list)  # built or pushed


@dataclass(frozen=True, slots=True)
class Run:
    run_id: str
    seq: int
    kind: RunKind
    status: RunStatus
    trigger: Trigger
    request: RunRequest
    requester: str
    engine: str
    platform: str | None
    worker: str | None
    lease_until: float | None
    cancel_requested: bool
    timeout: int
    created_at: float
    started_at: float | None
    finished_at: float | None
    output_images: list[OutputImage]
    base_images: list[BaseImage]
    error: str | None
    log_size: int
    task_name: str | None = None  # the saved task it is a run of
    trigger_detail: str | None = None  # the timer's name, the commit, the base image
    steps: list[StepResult] = field(default_factory=list)  # of a multi-step run

    @property
    def finished(self) -> bool:
        return self.status in FINAL

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return round(self.finished_at - self.started_at, 3)
