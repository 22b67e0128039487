"""Who is calling, from the value of an Authorization header: a Bearer access token from the
token service, Basic credentials (users, tokens, the admin user, or a refresh token with the
null-GUID username), or none (anonymous). Knows no HTTP framework: the gate at the edge
(api/auth.py) passes the header's value and renders the refusals."""

from __future__ import annotations

import base64
import binascii

from dockyard.access.caller import Caller
from dockyard.access.oidc import OidcVerifier
from dockyard.access.principals import ANONYMOUS, REFRESH_TOKEN_USERNAME, Principal
from dockyard.access.service import AccessService
from dockyard.access.signing import TokenSigner
from dockyard.errors import Unauthorized

MAX_AUTHORIZATION_BYTES = 8192


class Authenticator:
    def __init__(
        self,
        access: AccessService,
        signer: TokenSigner,
        service: str,
        oidc: OidcVerifier | None = None,
        public_url: str = "",
    ) -> None:
        self.access = access
        self.signer = signer
        self.service = service  # the audience of every token: configured, never a header
        self.oidc = oidc
        self.public_url = public_url

    def identify(self, authorization: str, client: str) -> Caller:
        """Blocking: may verify a password or a token signature."""
        if len(authorization) > MAX_AUTHORIZATION_BYTES:
            raise Unauthorized("Authorization header too long")
        service = self.service
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value:
            claims = self.signer.verify_access(value.strip(), service)
            principal = self.principal_of(str(claims["sub"]), str(claims.get("gen", "")))
            return Caller(principal, "bearer", access=list(claims["access"]))
        if scheme.lower() == "basic" and value:
            username, password = basic_credentials(value)
            principal = self.login(username, password, client, service)
            return Caller(principal, "basic", rights=self.access.permissions.rights(principal))
        if authorization:
            raise Unauthorized("unsupported Authorization scheme")
        return Caller(ANONYMOUS, "none", rights=self.access.permissions.rights(ANONYMOUS))

    def login(self, username: str, password: str, client: str, service: str) -> Principal:
        if username == REFRESH_TOKEN_USERNAME:
            grant = self.signer.verify_refresh(password, service)
            return self.principal_of(grant.subject, grant.generation)
        return self.access.logins.authenticate(username, password, client)

    def principal_of(self, subject: str, generation: str) -> Principal:
        """The identity a token was issued to, if it still exists as it was then."""
        try:
            principal = Principal.from_id(subject)
        except ValueError:
            raise Unauthorized("token names no known identity") from None
        current = self.access.status.generation(principal)
        if current is None:
            raise Unauthorized(f"{principal.id} is disabled or removed")
        if current != generation:
            raise Unauthorized(f"the token was issued to an earlier {principal.id}")
        return principal


def basic_credentials(value: str) -> tuple[str, str]:
    """The username and password of a Basic Authorization value (after `Basic `)."""
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized("malformed Basic credentials") from None
    username, sep, password = decoded.partition(":")
    if not sep:
        raise Unauthorized("malformed Basic credentials")
    return username, password
