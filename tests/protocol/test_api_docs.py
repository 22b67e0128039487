"""The management API's explorer (`/api/v1/docs`) works offline: the page names no other host,
and every script, stylesheet and icon it names is served by the registry itself, with its
type, long-lived caching and to whoever may open the page (no credentials, as the page). In
process, on a registry with auth on (see conftest.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from tests.integration.helpers import describe
from tests.protocol.conftest import BASE_URL, InProcessRegistry, sync_client

# Not in the PostgreSQL pass (marker db_independent, see docs/testing.md): a page and static
# files the server serves from the package, to anyone; no registry data is read or written.
pytestmark = pytest.mark.db_independent

EXPECTED_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


HOST = urlsplit(BASE_URL).netloc


@pytest.fixture
def anon(auth_registry: InProcessRegistry) -> Iterator[httpx.Client]:
    """A client without credentials on a registry with auth on."""
    http = sync_client(auth_registry)
    yield http
    http.close()


class _References(HTMLParser):
    """Every URL the page makes a browser load: scripts, stylesheets, icons, images."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name in ("src", "href"):
            value = values.get(name)
            if value and tag in ("script", "link", "img"):
                self.urls.append(value)


def test_docs_page_names_no_other_host(anon: httpx.Client) -> None:
    page = anon.get("/api/v1/docs")
    assert page.status_code == 200, describe(page)
    assert page.headers["content-type"].startswith("text/html")
    # No absolute URL at all: neither in tags nor in the inline script (a CDN, a validator).
    external = re.findall(r"""(?:https?:)?//[^\s"'<>)]+""", page.text)
    assert not external, f"the docs page names other hosts: {external}"
    references = _References()
    references.feed(page.text)
    assert len(references.urls) >= 3, references.urls  # the script, the stylesheet, the icon
    assert "/api/v1/openapi.json" in page.text
    # The page allows nothing but the registry itself (a CSP a browser enforces).
    policy = page.headers.get("content-security-policy", "")
    assert "default-src 'none'" in policy, policy
    assert "http" not in policy, policy


def test_every_asset_of_the_page_is_served_locally(anon: httpx.Client) -> None:
    page = anon.get("/api/v1/docs")
    references = _References()
    references.feed(page.text)
    for reference in references.urls:
        url = urljoin(f"{BASE_URL}/api/v1/docs", reference)
        assert urlsplit(url).netloc == HOST, url
        # Without credentials, on a registry with auth on: the page itself needs none.
        asset = anon.get(url)
        assert asset.status_code == 200, f"{reference}" + describe(asset)
        suffix = reference[reference.rfind(".") :]
        assert asset.headers["content-type"].startswith(EXPECTED_TYPES[suffix]), asset.headers
        assert asset.headers.get("x-content-type-options") == "nosniff", asset.headers
        caching = asset.headers.get("cache-control", "")
        assert "max-age=31536000" in caching, caching
        assert "immutable" in caching, caching
        assert len(asset.content) > 100, reference
        assert anon.head(url).status_code == 200
    bundle = next(u for u in references.urls if u.endswith(".js"))
    assert b"SwaggerUIBundle" in anon.get(urljoin(f"{BASE_URL}/api/v1/docs", bundle)).content


def test_unknown_assets_are_404(anon: httpx.Client, caplog: pytest.LogCaptureFixture) -> None:
    page = anon.get("/api/v1/docs")
    references = _References()
    references.feed(page.text)
    bundle = next(u for u in references.urls if u.endswith(".js"))
    folder = bundle.rsplit("/", 1)[0]
    for name in ("missing.js", "..%2F..%2Fapp.py", "LICENSE%00.js", "__init__.py"):
        resp = anon.get(urljoin(f"{BASE_URL}/api/v1/docs", f"{folder}/{name}"))
        assert resp.status_code == 404, describe(resp)
    tracebacks = [record.getMessage() for record in caplog.records if record.exc_info]
    assert not tracebacks, tracebacks
