"""What a valid task definition is, and the run request it makes: names, values and their
`{{.Values.x}}` templates, the engine, the context (git or tarball URL)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from urllib.parse import urlsplit

from dockyard.errors import Invalid
from dockyard.tasks.fetch import ContextUrl, parse_context_url
from dockyard.tasks.model import ENGINES, RunKind, RunRequest
from dockyard.tasks.policy import MULTI_STEP_ENGINE, TaskPolicy, check_request
from dockyard.tasks.task_model import (
    NO_CONTEXT,
    BaseImageTriggerType,
    RunOverrides,
    TaskSpec,
    TaskStatus,
)

NAME_PATTERN = re.compile(r"^[A-Za-z0-9-]{5,50}$")
VALUE_TEMPLATE = re.compile(r"\{\{\s*\.Values\.([A-Za-z0-9_.-]+)\s*\}\}")


def check_task_name(name: str) -> None:
    if not NAME_PATTERN.match(name):
        raise Invalid(f"task name {name!r}: 5 to 50 letters, digits or '-'")


def render(text: str, values: Mapping[str, str]) -> str:
    """Put `{{.Values.x}}` in place; an unknown value is refused."""

    def value(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise Invalid(f"{match.group(0)} names no value of the task (--set {key}=...)")
        return values[key]

    return VALUE_TEMPLATE.sub(value, text)


def check_spec(spec: TaskSpec, policy: TaskPolicy) -> TaskSpec:
    """Refuse (Invalid) a definition that cannot make runs; answers it with its engine chosen
    and its status and trigger type typed."""
    if (spec.file is None) == (spec.cmd is None):
        raise Invalid("a task has exactly one of file (a Dockerfile) and cmd")
    try:
        status = TaskStatus(spec.status)
    except ValueError:
        raise Invalid(f"status {spec.status!r}: Enabled or Disabled") from None
    try:
        trigger_type = BaseImageTriggerType(spec.base_image_trigger_type)
    except ValueError:
        raise Invalid(
            f"base image trigger type {spec.base_image_trigger_type!r}: Runtime or All"
        ) from None
    engine = spec.engine or (MULTI_STEP_ENGINE if spec.multi_step else policy.default_engine)
    if spec.multi_step and engine != MULTI_STEP_ENGINE:
        raise Invalid(f"a multi-step task runs on the {MULTI_STEP_ENGINE} engine")
    if engine not in ENGINES:
        raise Invalid(f"unknown engine {engine!r}; known: {', '.join(ENGINES)}")
    policy.check_timeout(spec.timeout)
    if spec.context != NO_CONTEXT:
        parse_context_url(spec.context)
    elif spec.kind == RunKind.BUILD:
        raise Invalid("a Dockerfile or task file needs a context: a git or tarball URL")
    if spec.commit_trigger_enabled and git_context(spec) is None:
        raise Invalid("the commit trigger needs a git context (https://host/repo.git#branch)")
    for key in (*spec.values, *spec.secret_values):
        if not key or "=" in key or not VALUE_TEMPLATE.fullmatch(f"{{{{.Values.{key}}}}}"):
            raise Invalid(f"value name {key!r}: letters, digits, '_', '-' or '.'")
    checked = replace(spec, engine=engine, status=status, base_image_trigger_type=trigger_type)
    check_request(run_request(checked, RunOverrides()))
    return checked


def run_request(spec: TaskSpec, overrides: RunOverrides) -> RunRequest:
    """The run a task makes (templates of values resolved)."""
    values = {**spec.values, **overrides.values}
    context_url = None if overrides.source or spec.context == NO_CONTEXT else spec.context
    if spec.multi_step:
        return RunRequest(
            kind=RunKind.TASK,
            source=overrides.source,
            context_url=context_url,
            task_file=spec.file,
            images=[render(image, values) for image in spec.images],
            values=values,
            secret_values=dict(overrides.secret_values),
            platform=spec.platform,
        )
    if spec.kind == RunKind.CMD:
        return RunRequest(
            kind=RunKind.CMD,
            source=overrides.source,
            context_url=context_url,
            cmd=render(spec.cmd or "", values),
            platform=spec.platform,
        )
    return RunRequest(
        kind=RunKind.BUILD,
        source=overrides.source,
        context_url=context_url,
        dockerfile=spec.file or "Dockerfile",
        images=[render(image, values) for image in spec.images],
        build_args={**values, **spec.secret_values, **overrides.secret_values},
        platform=spec.platform,
    )


def with_git_revision(request: RunRequest, commit: str | None, branch: str | None) -> RunRequest:
    """A run of a git context names its branch (and the commit a trigger saw)."""
    if request.context_url is None:
        return request
    source = parse_context_url(request.context_url)
    if source.kind != "git":
        return request
    return replace(request, commit=commit, branch=branch or source.branch)


def git_context(spec: TaskSpec) -> ContextUrl | None:
    if spec.context == NO_CONTEXT:
        return None
    source = parse_context_url(spec.context)
    return source if source.kind == "git" else None


def same_repository(pushed: str, ours: str) -> bool:
    """Two URLs of one repository: host and path alike, whatever the scheme, credentials,
    letter case (as GitHub and GitLab treat it) or `.git` suffix."""

    def key(url: str) -> tuple[str, str]:
        parts = urlsplit(url.strip())
        path = parts.path.rstrip("/").removesuffix(".git").rstrip("/")
        return (parts.hostname or "").lower(), path.lower()

    return key(pushed) == key(ours)
