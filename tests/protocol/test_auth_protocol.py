"""Anonymous pull on an auth-enabled registry: the setting, and the anonymous token over GET
and POST (the Azure SDK's flavour). In process, on registries of their own (see conftest.py);
the rest of the token protocol is in tests/integration/test_auth_protocol.py. The clients are
closed, never entered: entering one would run the application's lifespan."""

from __future__ import annotations

from contextlib import closing

import httpx

from tests.integration.auth_helpers import (
    bearer,
    challenge_of,
    fetch_token,
    granted,
    unverified,
)
from tests.integration.helpers import OCI_MANIFEST, assert_error, assert_status, push_image
from tests.protocol.auth import InProcessAuth
from tests.protocol.conftest import RegistryFactory, sync_client

# --- anonymous pull -----------------------------------------------------------------------------


def test_anonymous_pull_setting(registry_factory: RegistryFactory) -> None:
    srv = InProcessAuth(registry_factory(auth=True))
    with (
        closing(sync_client(srv.registry)) as http,
        closing(sync_client(srv.registry, headers=srv.owner())) as owner,
    ):
        repo = "public/app"
        push_image(owner, repo, "v1")
        assert_error(http.get(f"/v2/{repo}/manifests/v1"), 401, "UNAUTHORIZED")
        assert_error(fetch_token(http, None, f"repository:{repo}:pull"), 401, "UNAUTHORIZED")

        srv.access.anonymous_pull.set(True, "test")
        assert_status(http.get(f"/v2/{repo}/manifests/v1"), 200)
        assert_status(http.get(f"/v2/{repo}/tags/list"), 200)
        resp = http.post(f"/v2/{repo}/blobs/uploads/")
        assert challenge_of(resp)["scope"] == f"repository:{repo}:pull,push"
        assert_error(http.get("/v2/"), 401, "UNAUTHORIZED")

        resp = fetch_token(
            http,
            None,
            f"repository:{repo}:pull,push,delete",
            service=srv.host,
            offline_token="true",
        )
        assert_status(resp, 200)
        assert "refresh_token" not in resp.json(), "no refresh token for anonymous callers"
        token = resp.json()["token"]
        assert granted(token) == {repo: {"pull"}}
        assert_status(http.get(f"/v2/{repo}/manifests/v1", headers=bearer(token)), 200)
        refused = http.post(f"/v2/{repo}/blobs/uploads/", headers=bearer(token))
        assert challenge_of(refused).get("error") == "insufficient_scope"

        srv.access.anonymous_pull.set(False, "test")
        assert_error(http.get(f"/v2/{repo}/manifests/v1"), 401, "UNAUTHORIZED")
        resp = http.get(f"/v2/{repo}/manifests/v1", headers=bearer(token))
        assert_error(resp, 401, "UNAUTHORIZED")


def post_token(http: httpx.Client, service: str, scope: str, **fields: str) -> httpx.Response:
    """POST /oauth2/token as the Azure SDK's anonymous client sends it (issue #12, point 1):
    the password grant with an empty refresh token and no username or password."""
    form = {"grant_type": "password", "service": service, "scope": scope, "refresh_token": ""}
    return http.post("/oauth2/token", data={**form, **fields})


def test_anonymous_token_over_post_reads_metadata(registry_factory: RegistryFactory) -> None:
    srv = InProcessAuth(registry_factory(auth=True))
    with (
        closing(sync_client(srv.registry)) as http,
        closing(sync_client(srv.registry, headers=srv.owner())) as owner,
    ):
        repo = "public/meta"
        push_image(owner, repo, "v1")
        srv.access.anonymous_pull.set(True, "test")

        resp = post_token(http, srv.host, f"repository:{repo}:metadata_read")
        assert_status(resp, 200)
        assert "refresh_token" not in resp.json()
        read = resp.json()["access_token"]
        assert granted(read) == {repo: {"metadata_read"}}
        assert unverified(read)[1]["sub"] == "anonymous"
        for path in (f"/acr/v1/{repo}", f"/acr/v1/{repo}/_tags", f"/acr/v1/{repo}/_manifests"):
            assert_status(http.get(path, headers=bearer(read)), 200)
        assert_status(http.get(f"/acr/v1/{repo}/_tags/v1", headers=bearer(read)), 200)

        resp = post_token(http, srv.host, "registry:catalog:*")
        assert_status(resp, 200)
        catalog = resp.json()["access_token"]
        _, claims = unverified(catalog)
        assert claims["access"] == [{"type": "registry", "name": "catalog", "actions": ["*"]}]
        listed = http.get("/acr/v1/_catalog", headers=bearer(catalog))
        assert_status(listed, 200)
        assert repo in listed.json()["repositories"]
        assert_status(http.get("/v2/_catalog", headers=bearer(catalog)), 200)
        # The same over GET, and without any token at all.
        got = fetch_token(http, None, "registry:catalog:*", service=srv.host)
        assert_status(got, 200)
        assert unverified(got.json()["token"])[1]["access"] == claims["access"]
        assert repo in http.get("/v2/_catalog").json()["repositories"]

        # Writes stay closed: nothing but reads is granted, and the data plane refuses.
        wanted = f"repository:{repo}:pull,push,delete,metadata_read,metadata_write"
        resp = post_token(http, srv.host, wanted)
        assert_status(resp, 200)
        token = resp.json()["access_token"]
        assert granted(token) == {repo: {"pull", "metadata_read"}}
        changes = {"writeEnabled": False}
        for refused in (
            http.patch(f"/acr/v1/{repo}", json=changes, headers=bearer(token)),
            http.patch(f"/acr/v1/{repo}/_tags/v1", json=changes, headers=bearer(token)),
            http.delete(f"/acr/v1/{repo}/_tags/v1", headers=bearer(token)),
            http.delete(f"/acr/v1/{repo}", headers=bearer(token)),
            http.post(f"/v2/{repo}/blobs/uploads/", headers=bearer(token)),
            http.patch(f"/acr/v1/{repo}", json=changes),
        ):
            assert_error(refused, 401, "UNAUTHORIZED")
        assert_status(owner.get(f"/v2/{repo}/manifests/v1", headers={"Accept": OCI_MANIFEST}), 200)

        # A wrong password is still a login, and still refused.
        bad = post_token(http, srv.host, f"repository:{repo}:pull", username="owner", password="x")
        assert_error(bad, 401, "UNAUTHORIZED")

        # With anonymous pull off, the anonymous POST is refused, and never counts as a failed
        # login: far past the limit of ten, it is still a 401, not a 429.
        srv.access.anonymous_pull.set(False, "test")
        for _ in range(15):
            assert_error(post_token(http, srv.host, f"repository:{repo}:pull"), 401)
        assert_error(http.get("/acr/v1/_catalog"), 401, "UNAUTHORIZED")
        assert_status(
            post_token(http, srv.host, "", username="owner", password=srv.owner_password), 200
        )
