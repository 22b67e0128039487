"""Sparse manifests (`allow_sparse_manifests`, alias `allow_sparse_index`), in process (see
conftest.py): what the wire says with the setting off and on, and soft delete and restore of a
sparse manifest. tests/integration/test_sparse_manifests.py keeps the run through `dockyard
check` and `dockyard gc`.

The distribution spec lets a registry accept a manifest whose blobs or child manifests it does
not hold (mirrors of partial content), and says that when it refuses one for that reason the
answer is MANIFEST_BLOB_UNKNOWN. With the setting on, an image's layers and an index's children
may be absent (the config must be there: the registry reads it, and clients read it first)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.integration.helpers import (
    OCI_MANIFEST,
    Pushed,
    assert_error,
    assert_status,
    canonical,
    describe,
    image_manifest,
    image_with_absent_layer,
    index_manifest,
    push,
    push_image,
    put_manifest,
    random_bytes,
    sha256,
    unique_digest,
    upload_blob,
)
from tests.integration.test_manifests import assert_serves, get_manifest
from tests.protocol.conftest import RegistryFactory, sync_client

if TYPE_CHECKING:
    from pathlib import Path


def assert_no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    """What `"Traceback" not in server.log()` checks of a server process."""
    logged = [record.getMessage() for record in caplog.records if record.exc_info]
    assert not logged, logged


# --- off (the default): refusals answer MANIFEST_BLOB_UNKNOWN ------------------------------------


def test_image_with_absent_layer_is_refused_by_default(client: httpx.Client, repo: str) -> None:
    manifest, absent = image_with_absent_layer(client, repo)
    resp = put_manifest(client, repo, "v1", manifest.body, manifest.media_type)
    assert_error(resp, 400, "MANIFEST_BLOB_UNKNOWN")
    assert resp.json()["errors"][0]["detail"] == {"digest": sha256(absent)}, describe(resp)
    assert_error(client.get(f"/v2/{repo}/manifests/v1"), 404, "MANIFEST_UNKNOWN")


@pytest.mark.parametrize("docker", [False, True])
def test_index_with_absent_child_answers_manifest_blob_unknown(
    client: httpx.Client, repo: str, docker: bool
) -> None:
    present = push_image(client, repo, docker=docker)
    missing = unique_digest()
    child_type = "application/vnd.docker.distribution.manifest.v2+json" if docker else OCI_MANIFEST
    index = index_manifest(
        [present.descriptor(), {"mediaType": child_type, "digest": missing, "size": 999}],
        docker=docker,
    )
    resp = put_manifest(client, repo, "multi", index.body, index.media_type)
    assert_error(resp, 400, "MANIFEST_BLOB_UNKNOWN")
    assert resp.json()["errors"][0]["detail"] == {"digest": missing}, describe(resp)
    assert_error(client.get(f"/v2/{repo}/manifests/multi"), 404, "MANIFEST_UNKNOWN")


# --- on ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["env", "yaml"])
def test_allow_sparse_index_is_an_alias(
    registry_factory: RegistryFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    how: str,
) -> None:
    """The settings are read as `serve` reads them: the environment or DOCKYARD_CONFIG."""
    if how == "env":
        monkeypatch.setenv("DOCKYARD_ALLOW_SPARSE_INDEX", "true")
    else:
        config = tmp_path / "dockyard.yaml"
        config.write_text(json.dumps({"allow_sparse_index": True}))
        monkeypatch.setenv("DOCKYARD_CONFIG", str(config))
    http = sync_client(registry_factory(from_environment=True))
    repo = f"alias/{how}"
    manifest, _ = image_with_absent_layer(http, repo)
    push(http, repo, manifest, "v1")
    index = index_manifest([{"mediaType": OCI_MANIFEST, "digest": unique_digest(), "size": 9}])
    push(http, repo, index, "multi")
    http.close()


def test_sparse_manifest_soft_deleted_and_restored_links_only_its_own_blobs(
    registry_factory: RegistryFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """A sparse manifest may name a blob that only another repository holds (it cannot be
    pulled from here); soft delete and restore must not link that blob into this one."""
    registry = registry_factory(storage={"allow_sparse_manifests": True}, gc={"enabled": False})
    http = sync_client(registry)
    resp = http.patch("/api/v1/registry", json={"soft_delete_policy": {"enabled": True, "days": 1}})
    assert_status(resp, 200)
    private = random_bytes(200)
    assert upload_blob(http, "other/private", private) == sha256(private)
    repo = "mirror/restored"
    manifest, absent = image_with_absent_layer(http, repo)
    obj = manifest.json
    obj["layers"].append(
        {
            "mediaType": obj["layers"][0]["mediaType"],
            "digest": sha256(private),
            "size": len(private),
        }
    )
    sparse = Pushed(canonical(obj), OCI_MANIFEST)
    push(http, repo, sparse, "v1")
    assert_error(http.get(f"/v2/{repo}/blobs/{sha256(private)}"), 404, "BLOB_UNKNOWN")

    assert_status(http.delete(f"/v2/{repo}/manifests/{sparse.digest}"), 202)
    restored = http.post(f"/api/v1/repositories/{repo}/restore", json={"digest": sparse.digest})
    assert_status(restored, 200)
    assert restored.json()["manifest_restored"] is True
    served = http.get(f"/v2/{repo}/manifests/v1", headers={"Accept": OCI_MANIFEST})
    assert_status(served, 200)
    assert served.content == sparse.body
    assert_status(http.get(f"/v2/{repo}/blobs/{obj['layers'][0]['digest']}"), 200)
    assert_error(http.get(f"/v2/{repo}/blobs/{sha256(absent)}"), 404, "BLOB_UNKNOWN")
    assert_error(http.get(f"/v2/{repo}/blobs/{sha256(private)}"), 404, "BLOB_UNKNOWN")
    http.close()
    assert_no_traceback(caplog)


def test_sparse_index_accepted_only_when_enabled(
    registry_factory: RegistryFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From tests/integration/test_manifests.py: with the setting on (by its old name, read
    as serve reads it), an index whose child is absent is served as pushed; an image's config
    must still exist."""
    monkeypatch.setenv("DOCKYARD_ALLOW_SPARSE_INDEX", "true")
    http = sync_client(registry_factory(from_environment=True))
    repo = "sparse/index"
    present = push_image(http, repo)
    missing = {"mediaType": OCI_MANIFEST, "digest": unique_digest(), "size": 777}
    index = index_manifest([present.descriptor(), missing])
    resp = put_manifest(http, repo, "sparse", index.body, index.media_type)
    assert_status(resp, 201)
    assert resp.headers.get("docker-content-digest") == index.digest, describe(resp)
    assert_serves(get_manifest(http, repo, "sparse"), index)
    # Sparse images too (test_allow_sparse_index_is_an_alias), but an image's config must exist.
    image = image_manifest(http, repo).json
    image["config"]["digest"] = unique_digest()
    resp = put_manifest(http, repo, "broken", canonical(image), OCI_MANIFEST)
    assert_error(resp, 400, "MANIFEST_BLOB_UNKNOWN")
    http.close()
