"""Hostile input to the token service and the login, in process (see conftest.py), each test
on a registry of its own with authentication on. The other hostile-input tests, and the fuzz
run over every endpoint family on two workers, are in tests/integration/test_hostile_input.py.

A server's log is not there to read: an exception the application lets out fails the request
(TestClient raises it), and `assert_no_traceback` fails the test on any record logged with one."""

from __future__ import annotations

import base64
import random

import httpx
import pytest

from tests.integration.helpers import assert_error, describe
from tests.integration.test_hostile_input import FUZZ_SEED
from tests.protocol.conftest import RegistryFactory, sync_client

TOKEN_ODD_VALUES = [
    "",
    "%00",
    "%ED%A0%80",
    "%FF",
    "a" * 5000,
    "9" * 5000,
    "repository:a:pull",
    "repository:%00:push",
    "repository:a/b:pull,push,delete,*",
    "registry:catalog:*",
    ":::",
    "repository::",
]


def assert_no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    """What `"Traceback" not in server.log()` checks of a server process."""
    logged = [record.getMessage() for record in caplog.records if record.exc_info]
    assert not logged, logged


def test_fuzz_token_endpoints_find_no_5xx(
    registry_factory: RegistryFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """With authentication on: hostile token requests and credentials."""
    client: httpx.Client = sync_client(registry_factory(auth=True))
    rng = random.Random(FUZZ_SEED + 1)
    credentials = [b"a:b", b"\xff:\xfe", b"x" * 3000 + b":y", b":", b"admin:", b"\x00:\x00"]

    def form(keys: list[str]) -> str:
        chosen = rng.sample(keys, min(len(keys), 3))
        return "&".join(f"{key}={rng.choice(TOKEN_ODD_VALUES)}" for key in chosen)

    failures: list[str] = []
    for _ in range(500):
        basic = "Basic " + base64.b64encode(rng.choice(credentials)).decode()
        bearer = "Bearer " + rng.choice(["a" * rng.randrange(1, 3000), "a.b.c", "%00", "..."])
        authorization = rng.choice([basic, bearer, "Basic ====", "Negotiate x", ""])
        kind = rng.randrange(4)
        if kind == 0:
            query = form(["scope", "service", "account", "offline_token", "client_id"])
            resp = client.get(f"/oauth2/token?{query}", headers={"Authorization": authorization})
        elif kind in (1, 3):
            path = "/oauth2/token" if kind == 1 else "/oauth2/exchange"
            keys = ["grant_type", "scope", "service", "refresh_token", "username", "password"]
            keys += ["access_token", "subject_token"]
            resp = client.post(
                path,
                content=form(keys),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
        else:
            resp = client.get("/v2/a/tags/list", headers={"Authorization": authorization})
        if resp.status_code >= 500:
            failures.append(describe(resp, 300))
    client.close()
    assert not failures, "\n".join(failures[:10])
    assert_no_traceback(caplog)


@pytest.mark.parametrize("credentials", [b"\x00:\x00", b"user\x00:pw", b"user:\x00"])
def test_nul_in_basic_credentials_is_401(
    registry_factory: RegistryFactory, caplog: pytest.LogCaptureFixture, credentials: bytes
) -> None:
    """Found by the token fuzz on PostgreSQL (which cannot hold NUL in text): the login-failure
    lookup keyed by the user name answered 500."""
    client = sync_client(registry_factory(auth=True))
    basic = "Basic " + base64.b64encode(credentials).decode()
    for path in ("/v2/", "/v2/a/tags/list", "/oauth2/token?service=x&scope=repository:a:pull"):
        resp = client.get(path, headers={"Authorization": basic})
        assert_error(resp, 401, "UNAUTHORIZED")
    client.close()
    assert_no_traceback(caplog)
