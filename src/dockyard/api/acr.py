"""ACR-compatible data-plane endpoints (`/acr/v1`): repository, tag and manifest attributes,
their changeable attributes (locks), and deletes of repositories, tags and manifests. The
catalog (`/acr/v1/_catalog`) is served with `/v2/_catalog` (api/listing.py)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from anyio import to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dockyard.api.acr_shapes import manifest_json, repository_json, tag_json
from dockyard.api.context import request_info
from dockyard.api.listing import page_size, query_text
from dockyard.api.routes import ACR_MANIFEST, ACR_MANIFESTS, ACR_REPOSITORY, ACR_TAG, ACR_TAGS
from dockyard.errors import DigestInvalid, Unsupported
from dockyard.registry.attributes import AttributeChange, InfoPage, Order
from dockyard.registry.core import Registry
from dockyard.spec.digest import is_digest_reference

ACR_DEFAULT_PAGE = 100


def _login_server(request: Request) -> str:
    """ACR's `registry` field: the name clients reach the registry by."""
    return request.headers.get("host") or request.url.netloc


async def _change(request: Request, repository: bool) -> AttributeChange:
    raw = await request.body()
    try:
        body = json.loads(raw) if raw else None
    except (ValueError, RecursionError):  # not UTF-8, not JSON, too deep, a number too long
        raise Unsupported("the body must be JSON") from None
    return AttributeChange.parse(body, repository)


def _next_link(request: Request, limit: int | None, page: InfoPage[Any]) -> dict[str, str]:
    if page.next_last is None or limit is None:
        return {}
    params = {"last": page.next_last, "n": str(limit)}
    for carried in ("orderby", "digest"):
        value = request.query_params.get(carried)
        if value:
            params[carried] = value
    return {"Link": f'<{request.url.path}?{urlencode(params)}>; rel="next"'}


def acr_routes(registry: Registry) -> list[Route]:
    attributes = registry.attributes

    # --- repositories ---------------------------------------------------------------------

    async def get_repository(request: Request) -> Response:
        info = await to_thread.run_sync(attributes.repository, request.path_params["name"])
        return JSONResponse(repository_json(_login_server(request), info))

    async def patch_repository(request: Request) -> Response:
        change = await _change(request, repository=True)
        info = await to_thread.run_sync(
            attributes.update_repository, request.path_params["name"], change
        )
        return JSONResponse(repository_json(_login_server(request), info))

    async def delete_repository(request: Request) -> Response:
        deleted = await to_thread.run_sync(
            registry.repositories.delete, request.path_params["name"], request_info(request)
        )
        return JSONResponse(
            {"manifestsDeleted": deleted.manifests_deleted, "tagsDeleted": deleted.tags_deleted},
            status_code=202,
        )

    # --- tags -----------------------------------------------------------------------------

    async def list_tags(request: Request) -> Response:
        name = request.path_params["name"]
        limit = page_size(request, ACR_DEFAULT_PAGE)
        page = await to_thread.run_sync(
            attributes.tags,
            name,
            limit,
            query_text(request, "last") or None,
            Order.parse(query_text(request, "orderby")),
            query_text(request, "digest") or None,
        )
        body = {
            "registry": _login_server(request),
            "imageName": name,
            "tags": [tag_json(info) for info in page.items],
        }
        return JSONResponse(body, headers=_next_link(request, limit, page))

    async def get_tag(request: Request) -> Response:
        name = request.path_params["name"]
        info = await to_thread.run_sync(attributes.tag, name, request.path_params["tag"])
        return JSONResponse(
            {"registry": _login_server(request), "imageName": name, "tag": tag_json(info)}
        )

    async def patch_tag(request: Request) -> Response:
        name = request.path_params["name"]
        change = await _change(request, repository=False)
        info = await to_thread.run_sync(
            attributes.update_tag, name, request.path_params["tag"], change
        )
        return JSONResponse(
            {"registry": _login_server(request), "imageName": name, "tag": tag_json(info)}
        )

    async def delete_tag(request: Request) -> Response:
        tag = request.path_params["tag"]
        if is_digest_reference(tag):
            raise Unsupported(f"{tag!r} is not a tag")
        await to_thread.run_sync(
            registry.manifests.delete, request.path_params["name"], tag, request_info(request)
        )
        return Response(status_code=202, headers={"Content-Length": "0"})

    # --- manifests ------------------------------------------------------------------------

    async def list_manifests(request: Request) -> Response:
        name = request.path_params["name"]
        limit = page_size(request, ACR_DEFAULT_PAGE)
        page = await to_thread.run_sync(
            attributes.manifests,
            name,
            limit,
            query_text(request, "last") or None,
            Order.parse(query_text(request, "orderby")),
        )
        body = {
            "registry": _login_server(request),
            "imageName": name,
            "manifests": [manifest_json(info) for info in page.items],
        }
        return JSONResponse(body, headers=_next_link(request, limit, page))

    async def get_manifest(request: Request) -> Response:
        name = request.path_params["name"]
        info = await to_thread.run_sync(attributes.manifest, name, request.path_params["digest"])
        return JSONResponse(
            {"registry": _login_server(request), "imageName": name, "manifest": manifest_json(info)}
        )

    async def patch_manifest(request: Request) -> Response:
        name = request.path_params["name"]
        change = await _change(request, repository=False)
        info = await to_thread.run_sync(
            attributes.update_manifest, name, request.path_params["digest"], change
        )
        return JSONResponse(
            {"registry": _login_server(request), "imageName": name, "manifest": manifest_json(info)}
        )

    async def delete_manifest(request: Request) -> Response:
        digest = request.path_params["digest"]
        if not is_digest_reference(digest):
            raise DigestInvalid(f"{digest!r} is not a digest", detail={"digest": digest})
        await to_thread.run_sync(
            registry.manifests.delete, request.path_params["name"], digest, request_info(request)
        )
        return Response(status_code=202, headers={"Content-Length": "0"})

    return [
        ACR_TAGS.route(list_tags, "GET"),
        ACR_TAG.route(get_tag, "GET"),
        ACR_TAG.route(patch_tag, "PATCH"),
        ACR_TAG.route(delete_tag, "DELETE"),
        ACR_MANIFESTS.route(list_manifests, "GET"),
        ACR_MANIFEST.route(get_manifest, "GET"),
        ACR_MANIFEST.route(patch_manifest, "PATCH"),
        ACR_MANIFEST.route(delete_manifest, "DELETE"),
        ACR_REPOSITORY.route(get_repository, "GET"),
        ACR_REPOSITORY.route(patch_repository, "PATCH"),
        ACR_REPOSITORY.route(delete_repository, "DELETE"),
    ]
