"""Push webhooks of git hosts, for the commit trigger: checking a delivery against the task's
secret and reading the push from its payload.

GitHub signs the raw body (`X-Hub-Signature-256: sha256=<HMAC-SHA256 hex>`) and names the
event in `X-GitHub-Event`; GitLab sends the secret itself in `X-Gitlab-Token` and the event in
`X-Gitlab-Event`. Both are compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dockyard.errors import Invalid, Unauthorized
from dockyard.tasks.git import NO_COMMIT, is_commit

GITHUB, GITLAB = "github", "gitlab"
BRANCH_PREFIX = "refs/heads/"
SIGNATURE_MISMATCH = "the delivery is not signed with the task's webhook secret"


@dataclass(frozen=True, slots=True)
class Delivery:
    provider: str  # github | gitlab
    event: str  # as the host names it: push, ping, Push Hook, ...


@dataclass(frozen=True, slots=True)
class Push:
    ref: str
    commit: str | None  # None: the push deleted the ref
    repositories: tuple[str, ...]  # the URLs the payload gives for the repository
    default_branch: str | None

    @property
    def branch(self) -> str | None:
        """The branch pushed to; None for a tag or another ref."""
        return self.ref.removeprefix(BRANCH_PREFIX) if self.ref.startswith(BRANCH_PREFIX) else None


def verify(headers: Mapping[str, str], body: bytes, secret: str | None) -> Delivery:
    """The delivery, when it carries the task's secret; else Unauthorized (401). A task
    without a secret (its commit trigger never switched on) accepts nothing."""
    signature = headers.get("x-hub-signature-256")
    token = headers.get("x-gitlab-token")
    if not secret:
        raise Unauthorized(SIGNATURE_MISMATCH)
    if signature is not None:
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        if hmac.compare_digest(signature.strip().lower().encode(), expected.encode()):
            return Delivery(GITHUB, headers.get("x-github-event", ""))
    elif token is not None and hmac.compare_digest(token.encode(), secret.encode()):
        return Delivery(GITLAB, headers.get("x-gitlab-event", ""))
    raise Unauthorized(SIGNATURE_MISMATCH)


def is_ping(delivery: Delivery) -> bool:
    return delivery.provider == GITHUB and delivery.event == "ping"


def is_push(delivery: Delivery) -> bool:
    return delivery.event == ("push" if delivery.provider == GITHUB else "Push Hook")


def parse_push(delivery: Delivery, body: bytes) -> Push:
    """The push a verified delivery reports; Invalid (400) when its payload is not one."""
    try:
        payload = json.loads(body)
    except ValueError:
        raise Invalid("the delivery's body is not JSON") from None
    if not isinstance(payload, dict):
        raise Invalid("the delivery's body is not a JSON object")
    ref = payload.get("ref")
    if not isinstance(ref, str) or not ref:
        raise Invalid("the push names no ref")
    if delivery.provider == GITHUB:
        after = payload.get("after")
        deleted = bool(payload.get("deleted")) or after == NO_COMMIT
        place = _mapping(payload.get("repository"))
        urls = _strings(place, "clone_url", "html_url", "git_url", "ssh_url")
    else:
        after = payload.get("checkout_sha") or payload.get("after")
        deleted = after in (None, NO_COMMIT)
        place = _mapping(payload.get("project"))
        urls = _strings(place, "git_http_url", "http_url", "web_url")
    commit = None if deleted else after
    if commit is not None and (not isinstance(commit, str) or not is_commit(commit)):
        raise Invalid(f"the push's commit {commit!r} is not a commit id")
    default = place.get("default_branch")
    return Push(ref, commit, urls, default if isinstance(default, str) else None)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _strings(place: Mapping[str, Any], *keys: str) -> tuple[str, ...]:
    return tuple(v for k in keys if isinstance(v := place.get(k), str) and v)
