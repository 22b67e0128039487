"""The token service: `/oauth2/token` (GET as in the Docker token spec, POST as in its OAuth2
flavour), answering short-lived access tokens for the scopes a client may have."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from anyio import to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dockyard.access.authenticator import Authenticator, basic_credentials
from dockyard.access.decisions import grant
from dockyard.access.principals import ANONYMOUS, Principal
from dockyard.errors import DockyardError, Unauthorized, Unsupported
from dockyard.spec.scopes import InvalidScope, parse_scopes

MAX_FORM_BYTES = 64 * 1024


def oauth_routes(auth: Authenticator) -> list[Route]:
    def _issue(
        principal: Principal, service: str, scope_values: list[str], client: str, offline: bool
    ) -> dict[str, object]:
        try:
            scopes = parse_scopes(scope_values)
        except InvalidScope as exc:
            raise Unsupported(str(exc)) from exc
        granted = grant(auth.access.permissions.rights(principal), scopes)
        generation = auth.access.status.generation(principal) or ""
        token, expires_in = auth.signer.issue_access(principal.id, service, granted, generation)
        auth.access.audit.record(
            "token.issue",
            principal.id,
            "ok",
            client=client,
            service=service,
            requested=[str(s) for s in scopes],
            granted=granted,
        )
        answer: dict[str, object] = {
            "token": token,
            "access_token": token,
            "expires_in": expires_in,
            "issued_at": datetime.fromtimestamp(time.time(), UTC).isoformat(),
        }
        if offline and principal.kind != "anonymous":
            answer["refresh_token"] = auth.signer.issue_refresh(principal.id, service, generation)
        return answer

    def _anonymous() -> Principal:
        if not auth.access.anonymous_pull.enabled:
            raise Unauthorized("credentials required: anonymous pull is off")
        return ANONYMOUS

    def _check_service(request: Request, requested: str | None) -> str:
        service = auth.service
        if requested and requested != service:
            raise Unauthorized(f"this token service serves {service!r}, not {requested!r}")
        return service

    async def get_token(request: Request) -> Response:
        params = request.query_params
        service = _check_service(request, params.get("service"))
        client = request.client.host if request.client else "-"
        authorization = request.headers.get("authorization", "")
        scheme, _, value = authorization.partition(" ")

        def work() -> dict[str, object]:
            if scheme.lower() == "basic" and value:
                username, password = basic_credentials(value)
                principal = auth.login(username, password, client, service)
            elif authorization:
                raise Unauthorized("the token service takes Basic credentials")
            else:
                principal = _anonymous()
            offline = params.get("offline_token") == "true"
            return _issue(principal, service, params.getlist("scope"), client, offline)

        return await _answer(work)

    async def _read_form(request: Request) -> tuple[dict[str, str], list[str], str, str]:
        """The form's fields, its `scope` values, the service and the client address."""
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            raise Unsupported("form too large")
        form = await request.form()
        fields = {k: str(v) for k, v in form.items()}
        service = _check_service(request, fields.get("service"))
        client = request.client.host if request.client else "-"
        return fields, [str(v) for v in form.getlist("scope")], service, client

    async def post_token(request: Request) -> Response:
        fields, scope_values, service, client = await _read_form(request)
        grant_type = fields.get("grant_type", "")

        def work() -> dict[str, object]:
            username, password = fields.get("username", ""), fields.get("password", "")
            if grant_type == "password" and not username and not password:
                # No credentials at all (the Azure SDK's anonymous client): the anonymous
                # token, as over GET, and no failed login.
                principal = _anonymous()
            elif grant_type == "password":
                principal = auth.login(username, password, client, service)
            elif grant_type == "refresh_token":
                refresh = auth.signer.verify_refresh(fields.get("refresh_token", ""), service)
                principal = auth.principal_of(refresh.subject, refresh.generation)
            else:
                raise Unsupported(f"unsupported grant_type {grant_type!r}")
            answer = _issue(principal, service, scope_values, client, grant_type == "password")
            if grant_type == "refresh_token":
                answer["refresh_token"] = fields.get("refresh_token", "")
            return answer

        return await _answer(work)

    async def _answer(work: Callable[[], dict[str, object]]) -> Response:
        try:
            answer = await to_thread.run_sync(work)
        except DockyardError as exc:
            auth.access.audit.record("token.issue", "unknown", "denied", reason=exc.message)
            raise
        return JSONResponse(answer, headers={"Cache-Control": "no-store"})

    async def exchange(request: Request) -> Response:
        """An identity token of the configured OIDC issuer -> a Dockyard refresh token."""
        fields, _, service, client = await _read_form(request)
        if auth.oidc is None:
            raise Unsupported("no identity provider is configured for token exchange")
        if fields.get("grant_type", "access_token") not in ("access_token", "id_token"):
            raise Unsupported("grant_type must be access_token")
        verifier = auth.oidc

        def work() -> dict[str, object]:
            name = verifier.username(fields.get("access_token") or fields.get("id_token") or "")
            principal = Principal("user", name)
            generation = auth.access.status.generation(principal)
            if generation is None:
                raise Unauthorized(f"no enabled user {name!r} for this identity")
            auth.access.audit.record("token.exchange", principal.id, "ok", client=client)
            return {"refresh_token": auth.signer.issue_refresh(principal.id, service, generation)}

        return await _answer(work)

    return [
        Route("/oauth2/exchange", exchange, methods=["POST"]),
        Route("/oauth2/token", get_token, methods=["GET"]),
        Route("/oauth2/token", post_token, methods=["POST"]),
    ]
