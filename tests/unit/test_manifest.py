"""Manifest parsing (spec/manifest.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dockyard.spec import mediatypes as mt
from dockyard.spec.digest import Digest, digest_of
from dockyard.spec.manifest import (
    Descriptor,
    ManifestError,
    UnsupportedManifest,
    parse_manifest,
)

OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_NONDISTRIBUTABLE = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
SBOM_TYPE = "application/spdx+json"


def desc(media_type: str, content: bytes = b"x", **extra: Any) -> dict[str, Any]:
    return {
        "mediaType": media_type,
        "digest": str(digest_of(content)),
        "size": len(content),
        **extra,
    }


def oci_manifest(**extra: Any) -> dict[str, Any]:
    return {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": desc(mt.OCI_CONFIG, b"{}"),
        "layers": [desc(OCI_LAYER, b"layer-1"), desc(OCI_LAYER, b"layer-2")],
        **extra,
    }


def oci_index(**extra: Any) -> dict[str, Any]:
    return {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": [
            desc(
                mt.OCI_MANIFEST,
                b"amd64",
                platform={"architecture": "amd64", "os": "linux"},
            ),
            desc(
                mt.OCI_MANIFEST,
                b"arm64",
                platform={"architecture": "arm64", "os": "linux", "variant": "v8"},
            ),
        ],
        **extra,
    }


def docker_manifest(**extra: Any) -> dict[str, Any]:
    return {
        "schemaVersion": 2,
        "mediaType": mt.DOCKER_MANIFEST,
        "config": desc(DOCKER_CONFIG, b"{}"),
        "layers": [desc(DOCKER_LAYER, b"layer")],
        **extra,
    }


def docker_list(**extra: Any) -> dict[str, Any]:
    return {
        "schemaVersion": 2,
        "mediaType": mt.DOCKER_MANIFEST_LIST,
        "manifests": [
            desc(mt.DOCKER_MANIFEST, b"amd64", platform={"architecture": "amd64", "os": "linux"})
        ],
        **extra,
    }


def encode(document: Any) -> bytes:
    return json.dumps(document).encode()


# --- well-formed manifests ----------------------------------------------------------------


def test_oci_image_manifest() -> None:
    parsed = parse_manifest(encode(oci_manifest()), mt.OCI_MANIFEST)
    assert parsed.media_type == mt.OCI_MANIFEST
    assert not parsed.is_index
    assert parsed.children == ()
    assert parsed.config_media_type == mt.OCI_CONFIG
    assert [d.digest for d in parsed.blobs] == [
        digest_of(b"{}"),
        digest_of(b"layer-1"),
        digest_of(b"layer-2"),
    ]
    assert parsed.blobs[0].media_type == mt.OCI_CONFIG
    assert parsed.blobs[0].size == 2
    assert parsed.layers == parsed.blobs[1:]
    assert parsed.subject is None
    assert parsed.artifact_type is None
    assert parsed.referrer_artifact_type == mt.OCI_CONFIG


def test_descriptor_fields_are_parsed() -> None:
    document = oci_manifest()
    document["layers"] = [
        desc(
            OCI_LAYER,
            b"layer",
            annotations={"org.opencontainers.image.title": "file.txt"},
            urls=["https://example.com/layer"],
            artifactType="application/x-thing",
        )
    ]
    parsed = parse_manifest(encode(document), None)
    (layer,) = parsed.layers
    assert layer == Descriptor(
        media_type=OCI_LAYER,
        digest=digest_of(b"layer"),
        size=5,
        artifact_type="application/x-thing",
        annotations={"org.opencontainers.image.title": "file.txt"},
        urls=("https://example.com/layer",),
        platform=None,
    )


def test_oci_manifest_annotations() -> None:
    parsed = parse_manifest(encode(oci_manifest(annotations={"a": "b"})), None)
    assert parsed.annotations == {"a": "b"}


def test_oci_manifest_without_layers_is_accepted() -> None:
    document = oci_manifest()
    del document["layers"]
    parsed = parse_manifest(encode(document), None)
    assert parsed.layers == ()
    assert len(parsed.blobs) == 1


def test_oci_index() -> None:
    parsed = parse_manifest(encode(oci_index()), mt.OCI_INDEX)
    assert parsed.media_type == mt.OCI_INDEX
    assert parsed.is_index
    assert parsed.blobs == ()
    assert parsed.layers == ()
    assert parsed.config_media_type is None
    assert [c.digest for c in parsed.children] == [digest_of(b"amd64"), digest_of(b"arm64")]
    assert parsed.children[1].platform == {"architecture": "arm64", "os": "linux", "variant": "v8"}
    assert parsed.referrer_artifact_type is None


def test_empty_oci_index_is_accepted() -> None:
    parsed = parse_manifest(encode(oci_index(manifests=[])), None)
    assert parsed.is_index
    assert parsed.children == ()


def test_index_with_artifact_type() -> None:
    parsed = parse_manifest(encode(oci_index(artifactType=SBOM_TYPE)), None)
    assert parsed.artifact_type == SBOM_TYPE
    assert parsed.referrer_artifact_type == SBOM_TYPE


def test_docker_schema2_manifest() -> None:
    parsed = parse_manifest(encode(docker_manifest()), mt.DOCKER_MANIFEST)
    assert parsed.media_type == mt.DOCKER_MANIFEST
    assert not parsed.is_index
    assert parsed.config_media_type == DOCKER_CONFIG
    assert [d.media_type for d in parsed.blobs] == [DOCKER_CONFIG, DOCKER_LAYER]
    assert parsed.referrer_artifact_type == DOCKER_CONFIG


def test_docker_manifest_list() -> None:
    parsed = parse_manifest(encode(docker_list()), mt.DOCKER_MANIFEST_LIST)
    assert parsed.media_type == mt.DOCKER_MANIFEST_LIST
    assert parsed.is_index
    assert len(parsed.children) == 1
    assert parsed.children[0].media_type == mt.DOCKER_MANIFEST
    assert parsed.children[0].platform == {"architecture": "amd64", "os": "linux"}


def test_artifact_manifest_with_artifact_type_and_subject() -> None:
    subject = desc(mt.OCI_MANIFEST, b"the-image")
    document = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "artifactType": SBOM_TYPE,
        "config": desc(mt.OCI_EMPTY, b"{}"),
        "layers": [desc(SBOM_TYPE, b"sbom")],
        "subject": subject,
    }
    parsed = parse_manifest(encode(document), mt.OCI_MANIFEST)
    assert parsed.artifact_type == SBOM_TYPE
    assert parsed.referrer_artifact_type == SBOM_TYPE
    assert parsed.config_media_type == mt.OCI_EMPTY
    assert parsed.subject is not None
    assert parsed.subject.digest == digest_of(b"the-image")
    assert parsed.subject.media_type == mt.OCI_MANIFEST
    assert parsed.subject.size == len(b"the-image")


def test_referrer_artifact_type_falls_back_to_config_media_type() -> None:
    document = oci_manifest(subject=desc(mt.OCI_MANIFEST, b"img"))
    document["config"] = desc(mt.HELM_CONFIG, b"{}")
    parsed = parse_manifest(encode(document), None)
    assert parsed.artifact_type is None
    assert parsed.referrer_artifact_type == mt.HELM_CONFIG


def test_index_with_subject() -> None:
    parsed = parse_manifest(encode(oci_index(subject=desc(mt.OCI_INDEX, b"s"))), None)
    assert parsed.subject is not None
    assert parsed.subject.digest == digest_of(b"s")


@pytest.mark.parametrize("foreign_type", [mt.DOCKER_FOREIGN_LAYER, OCI_NONDISTRIBUTABLE])
def test_foreign_layers_are_flagged(foreign_type: str) -> None:
    document = docker_manifest() if foreign_type == mt.DOCKER_FOREIGN_LAYER else oci_manifest()
    layer_type = DOCKER_LAYER if foreign_type == mt.DOCKER_FOREIGN_LAYER else OCI_LAYER
    document["layers"] = [
        desc(foreign_type, b"windows-base", urls=["https://mcr.microsoft.com/x"]),
        desc(layer_type, b"app"),
    ]
    parsed = parse_manifest(encode(document), None)
    assert [d.is_foreign for d in parsed.layers] == [True, False]
    assert parsed.layers[0].urls == ("https://mcr.microsoft.com/x",)
    assert not parsed.blobs[0].is_foreign  # config


# --- media type resolution ------------------------------------------------------------------


def test_media_type_from_content_type_when_body_has_none() -> None:
    document = docker_manifest()
    del document["mediaType"]
    parsed = parse_manifest(encode(document), mt.DOCKER_MANIFEST)
    assert parsed.media_type == mt.DOCKER_MANIFEST


def test_content_type_parameters_and_case_are_ignored() -> None:
    parsed = parse_manifest(encode(oci_manifest()), mt.OCI_MANIFEST.upper() + "; charset=utf-8")
    assert parsed.media_type == mt.OCI_MANIFEST


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        pytest.param(oci_manifest(), mt.OCI_MANIFEST, id="manifest"),
        pytest.param(oci_index(), mt.OCI_INDEX, id="index"),
    ],
)
def test_media_type_guessed_without_body_type_or_header(
    document: dict[str, Any], expected: str
) -> None:
    document = {k: v for k, v in document.items() if k != "mediaType"}
    assert parse_manifest(encode(document), None).media_type == expected


def test_no_media_type_anywhere_and_nothing_to_guess_from() -> None:
    with pytest.raises(ManifestError):
        parse_manifest(encode({"schemaVersion": 2}), None)


@pytest.mark.parametrize(
    ("document", "content_type"),
    [
        pytest.param(oci_manifest(), mt.OCI_INDEX, id="manifest-body-index-header"),
        pytest.param(oci_index(), mt.OCI_MANIFEST, id="index-body-manifest-header"),
        pytest.param(oci_manifest(), mt.DOCKER_MANIFEST, id="oci-body-docker-header"),
        pytest.param(docker_manifest(), "application/json", id="generic-json-header"),
    ],
)
def test_media_type_content_type_mismatch(document: dict[str, Any], content_type: str) -> None:
    with pytest.raises(ManifestError, match="does not match"):
        parse_manifest(encode(document), content_type)


@pytest.mark.parametrize(
    "media_type",
    ["application/json", mt.OCI_CONFIG, "application/vnd.oci.artifact.manifest.v1+json"],
)
def test_unsupported_media_type(media_type: str) -> None:
    document = oci_manifest(mediaType=media_type)
    with pytest.raises(ManifestError, match="unsupported manifest media type"):
        parse_manifest(encode(document), None)


def test_unsupported_content_type_without_body_type() -> None:
    document = oci_manifest()
    del document["mediaType"]
    with pytest.raises(ManifestError):
        parse_manifest(encode(document), "text/plain")


# --- schema 1 and schemaVersion -------------------------------------------------------------


def test_schema1_by_schema_version() -> None:
    document = {"schemaVersion": 1, "name": "library/x", "tag": "latest", "fsLayers": []}
    with pytest.raises(UnsupportedManifest):
        parse_manifest(encode(document), None)


@pytest.mark.parametrize("content_type", sorted(mt.SCHEMA1))
def test_schema1_by_content_type(content_type: str) -> None:
    document = {"schemaVersion": 1, "name": "library/x", "tag": "latest", "fsLayers": []}
    with pytest.raises(UnsupportedManifest):
        parse_manifest(encode(document), content_type)


def test_schema1_by_body_media_type() -> None:
    document = oci_manifest(mediaType=mt.DOCKER_SCHEMA1_SIGNED)
    with pytest.raises(UnsupportedManifest):
        parse_manifest(encode(document), None)


def test_unsupported_manifest_is_a_manifest_error() -> None:
    assert issubclass(UnsupportedManifest, ManifestError)
    assert issubclass(ManifestError, ValueError)


@pytest.mark.parametrize("version", [None, 0, 3, "2", 2.5])
def test_schema_version_must_be_2(version: Any) -> None:
    document = oci_manifest()
    if version is None:
        del document["schemaVersion"]
    else:
        document["schemaVersion"] = version
    with pytest.raises(ManifestError, match="schemaVersion") as info:
        parse_manifest(encode(document), None)
    assert not isinstance(info.value, UnsupportedManifest)


# --- malformed documents --------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"{", id="truncated"),
        pytest.param(b"not json", id="text"),
        pytest.param(b"\xff\xfe\xfa", id="not-utf8"),
        pytest.param(b"{'schemaVersion': 2}", id="single-quotes"),
    ],
)
def test_invalid_json(body: bytes) -> None:
    with pytest.raises(ManifestError, match="not valid JSON"):
        parse_manifest(body, mt.OCI_MANIFEST)


def test_deeply_nested_json_is_a_manifest_error() -> None:
    with pytest.raises(ManifestError):
        parse_manifest(b"[" * 100_000, mt.OCI_MANIFEST)


@pytest.mark.parametrize("body", [b"[]", b"null", b"2", b'"manifest"', b"true"])
def test_non_object_json(body: bytes) -> None:
    with pytest.raises(ManifestError, match="JSON object"):
        parse_manifest(body, mt.OCI_MANIFEST)


def test_body_media_type_must_be_string() -> None:
    with pytest.raises(ManifestError, match="mediaType must be a string"):
        parse_manifest(encode(oci_manifest(mediaType=2)), None)


def test_missing_config() -> None:
    document = oci_manifest()
    del document["config"]
    with pytest.raises(ManifestError, match="config"):
        parse_manifest(encode(document), None)


def test_docker_manifest_requires_layers() -> None:
    document = docker_manifest()
    del document["layers"]
    with pytest.raises(ManifestError, match="layers is required"):
        parse_manifest(encode(document), None)


def test_index_requires_manifests() -> None:
    document = oci_index()
    del document["manifests"]
    with pytest.raises(ManifestError, match="manifests is required"):
        parse_manifest(encode(document), mt.OCI_INDEX)


@pytest.mark.parametrize(
    ("key", "value"), [("layers", {}), ("layers", "x"), ("manifests", {"a": 1})]
)
def test_descriptor_lists_must_be_lists(key: str, value: Any) -> None:
    document = oci_index() if key == "manifests" else oci_manifest()
    document[key] = value
    with pytest.raises(ManifestError, match="must be a list"):
        parse_manifest(encode(document), None)


def test_docker_manifest_rejects_artifact_type() -> None:
    with pytest.raises(ManifestError, match="artifactType"):
        parse_manifest(encode(docker_manifest(artifactType=SBOM_TYPE)), None)


@pytest.mark.parametrize("value", [1, ["a"], {"a": "b"}])
def test_top_level_artifact_type_must_be_string(value: Any) -> None:
    with pytest.raises(ManifestError, match="artifactType"):
        parse_manifest(encode(oci_manifest(artifactType=value)), None)


@pytest.mark.parametrize("value", [["a"], "a", {"a": 1}, {"a": None}])
def test_top_level_annotations_must_be_string_map(value: Any) -> None:
    with pytest.raises(ManifestError, match="annotations"):
        parse_manifest(encode(oci_manifest(annotations=value)), None)


_MISSING = object()


def _bad(field: str, value: Any) -> dict[str, Any]:
    descriptor = desc(OCI_LAYER, b"layer")
    if value is _MISSING:
        del descriptor[field]
    else:
        descriptor[field] = value
    return descriptor


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        pytest.param("size", -1, "size", id="negative-size"),
        pytest.param("size", 1.5, "size", id="float-size"),
        pytest.param("size", "5", "size", id="string-size"),
        pytest.param("size", True, "size", id="bool-size"),
        pytest.param("size", _MISSING, "size", id="missing-size"),
        pytest.param("digest", "sha256:abc", "digest", id="short-digest"),
        pytest.param("digest", "sha256:" + "A" * 64, "digest", id="uppercase-digest"),
        pytest.param("digest", "md5:" + "a" * 32, "algorithm", id="unknown-algorithm"),
        pytest.param("digest", 123, "digest", id="non-string-digest"),
        pytest.param("digest", _MISSING, "digest", id="missing-digest"),
        pytest.param("mediaType", _MISSING, "mediaType", id="missing-media-type"),
        pytest.param("mediaType", "", "mediaType", id="empty-media-type"),
        pytest.param("mediaType", 7, "mediaType", id="non-string-media-type"),
        pytest.param("artifactType", 7, "artifactType", id="non-string-artifact-type"),
        pytest.param("annotations", {"a": 1}, "annotations", id="non-string-annotation"),
        pytest.param("urls", "https://x", "urls", id="urls-not-list"),
        pytest.param("urls", [1], "urls", id="urls-not-strings"),
        pytest.param("platform", "linux/amd64", "platform", id="platform-not-object"),
    ],
)
def test_bad_layer_descriptor(field: str, value: Any, message: str) -> None:
    document = oci_manifest()
    document["layers"] = [desc(OCI_LAYER, b"ok"), _bad(field, value)]
    with pytest.raises(ManifestError, match=message) as info:
        parse_manifest(encode(document), None)
    assert "layers[1]" in str(info.value)


@pytest.mark.parametrize("where", ["config", "subject"])
def test_bad_config_or_subject_descriptor(where: str) -> None:
    document = oci_manifest()
    document[where] = _bad("size", -5)
    with pytest.raises(ManifestError, match=where):
        parse_manifest(encode(document), None)


def test_bad_index_child_descriptor() -> None:
    document = oci_index()
    document["manifests"].append(_bad("digest", "sha256:nothex"))
    with pytest.raises(ManifestError, match=r"manifests\[2\]"):
        parse_manifest(encode(document), None)


@pytest.mark.parametrize("raw", [None, "sha256:abc", [], 5])
def test_descriptor_must_be_object(raw: Any) -> None:
    document = oci_manifest()
    document["layers"] = [raw]
    with pytest.raises(ManifestError, match="must be an object"):
        parse_manifest(encode(document), None)


def test_zero_size_descriptor_is_valid() -> None:
    document = oci_manifest()
    document["layers"] = [desc(OCI_LAYER, b"")]
    parsed = parse_manifest(encode(document), None)
    assert parsed.layers[0].size == 0
    assert parsed.layers[0].digest == Digest.parse(str(digest_of(b"")))


def test_sha512_descriptor_digest() -> None:
    document = oci_manifest()
    layer = desc(OCI_LAYER, b"layer")
    layer["digest"] = str(digest_of(b"layer", "sha512"))
    document["layers"] = [layer]
    parsed = parse_manifest(encode(document), None)
    assert parsed.layers[0].digest.algorithm == "sha512"


# --- text the database or UTF-8 cannot hold -------------------------------------------------


@pytest.mark.parametrize("text", ["\ud800", "a\udfffb", "nul\u0000"])
@pytest.mark.parametrize(
    "place",
    [
        lambda t: oci_manifest(artifactType=t),
        lambda t: oci_manifest(annotations={"k": t}),
        lambda t: oci_manifest(annotations={t: "v"}),
        lambda t: oci_manifest(config=desc(t, b"{}")),
        lambda t: oci_index(annotations={"k": t}),
    ],
)
def test_lone_surrogates_and_nul_are_invalid(text: str, place: Any) -> None:
    body = json.dumps(place(text), ensure_ascii=True).encode()
    with pytest.raises(ManifestError):
        parse_manifest(body, None)


def test_surrogate_pairs_are_fine() -> None:
    body = json.dumps(oci_manifest(annotations={"emoji": "\U0001f600"}), ensure_ascii=True)
    assert parse_manifest(body.encode(), None).annotations == {"emoji": "\U0001f600"}


@pytest.mark.parametrize(
    "body",
    [
        encode(oci_manifest()).replace(b'"schemaVersion": 2', b'"schemaVersion": ' + b"9" * 5000),
        encode(oci_manifest()).decode().encode("utf-16"),
        b'{"schemaVersion": 2, "annotations": {"a": "\xed\xa0\x80"}}',
        b"[" * 100_000,
    ],
    ids=["huge-number", "utf-16", "raw-surrogate-bytes", "deep"],
)
def test_bodies_json_loads_would_take_or_choke_on_are_invalid(body: bytes) -> None:
    with pytest.raises(ManifestError):
        parse_manifest(body, mt.OCI_MANIFEST)


@pytest.mark.parametrize(
    "document",
    [
        oci_manifest(artifactType="application/" + "x" * 250),
        oci_manifest(config=desc("application/" + "x" * 250, b"{}")),
        oci_manifest(layers=[desc(OCI_LAYER, b"l", artifactType="a/" + "x" * 300)]),
    ],
    ids=["artifactType", "config-mediaType", "descriptor-artifactType"],
)
def test_media_types_longer_than_rfc_6838_allows_are_invalid(document: dict[str, Any]) -> None:
    with pytest.raises(ManifestError, match="longer than 255"):
        parse_manifest(encode(document), None)


def test_a_media_type_of_255_characters_is_fine() -> None:
    longest = "application/" + "x" * 243
    assert parse_manifest(encode(oci_manifest(artifactType=longest)), None).artifact_type == longest
