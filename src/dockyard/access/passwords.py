"""Password hashing (argon2id), generation, and a short-lived cache of successful checks."""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import string
import threading
import time

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()
_ALPHABET = string.ascii_letters + string.digits
GENERATED_LENGTH = 40


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Constant-time check (argon2 compares its digests in constant time)."""
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def _dummy_hash() -> str:
    return _HASHER.hash(secrets.token_urlsafe(32))


def verify_dummy(password: str) -> None:
    """Spend what checking `password` against a stored hash costs, for a name that has no
    usable hash (unknown, disabled, expired): the refusal then takes as long as a wrong
    password's. The dummy hash has the parameters of every stored one."""
    verify_password(_dummy_hash(), password)


def generate_password() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(GENERATED_LENGTH))


class VerifiedCache:
    """Remembers (principal, password, stored hash) triples that verified, for a short time,
    so that clients sending Basic credentials on every request do not pay argon2 each time.
    Entries are keyed by a keyed hash, never by the password itself, and die with the stored
    hash: a changed or removed password stops matching at once."""

    def __init__(self, ttl_seconds: float = 60.0, capacity: int = 4096) -> None:
        self._ttl = ttl_seconds
        self._capacity = capacity
        self._key = secrets.token_bytes(32)
        self._entries: dict[bytes, float] = {}
        self._lock = threading.Lock()

    def _fingerprint(self, principal: str, password: str, password_hash: str) -> bytes:
        message = f"{principal}\0{password}\0{password_hash}".encode()
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def hit(self, principal: str, password: str, password_hash: str) -> bool:
        key = self._fingerprint(principal, password, password_hash)
        with self._lock:
            expires = self._entries.get(key)
        return expires is not None and expires > time.monotonic()

    def remember(self, principal: str, password: str, password_hash: str) -> None:
        key = self._fingerprint(principal, password, password_hash)
        with self._lock:
            if len(self._entries) >= self._capacity:
                self._entries.clear()
            self._entries[key] = time.monotonic() + self._ttl
