"""`/docs`: the API explorer (Swagger UI), with its script, stylesheet and icon served from the
package, so that it works where the registry cannot reach other hosts.

The files in `swagger_ui/` are npm's `swagger-ui-dist`, unchanged (its README there says which
version and how to update it). They sit under a URL that names the version, so browsers may
keep them for a year. The page and its assets answer whoever may open the page: like the
OpenAPI document, they need no credentials. The page's Content-Security-Policy lets it load
nothing from another host, and run only its own scripts.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response

SWAGGER_UI_VERSION = "5.35.0"
ASSETS_FOLDER = Path(__file__).parent / "swagger_ui"
# The only files served, and their types.
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
}
ASSET_HEADERS = {
    "Cache-Control": "public, max-age=31536000, immutable",
    "X-Content-Type-Options": "nosniff",
}
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def _content_security_policy(html: str) -> str:
    """Scripts: the page's own files and its inline start-up script (by hash). Swagger UI
    sets inline styles and draws icons from data: URLs."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in _INLINE_SCRIPT.findall(html)
    )
    return (
        "default-src 'none'; "
        f"script-src 'self' {hashes}; "
        "style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; "
        "connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


def add_docs_routes(api: FastAPI, docs_url: str = "/docs") -> None:
    """The explorer at `docs_url` and its assets under `<docs_url>/assets/<version>/`."""
    assert api.openapi_url is not None
    openapi_url = api.openapi_url
    title = f"{api.title} - Swagger UI"

    @functools.lru_cache(maxsize=8)
    def page(root_path: str) -> tuple[bytes, str]:
        assets = f"{root_path}{docs_url}/assets/{SWAGGER_UI_VERSION}"
        html = bytes(
            get_swagger_ui_html(
                openapi_url=f"{root_path}{openapi_url}",
                title=title,
                swagger_js_url=f"{assets}/swagger-ui-bundle.js",
                swagger_css_url=f"{assets}/swagger-ui.css",
                swagger_favicon_url=f"{assets}/favicon-32x32.png",
                # No badge from the public validator service.
                swagger_ui_parameters={"validatorUrl": None},
            ).body
        )
        return html, _content_security_policy(html.decode())

    async def docs(request: Request) -> Response:
        html, policy = page(str(request.scope.get("root_path", "")).rstrip("/"))
        return HTMLResponse(
            html,
            headers={
                "Content-Security-Policy": policy,
                "Cache-Control": "no-cache",
                "X-Content-Type-Options": "nosniff",
            },
        )

    async def asset(request: Request) -> Response:
        version = request.path_params["version"]
        name = request.path_params["name"]
        media_type = ASSETS.get(name)
        if version != SWAGGER_UI_VERSION or media_type is None:
            raise HTTPException(404, "no such file of the API explorer")
        return FileResponse(ASSETS_FOLDER / name, media_type=media_type, headers=ASSET_HEADERS)

    api.add_route(docs_url, docs, methods=["GET"], include_in_schema=False)
    api.add_route(
        f"{docs_url}/assets/{{version}}/{{name}}", asset, methods=["GET"], include_in_schema=False
    )
