"""Token signing keys: rotation keeps old tokens valid, foreign and tampered tokens fail."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from dockyard.access import signing
from dockyard.access.signing import TokenSigner
from dockyard.errors import Unauthorized
from dockyard.storage.db.database import Database
from dockyard.storage.db.migrate import upgrade


@pytest.fixture
def database(tmp_path: Path) -> Database:
    url = f"sqlite:///{tmp_path / 'dockyard.db'}"
    upgrade(url)
    return Database(url)


def test_rotation_keeps_earlier_tokens_valid_and_signs_with_the_new_key(database: Database) -> None:
    signer = TokenSigner(database)
    old_token, _ = signer.issue_access("user:a", "svc", [])
    old_kid = jwt.get_unverified_header(old_token)["kid"]
    new_kid = signer.rotate()
    assert new_kid != old_kid
    other_process = TokenSigner(database)  # learns the keys from the database
    assert other_process.verify_access(old_token, "svc")["sub"] == "user:a"
    new_token, _ = other_process.issue_access("user:b", "svc", [])
    assert jwt.get_unverified_header(new_token)["kid"] == new_kid
    assert signer.verify_access(new_token, "svc")["sub"] == "user:b"


def test_retired_key_stops_verifying_after_the_longest_token_lifetime(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    signer = TokenSigner(database)
    token = signer.issue_refresh("user:a", "svc")
    signer.rotate()
    real_time = time.time
    monkeypatch.setattr(
        signing.time, "time", lambda: real_time() + signing.MAX_REFRESH_TOKEN_SECONDS + 60
    )
    with pytest.raises(Unauthorized):
        signer.verify_refresh(token, "svc")


def test_refresh_tokens_live_as_asked_up_to_the_longest_lifetime(database: Database) -> None:
    signer = TokenSigner(database)
    now = time.time()
    default = signer.verify_refresh(signer.issue_refresh("user:a", "svc"), "svc")
    assert abs(default.expires_at - (now + signing.REFRESH_TOKEN_SECONDS)) < 5
    run = signer.verify_refresh(signer.issue_refresh("user:a", "svc", seconds=4000), "svc")
    assert abs(run.expires_at - (now + 4000)) < 5
    capped = signer.verify_refresh(signer.issue_refresh("user:a", "svc", seconds=10**6), "svc")
    assert abs(capped.expires_at - (now + signing.MAX_REFRESH_TOKEN_SECONDS)) < 5


def test_foreign_tampered_and_misused_tokens_fail(database: Database) -> None:
    signer = TokenSigner(database)
    token, _ = signer.issue_access(
        "user:a", "svc", [{"type": "repository", "name": "r", "actions": ["pull"]}]
    )
    kid = jwt.get_unverified_header(token)["kid"]
    foreign = jwt.encode(
        jwt.decode(token, options={"verify_signature": False}),
        ec.generate_private_key(ec.SECP256R1()),
        algorithm="ES256",
        headers={"kid": kid},
    )
    unsigned = jwt.encode(
        jwt.decode(token, options={"verify_signature": False}),
        None,
        algorithm="none",
        headers={"kid": kid},
    )
    header, payload, signature = token.split(".")
    tampered = ".".join(
        [header, payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1], signature]
    )
    for bad in (foreign, unsigned, tampered, "x" * 10000, "not.a.jwt"):
        with pytest.raises(Unauthorized):
            signer.verify_access(bad, "svc")
    with pytest.raises(Unauthorized):
        signer.verify_access(token, "another-service")
    with pytest.raises(Unauthorized):
        signer.verify_refresh(token, "svc")  # an access token is no refresh token
    with pytest.raises(Unauthorized):
        signer.verify_access(signer.issue_refresh("user:a", "svc"), "svc")


def test_a_verified_access_token_is_remembered_only_until_it_expires(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    signer = TokenSigner(database)
    token, lifetime = signer.issue_access("user:a", "svc", [])
    assert signer.verify_access(token, "svc")["sub"] == "user:a"
    assert signer.verify_access(token, "svc")["sub"] == "user:a"  # from memory
    with pytest.raises(Unauthorized):
        signer.verify_access(token, "other-svc")
    middle = len(token) - 20  # inside the signature
    swapped = "B" if token[middle] == "A" else "A"
    with pytest.raises(Unauthorized):
        signer.verify_access(token[:middle] + swapped + token[middle + 1 :], "svc")
    # Past its `exp` the remembered answer is not used: the token is checked again (which
    # PyJWT, on its own clock, refuses; here the check is made to refuse).
    real_time = time.time
    monkeypatch.setattr(signing.time, "time", lambda: real_time() + lifetime + 60)

    def expired(_token: str, _service: str) -> dict[str, object]:
        raise Unauthorized("expired")

    monkeypatch.setattr(signer, "_decode", expired)
    with pytest.raises(Unauthorized):
        signer.verify_access(token, "svc")
