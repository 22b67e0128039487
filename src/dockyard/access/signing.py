"""Signed tokens (Docker token authentication): short-lived access tokens that carry the
granted scopes, and refresh tokens that stand for an identity.

Keys are ES256 (P-256) key pairs kept in the database, so every server process signs and
verifies with the same set; `rotate` adds a new signing key while retired keys keep
verifying the tokens they signed until those expire.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select, update

from dockyard.errors import Unauthorized
from dockyard.storage.db.database import Database, insert_ignore
from dockyard.storage.db.schema import signing_keys

ALGORITHM = "ES256"
ISSUER = "dockyard"
ACCESS_TOKEN_SECONDS = 300
REFRESH_TOKEN_SECONDS = 3 * 3600
# The longest a refresh token may live: a task run's push credential lasts its timeout (at
# most 8 hours) and a margin. Retired keys verify that long.
MAX_REFRESH_TOKEN_SECONDS = 9 * 3600
MAX_TOKEN_BYTES = 8192
# Access tokens whose signature this process checked, until they expire: docker sends one
# token with every request of a pull or push, and an ES256 check costs more than the
# database read of the holder's status that every use of a token does.
VERIFIED_ACCESS_CAPACITY = 4096


@dataclass(frozen=True, slots=True)
class _Key:
    kid: str
    private: ec.EllipticCurvePrivateKey
    retired_at: float | None


@dataclass(frozen=True, slots=True)
class RefreshGrant:
    subject: str  # principal, e.g. "user:alice", "admin", "token:ci"
    expires_at: float
    generation: str


class TokenSigner:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._keys: dict[str, _Key] = {}
        self._lock = threading.Lock()
        self._verified: dict[tuple[str, str], dict[str, Any]] = {}

    # --- keys ------------------------------------------------------------------------------

    def _load(self) -> None:
        with self._db.read() as conn:
            rows = conn.execute(
                select(signing_keys.c.kid, signing_keys.c.private_pem, signing_keys.c.retired_at)
            ).all()
        keys = {}
        for kid, pem, retired_at in rows:
            private = serialization.load_pem_private_key(pem.encode(), password=None)
            assert isinstance(private, ec.EllipticCurvePrivateKey)
            keys[kid] = _Key(kid, private, retired_at)
        with self._lock:
            self._keys = keys

    def _active(self) -> _Key:
        key = self._newest_active()
        if key is None:
            self._load()
            key = self._newest_active()
        if key is None:
            self.rotate()
            key = self._newest_active()
        assert key is not None
        return key

    def _newest_active(self) -> _Key | None:
        with self._lock:
            active = [k for k in self._keys.values() if k.retired_at is None]
        return max(active, key=lambda k: k.kid) if active else None

    def rotate(self) -> str:
        """Start signing with a new key; the previous ones only verify from now on."""
        private = ec.generate_private_key(ec.SECP256R1())
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        now = time.time()
        kid = f"{int(now * 1000):013d}-{uuid.uuid4().hex[:8]}"
        with self._db.write() as conn:
            conn.execute(
                update(signing_keys)
                .where(signing_keys.c.retired_at.is_(None))
                .values(retired_at=now)
            )
            insert_ignore(conn, signing_keys, {"kid": kid, "private_pem": pem, "created_at": now})
        self._load()
        return kid

    def _verification_key(self, kid: str) -> ec.EllipticCurvePublicKey:
        with self._lock:
            key = self._keys.get(kid)
        if key is None:
            self._load()  # another process may have rotated
            with self._lock:
                key = self._keys.get(kid)
        if key is None:
            raise Unauthorized("token signed by an unknown key")
        if key.retired_at is not None and key.retired_at + MAX_REFRESH_TOKEN_SECONDS < time.time():
            raise Unauthorized("token signed by an expired key")
        return key.private.public_key()

    # --- tokens ----------------------------------------------------------------------------

    def _sign(self, claims: dict[str, Any]) -> str:
        key = self._active()
        return jwt.encode(claims, key.private, algorithm=ALGORITHM, headers={"kid": key.kid})

    def issue_access(
        self, subject: str, service: str, access: list[dict[str, object]], generation: str = ""
    ) -> tuple[str, int]:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": subject,
            "aud": service,
            "iat": now,
            "nbf": now - 5,
            "exp": now + ACCESS_TOKEN_SECONDS,
            "jti": uuid.uuid4().hex,
            "access": access,
            "gen": generation,
        }
        return self._sign(claims), ACCESS_TOKEN_SECONDS

    def issue_refresh(
        self,
        subject: str,
        service: str,
        generation: str = "",
        seconds: int = REFRESH_TOKEN_SECONDS,
    ) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": subject,
            "aud": service,
            "iat": now,
            "nbf": now - 5,
            "exp": now + min(seconds, MAX_REFRESH_TOKEN_SECONDS),
            "jti": uuid.uuid4().hex,
            "grant": "refresh",
            "gen": generation,
        }
        return self._sign(claims)

    def _decode(self, token: str, service: str) -> dict[str, Any]:
        if len(token) > MAX_TOKEN_BYTES:
            raise Unauthorized("token too long")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"malformed token: {exc}") from exc
        if header.get("alg") != ALGORITHM or not isinstance(header.get("kid"), str):
            raise Unauthorized("token is not signed the way this registry signs")
        key = self._verification_key(header["kid"])
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=service,
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "aud", "iss"]},
            )
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"invalid token: {exc}") from exc
        return claims

    def verify_access(self, token: str, service: str) -> dict[str, Any]:
        """The claims of a valid access token. A token verified before (the same bytes, for
        the same service) is answered from memory until its `exp`; the holder's status and
        generation are the caller's to check on every use."""
        key = (token, service)
        with self._lock:
            known = self._verified.get(key)
        if known is not None and float(known["exp"]) > time.time():
            return known
        claims = self._decode(token, service)
        if claims.get("grant") == "refresh" or not isinstance(claims.get("access"), list):
            raise Unauthorized("not an access token")
        with self._lock:
            if len(self._verified) >= VERIFIED_ACCESS_CAPACITY:
                self._verified.clear()
            self._verified[key] = claims
        return claims

    def verify_refresh(self, token: str, service: str) -> RefreshGrant:
        claims = self._decode(token, service)
        if claims.get("grant") != "refresh":
            raise Unauthorized("not a refresh token")
        return RefreshGrant(str(claims["sub"]), float(claims["exp"]), str(claims.get("gen", "")))
