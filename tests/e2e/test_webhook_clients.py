"""Webhook payloads produced by real clients: docker push and tag, skopeo delete, and a Helm
chart pushed by real Helm and deleted, received by a real HTTP
receiver in ACR's shapes."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerProcess
from tests.e2e.helpers import DOCKER_MANIFEST, OCI_MANIFEST, Tool
from tests.e2e.test_helm import CHART_NAME, helm, write_chart
from tests.integration.test_webhooks import FAST, Receiver, create_hook, wait_for

pytestmark = pytest.mark.e2e

PUSH_DIGEST = re.compile(r"digest: (sha256:[0-9a-f]{64}) size: (\d+)")
ServerFactory = Callable[..., ServerProcess]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    found.start()
    yield found
    found.stop()


@pytest.fixture
def hooked(server_factory: ServerFactory, receiver: Receiver) -> ServerProcess:
    server = server_factory(env=FAST)
    with httpx.Client(base_url=server.url, timeout=30) as http:
        create_hook(
            http,
            "clients",
            receiver.url,
            actions=["push", "delete", "chart_push", "chart_delete"],
        )
    return server


def events_of(receiver: Receiver, action: str, count: int) -> list[dict[str, Any]]:
    wait_for(
        lambda: len([e for e in receiver.events() if e["action"] == action]) >= count,
        what=f"{count} {action} event(s)",
    )
    return [e for e in receiver.events() if e["action"] == action]


def assert_request(event: dict[str, Any], server: ServerProcess, method: str, agent: str) -> None:
    request = event["request"]
    assert set(request) == {"id", "host", "method", "useragent"}
    assert request["host"] == server.host
    assert request["method"] == method
    assert agent in request["useragent"].lower()
    assert set(event) == {"id", "timestamp", "action", "target", "request"}


def test_docker_push_tag_and_skopeo_delete(
    hooked: ServerProcess,
    receiver: Receiver,
    docker_cli: Tool,
    skopeo: Tool,
    unique_base_image: str,
) -> None:
    image = f"{hooked.host}/hooks/app:v1"
    retagged = f"{hooked.host}/hooks/app:v2"
    docker_cli("tag", unique_base_image, image)
    docker_cli("tag", unique_base_image, retagged)
    try:
        match = PUSH_DIGEST.search(docker_cli("push", image))
        assert match
        digest, size = match.group(1), int(match.group(2))
        (pushed,) = events_of(receiver, "push", 1)
        assert pushed["target"] == {
            "mediaType": DOCKER_MANIFEST,
            "size": size,
            "digest": digest,
            "length": size,
            "repository": "hooks/app",
            "tag": "v1",
        }
        assert_request(pushed, hooked, "PUT", "docker")

        docker_cli("push", retagged)
        second = events_of(receiver, "push", 2)[1]
        assert second["target"]["tag"] == "v2"
        assert second["target"]["digest"] == digest
        assert second["id"] != pushed["id"]
    finally:
        docker_cli.run("rmi", image, retagged, check=False)

    skopeo("delete", "--tls-verify=false", f"docker://{retagged}")
    (deleted,) = events_of(receiver, "delete", 1)
    assert deleted["target"] == {
        "mediaType": DOCKER_MANIFEST,
        "digest": digest,
        "repository": "hooks/app",
    }
    assert_request(deleted, hooked, "DELETE", "skopeo")


def test_chart_push_and_delete(hooked: ServerProcess, receiver: Receiver, tmp_path: Path) -> None:
    archive = helm.package(write_chart(tmp_path), destination=tmp_path, version="0.4.0")
    with helm.RegistryClient(plain_http=True, credentials_file=tmp_path / "creds.json") as client:
        client.push(archive, f"oci://{hooked.host}/helm", plain_http=True)
    with httpx.Client(base_url=hooked.url, timeout=30) as http:
        got = http.get(f"/v2/helm/{CHART_NAME}/manifests/0.4.0", headers={"Accept": OCI_MANIFEST})
        digest = got.headers["Docker-Content-Digest"]
        (charted,) = events_of(receiver, "chart_push", 2)[1:]  # by digest first, then the tag
        assert charted["target"] == {
            "mediaType": OCI_MANIFEST,
            "size": len(got.content),
            "digest": digest,
            "repository": f"helm/{CHART_NAME}",
            "tag": "0.4.0",
            "name": CHART_NAME,
            "version": "0.4.0",
        }
        assert_request(charted, hooked, "PUT", "helm")
        # A webhook on `push` hears helm push too, as ACR sends it for any OCI artifact.
        (pushed,) = events_of(receiver, "push", 2)[1:]
        assert pushed["target"] == {
            "mediaType": OCI_MANIFEST,
            "size": len(got.content),
            "digest": digest,
            "length": len(got.content),
            "repository": f"helm/{CHART_NAME}",
            "tag": "0.4.0",
        }
        assert http.delete(f"/v2/helm/{CHART_NAME}/manifests/{digest}").status_code == 202
    (deleted,) = events_of(receiver, "chart_delete", 1)
    assert deleted["target"]["digest"] == digest
    assert deleted["target"]["repository"] == f"helm/{CHART_NAME}"
    assert deleted["target"]["mediaType"] == OCI_MANIFEST
