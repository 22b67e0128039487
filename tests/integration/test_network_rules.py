"""Network rules as ACR's (issue #12, point 5): a default action and IP/CIDR allow rules,
Premium only, applied by a real `dockyard serve` to every endpoint (the token service
included), with the client address taken from X-Forwarded-For only behind trusted proxies.

A second client address comes from binding the client's socket to another loopback address
(127.0.0.2) while the server listens on 127.0.0.1."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerProcess
from tests.integration.auth_helpers import (
    AUTH_ENV,
    AuthServer,
    attach,
    auth_server,
    basic,
    fetch_token,
    token_for,
)
from tests.integration.helpers import assert_error, describe, push_image

OTHER = "127.0.0.2"  # a second client address on the loopback network


def client_from(url: str, address: str = "127.0.0.1") -> httpx.Client:
    """An HTTP client whose connections come from `address`."""
    return httpx.Client(
        base_url=url, timeout=30, transport=httpx.HTTPTransport(local_address=address)
    )


def refused(resp: httpx.Response, address: str) -> None:
    """The network rules' answer: 403 DENIED naming the client's address (ACR's words)."""
    if resp.request.method == "HEAD":
        assert resp.status_code == 403, "expected 403" + describe(resp)
        assert not resp.content, "a HEAD answer with a body" + describe(resp)
        return
    errors = assert_error(resp, 403, "DENIED")
    message = errors[0]["message"]
    assert message == f"client with IP '{address}' is not allowed access", describe(resp)


def api(srv: AuthServer, http: httpx.Client | None = None) -> httpx.Client:
    """A management client signed in as the owner (from 127.0.0.1 unless `http` is given)."""
    client = http or client_from(srv.url)
    client.headers.update(srv.owner())
    return client


def reset(srv: AuthServer, sku: str = "Premium") -> None:
    """Default action Allow, no rules, and the tier `sku`."""
    with api(srv) as owner:
        owner.patch("/api/v1/registry", json={"network_default_action": "Allow"})
        rules = owner.get("/api/v1/network-rules").json()["ip_rules"]
        for rule in rules:
            resp = owner.delete(
                "/api/v1/network-rules", params={"ip_address_or_range": rule["ip_address_or_range"]}
            )
            assert resp.status_code == 200, describe(resp)
        resp = owner.patch("/api/v1/registry", json={"sku": sku})
        assert resp.status_code == 200, describe(resp)


def deny_all_but(srv: AuthServer, *ranges: str) -> None:
    with api(srv) as owner:
        for ip_range in ranges:
            resp = owner.post("/api/v1/network-rules", json={"ip_address_or_range": ip_range})
            assert resp.status_code in (200, 201), describe(resp)
        resp = owner.patch("/api/v1/registry", json={"network_default_action": "Deny"})
        assert resp.status_code == 200, describe(resp)
        assert resp.json()["network_default_action"] == "Deny", describe(resp)


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    """Two worker processes: a change made through one must apply in the other at once."""
    with auth_server(tmp_path_factory.mktemp("netrules"), workers=2) as server:
        yield server


@pytest.fixture
def premium(srv: AuthServer) -> Iterator[AuthServer]:
    reset(srv)
    yield srv
    reset(srv)


def cli(srv: AuthServer, *args: str) -> Any:
    done = srv.proc.dockyard(
        *args, "-r", srv.url, "-u", "owner", "-p", srv.owner_password, "-o", "json"
    )
    assert done.returncode == 0, f"dockyard {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout)


def test_cli_adds_lists_and_removes_rules_and_sets_the_default_action(
    premium: AuthServer,
) -> None:
    added = cli(premium, "network-rule", "add", "--ip-address", "10.0.0.0/24")
    assert added["ip_rules"] == [{"action": "Allow", "ip_address_or_range": "10.0.0.0/24"}]
    cli(premium, "network-rule", "add", "--ip-address", "2001:DB8::/48")
    listed = cli(premium, "network-rule", "list")
    assert listed == {
        "default_action": "Allow",
        "ip_rules": [
            {"action": "Allow", "ip_address_or_range": "10.0.0.0/24"},
            {"action": "Allow", "ip_address_or_range": "2001:db8::/48"},
        ],
    }
    shown = cli(premium, "registry", "update", "--default-action", "Deny")
    assert shown["network_default_action"] == "Deny"
    assert shown["limits"]["ip_rules"] == 100
    # The CLI reaches the management API from an address no rule allows: the owner may.
    assert cli(premium, "network-rule", "list")["default_action"] == "Deny"
    # Refused on the data plane from that same address.
    with client_from(premium.url) as http:
        refused(http.get("/v2/", headers=premium.owner()), "127.0.0.1")
    removed = cli(premium, "network-rule", "remove", "--ip-address", "10.0.0.0/24")
    assert [r["ip_address_or_range"] for r in removed["ip_rules"]] == ["2001:db8::/48"]
    done = premium.proc.dockyard(
        "network-rule", "add", "--ip-address", "10.0.0.5/24",
        "-r", premium.url, "-u", "owner", "-p", premium.owner_password,
    )  # fmt: skip
    assert done.returncode == 1
    assert "did you mean 10.0.0.0/24" in done.stderr, done.stderr


def test_api_manages_rules_and_refuses_malformed_input_with_400(premium: AuthServer) -> None:
    with api(premium) as owner:
        first = owner.post("/api/v1/network-rules", json={"ip_address_or_range": "203.0.113.7"})
        assert first.status_code == 201, describe(first)
        again = owner.post("/api/v1/network-rules", json={"ip_address_or_range": "203.0.113.7"})
        assert again.status_code == 200, describe(again)
        mapped = owner.post(
            "/api/v1/network-rules", json={"ip_address_or_range": "::ffff:198.51.100.0/120"}
        )
        assert mapped.status_code == 201, describe(mapped)
        ranges = [r["ip_address_or_range"] for r in mapped.json()["ip_rules"]]
        assert ranges == ["203.0.113.7", "198.51.100.0/24"]
        bad_values: list[Any] = [
            "",
            "not-an-ip",
            "10.0.0.0/33",
            "10.0.0.1/24",
            "300.1.2.3",
            "10.0.0.0/24/8",
            "fe80::1%eth0",
            "10.0.0.0\x00/8",
            "2001:db8::/129",
            " " * 10,
            "1" * 5000,
            17,
            None,
        ]
        for value in bad_values:
            resp = owner.post("/api/v1/network-rules", json={"ip_address_or_range": value})
            assert_error(resp, 400, "UNSUPPORTED")
        resp = owner.post("/api/v1/network-rules", json={"ip_address_or_range": "10.0.0.1/24"})
        assert "did you mean 10.0.0.0/24" in resp.json()["errors"][0]["message"], describe(resp)
        resp = owner.delete("/api/v1/network-rules", params={"ip_address_or_range": "10.9.9.9"})
        assert_error(resp, 404, "NOT_FOUND")
        resp = owner.delete("/api/v1/network-rules", params={"ip_address_or_range": "bogus"})
        assert_error(resp, 400, "UNSUPPORTED")
        resp = owner.patch("/api/v1/registry", json={"network_default_action": "Block"})
        assert_error(resp, 400, "UNSUPPORTED")
        resp = owner.delete("/api/v1/network-rules", params={"ip_address_or_range": "203.0.113.7"})
        assert resp.status_code == 200, describe(resp)
        assert [r["ip_address_or_range"] for r in resp.json()["ip_rules"]] == ["198.51.100.0/24"]
        usage = owner.get("/api/v1/usage").json()["value"]
        assert {"name": "IPRules", "current_value": 1, "limit": 100, "unit": "Count"} in usage
    # Only those who may change the registry manage rules.
    name, password = premium.user("Reader")
    with client_from(premium.url) as http:
        resp = http.get("/api/v1/network-rules", headers=basic(name, password))
        assert resp.status_code == 200, describe(resp)
        resp = http.post(
            "/api/v1/network-rules",
            json={"ip_address_or_range": "10.1.0.0/16"},
            headers=basic(name, password),
        )
        assert_error(resp, 403, "DENIED")


def test_deny_lets_allowed_clients_through_and_refuses_every_endpoint_to_others(
    premium: AuthServer,
) -> None:
    repo = f"net/{time.time_ns()}"
    with api(premium) as owner:
        push_image(owner, repo, "v1")
    deny_all_but(premium, "127.0.0.1")
    reader, reader_password = premium.user("Reader")
    with client_from(premium.url) as inside, client_from(premium.url, OTHER) as outside:
        # Allowed: the ordinary protocol, a token, a pull.
        assert inside.get("/v2/").status_code == 401
        token = token_for(inside, premium.owner(), f"repository:{repo}:pull", service=premium.host)
        resp = inside.get(
            f"/v2/{repo}/manifests/v1",
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.oci.image.manifest.v1+json",
            },
        )
        assert resp.status_code == 200, describe(resp)
        assert inside.get("/acr/v1/_catalog", headers=premium.owner()).status_code == 200
        # Refused before any credential is looked at, on every endpoint, valid ones included.
        owner_creds = premium.owner()
        refused(outside.get("/v2/"), OTHER)
        refused(outside.get("/v2/", headers=owner_creds), OTHER)
        refused(outside.get(f"/v2/{repo}/manifests/v1", headers=owner_creds), OTHER)
        refused(outside.head(f"/v2/{repo}/manifests/v1", headers=owner_creds), OTHER)
        refused(outside.get(f"/v2/{repo}/tags/list", headers=owner_creds), OTHER)
        refused(outside.post(f"/v2/{repo}/blobs/uploads/", headers=owner_creds), OTHER)
        refused(outside.get("/v2/", headers={"Authorization": f"Bearer {token}"}), OTHER)
        refused(fetch_token(outside, owner_creds, service=premium.host), OTHER)
        refused(fetch_token(outside, None, service=premium.host), OTHER)
        refused(
            outside.post(
                "/oauth2/token",
                data={
                    "grant_type": "password",
                    "service": premium.host,
                    "username": "owner",
                    "password": premium.owner_password,
                },
            ),
            OTHER,
        )
        refused(
            outside.post(
                "/oauth2/exchange",
                data={"grant_type": "access_token", "service": premium.host, "access_token": "x"},
            ),
            OTHER,
        )
        refused(outside.get("/acr/v1/_catalog", headers=owner_creds), OTHER)
        refused(outside.get(f"/acr/v1/{repo}/_tags", headers=owner_creds), OTHER)
        refused(outside.get("/metrics"), OTHER)
        refused(outside.get("/no/such/path"), OTHER)
        # The management API: refused but to those who may change the registry.
        refused(outside.get("/api/v1/registry"), OTHER)
        refused(outside.get("/api/v1/openapi.json"), OTHER)
        refused(outside.get("/api/v1/registry", headers=basic(reader, reader_password)), OTHER)
        refused(outside.get("/api/v1/registry", headers=basic("owner", "wrong")), OTHER)
        resp = outside.get("/api/v1/network-rules", headers=owner_creds)
        assert resp.status_code == 200, describe(resp)
        assert outside.get("/healthz").status_code == 200
        # Another rule set: now 127.0.0.2 is in and 127.0.0.1 out, in every worker process.
        resp = outside.post(
            "/api/v1/network-rules", json={"ip_address_or_range": OTHER}, headers=owner_creds
        )
        assert resp.status_code == 201, describe(resp)
        resp = outside.delete(
            "/api/v1/network-rules",
            params={"ip_address_or_range": "127.0.0.1"},
            headers=owner_creds,
        )
        assert resp.status_code == 200, describe(resp)
        for _ in range(20):  # over fresh connections, so both worker processes answer
            with client_from(premium.url) as fresh, client_from(premium.url, OTHER) as other:
                refused(fresh.get("/v2/"), "127.0.0.1")
                assert other.get("/v2/").status_code == 401
        # Back to Allow: everyone again, at once.
        resp = inside.patch(
            "/api/v1/registry", json={"network_default_action": "Allow"}, headers=owner_creds
        )
        assert resp.status_code == 200, describe(resp)
        for _ in range(10):
            with client_from(premium.url) as fresh:
                assert fresh.get("/v2/").status_code == 401
    denials = [e for e in premium.audit() if e["event"] == "network"]
    assert any(e.get("client") == OTHER and e["outcome"] == "denied" for e in denials)


def test_network_rules_are_premium_only_and_block_a_downgrade(srv: AuthServer) -> None:
    reset(srv, sku="Standard")
    try:
        with api(srv) as owner:
            resp = owner.post("/api/v1/network-rules", json={"ip_address_or_range": "10.0.0.1"})
            errors = assert_error(resp, 403, "DENIED")
            assert "Premium" in errors[0]["message"], describe(resp)
            resp = owner.patch("/api/v1/registry", json={"network_default_action": "Deny"})
            errors = assert_error(resp, 403, "DENIED")
            assert "does not offer network rules" in errors[0]["message"], describe(resp)
            assert owner.get("/api/v1/network-rules").json()["ip_rules"] == []
            # Premium with rules on: the tier cannot go down until they are off (as in ACR).
            assert owner.patch("/api/v1/registry", json={"sku": "Premium"}).status_code == 200
            deny_all_but(srv, "127.0.0.1")
            resp = owner.patch("/api/v1/registry", json={"sku": "Basic"})
            errors = assert_error(resp, 403, "DENIED")
            reasons = errors[0]["detail"]["reasons"]
            assert "1 IP network rules exist and Basic allows 0" in reasons, describe(resp)
            assert any("default action is Deny" in r for r in reasons), describe(resp)
            assert owner.get("/api/v1/registry").json()["sku"] == "Premium"
    finally:
        reset(srv)


def test_many_rules_up_to_the_tier_limit(premium: AuthServer) -> None:
    with api(premium) as owner:
        for n in range(99):
            resp = owner.post(
                "/api/v1/network-rules", json={"ip_address_or_range": f"10.{n}.0.0/16"}
            )
            assert resp.status_code == 201, describe(resp)
        resp = owner.post("/api/v1/network-rules", json={"ip_address_or_range": OTHER})
        assert resp.status_code == 201, describe(resp)
        resp = owner.post("/api/v1/network-rules", json={"ip_address_or_range": "192.0.2.1"})
        errors = assert_error(resp, 403, "DENIED")
        assert "allows 100 IP network rules" in errors[0]["message"], describe(resp)
        assert len(owner.get("/api/v1/network-rules").json()["ip_rules"]) == 100
        resp = owner.patch("/api/v1/registry", json={"network_default_action": "Deny"})
        assert resp.status_code == 200, describe(resp)
    with client_from(premium.url, OTHER) as allowed, client_from(premium.url) as other:
        started = time.monotonic()
        for _ in range(50):
            assert allowed.get("/v2/").status_code == 401
            refused(other.get("/v2/"), "127.0.0.1")
        assert time.monotonic() - started < 30


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    """A registry behind a trusted proxy at 127.0.0.1 (and nothing else trusted)."""
    with auth_server(
        tmp_path_factory.mktemp("proxied"), DOCKYARD_TRUSTED_PROXIES='["127.0.0.1/32"]'
    ) as server:
        reset(server)
        deny_all_but(server, "203.0.113.0/24", "2001:db8::/48")
        yield server


def xff(value: str) -> dict[str, str]:
    return {"X-Forwarded-For": value}


def test_forwarded_for_names_the_client_only_behind_a_trusted_proxy(proxied: AuthServer) -> None:
    with client_from(proxied.url) as proxy, client_from(proxied.url, OTHER) as stranger:
        assert proxy.get("/v2/", headers=xff("203.0.113.9")).status_code == 401
        # The right-most entry no trusted proxy wrote is the client; the rest is the client's.
        refused(proxy.get("/v2/", headers=xff("203.0.113.9, 198.51.100.4")), "198.51.100.4")
        assert proxy.get("/v2/", headers=xff("198.51.100.4, 203.0.113.9")).status_code == 401
        assert proxy.get("/v2/", headers=xff("203.0.113.9, 127.0.0.1")).status_code == 401
        # Without the header the proxy itself is the client.
        refused(proxy.get("/v2/"), "127.0.0.1")
        # A peer that is no trusted proxy cannot name another client.
        refused(stranger.get("/v2/", headers=xff("203.0.113.9")), OTHER)
        refused(stranger.post("/oauth2/token", headers=xff("203.0.113.9")), OTHER)
        # IPv6 clients, written as proxies write them; an IPv4-mapped address is IPv4.
        for value in ("2001:db8::7", "[2001:db8::7]:443", "2001:DB8:0::7", "::ffff:203.0.113.9"):
            assert proxy.get("/v2/", headers=xff(value)).status_code == 401, value
        assert proxy.get("/v2/", headers=xff("203.0.113.9:5678")).status_code == 401
        refused(proxy.get("/v2/", headers=xff("2001:db9::1")), "2001:db9::1")
        # A chain that breaks (not an address, too many trusted hops) is no known client.
        refused(proxy.get("/v2/", headers=xff("203.0.113.9, unknown")), "unknown")
        refused(proxy.get("/v2/", headers=xff("203.0.113.9" + ", 127.0.0.1" * 20)), "unknown")
        # A huge header costs no more than its right-most entries.
        huge = "198.51.100.4, " * 4000 + "203.0.113.9"
        assert proxy.get("/v2/", headers=xff(huge)).status_code == 401
        resp = proxy.get("/v2/", headers=xff("203.0.113.9, " * 4000 + "198.51.100.4"))
        refused(resp, "198.51.100.4")
        # Several X-Forwarded-For fields are one list, in order.
        resp = proxy.get(
            "/v2/",
            headers=[("X-Forwarded-For", "198.51.100.4"), ("X-Forwarded-For", "203.0.113.9")],
        )
        assert resp.status_code == 401, describe(resp)
        # Login throttling counts the forwarded client, not the proxy.
        resp = proxy.get(
            "/oauth2/token",
            params={"service": proxied.host},
            headers={**xff("203.0.113.9"), **basic("owner", proxied.owner_password)},
        )
        assert resp.status_code == 200, describe(resp)


def test_forwarded_for_is_ignored_without_trusted_proxies(premium: AuthServer) -> None:
    deny_all_but(premium, "203.0.113.0/24")
    with client_from(premium.url) as local:
        refused(local.get("/v2/", headers=xff("203.0.113.9")), "127.0.0.1")
        refused(local.get("/oauth2/token", headers=xff("203.0.113.9")), "127.0.0.1")


def test_a_dual_stack_server_sees_ipv4_clients_as_ipv4_and_ipv6_clients_as_ipv6(
    tmp_path: Path,
) -> None:
    """Listening on `::`, IPv4 clients arrive as IPv4-mapped IPv6 addresses (::ffff:a.b.c.d):
    an IPv4 rule must still match them, and a real IPv6 client is matched by IPv6 rules."""
    proc = ServerProcess(tmp_path / "data", env=AUTH_ENV, bind="::")
    try:
        proc.start(timeout=120)  # a first start on PostgreSQL, on a busy machine
    except BaseException:
        proc.stop()
        raise
    srv = attach(proc)
    try:
        reset(srv)
        deny_all_but(srv, "127.0.0.1")
        with client_from(srv.url) as v4, client_from(srv.url, OTHER) as other:
            assert v4.get("/v2/").status_code == 401
            refused(other.get("/v2/"), OTHER)
        with httpx.Client(base_url=f"http://[::1]:{proc.port}", timeout=30) as v6:
            refused(v6.get("/v2/"), "::1")
            refused(v6.get("/oauth2/token", params={"service": srv.host}), "::1")
            resp = v6.post(
                "/api/v1/network-rules", json={"ip_address_or_range": "::1"}, headers=srv.owner()
            )
            assert resp.status_code == 201, describe(resp)
            assert v6.get("/v2/").status_code == 401
    finally:
        srv.close()


def test_without_credentials_no_change_may_lock_the_caller_out(
    server_factory: type[ServerProcess],
) -> None:
    """A registry without auth has no one to exempt: the management API is under the rules,
    so a change that would refuse the caller's own address is refused."""
    srv = server_factory()
    with client_from(srv.url) as local, client_from(srv.url, OTHER) as other:
        assert local.patch("/api/v1/registry", json={"sku": "Premium"}).status_code == 200
        resp = local.patch("/api/v1/registry", json={"network_default_action": "Deny"})
        errors = assert_error(resp, 403, "DENIED")
        assert "your own address 127.0.0.1" in errors[0]["message"], describe(resp)
        resp = local.post("/api/v1/network-rules", json={"ip_address_or_range": "127.0.0.1"})
        assert resp.status_code == 201, describe(resp)
        resp = local.patch("/api/v1/registry", json={"network_default_action": "Deny"})
        assert resp.status_code == 200, describe(resp)
        assert local.get("/v2/").status_code == 200
        refused(other.get("/v2/"), OTHER)
        refused(other.get("/api/v1/network-rules"), OTHER)
        resp = local.delete("/api/v1/network-rules", params={"ip_address_or_range": "127.0.0.1"})
        errors = assert_error(resp, 403, "DENIED")
        assert "your own address" in errors[0]["message"], describe(resp)
        assert local.get("/api/v1/network-rules").json()["ip_rules"] == [
            {"action": "Allow", "ip_address_or_range": "127.0.0.1"}
        ]


# Not in the PostgreSQL pass (marker db_independent, see docs/testing.md): the setting is
# refused before a database is opened.
@pytest.mark.db_independent
def test_trusted_proxies_setting_refuses_malformed_ranges(tmp_path: Path) -> None:
    srv = ServerProcess(tmp_path / "data", env={"DOCKYARD_TRUSTED_PROXIES": '["10.0.0.1/8"]'})
    done = srv.dockyard("migrate")
    said = " ".join((done.stdout + done.stderr).split())  # unwrapped
    assert done.returncode == 2, said
    assert "trusted_proxies" in said, said
    assert "did you mean 10.0.0.0/8" in said, said
    assert "Traceback" not in said, said
