"""The route table of the registry's own endpoints (/v2, /acr/v1, the token service, health
and metrics): each route declared once, with what each of its methods needs.

The route modules build their Starlette routes from these endpoints (`Endpoint.route`), and
AuthGate's decision is derived from them (`requirement`): a request is matched with the very
pattern the router compiles, in the router's order, so the gate checks the rights on the
repository of the route that will run, never on a name parsed another way. The management
API (/api/v1) has its own per-route dependencies and is not in this table."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from starlette.routing import Route, compile_path

from dockyard.access.decisions import Requirement
from dockyard.access.rights import DELETE, METADATA_READ, METADATA_WRITE, PULL, PUSH

# Requests under these prefixes that match no route still need a known caller (the router
# answers them 404 or 405, which must not tell an anonymous caller more than a 401 does).
GUARDED_PREFIXES = ("/v2/", "/acr/v1/")


class Guard(StrEnum):
    OPEN = "open"  # not behind AuthGate: health, metrics, the token service
    BASE = "base"  # any known caller (the /v2/ login check)
    CATALOG = "catalog"  # callers who may list the catalog
    REPOSITORY = "repository"  # the actions of `needs` on the repository in the path


@dataclass(frozen=True)
class Endpoint:
    """One path of the API. `needs`: for a repository route, the actions each method needs on
    the repository named by the path's `{name}`; for other guards, the methods served.
    HEAD is served, and guarded, as GET wherever GET is."""

    name: str
    path: str  # a Starlette path template
    guard: Guard
    needs: Mapping[str, tuple[str, ...]]
    # Derived once: the router's own compiled pattern, and the methods served.
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)
    methods: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        regex, _, _ = compile_path(self.path)
        object.__setattr__(self, "pattern", regex)
        if self.guard == Guard.REPOSITORY and "name" not in self.pattern.groupindex:
            raise ValueError(f"repository route {self.path} names no repository")
        declared = set(self.needs)
        if "GET" in declared:
            declared.add("HEAD")
        object.__setattr__(self, "methods", frozenset(declared))

    def actions(self, method: str) -> tuple[str, ...]:
        """What `method` needs on the repository; a method the route does not serve (the router
        answers 405) needs the least right, pull."""
        found = self.needs.get("GET" if method == "HEAD" and "HEAD" not in self.needs else method)
        return found if found else (PULL,)

    def route(self, handler: Callable[..., Any], *methods: str) -> Route:
        """The Starlette route of `handler` for some of this endpoint's methods."""
        undeclared = set(methods) - self.methods
        if undeclared:
            raise ValueError(f"{self.name} declares no {sorted(undeclared)}")
        return Route(self.path, handler, methods=list(methods))


def _open(name: str, path: str, *methods: str) -> Endpoint:
    return Endpoint(name, path, Guard.OPEN, {m: () for m in methods})


def _repository(name: str, path: str, needs: Mapping[str, tuple[str, ...]]) -> Endpoint:
    return Endpoint(name, path, Guard.REPOSITORY, needs)


_UPLOADING = (PULL, PUSH)

VERSION = Endpoint("version", "/v2/", Guard.BASE, {"GET": ()})
VERSION_NO_SLASH = Endpoint("version", "/v2", Guard.BASE, {"GET": ()})
HEALTH = _open("health", "/healthz", "GET")
METRICS = _open("metrics", "/metrics", "GET")
CATALOG = Endpoint("catalog", "/v2/_catalog", Guard.CATALOG, {"GET": ()})
ACR_CATALOG = Endpoint("acr catalog", "/acr/v1/_catalog", Guard.CATALOG, {"GET": ()})
TAGS = _repository("tags", "/v2/{name:path}/tags/list", {"GET": (PULL,)})
REFERRERS = _repository("referrers", "/v2/{name:path}/referrers/{digest}", {"GET": (PULL,)})
TOKEN_EXCHANGE = _open("token exchange", "/oauth2/exchange", "POST")
TOKEN = _open("token", "/oauth2/token", "GET", "POST")
UPLOAD_START = _repository("upload start", "/v2/{name:path}/blobs/uploads/", {"POST": _UPLOADING})
UPLOAD = _repository(
    "upload",
    "/v2/{name:path}/blobs/uploads/{upload_id}",
    {"GET": _UPLOADING, "PATCH": _UPLOADING, "PUT": _UPLOADING, "DELETE": _UPLOADING},
)
BLOB = _repository("blob", "/v2/{name:path}/blobs/{digest}", {"GET": (PULL,), "DELETE": (DELETE,)})
MANIFEST = _repository(
    "manifest",
    "/v2/{name:path}/manifests/{reference}",
    {"GET": (PULL,), "PUT": (PULL, PUSH), "DELETE": (DELETE,)},
)
_ACR_ITEM = {"GET": (METADATA_READ,), "PATCH": (METADATA_WRITE,), "DELETE": (DELETE,)}
ACR_TAGS = _repository("acr tags", "/acr/v1/{name:path}/_tags", {"GET": (METADATA_READ,)})
ACR_TAG = _repository("acr tag", "/acr/v1/{name:path}/_tags/{tag}", _ACR_ITEM)
ACR_MANIFESTS = _repository(
    "acr manifests", "/acr/v1/{name:path}/_manifests", {"GET": (METADATA_READ,)}
)
ACR_MANIFEST = _repository("acr manifest", "/acr/v1/{name:path}/_manifests/{digest}", _ACR_ITEM)
ACR_REPOSITORY = _repository("acr repository", "/acr/v1/{name:path}", _ACR_ITEM)

# In the order of the app's routes (app.py), which is the order the router tries them in.
ROUTES: tuple[Endpoint, ...] = (
    VERSION,
    VERSION_NO_SLASH,
    HEALTH,
    METRICS,
    CATALOG,
    ACR_CATALOG,
    TAGS,
    REFERRERS,
    TOKEN_EXCHANGE,
    TOKEN,
    UPLOAD_START,
    UPLOAD,
    BLOB,
    MANIFEST,
    ACR_TAGS,
    ACR_TAG,
    ACR_MANIFESTS,
    ACR_MANIFEST,
    ACR_REPOSITORY,
)


class _Matcher:
    """All endpoints' patterns in one alternation per method, in the table's order: one
    regular-expression search answers what the router finds by trying each route in turn
    (the gate runs on every request)."""

    def __init__(self, routes: tuple[Endpoint, ...]) -> None:
        self._keys = {f"e{i}": endpoint for i, endpoint in enumerate(routes)}
        self._name_groups = {
            key: f"{key}_name" for key, e in self._keys.items() if "name" in e.pattern.groupindex
        }
        self._any = self._alternation(self._keys)
        methods = {method for endpoint in routes for method in endpoint.methods}
        self._serving = {
            method: self._alternation(
                {key: e for key, e in self._keys.items() if method in e.methods}
            )
            for method in methods
        }

    @staticmethod
    def _alternation(keyed: Mapping[str, Endpoint]) -> re.Pattern[str]:
        parts = []
        for key, endpoint in keyed.items():
            body = endpoint.pattern.pattern.removeprefix("^").removesuffix("$")
            body = re.sub(r"\(\?P<(\w+)>", rf"(?P<{key}_\1>", body)
            parts.append(f"(?P<{key}>{body})")
        return re.compile("^(?:" + "|".join(parts) + ")$")

    def match(self, method: str, path: str) -> tuple[Endpoint, str | None] | None:
        serving = self._serving.get(method)
        found = serving.match(path) if serving is not None else None
        if found is None:
            found = self._any.match(path)
        if found is None or found.lastgroup is None:
            return None
        key = found.lastgroup
        group = self._name_groups.get(key)
        return self._keys[key], None if group is None else found.group(group)


_MATCHER = _Matcher(ROUTES)


def endpoint_of(method: str, path: str) -> tuple[Endpoint, str | None] | None:
    """The endpoint the router will pick and the repository its path names: the first
    endpoint whose path and method match, else the first whose path matches (the router
    answers it 405)."""
    return _MATCHER.match(method, path)


def requirement(method: str, path: str) -> Requirement | None:
    """What AuthGate asks of the caller; None for requests it lets through (health, metrics,
    the token service, the management API, paths outside the registry APIs)."""
    matched = endpoint_of(method, path)
    if matched is None:
        return Requirement("base") if path.startswith(GUARDED_PREFIXES) else None
    endpoint, name = matched
    if endpoint.guard == Guard.OPEN:
        return None
    if endpoint.guard == Guard.REPOSITORY:
        return Requirement("repository", name, endpoint.actions(method))
    return Requirement(endpoint.guard.value)
