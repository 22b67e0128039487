"""`/users`: users and service principals."""

from __future__ import annotations

from fastapi import APIRouter, Response

from dockyard.access.service import AccessService
from dockyard.api.management.deps import Access, Reader, Writer
from dockyard.api.management.models import (
    User,
    UserCreate,
    UserCreated,
    UserPassword,
    named,
    user_model,
)

router = APIRouter(tags=["users"])


def _user(access: AccessService, name: str) -> User:
    return user_model(named(access.list_users(), "user", name))


@router.get("/users")
def list_users(_: Reader, access: Access) -> list[User]:
    """Users and service principals."""
    return [user_model(row) for row in access.list_users()]


@router.post("/users", status_code=201)
def create_user(body: UserCreate, principal: Writer, access: Access) -> UserCreated:
    """Create a user or service principal; the answer holds its only copy of the password."""
    password = access.create_user(body.name, body.kind, principal.id)
    return UserCreated(name=body.name, kind=body.kind, password=password)


@router.get("/users/{name}")
def get_user(name: str, _: Reader, access: Access) -> User:
    return _user(access, name)


@router.delete("/users/{name}", status_code=204)
def delete_user(name: str, principal: Writer, access: Access) -> Response:
    """Delete a user with its password and role assignments."""
    access.delete_user(name, principal.id)
    return Response(status_code=204)


@router.post("/users/{name}/password")
def reset_user_password(name: str, principal: Writer, access: Access) -> UserPassword:
    """Replace a user's password with a new generated one."""
    return UserPassword(name=name, password=access.reset_user_password(name, principal.id))


@router.post("/users/{name}/enable")
def enable_user(name: str, principal: Writer, access: Access) -> User:
    access.set_user_enabled(name, True, principal.id)
    return _user(access, name)


@router.post("/users/{name}/disable")
def disable_user(name: str, principal: Writer, access: Access) -> User:
    """A disabled user's passwords and refresh tokens stop working."""
    access.set_user_enabled(name, False, principal.id)
    return _user(access, name)
