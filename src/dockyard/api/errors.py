"""The one renderer of errors: every edge (/v2, /acr, /oauth2, /api/v1, the gate and the
middlewares before the routes) answers a failure with the OCI error envelope made here, and
turns the typed fields of an error (retry_after, an upload's progress) into headers here."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from dockyard.errors import DockyardError, StorageError, UploadError, UploadProgress
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


def progress_headers(progress: UploadProgress) -> dict[str, str]:
    """Location, Range and Docker-Upload-UUID of an upload session, as every answer about it
    carries."""
    return {
        "Location": f"/v2/{progress.repository}/blobs/uploads/{progress.upload_id}",
        "Range": f"0-{max(progress.size - 1, 0)}",
        "Docker-Upload-UUID": progress.upload_id,
    }


def error_headers(error: DockyardError) -> dict[str, str]:
    """The headers an error's typed fields ask for."""
    headers: dict[str, str] = {}
    if isinstance(error, UploadError) and error.progress is not None:
        headers.update(progress_headers(error.progress))
    if error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
    return headers


def error_response(
    error: DockyardError, *, head: bool = False, headers: Mapping[str, str] | None = None
) -> Response:
    """The answer to `error`; `headers` are what only the edge knows (a challenge, the
    Content-Range of a blob)."""
    return render(
        error.code,
        error.message,
        error.status,
        detail=error.detail,
        headers={**error_headers(error), **(headers or {})},
        head=head,
    )


def render(
    code: ErrorCode,
    message: str,
    status: int,
    *,
    detail: Any = None,
    headers: Mapping[str, str] | None = None,
    head: bool = False,
) -> Response:
    """The envelope for a failure that is not a DockyardError (Starlette's 404/405, a crash)."""
    if head:
        # A HEAD answer has no body.
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


def respond_to(
    request: Request, error: DockyardError, headers: Mapping[str, str] | None = None
) -> Response:
    if isinstance(error, StorageError):
        log.error("%s %s: %s", request.method, request.url.path, error.message)
    return error_response(error, head=request.method == "HEAD", headers=headers)


async def handle_dockyard_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DockyardError)
    return respond_to(request, exc)


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _STATUS_CODES.get(exc.status_code, ErrorCode.UNSUPPORTED)
    message = "method not allowed" if exc.status_code == 405 else str(exc.detail)
    if exc.status_code == 404:
        message = "no such endpoint"
    return render(
        code,
        message,
        exc.status_code,
        headers=dict(exc.headers or {}),
        head=request.method == "HEAD",
    )


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return render(ErrorCode.UNKNOWN, "internal server error", 500, head=request.method == "HEAD")
