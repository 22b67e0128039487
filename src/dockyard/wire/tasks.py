"""The management API's saved-task bodies: a task as saved, changed and shown, its manual
runs, cron timers and credentials of other registries, and its push webhook.

The enumerations and `NO_CONTEXT` repeat, value for value, those of `dockyard.tasks.task_model`
(the tasks wing sits above this module, and the CLI must not import it). The routes turn them
into the wing's members; tests/integration/test_cli_api_client_tasks.py holds the two to each
other and to the server's OpenAPI document.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field

from dockyard.wire.base import WireModel
from dockyard.wire.runs import DIGEST_PATTERN, MAX_TIMEOUT_SECONDS, PLATFORM_PATTERN

NO_CONTEXT = "/"
DEFAULT_TIMER = "t1"


class TaskStatus(StrEnum):
    ENABLED = "Enabled"
    DISABLED = "Disabled"


class BaseImageTriggerType(StrEnum):
    RUNTIME = "Runtime"  # the base image of the stage the image is built from
    ALL = "All"  # the base image of any stage


class TimerCreate(WireModel):
    name: str = Field(default=DEFAULT_TIMER, description="1-50 letters, digits, '-' or '_'")
    schedule: str = Field(description="5-field cron, UTC", examples=["0 3 * * *"])
    enabled: bool = True


class TimerUpdate(WireModel):
    schedule: str | None = None
    enabled: bool | None = None


class TimerModel(WireModel):
    name: str
    schedule: str
    enabled: bool
    last_fired_at: datetime | None
    last_run_id: str | None
    next_firing_times: list[datetime] = Field(description="The next slots, UTC")


class CredentialCreate(WireModel):
    login_server: str = Field(examples=["registry.example.com"])
    username: str
    password: str = Field(description="Stored; never answered")


class CredentialModel(WireModel):
    login_server: str
    username: str
    created_at: datetime


# What a task's creation and its update share; no schema of its own (both inline it). No
# docstrings on the bodies: pydantic would write them into the OpenAPI document.
class _TaskFields(WireModel):
    file: str | None = Field(default=None, description="A Dockerfile in the context")
    cmd: str | None = Field(default=None, description="'<image> <args...>' to run")
    images: list[str] | None = Field(
        default=None, description="repository[:tag]; {{.Run.ID}} and {{.Values.x}} resolved"
    )
    timeout: int | None = Field(default=None, ge=1, le=MAX_TIMEOUT_SECONDS)
    platform: str | None = Field(default=None, pattern=PLATFORM_PATTERN)
    engine: str | None = None
    status: TaskStatus | None = None
    commit_trigger_enabled: bool | None = None
    base_image_trigger_enabled: bool | None = None
    base_image_trigger_type: BaseImageTriggerType | None = None
    git_access_token: str | None = Field(
        default=None, description="For a private git context; stored, never answered"
    )
    webhook_secret: str | None = Field(
        default=None,
        min_length=16,
        max_length=256,
        description="Of the push webhook (made when the commit trigger is switched on); "
        "shown only by GET /tasks/{name}/webhook-secret",
    )


class TaskCreate(_TaskFields):
    name: str = Field(description="5-50 letters, digits or '-'")
    context: str = Field(
        default=NO_CONTEXT, description="A git URL (#branch:folder), a tarball URL, or / for none"
    )
    values: dict[str, str] = Field(default_factory=dict)
    secret_values: dict[str, str] = Field(
        default_factory=dict, description="Stored; only their names are answered"
    )
    timers: list[TimerCreate] = Field(default_factory=list)


class TaskUpdate(_TaskFields):
    context: str | None = None
    values: dict[str, str | None] | None = Field(default=None, description="Merged; null removes")
    secret_values: dict[str, str | None] | None = Field(
        default=None, description="Merged; null removes"
    )


class TaskModel(WireModel):
    name: str
    status: TaskStatus
    context: str
    file: str | None
    cmd: str | None
    images: list[str]
    values: dict[str, str]
    secret_value_names: list[str]
    timeout: int
    platform: str | None
    engine: str | None
    commit_trigger_enabled: bool
    base_image_trigger_enabled: bool
    base_image_trigger_type: BaseImageTriggerType
    git_access_token_set: bool
    webhook_secret_set: bool
    last_commit: str | None = Field(description="The branch head the commit trigger saw last")
    last_trigger_error: str | None = Field(
        description="Why the last trigger (timer, commit, base image) could not start a run; "
        "cleared when a trigger starts one"
    )
    last_trigger_error_at: datetime | None
    owner: str
    created_at: datetime
    updated_at: datetime
    timers: list[TimerModel]


class TaskRunCreate(WireModel):
    values: dict[str, str] = Field(default_factory=dict, description="Override the task's")
    secret_values: dict[str, str] = Field(default_factory=dict)
    source: str | None = Field(
        default=None,
        pattern=DIGEST_PATTERN,
        description="An uploaded context (POST /runs/sources) in place of the task's",
    )
    timeout: int | None = Field(default=None, ge=1, le=MAX_TIMEOUT_SECONDS)


# What the push webhook answers a git host.
class HookAnswer(WireModel):
    status: Literal["queued", "ignored"]
    reason: str | None = Field(default=None, description="Why no run was queued")
    run_id: str | None = None
    commit: str | None = None
    branch: str | None = None


class WebhookSecretModel(WireModel):
    url: str = Field(description="Where the git host sends push events")
    secret: str = Field(
        description="GitHub: the webhook's secret (HMAC-SHA256 signature); GitLab: its token"
    )
