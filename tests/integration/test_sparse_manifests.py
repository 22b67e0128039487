"""Sparse manifests (`allow_sparse_manifests`, alias `allow_sparse_index`).

The distribution spec lets a registry accept a manifest whose blobs or child manifests it does
not hold (mirrors of partial content), and says that when it refuses one for that reason the
answer is MANIFEST_BLOB_UNKNOWN. With the setting on, an image's layers and an index's children
may be absent (the config must be there: the registry reads it, and clients read it first);
pulls of an absent layer still answer BLOB_UNKNOWN, and GC, usage, referrers and `dockyard
check` work around the gaps. A layer that arrives later is kept by GC for the manifest."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.integration.helpers import (
    OCI_MANIFEST,
    Pushed,
    artifact_manifest,
    assert_error,
    assert_status,
    canonical,
    describe,
    image_manifest,
    index_manifest,
    push,
    push_image,
    put_manifest,
    random_bytes,
    sha256,
    unique_digest,
    upload_blob,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from tests.conftest import ServerProcess


def _with_absent_layer(client: httpx.Client, repo: str) -> tuple[Pushed, bytes]:
    """An image manifest whose second layer was never uploaded; returns it and that layer."""
    manifest = image_manifest(client, repo, layers=2)
    obj = manifest.json
    absent = random_bytes(300)
    obj["layers"][1]["digest"] = sha256(absent)
    obj["layers"][1]["size"] = len(absent)
    return Pushed(canonical(obj), OCI_MANIFEST), absent


# --- off (the default): refusals answer MANIFEST_BLOB_UNKNOWN ------------------------------------


def test_image_with_absent_layer_is_refused_by_default(client: httpx.Client, repo: str) -> None:
    manifest, absent = _with_absent_layer(client, repo)
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


def _usage_row(client: httpx.Client, name: str) -> dict[str, Any]:
    resp = client.get("/api/v1/usage")
    assert_status(resp, 200)
    rows = [r for r in resp.json()["repositories"] if r["name"] == name]
    assert len(rows) == 1, describe(resp)
    return rows[0]


def test_sparse_image_accepted_and_everything_copes_with_the_gap(
    server_factory: Callable[..., ServerProcess],
) -> None:
    srv = server_factory(env={"DOCKYARD_ALLOW_SPARSE_MANIFESTS": "true"})
    repo = "mirror/partial"
    with httpx.Client(base_url=srv.url, timeout=60) as http:
        manifest, absent = _with_absent_layer(http, repo)
        push(http, repo, manifest, "v1")
        served = http.get(f"/v2/{repo}/manifests/v1", headers={"Accept": OCI_MANIFEST})
        assert_status(served, 200)
        assert served.content == manifest.body
        layers = manifest.json["layers"]
        assert_status(http.get(f"/v2/{repo}/blobs/{layers[0]['digest']}"), 200)
        assert_error(http.get(f"/v2/{repo}/blobs/{sha256(absent)}"), 404, "BLOB_UNKNOWN")
        assert http.head(f"/v2/{repo}/blobs/{sha256(absent)}").status_code == 404

        # The config is still required: the registry reads it, clients read it first.
        no_config = manifest.json
        no_config["config"]["digest"] = unique_digest()
        resp = put_manifest(http, repo, "v2", canonical(no_config), OCI_MANIFEST)
        assert_error(resp, 400, "MANIFEST_BLOB_UNKNOWN")

        # An index whose children are absent, and a referrer of the sparse image.
        index = index_manifest(
            [
                manifest.descriptor(),
                {"mediaType": OCI_MANIFEST, "digest": unique_digest(), "size": 9},
            ]
        )
        push(http, repo, index, "multi")
        referrer = artifact_manifest(http, repo, subject=manifest.descriptor())
        push(http, repo, referrer)
        listed = http.get(f"/v2/{repo}/referrers/{manifest.digest}")
        assert_status(listed, 200)
        assert [d["digest"] for d in listed.json()["manifests"]] == [referrer.digest]

        # Usage counts what is stored: the config, the present layer and the manifests.
        present_bytes = layers[0]["size"] + manifest.json["config"]["size"]
        row = _usage_row(http, repo)
        assert row["size_bytes"] >= present_bytes + manifest.size
        assert row["size_bytes"] < present_bytes + manifest.size + layers[1]["size"] + 4096

        checked = srv.dockyard("check")
        assert checked.returncode == 0, checked.stdout + checked.stderr

        # The absent layer arrives later (the mirror fills in): GC keeps it for the manifest.
        assert upload_blob(http, repo, absent) == sha256(absent)
        collected = srv.dockyard("gc", "--grace-seconds", "0")
        assert collected.returncode == 0, collected.stdout + collected.stderr
        pulled = http.get(f"/v2/{repo}/blobs/{sha256(absent)}")
        assert_status(pulled, 200)
        assert pulled.content == absent
        assert_status(http.get(f"/v2/{repo}/blobs/{layers[0]['digest']}"), 200)
        assert_status(
            http.get(f"/v2/{repo}/manifests/multi", headers={"Accept": index.media_type}), 200
        )

        # Deleting the manifest lets GC free what it held, present or not.
        assert_status(http.delete(f"/v2/{repo}/manifests/{index.digest}"), 202)
        assert_status(http.delete(f"/v2/{repo}/manifests/{referrer.digest}"), 202)
        assert_status(http.delete(f"/v2/{repo}/manifests/{manifest.digest}"), 202)
        collected = srv.dockyard("gc", "--grace-seconds", "0")
        assert collected.returncode == 0, collected.stdout + collected.stderr
        assert_error(http.get(f"/v2/{repo}/blobs/{sha256(absent)}"), 404, "BLOB_UNKNOWN")
    assert "Traceback" not in srv.log()


@pytest.mark.parametrize("how", ["env", "yaml"])
def test_allow_sparse_index_is_an_alias(
    server_factory: Callable[..., ServerProcess], tmp_path: Path, how: str
) -> None:
    if how == "env":
        env = {"DOCKYARD_ALLOW_SPARSE_INDEX": "true"}
    else:
        config = tmp_path / "dockyard.yaml"
        config.write_text(json.dumps({"allow_sparse_index": True}))
        env = {"DOCKYARD_CONFIG": str(config)}
    srv = server_factory(env=env)
    repo = f"alias/{how}"
    with httpx.Client(base_url=srv.url, timeout=60) as http:
        manifest, _ = _with_absent_layer(http, repo)
        push(http, repo, manifest, "v1")
        index = index_manifest([{"mediaType": OCI_MANIFEST, "digest": unique_digest(), "size": 9}])
        push(http, repo, index, "multi")


def test_sparse_manifest_soft_deleted_and_restored_links_only_its_own_blobs(
    server_factory: Callable[..., ServerProcess],
) -> None:
    """A sparse manifest may name a blob that only another repository holds (it cannot be
    pulled from here); soft delete and restore must not link that blob into this one."""
    srv = server_factory(
        env={"DOCKYARD_ALLOW_SPARSE_MANIFESTS": "true", "DOCKYARD_GC_ENABLED": "false"}
    )
    with httpx.Client(base_url=srv.url, timeout=60) as http:
        resp = http.patch(
            "/api/v1/registry", json={"soft_delete_policy": {"enabled": True, "days": 1}}
        )
        assert_status(resp, 200)
        private = random_bytes(200)
        assert upload_blob(http, "other/private", private) == sha256(private)
        repo = "mirror/restored"
        manifest, absent = _with_absent_layer(http, repo)
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
    assert "Traceback" not in srv.log()
