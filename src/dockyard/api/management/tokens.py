"""`/tokens`: repository-scoped tokens and their passwords."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Response

from dockyard.api.management.deps import Reader, TokensDep, Writer
from dockyard.api.management.models import (
    Token,
    TokenCreate,
    TokenCreated,
    TokenCredentialRequest,
    TokenCredentials,
    token_model,
    token_secret,
)

SECONDS_PER_DAY = 86400

router = APIRouter(tags=["tokens"])


@router.get("/tokens")
def list_tokens(_: Reader, tokens: TokensDep) -> list[Token]:
    """Repository-scoped tokens."""
    return [token_model(token) for token in tokens.all()]


@router.post("/tokens", status_code=201)
def create_token(body: TokenCreate, principal: Writer, tokens: TokensDep) -> TokenCreated:
    """Create a token bound to a scope map, with two passwords shown only here."""
    secrets = tokens.create(body.name, body.scope_map, body.status == "enabled", principal.id)
    return TokenCreated(
        name=body.name,
        scopeMap=body.scope_map,
        status=body.status,
        passwords=[token_secret(s) for s in secrets],
    )


@router.get("/tokens/{name}")
def get_token(name: str, _: Reader, tokens: TokensDep) -> Token:
    return token_model(tokens.get(name))


@router.delete("/tokens/{name}", status_code=204)
def delete_token(name: str, principal: Writer, tokens: TokensDep) -> Response:
    tokens.delete(name, principal.id)
    return Response(status_code=204)


@router.post("/tokens/{name}/credentials")
def generate_token_password(
    name: str, body: TokenCredentialRequest, principal: Writer, tokens: TokensDep
) -> TokenCredentials:
    """(Re)generate password 1 or 2 of a token, optionally expiring after some days."""
    expires_at = (
        None
        if body.expiry_days is None
        else datetime.now(UTC).timestamp() + body.expiry_days * SECONDS_PER_DAY
    )
    secret = tokens.generate_password(name, body.password, expires_at, principal.id)
    return TokenCredentials(name=name, passwords=[token_secret(secret)])


@router.post("/tokens/{name}/enable")
def enable_token(name: str, principal: Writer, tokens: TokensDep) -> Token:
    tokens.set_enabled(name, True, principal.id)
    return token_model(tokens.get(name))


@router.post("/tokens/{name}/disable")
def disable_token(name: str, principal: Writer, tokens: TokensDep) -> Token:
    """A disabled token's passwords and refresh tokens stop working."""
    tokens.set_enabled(name, False, principal.id)
    return token_model(tokens.get(name))
