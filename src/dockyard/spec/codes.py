"""OCI distribution-spec 1.1 error codes and the HTTP status each one is answered with."""

from __future__ import annotations

from enum import Enum


class ErrorCode(Enum):
    BLOB_UNKNOWN = ("BLOB_UNKNOWN", 404, "blob unknown to registry")
    BLOB_UPLOAD_INVALID = ("BLOB_UPLOAD_INVALID", 400, "blob upload invalid")
    BLOB_UPLOAD_UNKNOWN = ("BLOB_UPLOAD_UNKNOWN", 404, "blob upload unknown to registry")
    DIGEST_INVALID = ("DIGEST_INVALID", 400, "provided digest did not match uploaded content")
    MANIFEST_BLOB_UNKNOWN = (
        "MANIFEST_BLOB_UNKNOWN",
        400,
        "manifest references a blob unknown to registry",
    )
    MANIFEST_INVALID = ("MANIFEST_INVALID", 400, "manifest invalid")
    MANIFEST_UNKNOWN = ("MANIFEST_UNKNOWN", 404, "manifest unknown to registry")
    NAME_INVALID = ("NAME_INVALID", 400, "invalid repository name")
    NAME_UNKNOWN = ("NAME_UNKNOWN", 404, "repository name not known to registry")
    SIZE_INVALID = ("SIZE_INVALID", 400, "provided length did not match content length")
    TAG_INVALID = ("TAG_INVALID", 400, "manifest tag did not match URI")
    UNAUTHORIZED = ("UNAUTHORIZED", 401, "authentication required")
    DENIED = ("DENIED", 403, "requested access to the resource is denied")
    UNSUPPORTED = ("UNSUPPORTED", 400, "the operation is unsupported")
    TOOMANYREQUESTS = ("TOOMANYREQUESTS", 429, "too many requests")
    RANGE_INVALID = ("RANGE_INVALID", 416, "requested range not satisfiable")
    PAGINATION_NUMBER_INVALID = (
        "PAGINATION_NUMBER_INVALID",
        400,
        "invalid number of results requested",
    )
    UNKNOWN = ("UNKNOWN", 500, "unknown error")
    # Not OCI codes (the distribution spec has none for these): storage faults, answered with
    # the HTTP statuses WebDAV and HTTP define for them.
    STORAGE_FULL = ("STORAGE_FULL", 507, "storage is full")
    STORAGE_UNAVAILABLE = ("STORAGE_UNAVAILABLE", 503, "storage is not writable")
    # Not OCI codes: the kinds of failure of Dockyard's own API (/api/v1) and of requests to
    # other registries, which the distribution spec does not name.
    NOT_FOUND = ("NOT_FOUND", 404, "the resource does not exist")
    CONFLICT = ("CONFLICT", 409, "the resource is in a state that conflicts with the request")
    TOO_LARGE = ("SIZE_INVALID", 413, "the request is too large")
    UPSTREAM_UNAVAILABLE = ("UPSTREAM_UNAVAILABLE", 502, "another server could not be used")
    # Not an OCI code: what ACR answers when a lock (changeable attribute) forbids the operation.
    DISALLOWED = (
        "REGISTRY_DISALLOWED_OPERATION",
        405,
        "the operation is disallowed on this registry, repository or image",
    )

    def __init__(self, code: str, status: int, description: str) -> None:
        self.code = code
        self.status = status
        self.description = description
