"""Contract suite for the BlobDriver protocol (storage/driver.py).

Every backend must pass it. To add a driver, add an entry to DRIVER_FACTORIES: an id mapped to
a callable that takes a fresh, empty temporary folder and returns a driver using it (wrappers
such as encryption can wrap a FilesystemDriver built in that folder).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from dockyard.errors import StorageError
from dockyard.storage.driver import BlobDriver, blob_key, upload_key
from dockyard.storage.filesystem import FilesystemDriver

DriverFactory = Callable[[Path], BlobDriver]

DRIVER_FACTORIES: dict[str, DriverFactory] = {
    "filesystem": lambda root: FilesystemDriver(root / "store"),
}


@pytest.fixture(params=sorted(DRIVER_FACTORIES))
def driver(request: pytest.FixtureRequest, tmp_path: Path) -> BlobDriver:
    return DRIVER_FACTORIES[request.param](tmp_path)


def put(driver: BlobDriver, key: str, data: bytes) -> int:
    writer = driver.appender(key, 0)
    writer.write(data)
    return writer.close()


def read_all(driver: BlobDriver, key: str, offset: int = 0, length: int | None = None) -> bytes:
    return b"".join(driver.read(key, offset, length))


KEY = "uploads/0b4c5a"
DIGEST = "sha256:" + "ab" * 32


def test_size_of_missing_key_is_none(driver: BlobDriver) -> None:
    assert driver.size(KEY) is None
    assert driver.size("blobs/sha256/ab/nothing") is None


def test_appender_at_zero_writes_and_close_returns_size(driver: BlobDriver) -> None:
    writer = driver.appender(KEY, 0)
    writer.write(b"hello ")
    writer.write(b"world")
    assert writer.close() == 11
    assert driver.size(KEY) == 11
    assert read_all(driver, KEY) == b"hello world"


def test_empty_appender_creates_empty_key(driver: BlobDriver) -> None:
    assert driver.appender(KEY, 0).close() == 0
    assert driver.size(KEY) == 0
    assert read_all(driver, KEY) == b""


def test_appender_at_zero_truncates_existing(driver: BlobDriver) -> None:
    put(driver, KEY, b"old content that is long")
    assert put(driver, KEY, b"new") == 3
    assert read_all(driver, KEY) == b"new"


def test_appending_at_offset_continues(driver: BlobDriver) -> None:
    assert put(driver, KEY, b"first-") == 6
    writer = driver.appender(KEY, 6)
    writer.write(b"second")
    assert writer.close() == 12
    writer = driver.appender(KEY, 12)
    writer.write(b"-third")
    assert writer.close() == 18
    assert driver.size(KEY) == 18
    assert read_all(driver, KEY) == b"first-second-third"


def test_appending_at_smaller_offset_truncates_unacknowledged_tail(driver: BlobDriver) -> None:
    # 10 bytes were acknowledged; a crashed request left 5 more on storage.
    put(driver, KEY, b"0123456789" + b"XXXXX")
    writer = driver.appender(KEY, 10)
    writer.write(b"abc")
    assert writer.close() == 13
    assert driver.size(KEY) == 13
    assert read_all(driver, KEY) == b"0123456789abc"


def test_reopening_at_smaller_offset_without_writing_truncates(driver: BlobDriver) -> None:
    put(driver, KEY, b"0123456789")
    assert driver.appender(KEY, 4).close() == 4
    assert read_all(driver, KEY) == b"0123"


def test_large_write_round_trips(driver: BlobDriver) -> None:
    data = bytes(range(256)) * 12_289  # ~3 MiB, crosses read-chunk boundaries
    assert put(driver, KEY, data) == len(data)
    assert read_all(driver, KEY) == data
    assert read_all(driver, KEY, 1_000_000, 2_500_000) == data[1_000_000:3_500_000]


@pytest.mark.parametrize(
    ("offset", "length", "expected"),
    [
        (0, None, b"0123456789"),
        (3, None, b"3456789"),
        (0, 4, b"0123"),
        (2, 5, b"23456"),
        (9, 1, b"9"),
        (5, 100, b"56789"),
        (10, None, b""),
        (4, 0, b""),
    ],
)
def test_read_with_offset_and_length(
    driver: BlobDriver, offset: int, length: int | None, expected: bytes
) -> None:
    put(driver, KEY, b"0123456789")
    assert read_all(driver, KEY, offset, length) == expected


def test_move_renames_and_removes_source(driver: BlobDriver) -> None:
    put(driver, KEY, b"blob bytes")
    destination = blob_key(DIGEST)
    driver.move(KEY, destination)
    assert driver.size(KEY) is None
    assert driver.size(destination) == 10
    assert read_all(driver, destination) == b"blob bytes"


def test_move_replaces_existing_destination(driver: BlobDriver) -> None:
    destination = blob_key(DIGEST)
    put(driver, destination, b"previous, longer content")
    put(driver, KEY, b"new")
    driver.move(KEY, destination)
    assert read_all(driver, destination) == b"new"
    assert driver.size(destination) == 3
    assert driver.size(KEY) is None


def test_delete_removes_key(driver: BlobDriver) -> None:
    put(driver, KEY, b"x")
    driver.delete(KEY)
    assert driver.size(KEY) is None


def test_delete_is_idempotent(driver: BlobDriver) -> None:
    put(driver, KEY, b"x")
    driver.delete(KEY)
    driver.delete(KEY)
    driver.delete("uploads/never-existed")
    driver.delete("no/such/folder")
    assert driver.size(KEY) is None


def test_delete_removes_folders(driver: BlobDriver) -> None:
    put(driver, "uploads/session/part-1", b"a")
    put(driver, "uploads/session/nested/part-2", b"bb")
    put(driver, "uploads/other", b"ccc")
    driver.delete("uploads/session")
    assert driver.size("uploads/session/part-1") is None
    assert driver.size("uploads/session/nested/part-2") is None
    assert [key for key, _size, _mtime in driver.walk("uploads")] == ["uploads/other"]


def test_walk_lists_keys_with_sizes(driver: BlobDriver) -> None:
    first = blob_key("sha256:" + "ab" * 32)
    second = blob_key("sha256:" + "cd" * 32)
    put(driver, first, b"12345")
    put(driver, second, b"")
    put(driver, upload_key("u1"), b"not a blob")
    listed = {key: (size, mtime) for key, size, mtime in driver.walk("blobs")}
    assert set(listed) == {first, second}
    assert listed[first][0] == 5
    assert listed[second][0] == 0
    assert all(isinstance(mtime, float) and mtime > 0 for _size, mtime in listed.values())


def test_walk_of_missing_prefix_is_empty(driver: BlobDriver) -> None:
    assert list(driver.walk("blobs")) == []
    put(driver, KEY, b"x")
    assert list(driver.walk("blobs")) == []


def test_walk_sees_moved_key(driver: BlobDriver) -> None:
    put(driver, KEY, b"abc")
    driver.move(KEY, blob_key(DIGEST))
    assert [(k, s) for k, s, _m in driver.walk("blobs")] == [(blob_key(DIGEST), 3)]
    assert list(driver.walk("uploads")) == []


BAD_KEYS = [
    pytest.param("../escape", id="parent"),
    pytest.param("uploads/../../escape", id="nested-parent"),
    pytest.param("uploads/..", id="trailing-parent"),
    pytest.param("/etc/passwd", id="absolute"),
    pytest.param("/tmp/x", id="absolute-tmp"),
    pytest.param("", id="empty"),
]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_keys_raise_storage_error_on_size(driver: BlobDriver, key: str) -> None:
    with pytest.raises(StorageError):
        driver.size(key)


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_keys_raise_storage_error_on_appender(driver: BlobDriver, key: str) -> None:
    with pytest.raises(StorageError):
        driver.appender(key, 0)


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_keys_raise_storage_error_on_read_delete_walk(driver: BlobDriver, key: str) -> None:
    with pytest.raises(StorageError):
        read_all(driver, key)
    with pytest.raises(StorageError):
        driver.delete(key)
    with pytest.raises(StorageError):
        list(driver.walk(key))


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_keys_raise_storage_error_on_move(driver: BlobDriver, key: str) -> None:
    put(driver, KEY, b"x")
    with pytest.raises(StorageError):
        driver.move(KEY, key)
    with pytest.raises(StorageError):
        driver.move(key, KEY)
    assert read_all(driver, KEY) == b"x"


def test_bad_key_does_not_touch_outside_root(tmp_path: Path) -> None:
    store = FilesystemDriver(tmp_path / "store")
    outside = tmp_path / "outside"
    outside.write_bytes(b"keep me")
    with pytest.raises(StorageError):
        store.delete("../outside")
    with pytest.raises(StorageError):
        store.appender("../outside", 0)
    assert outside.read_bytes() == b"keep me"


def test_local_path_of_filesystem_driver_is_existing_file(tmp_path: Path) -> None:
    store = FilesystemDriver(tmp_path / "store")
    key = blob_key(DIGEST)
    put(store, key, b"zero-copy")
    path = store.local_path(key)
    assert path is not None
    assert path.is_file()
    assert path.read_bytes() == b"zero-copy"
    assert path.is_relative_to((tmp_path / "store").resolve())


def test_local_path_if_offered_holds_plaintext(driver: BlobDriver) -> None:
    put(driver, KEY, b"plain bytes")
    path = driver.local_path(KEY)
    if path is None:
        pytest.skip("driver offers no local path")
    assert path.read_bytes() == b"plain bytes"


def test_blob_and_upload_keys() -> None:
    assert blob_key("sha256:abcdef") == "blobs/sha256/ab/abcdef"
    assert upload_key("u-1") == "uploads/u-1"
