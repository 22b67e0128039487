"""The base images of a Dockerfile, per stage, as a run records them."""

from __future__ import annotations

import pytest

from dockyard.tasks.dockerfile import DockerfileInvalid, base_images, substitute
from dockyard.tasks.model import BaseImage


def test_global_args_build_args_and_aliases() -> None:
    dockerfile = b"""\
# syntax=docker/dockerfile:1
ARG REGISTRY=base
ARG TAG=1
FROM --platform=linux/amd64 ${REGISTRY}/busybox:$TAG AS Builder
ARG TAG=ignored-in-from
RUN echo hi \\
    && echo continued
FROM builder AS tested
FROM scratch
COPY --from=builder /out /out
"""
    assert base_images(dockerfile, {"TAG": "2", "UNUSED": "x"}) == [
        BaseImage(stage=0, name="builder", image="base/busybox:2", runtime=False),
        BaseImage(stage=1, name="tested", image="base/busybox:2", runtime=False),
        BaseImage(stage=2, name=None, image="scratch", runtime=True),
    ]


def test_target_is_the_runtime_stage() -> None:
    dockerfile = b"FROM a:1 AS one\nFROM b:2 AS two\nFROM c:3\n"
    stages = base_images(dockerfile, target="TWO")
    assert [s.runtime for s in stages] == [False, True, False]
    with pytest.raises(DockerfileInvalid, match="target stage 'three'"):
        base_images(dockerfile, target="three")


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        ("$A", {"A": "1"}, "1"),
        ("${A}x", {"A": "1"}, "1x"),
        ("${A:-dflt}", {}, "dflt"),
        ("${A:-dflt}", {"A": ""}, "dflt"),
        ("${A-dflt}", {"A": ""}, ""),
        ("${A:+alt}", {"A": "1"}, "alt"),
        ("${A:+alt}", {"A": ""}, ""),
        ("${A+alt}", {"A": ""}, "alt"),
        ("$MISSING/x", {}, "/x"),
        ("${A:-${B}}", {"B": "b"}, "b"),
    ],
)
def test_substitution_forms(text: str, values: dict[str, str], expected: str) -> None:
    assert substitute(text, values) == expected


def test_defaults_refer_to_earlier_args_and_build_args_win() -> None:
    dockerfile = b'ARG MAJOR=3\nARG VERSION="${MAJOR}.1"\nFROM app:$VERSION\n'
    assert base_images(dockerfile)[0].image == "app:3.1"
    assert base_images(dockerfile, {"MAJOR": "4"})[0].image == "app:4.1"
    assert base_images(dockerfile, {"VERSION": "9"})[0].image == "app:9"


@pytest.mark.parametrize(
    ("dockerfile", "message"),
    [
        (b"RUN echo no stage\n", "no FROM"),
        (b"ARG EMPTY\nFROM $EMPTY\n", "empty image name"),
        (b"FROM a b c d\n", "expected 'FROM image"),
    ],
)
def test_dockerfiles_without_readable_stages(dockerfile: bytes, message: str) -> None:
    with pytest.raises(DockerfileInvalid, match=message):
        base_images(dockerfile)


def test_escaped_dollars_and_unclosed_braces_stay_literal() -> None:
    assert substitute("a\\$B", {"B": "x"}) == "a$B"
    assert substitute("${B", {"B": "x"}) == "${B"
    assert substitute("$-x", {}) == "$-x"
