"""Digest parsing and hashing (spec/digest.py)."""

from __future__ import annotations

import hashlib

import pytest

from dockyard.spec.digest import (
    HEX_LENGTH,
    Digest,
    InvalidDigest,
    digest_of,
    is_digest_reference,
    new_hasher,
)

SHA256_HEX = hashlib.sha256(b"hello").hexdigest()
SHA512_HEX = hashlib.sha512(b"hello").hexdigest()


def test_parse_sha256() -> None:
    digest = Digest.parse(f"sha256:{SHA256_HEX}")
    assert digest == Digest("sha256", SHA256_HEX)
    assert digest.algorithm == "sha256"
    assert digest.hex == SHA256_HEX


def test_parse_sha512() -> None:
    digest = Digest.parse(f"sha512:{SHA512_HEX}")
    assert digest == Digest("sha512", SHA512_HEX)


@pytest.mark.parametrize("text", [f"sha256:{SHA256_HEX}", f"sha512:{SHA512_HEX}"])
def test_str_round_trips(text: str) -> None:
    assert str(Digest.parse(text)) == text


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(f"sha256:{SHA256_HEX.upper()}", id="uppercase-hex"),
        pytest.param(f"sha256:{SHA256_HEX[:-1]}A", id="one-uppercase-char"),
        pytest.param(f"sha256:{SHA256_HEX[:-1]}", id="sha256-too-short"),
        pytest.param(f"sha256:{SHA256_HEX}0", id="sha256-too-long"),
        pytest.param(f"sha512:{SHA256_HEX}", id="sha512-with-sha256-length"),
        pytest.param(f"sha256:{SHA512_HEX}", id="sha256-with-sha512-length"),
        pytest.param(f"md5:{hashlib.md5(b'x').hexdigest()}", id="unknown-algorithm-md5"),
        pytest.param(f"sha384:{hashlib.sha384(b'x').hexdigest()}", id="unknown-algorithm-sha384"),
        pytest.param(f"SHA256:{SHA256_HEX}", id="uppercase-algorithm"),
        pytest.param(SHA256_HEX, id="missing-colon"),
        pytest.param(f"sha256{SHA256_HEX}", id="missing-colon-with-algorithm"),
        pytest.param(f":{SHA256_HEX}", id="empty-algorithm"),
        pytest.param("sha256:", id="empty-hex"),
        pytest.param("", id="empty"),
        pytest.param(f"sha256:{SHA256_HEX[:-1]}g", id="non-hex-char"),
        pytest.param(f"sha256:{SHA256_HEX[:-1]}=", id="base64-padding-char"),
        pytest.param(f" sha256:{SHA256_HEX}", id="leading-space"),
        pytest.param(f"sha256:{SHA256_HEX} ", id="trailing-space"),
        pytest.param(f"sha256: {SHA256_HEX}", id="space-after-colon"),
        pytest.param(f"sha256:{SHA256_HEX}:{SHA256_HEX}", id="two-colons"),
    ],
)
def test_parse_rejects(text: str) -> None:
    with pytest.raises(InvalidDigest):
        Digest.parse(text)


def test_parse_rejects_trailing_newline() -> None:
    with pytest.raises(InvalidDigest):
        Digest.parse(f"sha256:{SHA256_HEX}\n")


def test_invalid_digest_is_a_value_error() -> None:
    assert issubclass(InvalidDigest, ValueError)


def test_digest_of_defaults_to_sha256() -> None:
    assert digest_of(b"hello") == Digest("sha256", SHA256_HEX)


def test_digest_of_sha512() -> None:
    assert digest_of(b"hello", "sha512") == Digest("sha512", SHA512_HEX)


def test_digest_of_empty_bytes() -> None:
    expected = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert str(digest_of(b"")) == expected


def test_digest_of_result_parses() -> None:
    digest = digest_of(b"some content")
    assert Digest.parse(str(digest)) == digest


def test_digest_of_rejects_unknown_algorithm() -> None:
    with pytest.raises(InvalidDigest):
        digest_of(b"x", "md5")


def test_new_hasher_defaults_to_sha256() -> None:
    hasher = new_hasher()
    hasher.update(b"hel")
    hasher.update(b"lo")
    assert hasher.hexdigest() == SHA256_HEX


def test_new_hasher_sha512() -> None:
    hasher = new_hasher("sha512")
    hasher.update(b"hello")
    assert hasher.hexdigest() == SHA512_HEX
    assert len(hasher.hexdigest()) == HEX_LENGTH["sha512"]


@pytest.mark.parametrize("algorithm", ["md5", "sha1", "sha384", "SHA256", ""])
def test_new_hasher_rejects_unsupported(algorithm: str) -> None:
    with pytest.raises(InvalidDigest):
        new_hasher(algorithm)


def test_hasher_copy_is_independent() -> None:
    hasher = new_hasher()
    hasher.update(b"hel")
    snapshot = hasher.copy()
    hasher.update(b"lo")
    assert hasher.hexdigest() == SHA256_HEX
    assert snapshot.hexdigest() == hashlib.sha256(b"hel").hexdigest()


def test_digest_hasher_uses_its_algorithm() -> None:
    digest = digest_of(b"hello", "sha512")
    hasher = digest.hasher()
    hasher.update(b"hello")
    assert hasher.hexdigest() == digest.hex


def test_digest_is_hashable_and_frozen() -> None:
    digest = Digest.parse(f"sha256:{SHA256_HEX}")
    assert {digest, Digest("sha256", SHA256_HEX)} == {digest}
    with pytest.raises(AttributeError):
        digest.hex = "0" * 64  # type: ignore[misc]


@pytest.mark.parametrize(
    ("reference", "expected"),
    [(f"sha256:{SHA256_HEX}", True), ("latest", False), ("v1.2.3", False)],
)
def test_is_digest_reference(reference: str, expected: bool) -> None:
    assert is_digest_reference(reference) is expected
