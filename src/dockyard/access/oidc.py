"""Identity tokens from an external OpenID Connect issuer, verified against its JWKS, as the
basis of `/oauth2/exchange` (ACR exchanges Entra ID tokens the same way)."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Sequence
from typing import Any

import jwt

from dockyard.errors import Unauthorized

ALLOWED_ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"]
JWKS_CACHE_SECONDS = 300.0
FETCH_TIMEOUT_SECONDS = 10.0


class OidcVerifier:
    def __init__(
        self,
        issuer: str,
        audiences: Sequence[str],
        jwks_url: str = "",
        username_claim: str = "sub",
    ):
        # Compared with `iss` exactly as configured: Entra ID's v1 issuers end in "/".
        self.issuer = issuer
        # Entra ID writes one resource both with and without a trailing "/" (ARM's
        # `https://management.azure.com/`), so audiences match up to that slash.
        self.audiences = frozenset(a.rstrip("/") for a in audiences if a)
        self.username_claim = username_claim
        self._jwks_url = jwks_url
        self._keys: dict[str, Any] = {}
        self._fetched = 0.0
        self._lock = threading.Lock()

    def _fetch_json(self, url: str) -> dict[str, Any]:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_SECONDS) as response:
            data: dict[str, Any] = json.loads(response.read(1024 * 1024))
        return data

    def _jwks_location(self) -> str:
        if not self._jwks_url:
            base = self.issuer.rstrip("/")
            discovery = self._fetch_json(f"{base}/.well-known/openid-configuration")
            self._jwks_url = str(discovery["jwks_uri"])
        return self._jwks_url

    def _key(self, kid: str) -> Any:
        with self._lock:
            stale = time.monotonic() - self._fetched > JWKS_CACHE_SECONDS
            if kid not in self._keys or stale:
                try:
                    document = self._fetch_json(self._jwks_location())
                except (OSError, ValueError, KeyError) as exc:
                    raise Unauthorized(f"cannot read the issuer's keys: {exc}") from exc
                self._keys = {
                    str(item.get("kid")): jwt.PyJWK(item).key
                    for item in document.get("keys", [])
                    if isinstance(item, dict)
                }
                self._fetched = time.monotonic()
            key = self._keys.get(kid)
        if key is None:
            raise Unauthorized("identity token signed by a key the issuer does not publish")
        return key

    def username(self, token: str) -> str:
        """The Dockyard user an identity token stands for (its `username_claim`)."""
        if len(token) > 16384:
            raise Unauthorized("identity token too long")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"malformed identity token: {exc}") from exc
        if header.get("alg") not in ALLOWED_ALGORITHMS:
            raise Unauthorized("identity token algorithm not accepted")
        key = self._key(str(header.get("kid")))
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=ALLOWED_ALGORITHMS,
                issuer=self.issuer,
                options={"require": ["exp", "iss", "aud"], "verify_aud": False},
            )
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"invalid identity token: {exc}") from exc
        if not self._audience_accepted(claims.get("aud")):
            raise Unauthorized("invalid identity token: audience not accepted")
        name = claims.get(self.username_claim)
        if not isinstance(name, str) or not name:
            raise Unauthorized(f"identity token has no {self.username_claim!r} claim")
        return name

    def _audience_accepted(self, audience: object) -> bool:
        named = [audience] if isinstance(audience, str) else audience
        if not isinstance(named, list):
            return False
        return any(isinstance(a, str) and a.rstrip("/") in self.audiences for a in named)
