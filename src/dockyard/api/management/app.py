"""The `/api/v1` FastAPI application: its OpenAPI document, its errors, and its routes."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from dockyard import __version__
from dockyard.access.authenticator import Authenticator
from dockyard.api.errors import handle_http_exception, handle_unexpected, respond_to
from dockyard.api.management import (
    admin,
    audit,
    cleanup,
    imports,
    network_rules,
    quarantine,
    registry,
    roles,
    runs,
    scope_maps,
    settings,
    task_hooks,
    tasks,
    tokens,
    usage,
    users,
    webhooks,
)
from dockyard.api.management.deps import Services, services
from dockyard.api.management.docs import add_docs_routes
from dockyard.api.management.models import ErrorEnvelope
from dockyard.errors import DockyardError, Invalid, Unauthorized
from dockyard.registry.core import Registry
from dockyard.tasks.service import TaskService
from dockyard.webhooks import Webhooks

DESCRIPTION = """Manage who may use the registry: users and their roles, scope maps and
repository-scoped tokens, the admin user, anonymous pull, the audit log and signing keys;
webhooks, with their deliveries; and runs: quick builds and commands done by the registry's
workers, with their build sources and logs; and saved tasks, with their timers.

Authenticate with Basic credentials (a user, the admin user or a token with its password, or
the username `00000000-0000-0000-0000-000000000000` with a refresh token from `/oauth2/token`)
or with a Bearer access token for the scope `registry:management:*` (`read`, `write`; a
registry token, such as docker's for a pull, does not open this API). Reading needs the
`manage_read` right (roles Owner, Contributor, Reader), changing needs `manage_write` (Owner,
Contributor). Errors use the OCI error envelope.
"""

BASIC_CHALLENGE = 'Basic realm="Dockyard management API"'

# In the order of the OpenAPI document.
_ROUTERS = (
    registry.router,
    network_rules.router,
    usage.router,
    imports.router,
    cleanup.router,
    settings.router,
    admin.router,
    users.router,
    roles.router,
    scope_maps.router,
    tokens.router,
    audit.audit_router,
    audit.keys_router,
    webhooks.router,
    quarantine.router,
    runs.router,
    tasks.router,
    task_hooks.router,
)


class _ManagementApp(FastAPI):
    def openapi(self) -> dict[str, Any]:
        """Document the credentials, and the error envelope as the body of every failure (in
        place of FastAPI's 422, which this API answers as a 400)."""
        schema = super().openapi()
        components = schema.setdefault("components", {})
        components["securitySchemes"] = {
            "basic": {
                "type": "http",
                "scheme": "basic",
                "description": "A user, the admin user or a token with its password; or "
                "username 00000000-0000-0000-0000-000000000000 with a refresh token",
            },
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": "An access token from /oauth2/token for scope "
                "registry:management:* (registry tokens are refused)",
            },
        }
        schema["security"] = [{"basic": []}, {"bearer": []}]
        envelope = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}}
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.get("responses", {})
                if responses.pop("422", None) is not None:
                    responses.setdefault("400", {"description": "Invalid request"})
                for status, response in responses.items():
                    if status.isdigit() and int(status) >= 400:
                        response["content"] = envelope
        schemas = components.get("schemas", {})
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        return schema


async def _on_dockyard_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DockyardError)
    challenge = {"WWW-Authenticate": BASIC_CHALLENGE} if isinstance(exc, Unauthorized) else None
    return respond_to(request, exc, challenge)


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    """FastAPI's validation failures are Invalid (400) like any other bad input."""
    assert isinstance(exc, RequestValidationError)
    detail = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", ""))} for e in exc.errors()]
    message = "; ".join(f"{'.'.join(str(p) for p in d['loc'])}: {d['msg']}" for d in detail)
    return respond_to(request, Invalid(f"invalid request: {message}", detail=detail))


def management_app(
    auth: Authenticator,
    webhook_service: Webhooks | None = None,
    enforce: bool = True,
    registry_core: Registry | None = None,
    tasks: TaskService | None = None,
) -> FastAPI:
    """The `/api/v1` application. With `enforce` off (a registry without auth) every caller
    may manage and is recorded as `anonymous`."""
    errors: dict[int | str, dict[str, Any]] = {
        status: {"model": ErrorEnvelope, "description": text}
        for status, text in (
            (400, "Invalid request"),
            (401, "Credentials missing or wrong"),
            (403, "The caller may not do this"),
            (429, "Too many failed logins"),
        )
    }
    api = _ManagementApp(
        title="Dockyard management API",
        version=__version__,
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        # The explorer is added below with assets of its own (no CDN); no ReDoc.
        docs_url=None,
        redoc_url=None,
        responses=errors,
        # No OpenTelemetry spans or logs of requests that carry credentials and secrets; the
        # registry's own access log and Prometheus metrics cover /api/v1.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    provided = Services(auth, enforce, webhook_service, registry_core, tasks)
    api.dependency_overrides[services] = lambda: provided
    api.add_exception_handler(DockyardError, _on_dockyard_error)
    api.add_exception_handler(RequestValidationError, _on_validation_error)
    api.add_exception_handler(HTTPException, handle_http_exception)
    api.add_exception_handler(Exception, handle_unexpected)
    for router in _ROUTERS:
        api.include_router(router)
    add_docs_routes(api)
    return api
