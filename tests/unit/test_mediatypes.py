"""Accept-header negotiation and media-type sets (spec/mediatypes.py)."""

from __future__ import annotations

import pytest

from dockyard.spec import mediatypes as mt


@pytest.mark.parametrize("header", [None, ""])
def test_no_accept_header_accepts_anything(header: str | None) -> None:
    assert mt.accepts(header, mt.OCI_MANIFEST)
    assert mt.accepts(header, mt.DOCKER_MANIFEST_LIST)


def test_exact_match() -> None:
    assert mt.accepts(mt.OCI_MANIFEST, mt.OCI_MANIFEST)


def test_exact_mismatch() -> None:
    assert not mt.accepts(mt.OCI_MANIFEST, mt.OCI_INDEX)
    assert not mt.accepts(mt.DOCKER_MANIFEST, mt.OCI_MANIFEST)


def test_list_containing_type() -> None:
    header = f"{mt.DOCKER_MANIFEST}, {mt.DOCKER_MANIFEST_LIST},{mt.OCI_MANIFEST}"
    assert mt.accepts(header, mt.OCI_MANIFEST)
    assert mt.accepts(header, mt.DOCKER_MANIFEST_LIST)


def test_list_without_type() -> None:
    header = f"{mt.DOCKER_MANIFEST}, {mt.DOCKER_MANIFEST_LIST}"
    assert not mt.accepts(header, mt.OCI_INDEX)


@pytest.mark.parametrize("header", ["*/*", "application/*", "text/html, */*;q=0.1"])
def test_wildcards(header: str) -> None:
    assert mt.accepts(header, mt.OCI_INDEX)


def test_other_type_wildcard_does_not_match() -> None:
    assert not mt.accepts("text/*", mt.OCI_MANIFEST)
    assert not mt.accepts("text/html, image/*", mt.OCI_MANIFEST)


@pytest.mark.parametrize(
    "header",
    [
        f"{mt.OCI_MANIFEST};q=0.9",
        f"{mt.OCI_MANIFEST}; q=0.9",
        f"{mt.DOCKER_MANIFEST};q=0.5, {mt.OCI_MANIFEST};q=0.9",
        f"{mt.OCI_MANIFEST}; charset=utf-8",
    ],
)
def test_parameters_are_ignored(header: str) -> None:
    assert mt.accepts(header, mt.OCI_MANIFEST)


def test_parameters_do_not_make_other_types_match() -> None:
    assert not mt.accepts(f"{mt.DOCKER_MANIFEST};q=0.9", mt.OCI_MANIFEST)


def test_accept_is_case_insensitive() -> None:
    assert mt.accepts(mt.OCI_MANIFEST.upper(), mt.OCI_MANIFEST)


@pytest.mark.parametrize(
    ("media_type", "foreign"),
    [
        (mt.DOCKER_FOREIGN_LAYER, True),
        ("application/vnd.oci.image.layer.nondistributable.v1.tar", True),
        ("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", True),
        ("application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", True),
        ("application/vnd.oci.image.layer.v1.tar+gzip", False),
        ("application/vnd.docker.image.rootfs.diff.tar.gzip", False),
        (mt.OCI_CONFIG, False),
    ],
)
def test_is_foreign_layer(media_type: str, foreign: bool) -> None:
    assert mt.is_foreign_layer(media_type) is foreign


def test_media_type_sets() -> None:
    assert {mt.OCI_MANIFEST, mt.DOCKER_MANIFEST} == mt.IMAGE_MANIFESTS
    assert {mt.OCI_INDEX, mt.DOCKER_MANIFEST_LIST} == mt.INDEXES
    assert mt.MANIFESTS == mt.IMAGE_MANIFESTS | mt.INDEXES
    assert not mt.MANIFESTS & mt.SCHEMA1
