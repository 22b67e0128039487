"""The route table (dockyard.api.routes): every route the app serves is declared there, the app
tries them in the table's order, and the access each request needs is derived from the table
with the router's own matching, so the gate checks the repository of the route that runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import Match, Mount, Route

from dockyard.access.decisions import Requirement
from dockyard.access.rights import DELETE, METADATA_READ, METADATA_WRITE, PULL, PUSH
from dockyard.api.routes import ROUTES, Endpoint, Guard, endpoint_of, requirement
from dockyard.app import create_app
from dockyard.compose import build_services
from dockyard.config import Settings
from dockyard.storage.db.migrate import upgrade

DIGEST = "sha256:" + "a" * 64
SAMPLE_PARAMS = {
    "name": "team/app",
    "digest": DIGEST,
    "reference": "v1",
    "tag": "v1",
    "upload_id": "0b6f3c7e",
}
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


@pytest.fixture(scope="module")
def app_routes(tmp_path_factory: pytest.TempPathFactory) -> list[Route]:
    """The routes of the app as `dockyard serve` builds it, with auth on (the token routes)."""
    data_dir: Path = tmp_path_factory.mktemp("routes")
    settings = Settings(data_dir=data_dir, auth_enabled=True)
    upgrade(settings.database_url)
    app: Any = create_app(build_services(settings))
    while not isinstance(app, Starlette):
        app = app.app
    routes = [r for r in app.routes if not isinstance(r, Mount)]
    assert all(isinstance(r, Route) for r in routes)
    return [r for r in routes if isinstance(r, Route)]


def _endpoint_of_route(route: Route) -> Endpoint:
    found = [e for e in ROUTES if e.path == route.path]
    assert len(found) == 1, f"{route.path} has {len(found)} endpoints in the route table"
    return found[0]


def _sample_path(endpoint: Endpoint) -> str:
    path = endpoint.path.replace("{name:path}", "{name}")
    return path.format(**SAMPLE_PARAMS)


def test_every_route_of_the_app_has_an_endpoint_and_serves_only_its_methods(
    app_routes: list[Route],
) -> None:
    for route in app_routes:
        endpoint = _endpoint_of_route(route)
        assert route.methods is not None
        assert route.methods <= endpoint.methods, f"{route.path}: {route.methods}"


def test_every_endpoint_is_served_with_every_declared_method(app_routes: list[Route]) -> None:
    served: dict[str, set[str]] = {}
    for route in app_routes:
        served.setdefault(route.path, set()).update(route.methods or ())
    for endpoint in ROUTES:
        assert served.get(endpoint.path) == set(endpoint.methods), endpoint.name


def test_the_app_tries_the_routes_in_the_table_order(app_routes: list[Route]) -> None:
    order: list[str] = []
    for route in app_routes:
        if not order or order[-1] != route.path:
            order.append(route.path)
    assert order == [e.path for e in ROUTES]


def _router_pick(
    routes: list[Route], method: str, path: str
) -> tuple[Route, dict[str, Any]] | None:
    """The route Starlette's router runs for a request (first full match, else first partial)."""
    scope = {"type": "http", "method": method, "path": path, "root_path": ""}
    partial: tuple[Route, dict[str, Any]] | None = None
    for route in routes:
        match, child = route.matches(scope)
        if match == Match.FULL:
            return route, child["path_params"]
        if match == Match.PARTIAL and partial is None:
            partial = route, child["path_params"]
    return partial


def _tricky_paths() -> Iterator[str]:
    names = ["a/b", "", "_catalog", "a/_tags/x", "a/_manifests/b", "a%2Fb"]
    suffixes = [
        "", "/", "/tags/list", "/tags/list/", f"/referrers/{DIGEST}", "/blobs/uploads",
        "/blobs/uploads/", "/blobs/uploads/x", "/blobs/uploadsx", f"/blobs/{DIGEST}",
        "/blobs/x/y", "/manifests/t", "/manifests/t/", "/_tags", "/_tags/t", "/_tags/t/u",
        "/_manifests", f"/_manifests/{DIGEST}", "/_manifests/d/_tags/x", "/Manifests/t",
    ]  # fmt: skip
    for prefix in ("/v2/", "/acr/v1/", "/V2/"):
        for name in names:
            for suffix in suffixes:
                yield prefix + name + suffix
    yield from ("/v2/_catalog", "/acr/v1/_catalog", "/healthz", "/metrics", "/oauth2/token")


def test_the_gate_decides_on_the_route_and_repository_the_router_runs(
    app_routes: list[Route],
) -> None:
    for path in _tricky_paths():
        for method in METHODS:
            picked = _router_pick(app_routes, method, path)
            matched = endpoint_of(method, path)
            if picked is None:
                assert matched is None, (method, path)
                continue
            route, params = picked
            assert matched is not None, (method, path)
            assert matched[0].path == route.path, (method, path)
            assert matched[1] == params.get("name"), (method, path)
            need = requirement(method, path)
            if need is not None and need.kind == "repository":
                assert need.repository == params["name"], (method, path)


def _expected(endpoint: Endpoint, method: str) -> Requirement | None:
    if endpoint.guard == Guard.OPEN:
        return None
    if endpoint.guard == Guard.REPOSITORY:
        return Requirement("repository", "team/app", endpoint.actions(method))
    return Requirement(endpoint.guard.value)


@pytest.mark.parametrize("endpoint", ROUTES, ids=lambda e: f"{e.name} {e.path}")
def test_a_request_for_each_endpoint_needs_what_the_endpoint_declares(
    endpoint: Endpoint,
) -> None:
    path = _sample_path(endpoint)
    for method in sorted(endpoint.methods):
        assert endpoint_of(method, path) is not None
        assert endpoint_of(method, path)[0] is endpoint  # type: ignore[index]
        assert requirement(method, path) == _expected(endpoint, method)


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/v2/", Requirement("base")),
        ("GET", "/v2", Requirement("base")),
        ("GET", "/v2/_catalog", Requirement("catalog")),
        ("GET", "/acr/v1/_catalog", Requirement("catalog")),
        ("GET", "/v2/a/b/manifests/latest", Requirement("repository", "a/b", (PULL,))),
        ("HEAD", "/v2/a/manifests/latest", Requirement("repository", "a", (PULL,))),
        ("PUT", "/v2/a/manifests/latest", Requirement("repository", "a", (PULL, PUSH))),
        ("DELETE", f"/v2/a/manifests/{DIGEST}", Requirement("repository", "a", (DELETE,))),
        ("DELETE", f"/v2/a/blobs/{DIGEST}", Requirement("repository", "a", (DELETE,))),
        ("POST", "/v2/a/blobs/uploads/", Requirement("repository", "a", (PULL, PUSH))),
        ("GET", "/v2/a/blobs/uploads/u1", Requirement("repository", "a", (PULL, PUSH))),
        ("PATCH", "/v2/a/blobs/uploads/u1", Requirement("repository", "a", (PULL, PUSH))),
        ("GET", f"/v2/a/referrers/{DIGEST}", Requirement("repository", "a", (PULL,))),
        ("GET", "/v2/a/tags/list", Requirement("repository", "a", (PULL,))),
        # A name may hold the words of the API; the router's greedy name decides.
        ("GET", "/v2/a/manifests/b/tags/list", Requirement("repository", "a/manifests/b", (PULL,))),
        ("GET", "/acr/v1/a/b/_tags/t", Requirement("repository", "a/b", (METADATA_READ,))),
        ("HEAD", "/acr/v1/a/b/_tags/t", Requirement("repository", "a/b", (METADATA_READ,))),
        ("PATCH", "/acr/v1/a/_manifests/d", Requirement("repository", "a", (METADATA_WRITE,))),
        ("DELETE", "/acr/v1/a/_tags/t", Requirement("repository", "a", (DELETE,))),
        ("DELETE", "/acr/v1/a", Requirement("repository", "a", (DELETE,))),
        ("GET", "/acr/v1/a/_tags/t/u", Requirement("repository", "a/_tags/t/u", (METADATA_READ,))),
        # A method a route does not serve (405) needs the least right on its repository.
        ("POST", "/v2/a/manifests/latest", Requirement("repository", "a", (PULL,))),
        # Registry paths that match no route need a known caller; the rest are not guarded.
        ("GET", "/v2/a/unknown", Requirement("base")),
        ("GET", "/v2/a/tags/list/", Requirement("base")),
        ("GET", "/V2/a/tags/list", None),
        ("GET", "/healthz", None),
        ("POST", "/oauth2/token", None),
        ("GET", "/api/v1/registry", None),
    ],
)
def test_requirement(method: str, path: str, expected: Requirement | None) -> None:
    assert requirement(method, path) == expected


def test_an_endpoint_refuses_a_route_for_a_method_it_does_not_declare() -> None:
    endpoint = next(e for e in ROUTES if e.name == "tags")

    async def handler() -> None:
        raise AssertionError("never called")

    with pytest.raises(ValueError, match="declares no"):
        endpoint.route(handler, "DELETE")
