"""The CLI's typed client (cli/api_client.py) against a real server, and the wire models it
shares with the server held to the server's OpenAPI document, so the two cannot drift."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import uuid
from collections.abc import Iterator
from datetime import datetime
from enum import StrEnum
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, Field

import dockyard.wire
from dockyard.cli.api_client import DockyardApi, Listing
from dockyard.cli.client import CliError, ManagementClient
from dockyard.wire.access import (
    RoleAssignment,
    ScopeMap,
    Token,
    TokenCreated,
    TokenCredentials,
    User,
    UserCreated,
)
from dockyard.wire.base import WireModel
from dockyard.wire.network_rules import IpRule
from dockyard.wire.registry import Sku
from dockyard.wire.webhooks import Action, Webhook, WebhookStatus, WebhookWithSecret
from tests.conftest import ServerProcess

# What is checked is the client and the document, not the database.
pytestmark = pytest.mark.db_independent


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


@pytest.fixture
def api(server: ServerProcess) -> Iterator[DockyardApi]:
    http = ManagementClient(server.url, None)
    try:
        yield DockyardApi(http)
    finally:
        http.close()


def test_user_round_trip(api: DockyardApi) -> None:
    name = unique("typed")
    created = api.create_user(name, "service-principal")
    assert isinstance(created, UserCreated)
    assert (created.name, created.kind) == (name, "service-principal")
    assert len(created.password) >= 16

    users = api.list_users()
    assert isinstance(users, Listing)
    assert users.model is User
    mine = [user for user in users if user.name == name]
    assert len(mine) == 1
    assert mine[0].enabled
    assert isinstance(mine[0].created, datetime)

    assert api.reset_user_password(name).password != created.password
    assert api.set_user_enabled(name, False).enabled is False
    assert api.set_user_enabled(name, True).enabled is True

    api.assign_role(name, "AcrPull", "team/*")
    assert api.list_roles(name) == [RoleAssignment(principal=name, role="AcrPull", scope="team/*")]
    api.remove_role(name, "AcrPull", "team/*")
    assert api.list_roles(name) == []

    api.delete_user(name)
    assert name not in {user.name for user in api.list_users()}
    with pytest.raises(CliError, match="404"):
        api.delete_user(name)


def test_token_round_trip(api: DockyardApi) -> None:
    scope_map = unique("maps")
    made = api.create_scope_map(scope_map, ["repositories/team/*/content/read"], "typed")
    assert made == ScopeMap(
        name=scope_map,
        description="typed",
        actions=["repositories/team/*/content/read"],
        system=False,
    )
    changed = api.update_scope_map(scope_map, ["repositories/x/content/write"], [], None)
    assert changed.actions == [
        "repositories/team/*/content/read",
        "repositories/x/content/write",
    ]
    assert changed.description == "typed"

    name = unique("token")
    created = api.create_token(name, scope_map, "enabled")
    assert isinstance(created, TokenCreated)
    assert (created.scope_map, created.status) == (scope_map, "enabled")
    assert [secret.name for secret in created.passwords] == ["password1", "password2"]

    token = api.get_token(name)
    assert isinstance(token, Token)
    assert token.scope_map == scope_map
    assert [password.name for password in token.passwords] == ["password1", "password2"]
    assert name in {listed.name for listed in api.list_tokens()}

    renewed = api.generate_token_password(name, 2, 7)
    assert isinstance(renewed, TokenCredentials)
    [secret] = renewed.passwords
    assert secret.name == "password2"
    assert secret.expiry is not None
    assert secret.value not in {old.value for old in created.passwords}

    assert api.set_token_enabled(name, False).status == "disabled"
    api.delete_token(name)
    assert name not in {listed.name for listed in api.list_tokens()}
    api.delete_scope_map(scope_map)
    with pytest.raises(CliError, match="404"):
        api.get_scope_map(scope_map)


def test_webhook_round_trip(api: DockyardApi) -> None:
    name = unique("typedhook")
    uri = "https://8.8.8.8/dockyard"  # a public address: no name to resolve offline
    created = api.create_webhook(
        name, uri, ["push", "delete"], "team/*", {"X-Team": "b"}, "enabled"
    )
    assert isinstance(created, WebhookWithSecret)
    assert created.actions == [Action.PUSH, Action.DELETE]
    assert (created.scope, created.headers) == ("team/*", {"X-Team": "b"})
    assert len(created.secret) >= 32

    listed = api.list_webhooks()
    assert listed.model is Webhook
    assert [hook.name for hook in listed if hook.name == name] == [name]

    disabled = api.update_webhook(name, status="disabled", scope="")
    assert type(disabled) is Webhook
    assert (disabled.status, disabled.scope) == (WebhookStatus.DISABLED, "")
    renewed = api.update_webhook(name, regenerate_secret=True)
    assert isinstance(renewed, WebhookWithSecret)
    assert renewed.secret != created.secret
    assert api.get_webhook(name).status == WebhookStatus.DISABLED
    assert api.list_webhook_deliveries(name, 10) == []

    api.delete_webhook(name)
    with pytest.raises(CliError, match="404"):
        api.get_webhook(name)


def test_registry_network_rules_and_usage(api: DockyardApi) -> None:
    shown = api.get_registry()
    assert shown.sku == Sku.STANDARD  # the default tier
    assert shown.limits.ip_rules == 0  # network rules are Premium's
    try:
        premium = api.update_registry(sku="Premium", retention_enabled=True, retention_days=3)
        assert premium.sku == Sku.PREMIUM
        assert (premium.retention_policy.enabled, premium.retention_policy.days) == (True, 3)
        # A policy sent with one part changes that part only.
        assert api.update_registry(retention_days=5).retention_policy.enabled is True

        rules = api.add_network_rule("10.9.0.0/16")
        assert rules.ip_rules == [IpRule(ip_address_or_range="10.9.0.0/16")]
        assert api.get_network_rules() == rules
        assert api.remove_network_rule("10.9.0.0/16").ip_rules == []
        with pytest.raises(CliError, match="404"):
            api.remove_network_rule("10.9.0.0/16")

        usage = api.get_usage("nosuch")
        assert (usage.sku, usage.repositories) == ("Premium", [])
        assert "Webhooks" in {counted.name for counted in usage.value}
    finally:
        api.update_registry(sku="Standard", retention_enabled=False)


def test_an_answer_the_models_cannot_read_is_an_error_not_a_traceback(
    api: DockyardApi,
) -> None:
    """A server of another version: the client names the model and suggests versions."""
    with pytest.raises(CliError, match="cannot read") as failure:
        api._read(User, {"name": "x", "kind": "robot", "enabled": True, "created": "now"})
    assert failure.value.hint is not None
    assert "version" in failure.value.hint


# --- drift between the wire models and the server's document ---------------------------------


def wire_models() -> list[type[WireModel]]:
    """Every model defined in a module of `dockyard.wire`, but the private bases whose fields
    their subclasses inline (`_TaskFields`: no schema of their own)."""
    models: list[type[WireModel]] = []
    for info in pkgutil.iter_modules(dockyard.wire.__path__, "dockyard.wire."):
        module = importlib.import_module(info.name)
        models += [
            value
            for name, value in vars(module).items()
            if inspect.isclass(value)
            and issubclass(value, WireModel)
            and value is not WireModel
            and value.__module__ == module.__name__
            and not name.startswith("_")
        ]
    return models


def wire_enums() -> list[type[StrEnum]]:
    """Every enumeration defined in a module of `dockyard.wire`."""
    enums: list[type[StrEnum]] = []
    for info in pkgutil.iter_modules(dockyard.wire.__path__, "dockyard.wire."):
        module = importlib.import_module(info.name)
        enums += [
            value
            for value in vars(module).values()
            if inspect.isclass(value)
            and issubclass(value, StrEnum)
            and value.__module__ == module.__name__
        ]
    return enums


def json_names(model: type[BaseModel]) -> set[str]:
    return {field.alias or name for name, field in model.model_fields.items()}


def drift(model: type[BaseModel], schemas: dict[str, Any]) -> str | None:
    """How `model` differs from the document's schema of that name (pydantic writes one
    schema, or an `-Input` and an `-Output` one when they differ), or None."""
    found = [
        schemas[name]
        for name in (model.__name__, f"{model.__name__}-Input", f"{model.__name__}-Output")
        if name in schemas
    ]
    if not found:
        return f"{model.__name__}: no schema in the server's document"
    for schema in found:
        documented = set(schema.get("properties", {}))
        if documented != json_names(model):
            return (
                f"{model.__name__}: the CLI has {sorted(json_names(model) - documented)} the "
                f"server does not, the server {sorted(documented - json_names(model))}"
            )
    return None


def test_wire_models_match_the_servers_openapi(server: ServerProcess) -> None:
    schemas = httpx.get(f"{server.url}/api/v1/openapi.json", timeout=60).json()["components"][
        "schemas"
    ]
    models = wire_models()
    assert {m.__name__ for m in models} >= {
        "User",
        "Token",
        "TokenCreated",
        "ScopeMap",
        "TaskCreate",
        "TaskUpdate",
        "TaskModel",
        "TimerModel",
        "RunCreate",
        "RunModel",
        "SourceModel",
        "WebhookSecretModel",
    }
    assert [problem for model in models if (problem := drift(model, schemas))] == []
    # The enumerations the wire repeats from the server's wings: the same values.
    enums = wire_enums()
    assert {e.__name__ for e in enums} >= {
        "Action",
        "WebhookStatus",
        "DeliveryStatus",
        "Sku",
        "RunKind",
        "RunStatus",
        "Trigger",
        "TaskStatus",
        "BaseImageTriggerType",
    }
    assert [e.__name__ for e in enums if schemas.get(e.__name__, {}).get("enum") != [*e]] == []

    # The check sees a field the server does not know, and a model it does not serve.
    class Token(WireModel):  # the same name as the served model, one field renamed
        name: str
        scope_map: str = Field(alias="scopeMapName")

    assert "scopeMapName" in (drift(Token, schemas) or "")

    class Unserved(WireModel):
        name: str

    assert drift(Unserved, schemas) == "Unserved: no schema in the server's document"
