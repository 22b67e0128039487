"""The error envelope every edge answers with (OCI's shape), as the CLI reads it too."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from dockyard.wire.base import WireModel


class ErrorDetail(WireModel):
    code: str = Field(description="OCI error code, e.g. UNAUTHORIZED, DENIED, NAME_UNKNOWN")
    message: str
    detail: Any = None


class ErrorEnvelope(WireModel):
    errors: list[ErrorDetail]
