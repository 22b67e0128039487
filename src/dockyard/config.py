"""Settings: defaults, then a YAML file, then DOCKYARD_* environment variables, then flags.

The settings are nested in sections (server, log, storage, database, gc, auth, oidc, audit,
webhooks, rate_limit, cleanup, imports, tasks), each a typed model the composition root hands
to the part it configures. Every setting has two names: its place in its section
(`gc: {interval_seconds: 60}` in YAML, DOCKYARD_GC__INTERVAL_SECONDS) and the flat name it
has always had (`gc_interval_seconds`, DOCKYARD_GC_INTERVAL_SECONDS), which FLAT_NAMES maps.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from dockyard.spec.ip_ranges import parse_ip_range, range_text

# The request classes of tiers.RateClass (config may not import tiers).
RATE_CLASSES = ("reads", "writes", "deletes", "referrers", "tokens")
# What Microsoft's clients ask Entra ID for: the Azure SDK for ACR the registry audience,
# the Azure CLI (`az acr login --expose-token`) the Resource Manager one, under two names.
AZURE_AUDIENCES = (
    "https://containerregistry.azure.net",
    "https://management.core.windows.net/",
    "https://management.azure.com/",
)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = 5000
    workers: int = Field(default=1, ge=1)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    public_url: str = Field(
        default="",
        description="how clients reach this registry (https://registry.example.com): the "
        "token realm of 401 challenges; empty: from the request's Host header",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="addresses or CIDR ranges of reverse proxies in front of the registry: "
        "only a request whose direct peer is one has its client address taken from "
        "X-Forwarded-For (the right-most entry no trusted proxy wrote)",
    )
    unread_body_drain_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=0,
        description="an answer sent before its request body was read (401, 404) first reads "
        "and discards up to this much of the rest, so the client gets the answer rather "
        "than a reset connection; past it the connection is closed; 0: never",
    )
    insecure_no_auth_on_network: bool = Field(
        default=False,
        description="let a server without credentials (auth_enabled off) listen on an "
        "address other than loopback",
    )

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        if not value:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("public_url is an http(s) URL, e.g. https://registry.example.com")
        if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
            raise ValueError("public_url names the registry's root: scheme, host and port only")
        return f"{parts.scheme}://{parts.netloc}"

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_ranges(cls, value: list[str]) -> list[str]:
        return [range_text(parse_ip_range(text)) for text in value]

    @property
    def address(self) -> str:
        """host:port as a URL authority (IPv6 in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


class LogSettings(_Section):
    format: Literal["human", "json"] = "human"
    level: Literal["debug", "info", "warning", "error"] = "info"


class StorageSettings(_Section):
    data_dir: Path = Path("./dockyard-data")
    limit_bytes: int = Field(
        default=5 * 1024**4, ge=0, description="hard limit of stored bytes (5 TiB)"
    )
    allow_sparse_manifests: bool = Field(
        default=False,
        description="accept manifests whose layers or child manifests are absent (mirrors of "
        "partial content); the config must be there. Alias: allow_sparse_index",
    )
    max_manifest_bytes: int = 4 * 1024 * 1024
    upload_ttl_seconds: float = Field(default=7 * 24 * 3600.0, ge=0)


class DatabaseSettings(_Section):
    url: str = Field(default="", description="SQLAlchemy URL; empty means SQLite in data_dir")


class GcSettings(_Section):
    enabled: bool = True
    interval_seconds: float = Field(default=3600.0, gt=0)
    grace_seconds: float = Field(default=3600.0, ge=0)
    delete_untagged: bool = False


class AuthSettings(_Section):
    enabled: bool = True
    service: str = Field(
        default="",
        description="the token service name (audience of tokens); empty: the host of "
        "public_url, else the serve host and port",
    )
    admin_username: str = "admin"
    login_max_failures_per_address: int = Field(
        default=30,
        ge=0,
        description="failed logins (any usernames) from one client address in 5 minutes "
        "before its logins are answered 429; 0: no limit",
    )


class OidcSettings(_Section):
    issuer: str = Field(
        default="",
        description="trusted OIDC issuer for /oauth2/exchange, exactly as its tokens' `iss` "
        "says (Entra ID v1: https://sts.windows.net/<tenant>/, with the trailing /)",
    )
    audiences: list[str] = Field(
        default_factory=lambda: list(AZURE_AUDIENCES),
        description="identity token audiences accepted (any one): by default the registry "
        "audience of the Azure SDK and the ARM audiences of the Azure CLI",
    )
    audience: str = Field(
        default="",
        description="one accepted audience (the older setting): alone it replaces the "
        "default list, beside oidc_audiences it joins it",
    )
    jwks_url: str = Field(default="", description="empty: from the issuer's discovery")
    username_claim: str = Field(
        default="sub",
        description="the claim that names the Dockyard user (sub, oid, upn, "
        "preferred_username, email, ...)",
    )

    @model_validator(mode="after")
    def _audience_alias(self) -> OidcSettings:
        """`audience` alone is the whole list, as it was before the list existed."""
        if self.audience and self.audience not in self.audiences:
            if "audiences" in self.model_fields_set:
                joined = [*self.audiences, self.audience]
            else:
                joined = [self.audience]
            self.audiences = joined
        return self


class AuditSettings(_Section):
    max_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1024,
        description="the audit log is rotated (audit.log -> audit.log.1 ...) before it passes "
        "this size",
    )
    backups: int = Field(
        default=10, ge=1, description="rotated audit log files kept (the oldest are deleted)"
    )
    max_age_days: float = Field(
        default=90.0,
        ge=0,
        description="audit records older than this are deleted (whole rotated files, kept "
        "between 3/4 of this age and this age); 0: no age limit",
    )
    reads: bool = Field(
        default=False,
        description="also record allowed reads (GET/HEAD of /v2 and /acr/v1); refusals, "
        "logins, token issuance and changes are always recorded",
    )


class WebhookSettings(_Section):
    allow_private_targets: bool = Field(
        default=False,
        description="allow webhooks to addresses that are not public (loopback, private, "
        "link-local, shared, reserved)",
    )
    poll_seconds: float = Field(default=0.5, gt=0)
    retry_base_seconds: float = Field(default=2.0, gt=0)
    retry_max_seconds: float = Field(default=3600.0, gt=0)
    retry_horizon_seconds: float = Field(default=24 * 3600.0, gt=0)
    timeout_seconds: float = Field(default=10.0, gt=0)


class RateLimitSettings(_Section):
    enabled: bool = True
    limits: dict[str, int] = Field(
        default_factory=dict,
        description="per-minute limits replacing the tier's: reads, writes, deletes, "
        "referrers, tokens",
    )
    per_identity: dict[str, int] = Field(
        default_factory=dict,
        description="per-minute limits of each identity, where they differ from the "
        "registry's (rate_limits, else the tier's)",
    )
    redis_url: str = Field(
        default="",
        description="keep the shared rate buckets in this Redis (redis://host:port/db) "
        "rather than the database; needs the `redis` extra",
    )

    @field_validator("limits", "per_identity")
    @classmethod
    def _known_rates(cls, value: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(value) - set(RATE_CLASSES))
        if unknown:
            raise ValueError(f"unknown rate classes {unknown}; known: {', '.join(RATE_CLASSES)}")
        if any(limit < 1 for limit in value.values()):
            raise ValueError("request rates are per minute and at least 1")
        return value


class CleanupSettings(_Section):
    interval_seconds: float = Field(
        default=3600.0, gt=0, description="how often retention and soft-delete expiry run"
    )


class ImportSettings(_Section):
    allow_private_sources: bool = Field(
        default=False,
        description="allow imports (and their redirects) from addresses that are not public",
    )


class TaskSettings(_Section):
    enabled: bool = Field(
        default=True, description="run quick builds and runs in the server's own processes"
    )
    engines: list[Literal["buildah", "docker"]] = Field(
        default=["buildah", "docker"],
        description="build engines this worker has; new builds use the first, multi-step "
        "runs docker (a run whose engine's program is missing ends Error, saying so)",
    )
    registry_url: str = Field(
        default="",
        description="how builds reach this registry; empty: the serve host and port "
        "(127.0.0.1 when listening on every address)",
    )
    work_dir: Path | None = Field(default=None, description="empty: <data_dir>/tasks")
    lease_seconds: float = Field(
        default=30.0, gt=0, description="a run whose worker stops renewing this long ends Error"
    )
    poll_seconds: float = Field(default=1.0, gt=0)
    commit_poll_seconds: float = Field(
        default=60.0,
        gt=0,
        description="how often the git remotes of tasks with the commit trigger on are read",
    )
    max_source_bytes: int = Field(
        default=512 * 1024 * 1024, gt=0, description="largest build context, packed or unpacked"
    )
    allow_private_sources: bool = Field(
        default=False,
        description="allow build contexts, git remotes and base-image lookups at addresses "
        "that are not public",
    )
    allow_privileged_steps: bool = Field(
        default=False,
        description="let `privileged: true` steps of task files run privileged containers",
    )
    allow_host_network: bool = Field(
        default=False,
        description="let task file steps use the worker's host network (`network: host`, "
        "`docker build --network host`) and join its daemon's own networks (`skipCreation`)",
    )
    upstream_registries: list[str] = Field(
        default_factory=list,
        description="registries searched, after this one, for unqualified FROM images "
        "(http://host:port for one spoken to over plain HTTP)",
    )
    min_timeout_seconds: int = Field(
        default=300, ge=1, description="the shortest run timeout accepted (lower it for tests)"
    )
    source_ttl_seconds: float = Field(
        default=7 * 24 * 3600.0,
        gt=0,
        description="uploaded build contexts no run used this long are removed",
    )
    base_image_poll_seconds: float = Field(
        default=300.0,
        gt=0,
        description="how often base images in other registries are checked for base-image "
        "triggers (pushes to this registry trigger at once)",
    )


class Settings(_Section):
    """Every setting, by section."""

    server: ServerSettings = Field(default_factory=ServerSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    gc: GcSettings = Field(default_factory=GcSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    oidc: OidcSettings = Field(default_factory=OidcSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    rate_limit: RateLimitSettings = Field(default_factory=RateLimitSettings)
    cleanup: CleanupSettings = Field(default_factory=CleanupSettings)
    imports: ImportSettings = Field(default_factory=ImportSettings)
    tasks: TaskSettings = Field(default_factory=TaskSettings)

    @model_validator(mode="before")
    @classmethod
    def _flat_names(cls, data: Any) -> Any:
        """Flat names (`gc_interval_seconds`) go to their place in their section."""
        return nest(data) if isinstance(data, dict) else data

    @property
    def data_dir(self) -> Path:
        return self.storage.data_dir

    @property
    def token_service(self) -> str:
        """The `service` of challenges and the audience of tokens: fixed by configuration,
        never taken from a request."""
        if self.auth.service:
            return self.auth.service
        if self.server.public_url:
            return urlsplit(self.server.public_url).netloc
        return self.server.address

    @property
    def database_url(self) -> str:
        url = self.database.url
        if url:
            if url.startswith("postgresql://") or url.startswith("postgres://"):
                url = "postgresql+psycopg://" + url.split("://", 1)[1]
            return url
        return f"sqlite:///{self.storage.data_dir.resolve() / 'dockyard.db'}"

    def environment(self) -> dict[str, str]:
        """Every setting as the DOCKYARD_<SECTION>__<NAME> variables that load_settings reads
        back (how `serve` hands its settings to its worker processes)."""
        variables: dict[str, str] = {}
        for section, values in self.model_dump(mode="json").items():
            for name, value in values.items():
                if value is None:
                    continue
                text = value if isinstance(value, str) else json.dumps(value)
                variables[f"DOCKYARD_{section.upper()}__{name.upper()}"] = text
        return variables


SECTIONS: dict[str, type[_Section]] = {
    name: field.annotation  # type: ignore[misc]
    for name, field in Settings.model_fields.items()
}

# Flat name -> (section, name in the section): the names every setting had before sections,
# still accepted in YAML, as DOCKYARD_* variables and as keyword overrides.
FLAT_NAMES: dict[str, tuple[str, str]] = {
    "host": ("server", "host"),
    "port": ("server", "port"),
    "workers": ("server", "workers"),
    "tls_cert": ("server", "tls_cert"),
    "tls_key": ("server", "tls_key"),
    "public_url": ("server", "public_url"),
    "trusted_proxies": ("server", "trusted_proxies"),
    "unread_body_drain_bytes": ("server", "unread_body_drain_bytes"),
    "insecure_no_auth_on_network": ("server", "insecure_no_auth_on_network"),
    "log_format": ("log", "format"),
    "log_level": ("log", "level"),
    "data_dir": ("storage", "data_dir"),
    "storage_limit_bytes": ("storage", "limit_bytes"),
    "allow_sparse_manifests": ("storage", "allow_sparse_manifests"),
    "allow_sparse_index": ("storage", "allow_sparse_manifests"),
    "max_manifest_bytes": ("storage", "max_manifest_bytes"),
    "upload_ttl_seconds": ("storage", "upload_ttl_seconds"),
    "db": ("database", "url"),
    "gc_enabled": ("gc", "enabled"),
    "gc_interval_seconds": ("gc", "interval_seconds"),
    "gc_grace_seconds": ("gc", "grace_seconds"),
    "gc_delete_untagged": ("gc", "delete_untagged"),
    "auth_enabled": ("auth", "enabled"),
    "auth_service": ("auth", "service"),
    "admin_username": ("auth", "admin_username"),
    "login_max_failures_per_address": ("auth", "login_max_failures_per_address"),
    "oidc_issuer": ("oidc", "issuer"),
    "oidc_audiences": ("oidc", "audiences"),
    "oidc_audience": ("oidc", "audience"),
    "oidc_jwks_url": ("oidc", "jwks_url"),
    "oidc_username_claim": ("oidc", "username_claim"),
    "audit_log_max_bytes": ("audit", "max_bytes"),
    "audit_log_backups": ("audit", "backups"),
    "audit_log_max_age_days": ("audit", "max_age_days"),
    "audit_log_reads": ("audit", "reads"),
    "webhook_allow_private_targets": ("webhooks", "allow_private_targets"),
    "webhook_poll_seconds": ("webhooks", "poll_seconds"),
    "webhook_retry_base_seconds": ("webhooks", "retry_base_seconds"),
    "webhook_retry_max_seconds": ("webhooks", "retry_max_seconds"),
    "webhook_retry_horizon_seconds": ("webhooks", "retry_horizon_seconds"),
    "webhook_timeout_seconds": ("webhooks", "timeout_seconds"),
    "rate_limit_enabled": ("rate_limit", "enabled"),
    "rate_limits": ("rate_limit", "limits"),
    "rate_limits_per_identity": ("rate_limit", "per_identity"),
    "rate_limit_redis_url": ("rate_limit", "redis_url"),
    "cleanup_interval_seconds": ("cleanup", "interval_seconds"),
    "import_allow_private_sources": ("imports", "allow_private_sources"),
    "tasks_enabled": ("tasks", "enabled"),
    **{f"task_{name}": ("tasks", name) for name in TaskSettings.model_fields if name != "enabled"},
}


def nest(values: dict[str, Any]) -> dict[str, Any]:
    """Settings given by flat name, by section, or both, as sections. Within one layer a
    section's own entry wins over a flat name, and a current flat name over an old one
    (allow_sparse_index). Keys may use dashes for underscores."""
    keyed = {str(key).replace("-", "_"): value for key, value in values.items()}
    nested: dict[str, Any] = {}
    old_names = [key for key in keyed if key in FLAT_NAMES and key not in CURRENT_FLAT_NAMES]
    for key in [*old_names, *(key for key in keyed if key in CURRENT_FLAT_NAMES)]:
        section, name = FLAT_NAMES[key]
        nested.setdefault(section, {})[name] = keyed[key]
    for key, value in keyed.items():
        if key in SECTIONS and isinstance(value, dict):
            entries = {str(k).replace("-", "_"): v for k, v in value.items()}
            nested[key] = {**nested.get(key, {}), **entries}
        elif key not in FLAT_NAMES:
            nested[key] = value  # left for validation to refuse, naming the key
    return nested


def _merge(base: dict[str, Any], layer: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in layer.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and key in SECTIONS:
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


class _EnvironmentBase(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DOCKYARD_", extra="ignore")


# Each setting's own flat name (FLAT_NAMES also has renamed settings' old names).
CURRENT_FLAT_NAMES = frozenset(
    flat for flat, (section, name) in FLAT_NAMES.items() if flat != "allow_sparse_index"
)


def _optional(annotation: Any) -> Any:
    return annotation | None


@functools.cache
def _environment_reader() -> type[BaseSettings]:
    """One optional field per variable name, flat and sectioned, so that pydantic-settings
    parses the environment (JSON for lists and maps) as it always has."""
    fields: dict[str, Any] = {}
    for flat_name, (section, name) in FLAT_NAMES.items():
        fields[flat_name] = (_optional(SECTIONS[section].model_fields[name].annotation), None)
    for section, model in SECTIONS.items():
        for name, field in model.model_fields.items():
            fields[f"{section}__{name}"] = (_optional(field.annotation), None)
    reader: type[BaseSettings] = create_model(
        "DockyardEnvironment", __base__=_EnvironmentBase, **fields
    )
    return reader


def _environment_values() -> dict[str, Any]:
    """The DOCKYARD_* variables that are set, as sections."""
    sectioned: dict[str, dict[str, Any]] = {}
    flat: dict[str, Any] = {}
    for key, value in _environment_reader()().model_dump(exclude_unset=True).items():
        section, separator, name = key.partition("__")
        if separator:
            sectioned.setdefault(section, {})[name] = value
        else:
            flat[key] = value
    return _merge(nest(flat), sectioned)


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings from an optional YAML file, the environment and explicit overrides
    (flat names or sections; a None override is no override)."""
    path = config_file or (
        Path(os.environ["DOCKYARD_CONFIG"]) if "DOCKYARD_CONFIG" in os.environ else None
    )
    file_values: dict[str, Any] = {}
    if path is not None:
        loaded = yaml.safe_load(path.read_text()) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{path}: the config file must be a mapping of settings")
        file_values = nest(loaded)
    merged = _merge(file_values, _environment_values())
    merged = _merge(merged, nest({k: v for k, v in overrides.items() if v is not None}))
    return Settings.model_validate(merged)
