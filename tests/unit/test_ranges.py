"""HTTP Range / upload Content-Range parsing (spec/ranges.py)."""

from __future__ import annotations

import pytest

from dockyard.spec.ranges import ByteRange, RangeNotSatisfiable, parse_chunk_range, parse_range


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        pytest.param("bytes=0-99", 1000, ByteRange(0, 99), id="first-100"),
        pytest.param("bytes=10-19", 1000, ByteRange(10, 19), id="middle"),
        pytest.param("bytes=0-0", 1, ByteRange(0, 0), id="single-byte"),
        pytest.param("bytes=999-999", 1000, ByteRange(999, 999), id="last-byte"),
        pytest.param("bytes=500-", 1000, ByteRange(500, 999), id="open-ended"),
        pytest.param("bytes=0-", 1000, ByteRange(0, 999), id="open-ended-from-zero"),
        pytest.param("bytes=-100", 1000, ByteRange(900, 999), id="suffix"),
        pytest.param("bytes=-1", 1000, ByteRange(999, 999), id="suffix-one"),
        pytest.param("bytes=-5000", 1000, ByteRange(0, 999), id="suffix-longer-than-body"),
        pytest.param("bytes=900-5000", 1000, ByteRange(900, 999), id="end-clamped"),
        pytest.param("bytes=0-1000", 1000, ByteRange(0, 999), id="end-one-past"),
        pytest.param(" bytes = 1 - 2 ", 10, ByteRange(1, 2), id="whitespace-tolerated"),
    ],
)
def test_parse_range(header: str, size: int, expected: ByteRange) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(
    ("header", "size"),
    [
        pytest.param("bytes=1000-", 1000, id="start-equals-size"),
        pytest.param("bytes=1000-1010", 1000, id="start-equals-size-closed"),
        pytest.param("bytes=5000-6000", 1000, id="start-past-size"),
        pytest.param("bytes=0-", 0, id="empty-body"),
        pytest.param("bytes=0-0", 0, id="empty-body-closed"),
        pytest.param("bytes=-0", 1000, id="suffix-zero"),
        pytest.param("bytes=-10", 0, id="suffix-of-empty-body"),
    ],
)
def test_parse_range_unsatisfiable(header: str, size: int) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, size)


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(None, id="none"),
        pytest.param("", id="empty"),
        pytest.param("bytes=", id="no-bounds"),
        pytest.param("bytes=-", id="dash-only"),
        pytest.param("bytes=5-2", id="end-before-start"),
        pytest.param("bytes=0-1,5-6", id="multiple-ranges"),
        pytest.param("bytes=0-1, 5-6", id="multiple-ranges-spaced"),
        pytest.param("items=0-1", id="other-unit"),
        pytest.param("0-1", id="no-unit"),
        pytest.param("bytes=a-b", id="non-numeric"),
        pytest.param("bytes=1.5-2", id="fractional"),
        pytest.param("bytes=-1-2", id="negative-start"),
        pytest.param("bytes 0-1", id="content-range-style"),
    ],
)
def test_parse_range_malformed_is_ignored(header: str | None) -> None:
    assert parse_range(header, 1000) is None


def test_range_not_satisfiable_is_value_error() -> None:
    assert issubclass(RangeNotSatisfiable, ValueError)


def test_byte_range_length_and_content_range() -> None:
    byte_range = ByteRange(10, 19)
    assert byte_range.length == 10
    assert byte_range.content_range(100) == "bytes 10-19/100"


def test_single_byte_range_length() -> None:
    assert ByteRange(5, 5).length == 1


def test_parsed_suffix_content_range() -> None:
    byte_range = parse_range("bytes=-3", 10)
    assert byte_range is not None
    assert byte_range.content_range(10) == "bytes 7-9/10"
    assert byte_range.length == 3


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param("0-99", ByteRange(0, 99), id="bare"),
        pytest.param("bytes=0-99", ByteRange(0, 99), id="bytes-equals"),
        pytest.param("bytes 0-99", ByteRange(0, 99), id="bytes-space"),
        pytest.param("0-99/100", ByteRange(0, 99), id="with-total"),
        pytest.param("bytes 0-99/100", ByteRange(0, 99), id="rfc-style-with-total"),
        pytest.param("100-199/*", ByteRange(100, 199), id="unknown-total"),
        pytest.param("5-5", ByteRange(5, 5), id="single-byte"),
        pytest.param("  10-20  ", ByteRange(10, 20), id="surrounding-whitespace"),
    ],
)
def test_parse_chunk_range(header: str, expected: ByteRange) -> None:
    assert parse_chunk_range(header) == expected


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("", id="empty"),
        pytest.param("99-0", id="end-before-start"),
        pytest.param("0-", id="open-ended"),
        pytest.param("-99", id="suffix"),
        pytest.param("a-b", id="non-numeric"),
        pytest.param("0-99/", id="empty-total"),
        pytest.param("0-99/abc", id="non-numeric-total"),
        pytest.param("items=0-99", id="other-unit"),
        pytest.param("bytes:0-99", id="bad-separator"),
        pytest.param("0-99,100-199", id="multiple"),
        pytest.param("0 - 99", id="inner-spaces"),
    ],
)
def test_parse_chunk_range_invalid(header: str) -> None:
    assert parse_chunk_range(header) is None


@pytest.mark.parametrize(
    "header",
    [
        "bytes=" + "9" * 5000 + "-",
        "bytes=0-" + "9" * 5000,
        "bytes=-" + "9" * 20,
        "bytes=" + " " * 8000 + "x",
    ],
)
def test_parse_range_with_offsets_no_blob_has_is_ignored(header: str) -> None:
    assert parse_range(header, 1000) is None


def test_parse_range_leading_zeros_are_not_digits_too_many() -> None:
    assert parse_range("bytes=" + "0" * 40 + "5-9", 100) == ByteRange(5, 9)


@pytest.mark.parametrize("header", ["0-" + "9" * 5000, "9" * 20 + "-" + "9" * 21])
def test_parse_chunk_range_with_offsets_too_long_is_malformed(header: str) -> None:
    assert parse_chunk_range(header) is None
