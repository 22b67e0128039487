"""A Helm chart stored as an OCI artifact, with Helm's own media types.

There is no helm binary here, so the chart is packaged the way `helm package` does (a
gzipped tar of <name>/Chart.yaml, values.yaml, templates/...) and pushed the way
`helm push` does (config = chart metadata as JSON, one chart layer, OCI manifest, tag =
chart version with '+' replaced by '_'). It is pulled back with plain HTTP and with oras.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import oras.provider
import pytest

from tests.e2e.helpers import (
    FIXED_MTIME,
    HELM_CHART,
    HELM_CONFIG,
    OCI_MANIFEST,
    Blob,
    RegistryHTTP,
    tar_members,
)

if TYPE_CHECKING:
    from tests.conftest import ServerProcess

pytestmark = pytest.mark.e2e

CHART_NAME = "dockyard-demo"


def chart_files(version: str) -> dict[str, bytes]:
    return {
        "Chart.yaml": (
            "apiVersion: v2\n"
            f"name: {CHART_NAME}\n"
            "description: A tiny chart for the Dockyard e2e suite\n"
            "type: application\n"
            f"version: {version}\n"
            'appVersion: "1.2.3"\n'
        ).encode(),
        "values.yaml": b"message: hello from dockyard\nreplicas: 1\n",
        "templates/configmap.yaml": (
            b"apiVersion: v1\n"
            b"kind: ConfigMap\n"
            b"metadata:\n"
            b"  name: {{ .Release.Name }}-demo\n"
            b"data:\n"
            b"  message: {{ .Values.message | quote }}\n"
        ),
        "templates/NOTES.txt": b"Installed {{ .Chart.Name }} {{ .Chart.Version }}.\n",
    }


def package_chart(version: str) -> bytes:
    """Like `helm package`: <name>-<version>.tgz holding <name>/..."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.GNU_FORMAT) as tar:
        for rel, data in chart_files(version).items():
            info = tarfile.TarInfo(f"{CHART_NAME}/{rel}")
            info.size = len(data)
            info.mode = 0o644
            info.mtime = FIXED_MTIME
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def chart_config(version: str) -> bytes:
    """Helm's config blob: the chart metadata as JSON (field order as Helm writes it)."""
    meta = {
        "name": CHART_NAME,
        "version": version,
        "description": "A tiny chart for the Dockyard e2e suite",
        "apiVersion": "v2",
        "appVersion": "1.2.3",
        "type": "application",
    }
    return json.dumps(meta, separators=(",", ":")).encode()


def chart_manifest(config: Blob, chart: Blob, version: str) -> bytes:
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "config": config.descriptor(),
        "layers": [chart.descriptor()],
        "annotations": {
            "org.opencontainers.image.created": "2024-01-01T00:00:00Z",
            "org.opencontainers.image.description": "A tiny chart for the Dockyard e2e suite",
            "org.opencontainers.image.title": CHART_NAME,
            "org.opencontainers.image.version": version,
        },
    }
    # Helm (via oras-go) writes the manifest without a top-level mediaType in older
    # releases and with it in newer ones; newer form here.
    manifest = {"mediaType": OCI_MANIFEST, **manifest}
    return json.dumps(manifest, separators=(",", ":")).encode()


def test_helm_chart_push_pull(
    server: ServerProcess,
    registry: RegistryHTTP,
    client: httpx.Client,
    repo: str,
    tmp_path: Path,
) -> None:
    chart_repo = f"{repo}/charts/{CHART_NAME}"
    pushed: dict[str, tuple[str, bytes, Blob, Blob]] = {}
    for version in ("0.1.0", "0.2.0+build.7"):
        tag = version.replace("+", "_")  # what helm does: '+' is not allowed in tags
        chart = Blob(package_chart(version), HELM_CHART)
        config = Blob(chart_config(version), HELM_CONFIG)
        registry.push_blobs(chart_repo, config, chart)
        body = chart_manifest(config, chart, version)
        digest = registry.put_manifest(chart_repo, tag, body, OCI_MANIFEST)
        pushed[tag] = (digest, body, config, chart)

    tags = client.get(f"/v2/{chart_repo}/tags/list")
    assert tags.status_code == 200, tags.text
    assert tags.json() == {"name": chart_repo, "tags": ["0.1.0", "0.2.0_build.7"]}

    for tag, (digest, body, config, chart) in pushed.items():
        # Helm pulls with an OCI manifest Accept header, then config and chart layer.
        resp = registry.get_manifest(chart_repo, tag, accept=OCI_MANIFEST)
        assert resp.content == body
        assert resp.headers.get("Docker-Content-Digest") == digest
        assert resp.headers["Content-Type"].startswith(OCI_MANIFEST)
        manifest = resp.json()
        assert manifest["config"]["mediaType"] == HELM_CONFIG
        assert [layer["mediaType"] for layer in manifest["layers"]] == [HELM_CHART]
        assert registry.get_blob(chart_repo, config.digest) == config.data
        chart_bytes = registry.get_blob(chart_repo, chart.digest)
        assert chart_bytes == chart.data
        version = json.loads(registry.get_blob(chart_repo, config.digest))["version"]
        members = tar_members(chart_bytes)
        expected = chart_files(version)
        assert {k: v for k, v in members.items() if v is not None} == {
            f"{CHART_NAME}/{rel}": data for rel, data in expected.items()
        }

    # oras sees the same manifest and blob bytes.
    oras_client = oras.provider.Registry(hostname=server.host, insecure=True)
    target = f"{server.host}/{chart_repo}:0.1.0"
    digest, body, config, chart = pushed["0.1.0"]
    manifest = oras_client.get_manifest(target, allowed_media_type=[OCI_MANIFEST])
    assert manifest == json.loads(body)
    out = tmp_path / "chart.tgz"
    oras_client.download_blob(target, chart.digest, str(out))
    assert out.read_bytes() == chart.data

    # And a chart pushed by oras (as `oras push` with Helm media types would) lands intact.
    (tmp_path / "config.json").write_bytes(chart_config("0.3.0"))
    tgz = tmp_path / f"{CHART_NAME}-0.3.0.tgz"
    tgz.write_bytes(package_chart("0.3.0"))
    resp = oras_client.push(
        target=f"{server.host}/{chart_repo}:0.3.0",
        files=[f"{tgz}:{HELM_CHART}"],
        manifest_config=f"{tmp_path / 'config.json'}:{HELM_CONFIG}",
        disable_path_validation=True,
        quiet=True,
    )
    assert resp.status_code == 201
    got = registry.get_manifest(chart_repo, "0.3.0", accept=OCI_MANIFEST).json()
    assert got["config"]["mediaType"] == HELM_CONFIG
    assert got["layers"][0]["mediaType"] == HELM_CHART
    assert registry.get_blob(chart_repo, got["layers"][0]["digest"]) == tgz.read_bytes()
    assert registry.get_blob(chart_repo, got["config"]["digest"]) == chart_config("0.3.0")
