"""The management API under `/api/v1`: users, roles, scope maps, tokens, the admin user,
registry settings, the audit log and signing keys, in the spirit of ACR's control plane.

A FastAPI application mounted by the composition root; its OpenAPI document is served at
`/api/v1/openapi.json` (and an explorer at `/api/v1/docs`). Callers authenticate with Basic
credentials (users, the admin user, tokens, or a refresh token with the null-GUID username)
or a Bearer access token from the token service for scope `registry:management:*` (never
a registry token); reading needs `manage_read`, changing needs
`manage_write` (roles Owner and Contributor; Reader may read). Every change is recorded in
the audit log under the caller's principal id. Errors use the OCI error envelope.

app.py builds the application; models.py holds the bodies, deps.py who is calling, and one
module a resource its routes (settings, admin, users, roles, scope_maps, tokens, audit).
"""

from __future__ import annotations

from dockyard.api.management.app import management_app

__all__ = ["management_app"]
