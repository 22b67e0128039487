"""The error vocabulary: every error class is one kind of failure, whose status its code says,
and the renderer turns typed fields, not caller-made headers, into the answer's headers."""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil

import pytest

import dockyard
from dockyard import errors
from dockyard.api.errors import error_response
from dockyard.errors import (
    STORAGE_RETRY_AFTER_SECONDS,
    BlobUploadInvalid,
    Conflict,
    Denied,
    Disallowed,
    DockyardError,
    Invalid,
    NotFound,
    RangeInvalid,
    StorageError,
    StorageFull,
    StorageUnavailable,
    TooLarge,
    TooMany,
    Unauthorized,
    UploadError,
    UploadProgress,
    UpstreamUnavailable,
)

# Each kind and the HTTP status every error of that kind is answered with.
KINDS: dict[type[DockyardError], int] = {
    Invalid: 400,
    # OCI answers a bad Content-Range with 416, the status HTTP has for it.
    RangeInvalid: 416,
    Unauthorized: 401,
    Denied: 403,
    NotFound: 404,
    Disallowed: 405,
    Conflict: 409,
    TooLarge: 413,
    TooMany: 429,
    UpstreamUnavailable: 502,
    StorageUnavailable: 503,
    StorageFull: 507,
    StorageError: 500,
}
# Bases that add a typed field and are no kind of their own.
MIXINS = {UploadError}


def _all_subclasses(cls: type[DockyardError]) -> list[type[DockyardError]]:
    found: list[type[DockyardError]] = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_all_subclasses(sub))
    return found


_NOT_IMPORTED = ("dockyard.storage.migrations", "dockyard.cli")


def _every_error_class() -> list[type[DockyardError]]:
    """Every subclass in the package, wherever it is declared. Alembic's migration scripts
    run only under alembic; the CLI's errors are its own."""
    for module in pkgutil.walk_packages(dockyard.__path__, "dockyard."):
        if module.name.endswith("__main__") or module.name.startswith(_NOT_IMPORTED):
            continue
        importlib.import_module(module.name)
    return sorted(set(_all_subclasses(DockyardError)), key=lambda c: c.__qualname__)


EVERY_ERROR = _every_error_class()


def _kind_of(cls: type[DockyardError]) -> type[DockyardError]:
    """The most specific kind `cls` is: the first kind in its MRO."""
    for base in cls.__mro__:
        if base in KINDS:
            return base
    raise AssertionError(f"{cls.__module__}.{cls.__qualname__} is of no kind: {KINDS}")


def test_the_package_declares_errors_outside_errors_py_too() -> None:
    # Guards the walk: if it found only errors.py the test below would prove little.
    assert any(c.__module__ != errors.__name__ for c in EVERY_ERROR)


@pytest.mark.parametrize(
    "cls", [c for c in EVERY_ERROR if c not in MIXINS], ids=lambda c: c.__qualname__
)
def test_every_error_is_one_kind_answered_with_its_kinds_status(
    cls: type[DockyardError],
) -> None:
    kind = _kind_of(cls)
    assert cls.code.status == KINDS[kind], (
        f"{cls.__module__}.{cls.__qualname__} is a {kind.__name__} ({KINDS[kind]}) "
        f"but its code {cls.code.code} answers {cls.code.status}"
    )


def test_no_error_takes_a_status_or_headers() -> None:
    for cls in [DockyardError, *EVERY_ERROR]:
        parameters = inspect.signature(cls.__init__).parameters
        assert not {"status", "headers"} & set(parameters), f"{cls.__qualname__}: {parameters}"


def test_the_status_is_the_codes() -> None:
    assert Conflict("taken").status == 409
    assert NotFound("gone").status == 404
    assert TooLarge("big").status == 413


def test_retry_after_and_an_uploads_progress_become_headers_at_the_edge() -> None:
    too_many = error_response(TooMany("slow down", retry_after=7))
    assert too_many.status_code == 429
    assert too_many.headers["retry-after"] == "7"

    full = error_response(StorageUnavailable("read-only"))
    assert full.status_code == 503
    assert full.headers["retry-after"] == str(STORAGE_RETRY_AFTER_SECONDS)

    progress = UploadProgress("team/app", "abc", 10)
    for error in (
        RangeInvalid("busy", progress=progress),
        BlobUploadInvalid("busy", progress=progress),
    ):
        answer = error_response(error)
        assert answer.headers["range"] == "0-9"
        assert answer.headers["location"] == "/v2/team/app/blobs/uploads/abc"
        assert answer.headers["docker-upload-uuid"] == "abc"
        body = json.loads(bytes(answer.body))
        assert body == {"errors": [{"code": error.code.code, "message": "busy"}]}
    assert "range" not in error_response(RangeInvalid("no session")).headers


def test_a_head_answer_has_no_body() -> None:
    answer = error_response(NotFound("gone"), head=True)
    assert answer.status_code == 404
    assert bytes(answer.body) == b""
