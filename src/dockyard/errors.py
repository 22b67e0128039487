"""One exception hierarchy: the kinds of failure (NotFound, Invalid, TooLarge, Conflict,
Unauthorized, Denied, Disallowed, TooMany, UpstreamUnavailable, StorageError) and, under them,
the OCI distribution errors. Each class fixes its error code and HTTP status; services raise
them and know no HTTP; the edges render every one as the OCI error envelope."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dockyard.spec.codes import ErrorCode


class DockyardError(Exception):
    """The class fixes the code and, through it, the HTTP status; what an answer says besides
    the envelope (Retry-After, an upload's Range) comes from typed fields the edge renders."""

    code: ErrorCode = ErrorCode.UNKNOWN

    def __init__(
        self, message: str | None = None, *, detail: Any = None, retry_after: int | None = None
    ) -> None:
        self.message = message or self.code.description
        self.detail = detail
        # Seconds after which the client may try again (rendered as Retry-After).
        self.retry_after = retry_after
        super().__init__(self.message)

    @property
    def status(self) -> int:
        return self.code.status


# The kinds of failure. Raise the most specific class that exists; these when none does.


class NotFound(DockyardError):
    code = ErrorCode.NOT_FOUND


class Invalid(DockyardError):
    """The request's input is wrong (OCI's UNSUPPORTED: "an invalid set of parameters")."""

    code = ErrorCode.UNSUPPORTED


class TooLarge(DockyardError):
    code = ErrorCode.TOO_LARGE


class Conflict(DockyardError):
    """The request is valid but the resource's state forbids it (exists, in use, finished)."""

    code = ErrorCode.CONFLICT


class UpstreamUnavailable(DockyardError):
    """Another server this request needed (a source registry) failed or could not be reached."""

    code = ErrorCode.UPSTREAM_UNAVAILABLE


@dataclass(frozen=True, slots=True)
class UploadProgress:
    """Where an upload session stands; the client is told it with every answer about the
    session, errors included, so that it can go on from there."""

    repository: str
    upload_id: str
    size: int


class UploadError(DockyardError):
    """An error about one upload session, with the session's progress when it is known."""

    def __init__(
        self,
        message: str | None = None,
        *,
        detail: Any = None,
        progress: UploadProgress | None = None,
    ) -> None:
        super().__init__(message, detail=detail)
        self.progress = progress


class BlobUnknown(NotFound):
    code = ErrorCode.BLOB_UNKNOWN


class BlobUploadInvalid(UploadError, Invalid):
    code = ErrorCode.BLOB_UPLOAD_INVALID


class BlobUploadUnknown(NotFound):
    code = ErrorCode.BLOB_UPLOAD_UNKNOWN


class DigestInvalid(Invalid):
    code = ErrorCode.DIGEST_INVALID


class ManifestBlobUnknown(Invalid):
    code = ErrorCode.MANIFEST_BLOB_UNKNOWN


class ManifestInvalid(Invalid):
    code = ErrorCode.MANIFEST_INVALID


class ManifestUnknown(NotFound):
    code = ErrorCode.MANIFEST_UNKNOWN


class NameInvalid(Invalid):
    code = ErrorCode.NAME_INVALID


class NameUnknown(NotFound):
    code = ErrorCode.NAME_UNKNOWN


class SizeInvalid(Invalid):
    code = ErrorCode.SIZE_INVALID


class TagInvalid(Invalid):
    code = ErrorCode.TAG_INVALID


class Unauthorized(DockyardError):
    code = ErrorCode.UNAUTHORIZED


class Denied(DockyardError):
    code = ErrorCode.DENIED


class Disallowed(DockyardError):
    """A lock (changeable attribute) or tag immutability forbids the operation."""

    code = ErrorCode.DISALLOWED


class Unsupported(Invalid):
    code = ErrorCode.UNSUPPORTED


class TooMany(DockyardError):
    code = ErrorCode.TOOMANYREQUESTS


TooManyRequests = TooMany


class RangeInvalid(UploadError, Invalid):
    code = ErrorCode.RANGE_INVALID


class PaginationNumberInvalid(Invalid):
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

    def __init__(
        self,
        message: str | None = None,
        *,
        detail: Any = None,
        retry_after: int | None = STORAGE_RETRY_AFTER_SECONDS,
    ) -> None:
        super().__init__(message, detail=detail, retry_after=retry_after)
