"""The error envelope every edge answers with (OCI's shape), as the CLI reads it too."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field, JsonValue

from dockyard.spec.codes import ErrorCode
from dockyard.wire.base import WireModel

# The kinds of failure every route may answer with (dockyard.errors raises them), then the
# OCI codes of the registry's own objects, which keep their distribution-spec names.
_KINDS = (
    ErrorCode.UNSUPPORTED,
    ErrorCode.UNAUTHORIZED,
    ErrorCode.DENIED,
    ErrorCode.NOT_FOUND,
    ErrorCode.DISALLOWED,
    ErrorCode.CONFLICT,
    ErrorCode.TOO_LARGE,
    ErrorCode.TOOMANYREQUESTS,
    ErrorCode.UPSTREAM_UNAVAILABLE,
    ErrorCode.STORAGE_UNAVAILABLE,
    ErrorCode.STORAGE_FULL,
)
_KIND_LINES = "\n".join(f"- `{kind.code}` ({kind.status}): {kind.description}" for kind in _KINDS)
ERROR_CODES: list[JsonValue] = [*sorted({code.code for code in ErrorCode})]


class ErrorDetail(WireModel):
    code: str = Field(
        description="What kind of failure; repositories, manifests and blobs keep the OCI "
        "codes (NAME_UNKNOWN, MANIFEST_UNKNOWN, BLOB_UNKNOWN, ...)",
        json_schema_extra={"enum": ERROR_CODES},
    )
    message: str
    detail: Any = None


class ErrorEnvelope(WireModel):
    errors: list[ErrorDetail]

    model_config = ConfigDict(
        json_schema_extra={
            "description": "The OCI error envelope, which every failure of /v2, /acr and /api/v1 "
            f"answers with. The kinds of failure:\n\n{_KIND_LINES}"
        }
    )
