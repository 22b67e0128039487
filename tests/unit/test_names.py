"""Repository name and tag grammar (spec/names.py, OCI distribution-spec 1.1)."""

from __future__ import annotations

import pytest

from dockyard.spec.names import MAX_NAME_LENGTH, is_valid_name, is_valid_tag


@pytest.mark.parametrize(
    "name",
    [
        "a",
        "0",
        "ubuntu",
        "library/ubuntu",
        "a/b/c/d/e",
        "my.repo",
        "my_repo",
        "my__repo",
        "my-repo",
        "my--repo",
        "my---repo",
        "a.b_c__d-e--f",
        "team-1/app.v2/component__x",
        "123/456",
    ],
)
def test_valid_names(name: str) -> None:
    assert is_valid_name(name)


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("", id="empty"),
        pytest.param("Ubuntu", id="uppercase"),
        pytest.param("library/Ubuntu", id="uppercase-second-component"),
        pytest.param("/ubuntu", id="leading-slash"),
        pytest.param("ubuntu/", id="trailing-slash"),
        pytest.param("library//ubuntu", id="empty-component"),
        pytest.param(".repo", id="leading-dot"),
        pytest.param("repo.", id="trailing-dot"),
        pytest.param("-repo", id="leading-dash"),
        pytest.param("repo-", id="trailing-dash"),
        pytest.param("_repo", id="leading-underscore"),
        pytest.param("repo_", id="trailing-underscore"),
        pytest.param("my..repo", id="double-dot"),
        pytest.param("my___repo", id="triple-underscore"),
        pytest.param("my.-repo", id="dot-then-dash"),
        pytest.param("my_-repo", id="underscore-then-dash"),
        pytest.param("my repo", id="space"),
        pytest.param("my:repo", id="colon"),
        pytest.param("my@repo", id="at-sign"),
        pytest.param("a/../b", id="dot-dot-component"),
        pytest.param("a/./b", id="dot-component"),
        pytest.param("café", id="non-ascii"),
        pytest.param(" repo", id="leading-space"),
        pytest.param("repo ", id="trailing-space"),
    ],
)
def test_invalid_names(name: str) -> None:
    assert not is_valid_name(name)


def test_name_at_max_length_is_valid() -> None:
    name = "/".join(["a" * 127, "b" * 127])
    assert len(name) == MAX_NAME_LENGTH == 255
    assert is_valid_name(name)


def test_name_over_max_length_is_invalid() -> None:
    name = "/".join(["a" * 127, "b" * 128])
    assert len(name) == 256
    assert not is_valid_name(name)


def test_single_component_over_max_length_is_invalid() -> None:
    assert is_valid_name("a" * 255)
    assert not is_valid_name("a" * 256)


def test_name_with_trailing_newline_is_invalid() -> None:
    assert not is_valid_name("library/ubuntu\n")


@pytest.mark.parametrize(
    "tag",
    [
        "latest",
        "v1",
        "V1.2.3",
        "1.0.0-rc.1",
        "_private",
        "0",
        "a",
        "build_2024-01-01",
        "UPPER",
        "a" * 128,
        "sha256-" + "a" * 64,
    ],
)
def test_valid_tags(tag: str) -> None:
    assert is_valid_tag(tag)


@pytest.mark.parametrize(
    "tag",
    [
        pytest.param("", id="empty"),
        pytest.param("a" * 129, id="too-long"),
        pytest.param(".hidden", id="leading-dot"),
        pytest.param("-dash", id="leading-dash"),
        pytest.param("has space", id="space"),
        pytest.param("with/slash", id="slash"),
        pytest.param("sha256:abc", id="colon"),
        pytest.param("tag+build", id="plus"),
        pytest.param("tag@x", id="at-sign"),
        pytest.param("tâg", id="non-ascii"),
        pytest.param(" latest", id="leading-space"),
        pytest.param("latest ", id="trailing-space"),
    ],
)
def test_invalid_tags(tag: str) -> None:
    assert not is_valid_tag(tag)


def test_tag_with_trailing_newline_is_invalid() -> None:
    assert not is_valid_tag("latest\n")
