"""What a run is: its kinds, statuses and the request it was created from."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

KINDS = ("build", "cmd")
TRIGGERS = ("manual", "commit", "base_image", "timer")
ENGINES = ("buildah", "docker")

QUEUED, STARTED, RUNNING = "Queued", "Started", "Running"
SUCCEEDED, FAILED, CANCELED, ERROR, TIMEOUT = "Succeeded", "Failed", "Canceled", "Error", "Timeout"
ACTIVE = (STARTED, RUNNING)  # held by a worker
FINAL = (SUCCEEDED, FAILED, CANCELED, ERROR, TIMEOUT)
STATUSES = (QUEUED, STARTED, RUNNING, *FINAL)

RUN_ID_PREFIX = "ca"
RUN_ID_TEMPLATE = "{{.Run.ID}}"
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


@dataclass(frozen=True, slots=True)
class Run:
    run_id: str
    seq: int
    kind: str
    status: str
    trigger: str
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

    @property
    def finished(self) -> bool:
        return self.status in FINAL

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return round(self.finished_at - self.started_at, 3)
