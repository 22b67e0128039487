"""Tag list, catalog and referrers, with `n`/`last` pagination and `Link` headers."""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import urlencode

from anyio import to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dockyard.api.routes import ACR_CATALOG, CATALOG, REFERRERS, TAGS
from dockyard.errors import PaginationNumberInvalid, Unsupported
from dockyard.registry.core import Registry
from dockyard.registry.listing import Page
from dockyard.registry.names import check_digest
from dockyard.spec import mediatypes

CATALOG_DEFAULT_PAGE = 1000
# Page sizes are SQL LIMITs: signed 64-bit, and a page asks for one row more than it shows.
MAX_PAGE_SIZE = 2**63 - 1
_LARGEST_LIMIT = MAX_PAGE_SIZE - 1


def page_size(request: Request, default: int | None) -> int | None:
    """`n`: plain decimal digits up to 2^63 - 1; anything else is PAGINATION_NUMBER_INVALID."""
    value = request.query_params.get("n")
    if value is None or value == "":
        return default
    digits = value.lstrip("0") or "0"
    if not value.isascii() or not value.isdigit() or len(digits) > len(str(MAX_PAGE_SIZE)):
        raise PaginationNumberInvalid(
            f"invalid page size n={value[:40]!r}: a number from 0 to {MAX_PAGE_SIZE}"
        )
    size = int(digits)
    if size > MAX_PAGE_SIZE:
        raise PaginationNumberInvalid(
            f"invalid page size n={value[:40]!r}: a number from 0 to {MAX_PAGE_SIZE}"
        )
    return min(size, _LARGEST_LIMIT)


def query_text(request: Request, key: str) -> str | None:
    """A text query parameter; NUL is refused (no name, tag, digest or type holds it, and
    PostgreSQL cannot compare text with it)."""
    value = request.query_params.get(key)
    if value is not None and "\x00" in value:
        raise Unsupported(f"the query parameter {key} must not contain NUL")
    return value


def link_header(path: str, limit: int | None, page: Page) -> dict[str, str]:
    if page.next_last is None or limit is None:
        return {}
    query = urlencode({"n": limit, "last": page.next_last})
    return {"Link": f'<{path}?{query}>; rel="next"'}


def _readable_page(
    registry: Registry, readable: Callable[[str], bool], limit: int | None, last: str | None
) -> Page:
    """A catalog page of readable repositories only. Pages are filled from further rows, and
    `last` of the next page is a name the caller may see, so hidden names never leak."""
    shown: list[str] = []
    while True:
        page = registry.listing.catalog(limit, last)
        for name in page.items:
            if readable(name):
                shown.append(name)
                if limit is not None and len(shown) == limit:
                    more = page.next_last is not None or name != page.items[-1]
                    return Page(shown, name if more else None)
        if page.next_last is None or not page.items:
            return Page(shown, None)
        last = page.next_last


def listing_routes(
    registry: Registry, visible: Callable[[Request], Callable[[str], bool] | None] | None = None
) -> list[Route]:
    async def list_tags(request: Request) -> Response:
        name = request.path_params["name"]
        limit = page_size(request, None)
        page = await to_thread.run_sync(
            registry.listing.tags, name, limit, query_text(request, "last")
        )
        return JSONResponse(
            {"name": name, "tags": page.items},
            headers=link_header(f"/v2/{name}/tags/list", limit, page),
        )

    async def catalog(request: Request) -> Response:
        limit = page_size(request, CATALOG_DEFAULT_PAGE)
        last = query_text(request, "last")
        readable = await to_thread.run_sync(visible, request) if visible is not None else None
        if readable is None:
            page = await to_thread.run_sync(registry.listing.catalog, limit, last)
        else:
            page = await to_thread.run_sync(_readable_page, registry, readable, limit, last)
        return JSONResponse(
            {"repositories": page.items}, headers=link_header(request.url.path, limit, page)
        )

    async def referrers(request: Request) -> Response:
        subject = check_digest(request.path_params["digest"])
        artifact_type = query_text(request, "artifactType") or None
        found = await to_thread.run_sync(
            registry.listing.referrers, request.path_params["name"], subject, artifact_type
        )
        body = {"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": found}
        headers = {"Content-Type": mediatypes.OCI_INDEX}
        if artifact_type is not None:
            headers["OCI-Filters-Applied"] = "artifactType"
        return Response(json.dumps(body, separators=(",", ":")).encode(), headers=headers)

    return [
        CATALOG.route(catalog, "GET"),
        ACR_CATALOG.route(catalog, "GET"),  # ACR's catalog, the same answer
        TAGS.route(list_tags, "GET"),
        REFERRERS.route(referrers, "GET"),
    ]
