"""`/users`: users and service principals."""

from __future__ import annotations

from fastapi import APIRouter, Response

from dockyard.api.management.deps import Reader, UsersDep, Writer
from dockyard.api.management.models import (
    User,
    UserCreate,
    UserCreated,
    UserPassword,
    user_model,
)

router = APIRouter(tags=["users"])


@router.get("/users")
def list_users(_: Reader, users: UsersDep) -> list[User]:
    """Users and service principals."""
    return [user_model(user) for user in users.all()]


@router.post("/users", status_code=201)
def create_user(body: UserCreate, principal: Writer, users: UsersDep) -> UserCreated:
    """Create a user or service principal; the answer holds its only copy of the password."""
    password = users.create(body.name, body.kind, principal.id)
    return UserCreated(name=body.name, kind=body.kind, password=password)


@router.get("/users/{name}")
def get_user(name: str, _: Reader, users: UsersDep) -> User:
    return user_model(users.get(name))


@router.delete("/users/{name}", status_code=204)
def delete_user(name: str, principal: Writer, users: UsersDep) -> Response:
    """Delete a user with its password and role assignments."""
    users.delete(name, principal.id)
    return Response(status_code=204)


@router.post("/users/{name}/password")
def reset_user_password(name: str, principal: Writer, users: UsersDep) -> UserPassword:
    """Replace a user's password with a new generated one."""
    return UserPassword(name=name, password=users.reset_password(name, principal.id))


@router.post("/users/{name}/enable")
def enable_user(name: str, principal: Writer, users: UsersDep) -> User:
    users.set_enabled(name, True, principal.id)
    return user_model(users.get(name))


@router.post("/users/{name}/disable")
def disable_user(name: str, principal: Writer, users: UsersDep) -> User:
    """A disabled user's passwords and refresh tokens stop working."""
    users.set_enabled(name, False, principal.id)
    return user_model(users.get(name))
