"""The upload POST's query: one parse for the gate and the handler."""

from __future__ import annotations

import pytest

from dockyard.spec.upload_query import InvalidUploadQuery, UploadStart, parse_upload_start

DIGEST = "sha256:" + "a" * 64


def test_plain_forms() -> None:
    assert parse_upload_start("") == UploadStart()
    assert parse_upload_start(f"digest={DIGEST}") == UploadStart(digest=DIGEST)
    start = parse_upload_start(f"mount={DIGEST}&from=a/b")
    assert start == UploadStart(mount=DIGEST, source="a/b")
    assert str(start.mount_digest) == DIGEST
    assert start.without_mount() == UploadStart()
    assert parse_upload_start(f"mount={DIGEST}").source is None


@pytest.mark.parametrize(
    "query",
    [
        f"mount={DIGEST}&from=a/b&from=",
        f"mount={DIGEST}&from=&from=a/b",
        f"mount={DIGEST}&from=a/b&from=c/d",
        f"mount={DIGEST}&fr%6Fm=a/b&from=c/d",
        f"mount={DIGEST}&from=",
        f"mount={DIGEST}&mount={DIGEST}",
        "mount=&from=a/b",
        f"digest={DIGEST}&digest={DIGEST}",
        "digest=",
    ],
)
def test_repeated_or_empty_parameters_are_invalid(query: str) -> None:
    with pytest.raises(InvalidUploadQuery):
        parse_upload_start(query)


def test_a_mount_that_cannot_be_done_has_no_digest() -> None:
    assert parse_upload_start("mount=nonsense&from=a/b").mount_digest is None
    assert parse_upload_start(f"mount={DIGEST}&from=Not..A..Name").mount_digest is None
