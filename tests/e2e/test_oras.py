"""OCI artifacts and the referrers API with the `oras` Python client."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import oras.oci
import oras.provider
import pytest
import requests

from tests.e2e.helpers import OCI_INDEX, OCI_MANIFEST, RegistryHTTP, sha256_digest

if TYPE_CHECKING:
    from tests.conftest import ServerProcess

pytestmark = pytest.mark.e2e

MODEL_TYPE = "application/vnd.dockyard.e2e.model.v1"
SIGNATURE_TYPE = "application/vnd.dockyard.e2e.signature.v1"
SBOM_CONFIG_TYPE = "application/vnd.dockyard.e2e.sbom.config.v1+json"


class ArtifactRegistry(oras.provider.Registry):  # type: ignore[misc]
    """oras' Registry, plus an explicit top-level `artifactType` on pushed manifests."""

    artifact_type: str | None = None
    last_manifest: dict[str, Any] | None = None

    def upload_manifest(self, manifest: dict[str, Any], container: Any) -> requests.Response:
        if self.artifact_type:
            manifest = {**manifest, "artifactType": self.artifact_type}
        self.last_manifest = manifest
        return super().upload_manifest(manifest, container)


def push(
    client: ArtifactRegistry,
    target: str,
    files: list[str],
    *,
    artifact_type: str | None = None,
    **kwargs: Any,
) -> tuple[str, dict[str, Any], requests.Response]:
    """Push with oras; returns (manifest digest, manifest as sent, response)."""
    client.artifact_type = artifact_type
    response = client.push(
        target=target, files=files, disable_path_validation=True, quiet=True, **kwargs
    )
    assert response.status_code == 201, (
        f"oras push {target}: {response.status_code} {response.text}"
    )
    digest = response.headers.get("Docker-Content-Digest", "")
    assert digest.startswith("sha256:"), f"no Docker-Content-Digest in {dict(response.headers)}"
    assert client.last_manifest is not None
    return digest, client.last_manifest, response


def test_oras_artifacts_and_referrers(
    server: ServerProcess,
    registry: RegistryHTTP,
    client: httpx.Client,
    repo: str,
    tmp_path: Path,
) -> None:
    oras_client = ArtifactRegistry(hostname=server.host, insecure=True)
    base = f"{server.host}/{repo}"

    model = tmp_path / "model.bin"
    model.write_bytes(hashlib.sha256(b"dockyard").digest() * 64)
    subject_digest, _, _ = push(
        oras_client,
        f"{base}:model",
        [f"{model}:application/octet-stream"],
        artifact_type=MODEL_TYPE,
        manifest_annotations={"org.opencontainers.image.title": "tiny model"},
    )
    subject_resp = registry.get_manifest(repo, "model")
    assert subject_resp.headers.get("Docker-Content-Digest") == subject_digest
    subject_manifest = subject_resp.json()
    assert subject_manifest["artifactType"] == MODEL_TYPE
    assert subject_manifest["mediaType"] == OCI_MANIFEST
    subject = oras.oci.Subject(OCI_MANIFEST, subject_digest, len(subject_resp.content))

    # Referrer 1: explicit artifactType, subject set.
    sig = tmp_path / "model.sig"
    sig.write_text("signed: " + subject_digest)
    sig_digest, sig_manifest, sig_resp = push(
        oras_client,
        f"{base}:signature",
        [f"{sig}:application/vnd.dockyard.e2e.signature.payload"],
        artifact_type=SIGNATURE_TYPE,
        subject=subject,
        manifest_annotations={"dockyard.e2e/kind": "signature"},
    )
    assert sig_manifest["subject"]["digest"] == subject_digest
    assert sig_resp.headers.get("OCI-Subject") == subject_digest, (
        "a registry supporting the referrers API must answer a manifest PUT with a subject "
        f"with OCI-Subject; headers were {dict(sig_resp.headers)}"
    )

    # Referrer 2: no artifactType, so the referrers API must report config.mediaType.
    sbom = tmp_path / "sbom.json"
    sbom.write_text('{"packages": []}')
    config = tmp_path / "sbom-config.json"
    config.write_text("{}")
    sbom_digest, _, _ = push(
        oras_client,
        f"{base}:sbom",
        [f"{sbom}:application/spdx+json"],
        subject=subject,
        manifest_config=f"{config}:{SBOM_CONFIG_TYPE}",
    )

    # Referrers, unfiltered.
    resp = client.get(f"/v2/{repo}/referrers/{subject_digest}")
    assert resp.status_code == 200, f"referrers -> {resp.status_code} {resp.text}"
    assert resp.headers["Content-Type"].startswith(OCI_INDEX)
    index = resp.json()
    assert index["schemaVersion"] == 2
    assert index["mediaType"] == OCI_INDEX
    by_digest = {d["digest"]: d for d in index["manifests"]}
    assert set(by_digest) == {sig_digest, sbom_digest}
    sig_bytes = registry.get_manifest(repo, sig_digest).content
    assert by_digest[sig_digest] == {
        "mediaType": OCI_MANIFEST,
        "digest": sig_digest,
        "size": len(sig_bytes),
        "artifactType": SIGNATURE_TYPE,
        "annotations": {"dockyard.e2e/kind": "signature"},
    }
    assert by_digest[sbom_digest]["artifactType"] == SBOM_CONFIG_TYPE
    assert by_digest[sbom_digest]["size"] == len(registry.get_manifest(repo, sbom_digest).content)

    # Filtered by artifactType.
    resp = client.get(
        f"/v2/{repo}/referrers/{subject_digest}", params={"artifactType": SIGNATURE_TYPE}
    )
    assert resp.status_code == 200
    assert [d["digest"] for d in resp.json()["manifests"]] == [sig_digest]
    assert resp.headers.get("OCI-Filters-Applied") == "artifactType"

    # A digest nobody refers to: an empty index, not an error.
    nothing = sha256_digest(b"no such manifest")
    resp = client.get(f"/v2/{repo}/referrers/{nothing}")
    assert resp.status_code == 200
    assert resp.json()["manifests"] == []

    # oras pulls the referrer's content back intact.
    out = tmp_path / "pulled"
    files = oras_client.pull(target=f"{base}@{sig_digest}", outdir=str(out))
    assert [Path(f).read_bytes() for f in files] == [sig.read_bytes()]
    files = oras_client.pull(target=f"{base}:model", outdir=str(out))
    assert [Path(f).read_bytes() for f in files] == [model.read_bytes()]
