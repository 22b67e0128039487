"""One place that turns errors into the OCI error envelope."""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from dockyard.errors import DockyardError, StorageError
from dockyard.spec.codes import ErrorCode

log = logging.getLogger("dockyard.api")

_STATUS_CODES = {
    404: ErrorCode.NAME_UNKNOWN,
    405: ErrorCode.UNSUPPORTED,
    413: ErrorCode.SIZE_INVALID,
}


def envelope(code: str, message: str, detail: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if detail is not None:
        error["detail"] = detail
    return {"errors": [error]}


def error_response(
    code: ErrorCode,
    message: str,
    status: int,
    detail: Any = None,
    headers: dict[str, str] | None = None,
    head: bool = False,
) -> Response:
    if head:
        # A HEAD answer has no body; say how long the GET's would be.
        return Response(status_code=status, headers=headers)
    return Response(
        _render(envelope(code.code, message, detail)),
        status_code=status,
        headers=headers,
        media_type="application/json",
    )


def _render(body: dict[str, Any]) -> bytes:
    """ASCII JSON: a message or detail that echoes hostile input (a lone surrogate, which UTF-8
    cannot encode) still renders; what cannot render at all is dropped, not a second error."""
    try:
        return json.dumps(body, ensure_ascii=True, separators=(",", ":")).encode("ascii")
    except (TypeError, ValueError, RecursionError):  # a detail that is not plain data
        plain = [{"code": e["code"], "message": e["message"]} for e in body["errors"]]
        return json.dumps({"errors": plain}, separators=(",", ":")).encode("ascii")


async def handle_dockyard_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DockyardError)
    if isinstance(exc, StorageError):
        log.error("%s %s: %s", request.method, request.url.path, exc.message)
    headers = dict(exc.headers)
    if exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    return error_response(
        exc.code, exc.message, exc.status, exc.detail, headers, request.method == "HEAD"
    )


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _STATUS_CODES.get(exc.status_code, ErrorCode.UNSUPPORTED)
    message = "method not allowed" if exc.status_code == 405 else str(exc.detail)
    if exc.status_code == 404:
        message = "no such endpoint"
    return error_response(
        code, message, exc.status_code, None, dict(exc.headers or {}), request.method == "HEAD"
    )


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(
        ErrorCode.UNKNOWN, "internal server error", 500, None, None, request.method == "HEAD"
    )
