"""How an import's source and target names are read."""

from __future__ import annotations

import pytest

from dockyard.errors import DigestInvalid, NameInvalid, TagInvalid, Unsupported
from dockyard.registry.importer import ImportTarget, parse_targets
from dockyard.registry.remote import parse_source

DIGEST = "sha256:" + "ab" * 32


def test_source_with_tag_digest_and_scheme() -> None:
    src = parse_source("registry.example.com/team/app:1.0")
    assert (src.base_url, src.repository, src.tag, src.digest) == (
        "https://registry.example.com",
        "team/app",
        "1.0",
        None,
    )
    assert src.reference == "1.0"
    by_digest = parse_source(f"registry.example.com:5000/app@{DIGEST}")
    assert by_digest.base_url == "https://registry.example.com:5000"
    assert (by_digest.tag, str(by_digest.digest), by_digest.reference) == (None, DIGEST, DIGEST)
    both = parse_source(f"registry.example.com/app:1.0@{DIGEST}")
    assert (both.tag, both.reference) == ("1.0", DIGEST)
    assert parse_source("http://registry.example.com/app").base_url == "http://registry.example.com"
    assert parse_source("registry.example.com/app").tag == "latest"


def test_loopback_sources_default_to_http_and_docker_hub_is_spelled_out() -> None:
    assert parse_source("127.0.0.1:5000/app:1").base_url == "http://127.0.0.1:5000"
    assert parse_source("localhost:5000/app:1").base_url == "http://localhost:5000"
    assert parse_source("[::1]:5000/app:1").base_url == "http://[::1]:5000"
    hub = parse_source("docker.io/alpine:3")
    assert (hub.base_url, hub.repository, str(hub)) == (
        "https://registry-1.docker.io",
        "library/alpine",
        "docker.io/library/alpine:3",
    )


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("alpine:3", NameInvalid),
        ("team/app:1", NameInvalid),
        ("registry.example.com", NameInvalid),
        ("registry.example.com/Team/App:1", NameInvalid),
        ("registry.example.com/app:bad tag", TagInvalid),
        ("registry.example.com/app@sha256:12", DigestInvalid),
        ("ftp://registry.example.com/app:1", NameInvalid),
    ],
)
def test_bad_sources(text: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_source(text)


def test_targets_default_to_the_source_tag() -> None:
    tagged = parse_source("registry.example.com/team/app:1.0")
    assert parse_targets([], tagged) == (ImportTarget("team/app", "1.0"),)
    assert parse_targets(["copy", "copy:2", "host/x:3", "copy"], tagged) == (
        ImportTarget("copy", "1.0"),
        ImportTarget("copy", "2"),
        ImportTarget("host/x", "3"),
    )
    pinned = parse_source(f"registry.example.com/team/app@{DIGEST}")
    assert parse_targets(["copy"], pinned) == (ImportTarget("copy", None),)


@pytest.mark.parametrize(
    ("image", "error"),
    [("Copy:1", NameInvalid), ("copy:bad tag", TagInvalid), (f"copy@{DIGEST}", Unsupported)],
)
def test_bad_targets(image: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_targets([image], parse_source("registry.example.com/app:1"))
