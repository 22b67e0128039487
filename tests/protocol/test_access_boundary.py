"""The access boundary's settings given at start, in process on registries of their own (see
conftest.py): the limit of failed logins per address (password spraying) and the public URL
that names the realm and the audience. The rest of the boundary is in
tests/integration/test_access_boundary.py."""

from __future__ import annotations

from contextlib import closing

import pytest

from tests.integration.auth_helpers import (
    REFRESH_USERNAME,
    basic,
    bearer,
    challenge_of,
    fetch_token,
    granted,
    nonce,
    unverified,
)
from tests.integration.helpers import assert_error, assert_status, describe
from tests.integration.test_access_boundary import refresh_token_of
from tests.protocol.auth import InProcessAuth
from tests.protocol.conftest import RegistryFactory, sync_client


def test_password_spraying_is_limited_per_address(
    registry_factory: RegistryFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One address trying one password on many usernames never hits the per-username limit;
    a limit on failed logins per address across usernames does. Requests without
    credentials are not failed logins."""
    # `registry_factory`'s `auth` is the switch: the auth section's other settings come from
    # the environment, as `serve` reads them.
    monkeypatch.setenv("DOCKYARD_LOGIN_MAX_FAILURES_PER_ADDRESS", "6")
    srv = InProcessAuth(registry_factory(auth=True, from_environment=True))
    assert srv.registry.services.settings.auth.login_max_failures_per_address == 6
    with closing(sync_client(srv.registry)) as anon:
        name, password = srv.user("AcrPull", "s/x")
        refresh = refresh_token_of(anon, srv, name, password)
        # Requests without credentials never count.
        for _ in range(10):
            assert_error(anon.get("/v2/"), 401, "UNAUTHORIZED")
            assert_error(anon.get("/v2/", headers=basic("", "")), 401, "UNAUTHORIZED")
            assert_error(fetch_token(anon, None, "repository:s/x:pull"), 401, "UNAUTHORIZED")
        assert_status(anon.get("/v2/", headers=basic(name, password)), 200)

        statuses = []
        for i in range(6):
            resp = anon.get("/v2/", headers=basic(f"victim{i}{nonce()}", "Summer2026!"))
            statuses.append(resp.status_code)
        assert statuses == [401] * 6, statuses
        sprayed = anon.get("/v2/", headers=basic(f"victim{nonce()}", "Summer2026!"))
        assert_error(sprayed, 429, "TOOMANYREQUESTS")
        retry_after = sprayed.headers.get("retry-after", "")
        assert retry_after.isdigit(), describe(sprayed)
        assert 1 <= int(retry_after) <= 300, describe(sprayed)
        # While the address is throttled, no password is checked from it, right or wrong.
        resp = anon.get("/v2/", headers=basic(name, password))
        assert_error(resp, 429, "TOOMANYREQUESTS")
        resp = anon.post(
            "/oauth2/token",
            data={"grant_type": "password", "username": name, "password": password},
        )
        assert_error(resp, 429, "TOOMANYREQUESTS")
        # Requests without credentials are not failed logins, nor refused as such.
        assert_error(anon.get("/v2/"), 401, "UNAUTHORIZED")
        # A refresh token is not a password guess: it still works.
        assert_status(anon.get("/v2/", headers=basic(REFRESH_USERNAME, refresh)), 200)


def test_public_url_sets_realm_and_service(registry_factory: RegistryFactory) -> None:
    public = "https://registry.example.com"
    srv = InProcessAuth(registry_factory(auth=True, server={"public_url": public}))
    with closing(sync_client(srv.registry)) as anon:
        for headers in (
            {},
            {"Host": "evil.example"},
            {"Host": "evil.example", "X-Forwarded-Proto": "http"},
        ):
            challenge = challenge_of(anon.get("/v2/", headers=headers))
            assert challenge["realm"] == f"{public}/oauth2/token", challenge
            assert challenge["service"] == "registry.example.com", challenge
        resp = fetch_token(anon, srv.owner(), "repository:p/x:pull")
        assert_status(resp, 200)
        token = resp.json()["token"]
        assert unverified(token)[1]["aud"] == "registry.example.com"
        assert granted(token) == {"p/x": {"pull"}}
        assert_status(anon.get("/v2/", headers=bearer(token)), 200)
