"""The management API's run bodies: a quick build, command or task-file run as asked for and
as shown, and an uploaded build context.

The enumerations and the timeout bounds repeat, value for value, those of `dockyard.tasks.model`
(the tasks wing sits above this module, and the CLI must not import it). The routes fill these
fields with the wing's members (pydantic reads a member by its value);
tests/integration/test_cli_api_client_tasks.py holds the two to each other and to the server's
OpenAPI document.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field

from dockyard.spec.run_ids import RUN_ID_TEMPLATE
from dockyard.wire.base import WireModel

MAX_TIMEOUT_SECONDS = 28800
DEFAULT_TIMEOUT_SECONDS = 3600
PLATFORM_PATTERN = r"^[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?$"
DIGEST_PATTERN = r"^sha256:[0-9a-f]{64}$"


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


FINAL_STATUSES = frozenset(
    {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELED, RunStatus.ERROR, RunStatus.TIMEOUT}
)


class RunCreate(WireModel):
    kind: Literal["build", "cmd", "task"] = Field(
        default="build", description="build, cmd, or task: a multi-step task file"
    )
    source: str | None = Field(
        default=None,
        pattern=DIGEST_PATTERN,
        description="An uploaded build context (POST /runs/sources)",
    )
    context_url: str | None = Field(
        default=None,
        description="A tarball URL, or a git URL with an optional #branch:subfolder",
    )
    dockerfile: str = Field(default="Dockerfile", description="Its path inside the context")
    images: list[str] = Field(
        default_factory=list,
        description=f"repository[:tag] of this registry; {RUN_ID_TEMPLATE} becomes the run id",
        examples=[["hello:{{.Run.ID}}", "hello:latest"]],
    )
    build_args: dict[str, str] = Field(default_factory=dict)
    target: str | None = Field(default=None, description="The build stage to build")
    platform: str | None = Field(default=None, pattern=PLATFORM_PATTERN, examples=["linux/amd64"])
    push: bool = True
    cmd: str | None = Field(default=None, description="kind=cmd: '<image> <args...>'")
    task_file: str | None = Field(
        default=None, description="kind=task: the task file's path in the context"
    )
    values: dict[str, str] = Field(
        default_factory=dict, description="kind=task: {{.Values.x}} of the task file"
    )
    secret_values: dict[str, str] = Field(
        default_factory=dict, description="kind=task: {{.Secrets.x}}; never answered"
    )
    timeout: int = Field(default=DEFAULT_TIMEOUT_SECONDS, ge=1, le=MAX_TIMEOUT_SECONDS)
    engine: str | None = Field(
        default=None, description="buildah or docker; the server's default when empty"
    )


class OutputImageModel(WireModel):
    repository: str
    tag: str
    digest: str


class BaseImageModel(WireModel):
    stage: int
    name: str | None = Field(description="The stage's name (AS ...)")
    image: str = Field(description="As the Dockerfile names it, ARGs resolved; scratch")
    runtime: bool = Field(description="The stage the image is built from")
    digest: str | None = Field(
        default=None, description="What the reference named when the run began, when known"
    )


class StepModel(WireModel):
    id: str
    kind: str = Field(description="build, push or cmd")
    status: str = Field(
        description="Queued, Running, Succeeded, Failed, Skipped (a step it waits for "
        "failed) or Canceled"
    )
    started_at: datetime | None
    finished_at: datetime | None
    exit_code: int | None
    error: str | None
    detached: bool
    images: list[str] = Field(description="Built or pushed by the step")


class RunModel(WireModel):
    run_id: str
    kind: RunKind
    status: RunStatus = Field(
        description="Queued, Started, Running, Succeeded, Failed, Canceled, Error or Timeout"
    )
    trigger: Trigger
    trigger_detail: str | None = Field(
        default=None, description="The timer's name, the commit, or the base image"
    )
    trigger_chain: list[str] = Field(
        default_factory=list,
        description="The saved tasks whose base-image-triggered runs led to this one",
    )
    task_name: str | None = Field(default=None, description="The saved task it is a run of")
    commit: str | None = Field(default=None, description="The commit built ({{.Run.Commit}})")
    branch: str | None = Field(default=None, description="The git branch ({{.Run.Branch}})")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_seconds: float | None
    images: list[str]
    output_images: list[OutputImageModel]
    base_images: list[BaseImageModel]
    platform: str | None
    engine: str
    worker: str | None
    timeout: int
    error: str | None
    steps: list[StepModel] = Field(
        default_factory=list, description="The steps of a multi-step run, as they went"
    )

    @property
    def finished(self) -> bool:
        """Whether the run has ended (the log is complete once it has)."""
        return self.status in FINAL_STATUSES


class SourceModel(WireModel):
    source: str = Field(description="sha256:<hex> of the archive, for POST /runs")
    size: int
