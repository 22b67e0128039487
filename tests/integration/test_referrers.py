"""The referrers API (end-12a, end-12b) of OCI distribution-spec 1.1."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.integration.helpers import (
    OCI_INDEX,
    OCI_MANIFEST,
    Pushed,
    artifact_manifest,
    assert_error,
    assert_status,
    describe,
    header_values,
    image_manifest,
    index_manifest,
    push,
    push_image,
    unique_digest,
)

SBOM = "application/vnd.example.sbom.v1"
SIGNATURE = "application/vnd.example.signature.v1"
SIG_CONFIG = "application/vnd.example.signature.config.v1+json"
BUNDLE = "application/vnd.example.bundle.v1"


def get_referrers(client: httpx.Client, repo: str, digest: str, **params: str) -> httpx.Response:
    return client.get(f"/v2/{repo}/referrers/{digest}", params=params)


def assert_index(resp: httpx.Response) -> list[dict[str, Any]]:
    """200 with an OCI image index; returns its descriptors."""
    assert_status(resp, 200)
    assert resp.headers.get("content-type") == OCI_INDEX, describe(resp)
    body = resp.json()
    assert body.get("schemaVersion") == 2, describe(resp)
    assert body.get("mediaType") == OCI_INDEX, describe(resp)
    manifests = body.get("manifests")
    assert isinstance(manifests, list), describe(resp)
    return manifests


def expected_descriptor(
    manifest: Pushed, artifact_type: str | None, annotations: dict[str, str] | None
) -> dict[str, Any]:
    desc: dict[str, Any] = {
        "mediaType": manifest.media_type,
        "digest": manifest.digest,
        "size": manifest.size,
    }
    if artifact_type is not None:
        desc["artifactType"] = artifact_type
    if annotations:
        desc["annotations"] = annotations
    return desc


def comparable(desc: dict[str, Any]) -> dict[str, Any]:
    """The fields the spec defines for a referrers descriptor (empty annotations = none)."""
    out: dict[str, Any] = {
        k: desc[k] for k in ("mediaType", "digest", "size", "artifactType") if k in desc
    }
    if desc.get("annotations"):
        out["annotations"] = desc["annotations"]
    return out


@dataclass
class Graph:
    subject: Pushed
    expected: dict[str, dict[str, Any]]  # digest -> descriptor the referrers API must list


@pytest.fixture
def graph(client: httpx.Client, repo: str) -> Graph:
    """A subject with four referrers of different shapes, plus noise that must not be listed."""
    subject = push_image(client, repo, "subject")
    sub = subject.descriptor()
    expected: dict[str, dict[str, Any]] = {}

    sbom_ann = {
        "org.opencontainers.image.created": "2024-01-01T00:00:00Z",
        "org.example.format": "spdx",
    }
    sbom = push(
        client,
        repo,
        artifact_manifest(client, repo, artifact_type=SBOM, annotations=sbom_ann, subject=sub),
    )
    expected[sbom.digest] = expected_descriptor(sbom, SBOM, sbom_ann)

    # An image manifest without artifactType: the config's mediaType stands in for it.
    sig_ann = {"org.example.signer": "ci"}
    sig = push(
        client,
        repo,
        image_manifest(
            client, repo, config_media_type=SIG_CONFIG, annotations=sig_ann, subject=sub
        ),
    )
    expected[sig.digest] = expected_descriptor(sig, SIG_CONFIG, sig_ann)

    # An index without artifactType: the descriptor has none.
    idx_ann = {"org.example.note": "index referrer"}
    idx = push(
        client, repo, index_manifest([push_image(client, repo)], annotations=idx_ann, subject=sub)
    )
    expected[idx.digest] = expected_descriptor(idx, None, idx_ann)

    # An index with artifactType, and a tagged referrer without annotations.
    bundle = push(
        client, repo, index_manifest([push_image(client, repo)], artifact_type=BUNDLE, subject=sub)
    )
    expected[bundle.digest] = expected_descriptor(bundle, BUNDLE, None)

    # Noise: a manifest referring to something else, and a plain image.
    other = push_image(client, repo, "other")
    push(
        client,
        repo,
        artifact_manifest(client, repo, artifact_type=SBOM, subject=other.descriptor()),
    )
    push_image(client, repo, "plain")
    return Graph(subject, expected)


def test_referrers_lists_descriptors(client: httpx.Client, repo: str, graph: Graph) -> None:
    resp = get_referrers(client, repo, graph.subject.digest)
    manifests = assert_index(resp)
    got = {d.get("digest"): comparable(d) for d in manifests}
    assert len(manifests) == len(got), "a referrer is listed twice" + describe(resp)
    assert got == graph.expected, describe(resp)


def test_referrers_index_artifact_type_omitted(
    client: httpx.Client, repo: str, graph: Graph
) -> None:
    manifests = assert_index(get_referrers(client, repo, graph.subject.digest))
    for desc in manifests:
        if (
            desc.get("mediaType") == OCI_INDEX
            and graph.expected[desc["digest"]].get("artifactType") is None
        ):
            assert "artifactType" not in desc, desc


def test_referrers_filter_by_artifact_type(client: httpx.Client, repo: str, graph: Graph) -> None:
    resp = get_referrers(client, repo, graph.subject.digest, artifactType=SBOM)
    manifests = assert_index(resp)
    assert header_values(resp, "oci-filters-applied") == ["artifactType"], describe(resp)
    want = {d: e for d, e in graph.expected.items() if e.get("artifactType") == SBOM}
    assert {d["digest"]: comparable(d) for d in manifests} == want, describe(resp)


def test_referrers_filter_by_config_media_type(
    client: httpx.Client, repo: str, graph: Graph
) -> None:
    resp = get_referrers(client, repo, graph.subject.digest, artifactType=SIG_CONFIG)
    manifests = assert_index(resp)
    assert header_values(resp, "oci-filters-applied") == ["artifactType"], describe(resp)
    assert [d["digest"] for d in manifests] == [
        d for d, e in graph.expected.items() if e.get("artifactType") == SIG_CONFIG
    ], describe(resp)


def test_referrers_filter_without_matches(client: httpx.Client, repo: str, graph: Graph) -> None:
    resp = get_referrers(
        client, repo, graph.subject.digest, artifactType="application/vnd.example.none"
    )
    assert assert_index(resp) == []
    assert header_values(resp, "oci-filters-applied") == ["artifactType"], describe(resp)


def test_referrers_without_filter_has_no_filter_header(
    client: httpx.Client, repo: str, graph: Graph
) -> None:
    resp = get_referrers(client, repo, graph.subject.digest)
    assert_index(resp)
    assert "oci-filters-applied" not in resp.headers, describe(resp)


def test_referrers_of_unknown_subject_is_empty_index(client: httpx.Client, repo: str) -> None:
    push_image(client, repo, "v1")
    resp = get_referrers(client, repo, unique_digest())
    assert assert_index(resp) == []


def test_referrers_of_subject_without_referrers(client: httpx.Client, repo: str) -> None:
    subject = push_image(client, repo, "v1")
    assert assert_index(get_referrers(client, repo, subject.digest)) == []


@pytest.mark.parametrize("bad", ["sha256:xyz", "notadigest", "sha256:" + "a" * 63])
def test_referrers_invalid_digest_is_400(client: httpx.Client, repo: str, bad: str) -> None:
    push_image(client, repo, "v1")
    assert_error(get_referrers(client, repo, bad), 400)


def test_referrer_pushed_before_subject(client: httpx.Client, repo: str) -> None:
    subject = image_manifest(client, repo)  # not pushed yet
    referrer = push(
        client,
        repo,
        artifact_manifest(client, repo, artifact_type=SBOM, subject=subject.descriptor()),
    )
    manifests = assert_index(get_referrers(client, repo, subject.digest))
    assert [d["digest"] for d in manifests] == [referrer.digest]
    push(client, repo, subject, "late")
    manifests = assert_index(get_referrers(client, repo, subject.digest))
    assert [d["digest"] for d in manifests] == [referrer.digest]


def test_deleted_referrer_is_no_longer_listed(client: httpx.Client, repo: str) -> None:
    subject = push_image(client, repo, "v1")
    keep = push(
        client,
        repo,
        artifact_manifest(client, repo, artifact_type=SBOM, subject=subject.descriptor()),
    )
    drop = push(
        client,
        repo,
        artifact_manifest(client, repo, artifact_type=SIGNATURE, subject=subject.descriptor()),
    )
    assert {d["digest"] for d in assert_index(get_referrers(client, repo, subject.digest))} == {
        keep.digest,
        drop.digest,
    }
    assert_status(client.delete(f"/v2/{repo}/manifests/{drop.digest}"), 202)
    manifests = assert_index(get_referrers(client, repo, subject.digest))
    assert [d["digest"] for d in manifests] == [keep.digest]


def test_referrers_are_scoped_to_the_repository(client: httpx.Client, repo: str) -> None:
    subject = image_manifest(client, repo)
    push(client, repo, subject, "v1")
    other = f"{repo}-other"
    push(client, other, image_manifest(client, other), "v1")
    push(
        client,
        other,
        artifact_manifest(client, other, artifact_type=SBOM, subject=subject.descriptor()),
    )
    assert assert_index(get_referrers(client, repo, subject.digest)) == []
    assert len(assert_index(get_referrers(client, other, subject.digest))) == 1


def test_tagged_referrer_is_listed(client: httpx.Client, repo: str) -> None:
    subject = push_image(client, repo, "v1")
    ref = push(
        client,
        repo,
        artifact_manifest(client, repo, artifact_type=SBOM, subject=subject.descriptor()),
        "sbom",
    )
    manifests = assert_index(get_referrers(client, repo, subject.digest))
    assert [d["digest"] for d in manifests] == [ref.digest]
    assert manifests[0]["mediaType"] == OCI_MANIFEST
    assert manifests[0]["size"] == ref.size
