"""Where a FROM name is looked for, as the engine's registries.conf makes buildah look."""

from __future__ import annotations

import pytest

from dockyard.tasks.base_images import ImageSource, image_sources, local_source
from dockyard.tasks.engines.base import RegistryAccess
from dockyard.tasks.engines.buildah import registries_conf

HERE = "127.0.0.1:5000"
UPSTREAM = ("http://127.0.0.1:6000", "docker.io")


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        (
            "base/busybox:1",
            [
                ImageSource(None, "base/busybox", "1"),
                ImageSource("http://127.0.0.1:6000", "base/busybox", "1"),
                ImageSource("docker.io", "base/busybox", "1"),
            ],
        ),
        ("127.0.0.1:5000/base/busybox", [ImageSource(None, "base/busybox", "latest")]),
        ("127.0.0.1:6000/lib/x:2", [ImageSource("http://127.0.0.1:6000", "lib/x", "2")]),
        ("localhost/app:3", [ImageSource("localhost", "app", "3")]),
        ("ghcr.io/org/app:v1", [ImageSource("ghcr.io", "org/app", "v1")]),
        ("scratch", []),
        ("busybox@sha256:" + "a" * 64, []),
    ],
)
def test_image_sources(image: str, expected: list[ImageSource]) -> None:
    assert image_sources(image, HERE, UPSTREAM) == expected


def test_references_name_the_host_without_its_scheme() -> None:
    sources = image_sources("lib/x:2", HERE, UPSTREAM)
    assert [s.reference for s in sources] == [
        "lib/x:2",
        "127.0.0.1:6000/lib/x:2",
        "docker.io/lib/x:2",
    ]


def test_local_source_only_for_names_that_reach_this_registry_first() -> None:
    assert local_source("lib/x:2", HERE, UPSTREAM) == ImageSource(None, "lib/x", "2")
    assert local_source("ghcr.io/lib/x:2", HERE, UPSTREAM) is None


def test_plain_http_upstream_registries_are_insecure_in_registries_conf() -> None:
    conf = registries_conf(RegistryAccess(f"http://{HERE}", upstream=UPSTREAM))
    assert 'unqualified-search-registries = ["127.0.0.1:5000", "127.0.0.1:6000", "docker.io"]' in (
        conf
    )
    assert 'location = "127.0.0.1:6000"\ninsecure = true' in conf
    assert 'location = "docker.io"' not in conf
