"""The commit trigger's push webhook (`POST /tasks/{name}/hooks/git`) and its secret.

Git hosts call the webhook without Dockyard credentials: a delivery counts only when it
carries the task's webhook secret (GitHub's HMAC signature or GitLab's token). The secret is
shown, and can be replaced, by those who may change tasks."""

from __future__ import annotations

import functools

from anyio import to_thread
from fastapi import APIRouter, Request, Response

from dockyard.api.management.deps import Access, Writer
from dockyard.api.management.tasks import Saved
from dockyard.errors import NotFound, TooLarge
from dockyard.tasks.push_hooks import is_ping, is_push, parse_push, verify
from dockyard.tasks.saved import SavedTasks
from dockyard.tasks.task_model import SavedTask

# The bodies live in dockyard.wire (shared with the CLI).
from dockyard.wire.tasks import HookAnswer, WebhookSecretModel

router = APIRouter(tags=["tasks"])
MAX_DELIVERY_BYTES = 1024 * 1024
HOOK_ROUTE = "git_push_hook"


async def _body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_DELIVERY_BYTES:
        raise TooLarge(f"a delivery is at most {MAX_DELIVERY_BYTES} bytes")
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_DELIVERY_BYTES:
            raise TooLarge(f"a delivery is at most {MAX_DELIVERY_BYTES} bytes")
        parts.append(chunk)
    return b"".join(parts)


def _task_or_none(saved: SavedTasks, name: str) -> SavedTask | None:
    try:
        return saved.definitions.get(name)
    except NotFound:
        return None


def _ignored(
    response: Response, reason: str, commit: str | None = None, branch: str | None = None
) -> HookAnswer:
    response.status_code = 200
    return HookAnswer(status="ignored", reason=reason, commit=commit, branch=branch)


@router.post(
    "/tasks/{name}/hooks/git",
    name=HOOK_ROUTE,
    status_code=202,
    openapi_extra={"security": []},
    responses={
        200: {"model": HookAnswer, "description": "Verified, but no run: the reason says why"},
        401: {"description": "Not signed with the task's webhook secret (or no such task)"},
        413: {"description": "The delivery is larger than 1 MiB"},
    },
)
async def git_push_hook(
    name: str, request: Request, response: Response, saved: Saved, access: Access
) -> HookAnswer:
    """A push event of GitHub (`X-GitHub-Event: push`, `X-Hub-Signature-256`) or GitLab
    (`X-Gitlab-Event: Push Hook`, `X-Gitlab-Token`). A push to the task's branch queues one
    run of the pushed commit (trigger `commit`), unless that commit was already built or
    queued; anything else is answered 200 with the reason nothing ran."""
    body = await _body(request)
    task = await to_thread.run_sync(_task_or_none, saved, name)
    # An unknown task is refused as a wrong signature, so that names are not revealed.
    delivery = verify(request.headers, body, task.spec.webhook_secret if task else None)
    if is_ping(delivery):
        return _ignored(response, "a ping: the webhook reaches this task")
    if not is_push(delivery):
        return _ignored(response, f"event {delivery.event!r} is not a push")
    push = parse_push(delivery, body)
    branch, commit = push.branch, push.commit
    if branch is None:
        return _ignored(response, f"the push is to {push.ref}, not to a branch")
    if commit is None:
        return _ignored(response, f"the push deleted branch {branch}", branch=branch)
    seen = functools.partial(
        saved.commits.seen,
        name,
        commit,
        branch,
        default_branch=push.default_branch,
        repositories=push.repositories,
    )
    outcome = await to_thread.run_sync(seen)
    access.audit.record(
        "task.commit",
        f"webhook:{delivery.provider}",
        "queued" if outcome.run_id else "ignored",
        task=name,
        commit=outcome.commit,
        run_id=outcome.run_id,
        reason=outcome.reason,
    )
    if outcome.run_id is None:
        return _ignored(response, outcome.reason or "no run", outcome.commit, outcome.branch)
    return HookAnswer(
        status="queued", run_id=outcome.run_id, commit=outcome.commit, branch=outcome.branch
    )


@router.get("/tasks/{name}/webhook-secret", responses={404: {"description": "No such task"}})
def show_webhook_secret(
    name: str, request: Request, principal: Writer, saved: Saved, access: Access
) -> WebhookSecretModel:
    """The push webhook of a task and its secret, to configure at the git host (made when
    the commit trigger is switched on)."""
    secret = saved.commits.webhook_secret(name)
    access.audit.record("task.webhook_secret.show", principal.id, "ok", task=name)
    return WebhookSecretModel(url=str(request.url_for(HOOK_ROUTE, name=name)), secret=secret)


@router.post("/tasks/{name}/webhook-secret", responses={404: {"description": "No such task"}})
def renew_webhook_secret(
    name: str, request: Request, principal: Writer, saved: Saved, access: Access
) -> WebhookSecretModel:
    """Replace the task's webhook secret with a new random one (deliveries signed with the
    old one are refused from now on)."""
    secret = saved.commits.renew_webhook_secret(name)
    access.audit.record("task.webhook_secret.renew", principal.id, "ok", task=name)
    return WebhookSecretModel(url=str(request.url_for(HOOK_ROUTE, name=name)), secret=secret)
