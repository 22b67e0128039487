"""The management API as typed calls: each method sends a `dockyard.wire` body and answers the
`dockyard.wire` model the server answers with, so that no command spells a JSON field.

The wire models are imported inside the methods: pydantic and the models cost about 0.2 s of
CPU to import, which a command that never calls the API (`--help`, `login`) should not pay
(tests/unit/test_cli_startup.py holds the start to that).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import quote

from dockyard.cli.client import CliError, ManagementClient

if TYPE_CHECKING:
    from pydantic import BaseModel

    from dockyard.wire.access import (
        AdminCredentials,
        AdminStatus,
        AnonymousPull,
        RoleAssignment,
        RotatedKey,
        ScopeMap,
        Token,
        TokenCreated,
        TokenCredentials,
        User,
        UserCreated,
        UserPassword,
    )
    from dockyard.wire.network_rules import NetworkRuleSetModel
    from dockyard.wire.registry import RegistryView
    from dockyard.wire.runs import RunCreate, RunModel, SourceModel
    from dockyard.wire.tasks import (
        CredentialModel,
        TaskCreate,
        TaskModel,
        TaskUpdate,
        TimerModel,
        WebhookSecretModel,
    )
    from dockyard.wire.usage import Usage
    from dockyard.wire.webhooks import Delivery, Webhook, WebhookWithSecret

M = TypeVar("M", bound="BaseModel")


class Listing(list[M], Generic[M]):
    """The items of a listing, and the model they are (for a table's headings when empty)."""

    def __init__(self, model: type[M], items: list[M]) -> None:
        super().__init__(items)
        self.model = model


def _segment(name: str) -> str:
    """A name as one path segment."""
    return quote(name, safe="")


def _task_path(name: str, *rest: str) -> str:
    return "/".join(["/tasks", *(_segment(part) for part in (name, *rest))])


def _run_path(run_id: str, *rest: str) -> str:
    return "/".join(["/runs", *(_segment(part) for part in (run_id, *rest))])


def body(model: BaseModel) -> dict[str, Any]:
    """A request model as the JSON the server reads: its aliases, nothing left unset.

    Requests are built unvalidated (`model_construct`): the server judges what the user
    typed, and says what is wrong with it in its own words. So a field may hold a plain
    string where the model has an enumeration; that is not worth a warning."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=True, warnings=False)


def read(model: type[M], answer: Any) -> M:
    """An answer as `model`, or the error a user can act on (another server version)."""
    from pydantic import ValidationError

    try:
        return model.model_validate(answer)
    except ValidationError as exc:
        raise CliError(
            f"the registry answered a {model.__name__} this CLI cannot read: {exc}",
            "is the CLI the same version as the registry?",
        ) from None


class DockyardApi:
    """Typed calls to `/api/v1` over a `ManagementClient` (its credentials, errors and hints)."""

    def __init__(self, http: ManagementClient) -> None:
        self.http = http

    @property
    def registry(self) -> str:
        return self.http.registry

    def _read(self, model: type[M], answer: Any) -> M:
        return read(model, answer)

    def _one(self, model: type[M], method: str, path: str, request: BaseModel | None = None) -> M:
        return self._read(model, self.http.call(method, path, body(request) if request else None))

    def _many(self, model: type[M], path: str, params: dict[str, Any] | None = None) -> Listing[M]:
        answer = self.http.get(path, params)
        if not isinstance(answer, list):
            raise CliError(f"the registry answered {path} with something other than a list")
        return Listing(model, [self._read(model, item) for item in answer])

    # --- users -------------------------------------------------------------------------------

    def list_users(self) -> Listing[User]:
        from dockyard.wire.access import User

        return self._many(User, "/users")

    def create_user(self, name: str, kind: str) -> UserCreated:
        from dockyard.wire.access import UserCreate, UserCreated

        request = UserCreate.model_construct(name=name, kind=kind)
        return self._one(UserCreated, "POST", "/users", request)

    def delete_user(self, name: str) -> None:
        self.http.call("DELETE", f"/users/{_segment(name)}")

    def reset_user_password(self, name: str) -> UserPassword:
        from dockyard.wire.access import UserPassword

        return self._one(UserPassword, "POST", f"/users/{_segment(name)}/password")

    def set_user_enabled(self, name: str, enabled: bool) -> User:
        from dockyard.wire.access import User

        verb = "enable" if enabled else "disable"
        return self._one(User, "POST", f"/users/{_segment(name)}/{verb}")

    # --- role assignments --------------------------------------------------------------------

    def list_roles(self, principal: str | None = None) -> Listing[RoleAssignment]:
        from dockyard.wire.access import RoleAssignment

        return self._many(RoleAssignment, "/roles", {"principal": principal} if principal else None)

    def assign_role(self, principal: str, role: str, scope: str) -> RoleAssignment:
        from dockyard.wire.access import RoleAssignment

        request = RoleAssignment.model_construct(principal=principal, role=role, scope=scope)
        return self._one(RoleAssignment, "POST", "/roles", request)

    def remove_role(self, principal: str, role: str, scope: str) -> None:
        from dockyard.wire.access import RoleAssignment

        query = RoleAssignment.model_construct(principal=principal, role=role, scope=scope)
        self.http.call("DELETE", "/roles", params=body(query))

    # --- scope maps --------------------------------------------------------------------------

    def list_scope_maps(self) -> Listing[ScopeMap]:
        from dockyard.wire.access import ScopeMap

        return self._many(ScopeMap, "/scope-maps")

    def get_scope_map(self, name: str) -> ScopeMap:
        from dockyard.wire.access import ScopeMap

        return self._one(ScopeMap, "GET", f"/scope-maps/{_segment(name)}")

    def create_scope_map(self, name: str, actions: list[str], description: str) -> ScopeMap:
        from dockyard.wire.access import ScopeMap, ScopeMapCreate

        request = ScopeMapCreate.model_construct(
            name=name, actions=actions, description=description
        )
        return self._one(ScopeMap, "POST", "/scope-maps", request)

    def update_scope_map(
        self, name: str, add: list[str], remove: list[str], description: str | None
    ) -> ScopeMap:
        from dockyard.wire.access import ScopeMap, ScopeMapUpdate

        request = ScopeMapUpdate.model_construct(add=add, remove=remove, description=description)
        return self._one(ScopeMap, "PATCH", f"/scope-maps/{_segment(name)}", request)

    def delete_scope_map(self, name: str) -> None:
        self.http.call("DELETE", f"/scope-maps/{_segment(name)}")

    # --- tokens ------------------------------------------------------------------------------

    def list_tokens(self) -> Listing[Token]:
        from dockyard.wire.access import Token

        return self._many(Token, "/tokens")

    def get_token(self, name: str) -> Token:
        from dockyard.wire.access import Token

        return self._one(Token, "GET", f"/tokens/{_segment(name)}")

    def create_token(self, name: str, scope_map: str, status: str) -> TokenCreated:
        from dockyard.wire.access import TokenCreate, TokenCreated

        request = TokenCreate.model_construct(name=name, scope_map=scope_map, status=status)
        return self._one(TokenCreated, "POST", "/tokens", request)

    def delete_token(self, name: str) -> None:
        self.http.call("DELETE", f"/tokens/{_segment(name)}")

    def set_token_enabled(self, name: str, enabled: bool) -> Token:
        from dockyard.wire.access import Token

        verb = "enable" if enabled else "disable"
        return self._one(Token, "POST", f"/tokens/{_segment(name)}/{verb}")

    def generate_token_password(
        self, name: str, slot: int, expiry_days: int | None
    ) -> TokenCredentials:
        from dockyard.wire.access import TokenCredentialRequest, TokenCredentials

        request = TokenCredentialRequest.model_construct(password=slot, expiry_days=expiry_days)
        path = f"/tokens/{_segment(name)}/credentials"
        return self._one(TokenCredentials, "POST", path, request)

    # --- the admin user, anonymous pull, signing keys ----------------------------------------

    def get_admin(self) -> AdminStatus:
        from dockyard.wire.access import AdminStatus

        return self._one(AdminStatus, "GET", "/admin")

    def enable_admin(self) -> AdminCredentials:
        from dockyard.wire.access import AdminCredentials

        return self._one(AdminCredentials, "POST", "/admin/enable")

    def disable_admin(self) -> AdminStatus:
        from dockyard.wire.access import AdminStatus

        return self._one(AdminStatus, "POST", "/admin/disable")

    def regenerate_admin_password(self, slot: int) -> AdminCredentials:
        from dockyard.wire.access import AdminCredentials

        return self._one(AdminCredentials, "POST", f"/admin/credentials/{slot}/regenerate")

    def get_anonymous_pull(self) -> AnonymousPull:
        from dockyard.wire.access import AnonymousPull

        return self._one(AnonymousPull, "GET", "/settings/anonymous-pull")

    def set_anonymous_pull(self, enabled: bool) -> AnonymousPull:
        from dockyard.wire.access import AnonymousPull

        request = AnonymousPull.model_construct(enabled=enabled)
        return self._one(AnonymousPull, "PUT", "/settings/anonymous-pull", request)

    def rotate_signing_key(self) -> RotatedKey:
        from dockyard.wire.access import RotatedKey

        return self._one(RotatedKey, "POST", "/keys/rotate")

    # --- webhooks ----------------------------------------------------------------------------

    def list_webhooks(self) -> Listing[Webhook]:
        from dockyard.wire.webhooks import Webhook

        return self._many(Webhook, "/webhooks")

    def get_webhook(self, name: str) -> Webhook:
        from dockyard.wire.webhooks import Webhook

        return self._one(Webhook, "GET", f"/webhooks/{_segment(name)}")

    def create_webhook(
        self,
        name: str,
        uri: str,
        actions: list[str],
        scope: str,
        headers: dict[str, str],
        status: str,
    ) -> WebhookWithSecret:
        from dockyard.wire.webhooks import WebhookCreate, WebhookWithSecret

        request = WebhookCreate.model_construct(
            name=name, uri=uri, actions=actions, scope=scope, headers=headers, status=status
        )
        return self._one(WebhookWithSecret, "POST", "/webhooks", request)

    def update_webhook(
        self,
        name: str,
        *,
        uri: str | None = None,
        actions: list[str] | None = None,
        scope: str | None = None,
        headers: dict[str, str] | None = None,
        status: str | None = None,
        regenerate_secret: bool = False,
    ) -> Webhook | WebhookWithSecret:
        """The webhook as changed; with its new secret when `regenerate_secret`."""
        from dockyard.wire.webhooks import Webhook, WebhookUpdate, WebhookWithSecret

        request = WebhookUpdate.model_construct(
            uri=uri,
            actions=actions,
            scope=scope,
            headers=headers,
            status=status,
            regenerate_secret=regenerate_secret,
        )
        answer = WebhookWithSecret if regenerate_secret else Webhook
        return self._one(answer, "PATCH", f"/webhooks/{_segment(name)}", request)

    def delete_webhook(self, name: str) -> None:
        self.http.call("DELETE", f"/webhooks/{_segment(name)}")

    def ping_webhook(self, name: str) -> Delivery:
        from dockyard.wire.webhooks import Delivery

        return self._one(Delivery, "POST", f"/webhooks/{_segment(name)}/ping")

    def list_webhook_deliveries(self, name: str, limit: int) -> Listing[Delivery]:
        from dockyard.wire.webhooks import Delivery

        return self._many(Delivery, f"/webhooks/{_segment(name)}/events", {"limit": limit})

    # --- network rules -----------------------------------------------------------------------

    def get_network_rules(self) -> NetworkRuleSetModel:
        from dockyard.wire.network_rules import NetworkRuleSetModel

        return self._one(NetworkRuleSetModel, "GET", "/network-rules")

    def add_network_rule(self, ip_address_or_range: str) -> NetworkRuleSetModel:
        from dockyard.wire.network_rules import IpRuleCreate, NetworkRuleSetModel

        request = IpRuleCreate.model_construct(ip_address_or_range=ip_address_or_range)
        return self._one(NetworkRuleSetModel, "POST", "/network-rules", request)

    def remove_network_rule(self, ip_address_or_range: str) -> NetworkRuleSetModel:
        """The rule is named by the query, with the field the rule is added by."""
        from dockyard.wire.network_rules import IpRuleCreate, NetworkRuleSetModel

        query = IpRuleCreate.model_construct(ip_address_or_range=ip_address_or_range)
        answer = self.http.call("DELETE", "/network-rules", params=body(query))
        return self._read(NetworkRuleSetModel, answer)

    # --- the registry's tier and policies, its usage -----------------------------------------

    def get_registry(self) -> RegistryView:
        from dockyard.wire.registry import RegistryView

        return self._one(RegistryView, "GET", "/registry")

    def update_registry(
        self,
        *,
        sku: str | None = None,
        immutable_tags: bool | None = None,
        retention_enabled: bool | None = None,
        retention_days: int | None = None,
        soft_delete_enabled: bool | None = None,
        soft_delete_days: int | None = None,
        quarantine_enabled: bool | None = None,
        network_default_action: str | None = None,
    ) -> RegistryView:
        """Change what is given; a policy is sent only with a part of it to change."""
        from dockyard.wire.registry import (
            RegistryUpdate,
            RegistryView,
            RetentionUpdate,
            SoftDeleteUpdate,
        )

        retention = RetentionUpdate.model_construct(enabled=retention_enabled, days=retention_days)
        soft_delete = SoftDeleteUpdate.model_construct(
            enabled=soft_delete_enabled, days=soft_delete_days
        )
        request = RegistryUpdate.model_construct(
            sku=sku,
            immutable_tags=immutable_tags,
            retention_policy=retention if body(retention) else None,
            soft_delete_policy=soft_delete if body(soft_delete) else None,
            quarantine_enabled=quarantine_enabled,
            network_default_action=network_default_action,
        )
        return self._one(RegistryView, "PATCH", "/registry", request)

    def get_usage(self, repository: str | None = None) -> Usage:
        from dockyard.wire.usage import Usage

        answer = self.http.get("/usage", {"repository": repository} if repository else None)
        return self._read(Usage, answer)

    # --- saved tasks -------------------------------------------------------------------------

    def list_tasks(self) -> Listing[TaskModel]:
        from dockyard.wire.tasks import TaskModel

        return self._many(TaskModel, "/tasks")

    def get_task(self, name: str) -> TaskModel:
        from dockyard.wire.tasks import TaskModel

        return self._one(TaskModel, "GET", _task_path(name))

    def create_task(self, request: TaskCreate) -> TaskModel:
        """Save a task; what the request leaves unset is the server's default."""
        from dockyard.wire.tasks import TaskModel

        return self._one(TaskModel, "POST", "/tasks", request)

    def update_task(self, name: str, changes: TaskUpdate) -> TaskModel:
        """Change what `changes` sets; its `values` and `secret_values` are merged into the
        task's."""
        from dockyard.wire.tasks import TaskModel

        return self._one(TaskModel, "PATCH", _task_path(name), changes)

    def delete_task(self, name: str) -> None:
        self.http.call("DELETE", _task_path(name))

    def run_task(
        self,
        name: str,
        *,
        values: dict[str, str] | None = None,
        secret_values: dict[str, str] | None = None,
        source: str | None = None,
        timeout: int | None = None,
    ) -> RunModel:
        """Queue a manual run of the task, with these values over its own."""
        from dockyard.wire.runs import RunModel
        from dockyard.wire.tasks import TaskRunCreate

        request = TaskRunCreate.model_construct(
            values=values, secret_values=secret_values, source=source, timeout=timeout
        )
        return self._one(RunModel, "POST", _task_path(name, "runs"), request)

    def list_task_runs(self, name: str, top: int) -> Listing[RunModel]:
        from dockyard.wire.runs import RunModel

        return self._many(RunModel, _task_path(name, "runs"), {"top": top})

    def get_task_webhook_secret(self, name: str) -> WebhookSecretModel:
        from dockyard.wire.tasks import WebhookSecretModel

        return self._one(WebhookSecretModel, "GET", _task_path(name, "webhook-secret"))

    def renew_task_webhook_secret(self, name: str) -> WebhookSecretModel:
        from dockyard.wire.tasks import WebhookSecretModel

        return self._one(WebhookSecretModel, "POST", _task_path(name, "webhook-secret"))

    # --- a saved task's timers and credentials -----------------------------------------------

    def list_timers(self, task: str) -> Listing[TimerModel]:
        from dockyard.wire.tasks import TimerModel

        return self._many(TimerModel, _task_path(task, "timers"))

    def add_timer(self, task: str, timer: str, schedule: str, enabled: bool) -> TimerModel:
        from dockyard.wire.tasks import TimerCreate, TimerModel

        request = TimerCreate.model_construct(name=timer, schedule=schedule, enabled=enabled)
        return self._one(TimerModel, "POST", _task_path(task, "timers"), request)

    def update_timer(
        self, task: str, timer: str, schedule: str | None, enabled: bool | None
    ) -> TimerModel:
        from dockyard.wire.tasks import TimerModel, TimerUpdate

        request = TimerUpdate.model_construct(schedule=schedule, enabled=enabled)
        return self._one(TimerModel, "PATCH", _task_path(task, "timers", timer), request)

    def remove_timer(self, task: str, timer: str) -> None:
        self.http.call("DELETE", _task_path(task, "timers", timer))

    def list_credentials(self, task: str) -> Listing[CredentialModel]:
        from dockyard.wire.tasks import CredentialModel

        return self._many(CredentialModel, _task_path(task, "credentials"))

    def add_credential(
        self, task: str, login_server: str, username: str, password: str
    ) -> CredentialModel:
        from dockyard.wire.tasks import CredentialCreate, CredentialModel

        request = CredentialCreate.model_construct(
            login_server=login_server, username=username, password=password
        )
        return self._one(CredentialModel, "POST", _task_path(task, "credentials"), request)

    def remove_credential(self, task: str, login_server: str) -> None:
        self.http.call("DELETE", _task_path(task, "credentials", login_server))

    # --- runs --------------------------------------------------------------------------------

    def create_run(self, request: RunCreate) -> RunModel:
        """Queue a quick build, command or task-file run; what the request leaves unset is the
        server's default."""
        from dockyard.wire.runs import RunModel

        return self._one(RunModel, "POST", "/runs", request)

    def list_runs(self, top: int, status: str | None = None) -> Listing[RunModel]:
        from dockyard.wire.runs import RunModel

        query: dict[str, Any] = {"top": top}
        if status is not None:
            query["status"] = status
        return self._many(RunModel, "/runs", query)

    def get_run(self, run_id: str) -> RunModel:
        from dockyard.wire.runs import RunModel

        return self._one(RunModel, "GET", _run_path(run_id))

    def cancel_run(self, run_id: str) -> RunModel:
        from dockyard.wire.runs import RunModel

        return self._one(RunModel, "POST", _run_path(run_id, "cancel"))

    def upload_source(self, chunks: Iterable[bytes], size: int) -> SourceModel:
        """Stream a build context (a tar, plain or gzip) of `size` bytes; where it is kept."""
        from dockyard.wire.runs import SourceModel

        return self._read(SourceModel, self.http.upload("/runs/sources", chunks, size))

    def run_log(self, run_id: str, offset: int = 0, follow: bool = False) -> Iterator[bytes]:
        """The run's log from byte `offset` as it arrives (plain text, not JSON); with
        `follow`, until the run ends. A broken connection raises `ConnectionLost`."""
        query: dict[str, Any] = {"offset": offset}
        if follow:
            query["follow"] = "true"
        return self.http.stream_bytes(_run_path(run_id, "logs"), query)
