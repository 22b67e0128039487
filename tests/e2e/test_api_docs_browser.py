"""The management API's explorer renders in a real browser with no network but the registry:
Debian's Chromium, driven by Playwright, loads `/api/v1/docs` with every request to another
host refused, and Swagger UI shows the API's operations."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import ConsoleMessage, Route, sync_playwright

from tests.conftest import ServerProcess
from tests.e2e.helpers import require_tool

# As the machine's notes advise for headless Chromium on a closed network (root, no sandbox;
# no background connections of the browser's own).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def test_swagger_ui_renders_offline(server_factory: type[ServerProcess], tmp_path: Path) -> None:
    chromium = require_tool("chromium")
    server = server_factory(env={"DOCKYARD_AUTH_ENABLED": "true"})
    refused: list[str] = []
    served: list[str] = []
    problems: list[str] = []

    def only_the_registry(route: Route) -> None:
        url = route.request.url
        if urlsplit(url).netloc == server.host:
            served.append(url)
            route.continue_()
        else:
            refused.append(url)
            route.abort()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(message.text)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.route("**/*", only_the_registry)
            page.on("console", on_console)
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.goto(f"{server.url}/api/v1/docs", wait_until="load")
            page.wait_for_selector(".opblock-summary-path", timeout=30_000)
            paths = page.locator(".opblock-summary-path").all_inner_texts()
            title = page.locator(".title").first.inner_text()
            page.screenshot(path=str(tmp_path / "docs.png"), full_page=False)
        finally:
            browser.close()

    assert "Dockyard management API" in title, title
    assert len(paths) > 20, paths
    assert any(p.strip().startswith("/users") for p in paths), paths
    assert not refused, f"the docs page asked other hosts: {refused}"
    assert any(url.endswith("/api/v1/openapi.json") for url in served), served
    # Swagger UI ran under the page's Content-Security-Policy without being blocked.
    assert not problems, problems
