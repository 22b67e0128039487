"""Sparse manifests (`allow_sparse_manifests`, alias `allow_sparse_index`).

The distribution spec lets a registry accept a manifest whose blobs or child manifests it does
not hold (mirrors of partial content), and says that when it refuses one for that reason the
answer is MANIFEST_BLOB_UNKNOWN. With the setting on, an image's layers and an index's children
may be absent (the config must be there: the registry reads it, and clients read it first);
pulls of an absent layer still answer BLOB_UNKNOWN, and GC, usage, referrers and `dockyard
check` work around the gaps. A layer that arrives later is kept by GC for the manifest.

This test runs `dockyard check` and `dockyard gc` against the server's data; the refusals, the
alias and soft delete of a sparse manifest are protocol tests
(tests/protocol/test_sparse_manifests.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from tests.integration.helpers import (
    OCI_MANIFEST,
    artifact_manifest,
    assert_error,
    assert_status,
    canonical,
    describe,
    image_with_absent_layer,
    index_manifest,
    push,
    put_manifest,
    sha256,
    unique_digest,
    upload_blob,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.conftest import ServerProcess


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
        manifest, absent = image_with_absent_layer(http, repo)
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
