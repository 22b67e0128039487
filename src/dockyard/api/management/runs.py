"""`/runs`: quick builds and command runs done by the registry's workers, their build sources
(uploaded tarballs) and their logs, streamed while they run."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

from anyio import CancelScope, to_thread
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.requests import ClientDisconnect

from dockyard.access.rights import PUSH
from dockyard.api.management.deps import (
    Access,
    Reader,
    RepositoryRightsDep,
    ServicesDep,
    Writer,
)
from dockyard.api.streaming import content_length
from dockyard.errors import Invalid, TooLarge
from dockyard.spec.run_ids import RUN_ID_PREFIX, RUN_ID_TEMPLATE
from dockyard.tasks.model import STATUSES, Run, RunRequest, RunStatus
from dockyard.tasks.policy import image_repository
from dockyard.tasks.service import TaskService

# The bodies live in dockyard.wire (shared with the CLI).
from dockyard.wire import runs as wire
from dockyard.wire.runs import (
    BaseImageModel,
    OutputImageModel,
    RunCreate,
    RunModel,
    SourceModel,
    StepModel,
)

router = APIRouter(tags=["runs"])
TEXT = "text/plain; charset=utf-8"
UPLOAD_BATCH = 1024 * 1024
DRAIN_BYTES = 8 * 1024 * 1024
FOLLOW_POLL_SECONDS = 0.25
_NO_BUFFERING = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


def _tasks(context: ServicesDep) -> TaskService:
    if context.tasks is None:
        raise Invalid("tasks are not available on this server")
    return context.tasks


Tasks = Annotated[TaskService, Depends(_tasks)]


def _time(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def run_model(run: Run) -> RunModel:
    return RunModel(
        run_id=run.run_id,
        kind=wire.RunKind(run.kind.value),
        status=wire.RunStatus(run.status.value),
        trigger=wire.Trigger(run.trigger.value),
        trigger_detail=run.trigger_detail,
        trigger_chain=list(run.request.trigger_chain),
        task_name=run.task_name,
        commit=run.request.commit,
        branch=run.request.branch,
        created_at=datetime.fromtimestamp(run.created_at, UTC),
        started_at=_time(run.started_at),
        finished_at=_time(run.finished_at),
        duration_seconds=run.duration_seconds,
        images=list(run.request.images),
        output_images=[OutputImageModel(**vars_of(o)) for o in run.output_images],
        base_images=[BaseImageModel(**vars_of(b)) for b in run.base_images],
        platform=run.platform,
        engine=run.engine,
        worker=run.worker,
        timeout=run.timeout,
        error=run.error,
        steps=[
            StepModel(
                **{
                    **vars_of(step),
                    "started_at": _time(step.started_at),
                    "finished_at": _time(step.finished_at),
                }
            )
            for step in run.steps
        ],
    )


def vars_of(item: Any) -> dict[str, Any]:
    return {name: getattr(item, name) for name in item.__slots__}


@router.post(
    "/runs/sources",
    status_code=201,
    response_model=SourceModel,
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "The build context: a tar archive, plain or gzip",
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
    responses={413: {"description": "The archive is too large, packed or unpacked"}},
)
async def upload_source(
    request: Request, principal: Writer, tasks: Tasks, access: Access
) -> JSONResponse:
    """Upload a build context. It is checked (a tar; no absolute paths, `..`, links leading
    out of it, or device files; within the size limit) and stored under its digest."""
    limit = tasks.sources.max_bytes
    length = content_length(request)
    if length is not None and length > limit + DRAIN_BYTES:
        raise TooLarge(f"the build context is larger than {limit} bytes")
    upload = await to_thread.run_sync(tasks.sources.open_upload)
    too_large = False
    try:
        pending: list[bytes] = []
        size = total = 0
        async for data in request.stream():
            total += len(data)
            if total > limit:
                # Read on (a little), so that the client gets the answer rather than a reset.
                too_large = True
                if total > limit + DRAIN_BYTES:
                    break
                continue
            pending.append(data)
            size += len(data)
            if size >= UPLOAD_BATCH:
                await to_thread.run_sync(upload.write, b"".join(pending))
                pending, size = [], 0
        if too_large:
            raise TooLarge(f"the build context is larger than {limit} bytes")
        await to_thread.run_sync(upload.write, b"".join(pending))
    except ClientDisconnect:
        with CancelScope(shield=True):
            await to_thread.run_sync(tasks.sources.discard, upload)
        raise Invalid("the client disconnected before the context was complete") from None
    except BaseException:
        with CancelScope(shield=True):
            await to_thread.run_sync(tasks.sources.discard, upload)
        raise
    stored = await to_thread.run_sync(tasks.sources.commit, upload)
    access.audit.record("run.source", principal.id, "ok", source=stored.digest, size=stored.size)
    return JSONResponse({"source": stored.digest, "size": stored.size}, status_code=201)


@router.post("/runs", status_code=201)
def create_run(
    body: RunCreate,
    principal: Writer,
    tasks: Tasks,
    access: Access,
    rights: RepositoryRightsDep,
) -> RunModel:
    """Queue a build (or a command run); a worker takes it up. `{{.Run.ID}}` in `images`
    becomes the run id."""
    run_request = RunRequest(
        kind=body.kind,
        source=body.source,
        context_url=body.context_url,
        dockerfile=body.dockerfile,
        images=list(body.images),
        build_args=dict(body.build_args),
        target=body.target,
        platform=body.platform,
        push=body.push,
        cmd=body.cmd,
        task_file=body.task_file if body.kind == "task" else None,
        values=dict(body.values),
        secret_values=dict(body.secret_values),
    )
    if body.push and body.kind == "build":
        for image in body.images:
            repository, _ = image_repository(image.replace(RUN_ID_TEMPLATE, f"{RUN_ID_PREFIX}1"))
            rights.require(principal, repository, PUSH)
    run = tasks.schedule(run_request, principal.id, body.timeout, body.engine)
    access.audit.record(
        "run.create",
        principal.id,
        "ok",
        run_id=run.run_id,
        kind=run.kind,
        images=run.request.images,
    )
    return run_model(run)


@router.get("/runs")
def list_runs(
    _: Reader,
    tasks: Tasks,
    top: Annotated[int, Query(ge=1, le=1000)] = 50,
    status: Annotated[str | None, Query(description="Only runs with this status")] = None,
) -> list[RunModel]:
    """Runs, newest first."""
    wanted: RunStatus | None = None
    if status is not None:
        try:
            wanted = RunStatus(status)
        except ValueError:
            known = ", ".join(STATUSES)
            raise Invalid(f"unknown status {status!r}; known: {known}") from None
    return [run_model(run) for run in tasks.runs.recent(top, wanted)]


@router.get("/runs/{run_id}", responses={404: {"description": "No such run"}})
def get_run(run_id: str, _: Reader, tasks: Tasks) -> RunModel:
    return run_model(tasks.runs.get(run_id))


@router.post(
    "/runs/{run_id}/cancel",
    responses={404: {"description": "No such run"}, 409: {"description": "The run has ended"}},
)
def cancel_run(run_id: str, principal: Writer, tasks: Tasks, access: Access) -> RunModel:
    """Cancel a run: a queued one ends Canceled at once, a running one once its worker has
    ended its processes (within seconds)."""
    run = tasks.runs.request_cancel(run_id)
    access.audit.record("run.cancel", principal.id, "ok", run_id=run_id)
    return run_model(run)


@router.get(
    "/runs/{run_id}/logs",
    response_class=StreamingResponse,
    responses={
        200: {"description": "The log from `offset`", "content": {TEXT: {}}},
        404: {"description": "No such run"},
    },
)
async def run_logs(
    run_id: str,
    _: Reader,
    tasks: Tasks,
    follow: bool = False,
    offset: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
) -> StreamingResponse:
    """The run's log from byte `offset`. With `follow`, streamed while the run goes on; the
    stream ends when the run has ended (then GET the run for its status)."""
    await to_thread.run_sync(tasks.runs.get, run_id)  # 404 before the stream starts
    return StreamingResponse(
        _log_stream(tasks, run_id, offset, follow),
        media_type=TEXT,
        headers=_NO_BUFFERING,
    )


async def _log_stream(
    tasks: TaskService, run_id: str, offset: int, follow: bool
) -> AsyncIterator[bytes]:
    # A follower that goes away ends this stream: StreamingResponse listens for the disconnect
    # and cancels it. Asking the request here as well would be a second concurrent receive(),
    # which the server may fail (a 500 before the first byte).
    position = offset
    while True:
        # The status first: the log of a run is complete before its final status is written.
        run = await to_thread.run_sync(tasks.runs.get, run_id)
        data = await to_thread.run_sync(tasks.logs.read, run_id, position)
        if data:
            position += len(data)
            yield data
            continue
        if not follow or run.finished:
            return
        await asyncio.sleep(FOLLOW_POLL_SECONDS)
