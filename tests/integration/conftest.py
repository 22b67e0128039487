"""Clients for the access-control suites; each of those modules provides its own `srv`."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.integration.auth_helpers import AuthServer


@pytest.fixture
def anon(srv: AuthServer) -> Iterator[httpx.Client]:
    """A client without credentials on the module's auth server."""
    with httpx.Client(base_url=srv.url, timeout=60) as http:
        yield http


@pytest.fixture
def owner(srv: AuthServer) -> Iterator[httpx.Client]:
    """Basic credentials of the first-start Owner on every request (curl-style)."""
    with httpx.Client(base_url=srv.url, timeout=60, headers=srv.owner()) as http:
        yield http
