"""One exception hierarchy. Each error carries its OCI error code and HTTP status; the HTTP
edge renders it as the OCI error envelope."""

from __future__ import annotations

from typing import Any

from dockyard.spec.codes import ErrorCode


class DockyardError(Exception):
    code: ErrorCode = ErrorCode.UNKNOWN

    def __init__(
        self,
        message: str | None = None,
        *,
        detail: Any = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.code.description
        self.detail = detail
        self.status = status or self.code.status
        self.headers = headers or {}
        super().__init__(self.message)


class BlobUnknown(DockyardError):
    code = ErrorCode.BLOB_UNKNOWN


class BlobUploadInvalid(DockyardError):
    code = ErrorCode.BLOB_UPLOAD_INVALID


class BlobUploadUnknown(DockyardError):
    code = ErrorCode.BLOB_UPLOAD_UNKNOWN


class DigestInvalid(DockyardError):
    code = ErrorCode.DIGEST_INVALID


class ManifestBlobUnknown(DockyardError):
    code = ErrorCode.MANIFEST_BLOB_UNKNOWN


class ManifestInvalid(DockyardError):
    code = ErrorCode.MANIFEST_INVALID


class ManifestUnknown(DockyardError):
    code = ErrorCode.MANIFEST_UNKNOWN


class NameInvalid(DockyardError):
    code = ErrorCode.NAME_INVALID


class NameUnknown(DockyardError):
    code = ErrorCode.NAME_UNKNOWN


class SizeInvalid(DockyardError):
    code = ErrorCode.SIZE_INVALID


class TagInvalid(DockyardError):
    code = ErrorCode.TAG_INVALID


class Unauthorized(DockyardError):
    code = ErrorCode.UNAUTHORIZED


class Denied(DockyardError):
    code = ErrorCode.DENIED


class Disallowed(DockyardError):
    """A lock (changeable attribute) or tag immutability forbids the operation."""

    code = ErrorCode.DISALLOWED


class Unsupported(DockyardError):
    code = ErrorCode.UNSUPPORTED


class TooManyRequests(DockyardError):
    code = ErrorCode.TOOMANYREQUESTS


class RangeInvalid(DockyardError):
    code = ErrorCode.RANGE_INVALID


class PaginationNumberInvalid(DockyardError):
    code = ErrorCode.PAGINATION_NUMBER_INVALID


class StorageError(DockyardError):
    """A storage backend failed; raised once, at the storage boundary."""

    code = ErrorCode.UNKNOWN


class StorageFull(StorageError):
    """No space (or quota) left where bytes or metadata are written; frees itself when space
    returns."""

    code = ErrorCode.STORAGE_FULL


# How long clients are asked to wait before retrying a write to storage that refused it.
STORAGE_RETRY_AFTER_SECONDS = 30


class StorageUnavailable(StorageError):
    """Storage refuses writes (read-only file system, permissions)."""

    code = ErrorCode.STORAGE_UNAVAILABLE

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"Retry-After": str(STORAGE_RETRY_AFTER_SECONDS)})
        super().__init__(message, **kwargs)
