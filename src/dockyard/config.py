"""Settings: defaults, then a YAML file, then DOCKYARD_* environment variables, then flags."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from dockyard.spec.ip_ranges import parse_ip_range, range_text

# The request classes of tiers.RateClass (config may not import tiers).
RATE_CLASSES = ("reads", "writes", "deletes", "referrers", "tokens")
# Old setting name -> its new name (both accepted in YAML, the environment and flags).
RENAMED = {"allow_sparse_index": "allow_sparse_manifests"}
# What Microsoft's clients ask Entra ID for: the Azure SDK for ACR the registry audience,
# the Azure CLI (`az acr login --expose-token`) the Resource Manager one, under two names.
AZURE_AUDIENCES = (
    "https://containerregistry.azure.net",
    "https://management.core.windows.net/",
    "https://management.azure.com/",
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="DOCKYARD_", extra="forbid", validate_by_name=True, validate_by_alias=True
    )

    data_dir: Path = Path("./dockyard-data")
    db: str = Field(default="", description="SQLAlchemy URL; empty means SQLite in data_dir")
    host: str = "127.0.0.1"
    port: int = 5000
    workers: int = Field(default=1, ge=1)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    log_format: Literal["human", "json"] = "human"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    allow_sparse_manifests: bool = Field(
        default=False,
        # The env source takes aliases as they are, without the prefix.
        validation_alias=AliasChoices(
            "DOCKYARD_ALLOW_SPARSE_MANIFESTS", "DOCKYARD_ALLOW_SPARSE_INDEX"
        ),
        description="accept manifests whose layers or child manifests are absent (mirrors of "
        "partial content); the config must be there. Alias: allow_sparse_index",
    )
    max_manifest_bytes: int = 4 * 1024 * 1024
    unread_body_drain_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=0,
        description="an answer sent before its request body was read (401, 404) first reads "
        "and discards up to this much of the rest, so the client gets the answer rather "
        "than a reset connection; past it the connection is closed; 0: never",
    )
    gc_enabled: bool = True
    gc_interval_seconds: float = Field(default=3600.0, gt=0)
    gc_grace_seconds: float = Field(default=3600.0, ge=0)
    gc_delete_untagged: bool = False
    upload_ttl_seconds: float = Field(default=7 * 24 * 3600.0, ge=0)
    auth_enabled: bool = True
    insecure_no_auth_on_network: bool = Field(
        default=False,
        description="let a server without credentials (auth_enabled off) listen on an "
        "address other than loopback",
    )
    auth_service: str = Field(
        default="",
        description="the token service name (audience of tokens); empty: the host of "
        "public_url, else the serve host and port",
    )
    public_url: str = Field(
        default="",
        description="how clients reach this registry (https://registry.example.com): the "
        "token realm of 401 challenges; empty: from the request's Host header",
    )
    login_max_failures_per_address: int = Field(
        default=30,
        ge=0,
        description="failed logins (any usernames) from one client address in 5 minutes "
        "before its logins are answered 429; 0: no limit",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="addresses or CIDR ranges of reverse proxies in front of the registry: "
        "only a request whose direct peer is one has its client address taken from "
        "X-Forwarded-For (the right-most entry no trusted proxy wrote)",
    )
    admin_username: str = "admin"
    oidc_issuer: str = Field(
        default="",
        description="trusted OIDC issuer for /oauth2/exchange, exactly as its tokens' `iss` "
        "says (Entra ID v1: https://sts.windows.net/<tenant>/, with the trailing /)",
    )
    oidc_audiences: list[str] = Field(
        default_factory=lambda: list(AZURE_AUDIENCES),
        description="identity token audiences accepted (any one): by default the registry "
        "audience of the Azure SDK and the ARM audiences of the Azure CLI",
    )
    oidc_audience: str = Field(
        default="",
        description="one accepted audience (the older setting): alone it replaces the "
        "default list, beside oidc_audiences it joins it",
    )
    oidc_jwks_url: str = Field(default="", description="empty: from the issuer's discovery")
    oidc_username_claim: str = Field(
        default="sub",
        description="the claim that names the Dockyard user (sub, oid, upn, "
        "preferred_username, email, ...)",
    )
    webhook_allow_private_targets: bool = Field(
        default=False,
        description="allow webhooks to addresses that are not public (loopback, private, "
        "link-local, shared, reserved)",
    )
    webhook_poll_seconds: float = Field(default=0.5, gt=0)
    webhook_retry_base_seconds: float = Field(default=2.0, gt=0)
    webhook_retry_max_seconds: float = Field(default=3600.0, gt=0)
    webhook_retry_horizon_seconds: float = Field(default=24 * 3600.0, gt=0)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    audit_log_max_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1024,
        description="the audit log is rotated (audit.log -> audit.log.1 ...) before it passes "
        "this size",
    )
    audit_log_backups: int = Field(
        default=10, ge=1, description="rotated audit log files kept (the oldest are deleted)"
    )
    audit_log_max_age_days: float = Field(
        default=90.0,
        ge=0,
        description="audit records older than this are deleted (whole rotated files, kept "
        "between 3/4 of this age and this age); 0: no age limit",
    )
    audit_log_reads: bool = Field(
        default=False,
        description="also record allowed reads (GET/HEAD of /v2 and /acr/v1); refusals, "
        "logins, token issuance and changes are always recorded",
    )
    storage_limit_bytes: int = Field(
        default=5 * 1024**4, ge=0, description="hard limit of stored bytes (5 TiB)"
    )
    rate_limit_enabled: bool = True
    rate_limits: dict[str, int] = Field(
        default_factory=dict,
        description="per-minute limits replacing the tier's: reads, writes, deletes, "
        "referrers, tokens",
    )
    rate_limits_per_identity: dict[str, int] = Field(
        default_factory=dict,
        description="per-minute limits of each identity, where they differ from the "
        "registry's (rate_limits, else the tier's)",
    )
    rate_limit_redis_url: str = Field(
        default="",
        description="keep the shared rate buckets in this Redis (redis://host:port/db) "
        "rather than the database; needs the `redis` extra",
    )
    cleanup_interval_seconds: float = Field(
        default=3600.0, gt=0, description="how often retention and soft-delete expiry run"
    )
    import_allow_private_sources: bool = Field(
        default=False,
        description="allow imports (and their redirects) from addresses that are not public",
    )
    tasks_enabled: bool = Field(
        default=True, description="run quick builds and runs in the server's own processes"
    )
    task_engines: list[Literal["buildah", "docker"]] = Field(
        default=["buildah", "docker"],
        description="build engines this worker has; new builds use the first, multi-step "
        "runs docker (a run whose engine's program is missing ends Error, saying so)",
    )
    task_registry_url: str = Field(
        default="",
        description="how builds reach this registry; empty: the serve host and port "
        "(127.0.0.1 when listening on every address)",
    )
    task_work_dir: Path | None = Field(default=None, description="empty: <data_dir>/tasks")
    task_lease_seconds: float = Field(
        default=30.0, gt=0, description="a run whose worker stops renewing this long ends Error"
    )
    task_poll_seconds: float = Field(default=1.0, gt=0)
    task_commit_poll_seconds: float = Field(
        default=60.0,
        gt=0,
        description="how often the git remotes of tasks with the commit trigger on are read",
    )
    task_max_source_bytes: int = Field(
        default=512 * 1024 * 1024, gt=0, description="largest build context, packed or unpacked"
    )
    task_allow_private_sources: bool = Field(
        default=False,
        description="allow build contexts, git remotes and base-image lookups at addresses "
        "that are not public",
    )
    task_allow_privileged_steps: bool = Field(
        default=False,
        description="let `privileged: true` steps of task files run privileged containers",
    )
    task_allow_host_network: bool = Field(
        default=False,
        description="let task file steps use the worker's host network (`network: host`, "
        "`docker build --network host`) and join its daemon's own networks (`skipCreation`)",
    )
    task_upstream_registries: list[str] = Field(
        default_factory=list,
        description="registries searched, after this one, for unqualified FROM images "
        "(http://host:port for one spoken to over plain HTTP)",
    )
    task_min_timeout_seconds: int = Field(
        default=300, ge=1, description="the shortest run timeout accepted (lower it for tests)"
    )
    task_source_ttl_seconds: float = Field(
        default=7 * 24 * 3600.0,
        gt=0,
        description="uploaded build contexts no run used this long are removed",
    )
    task_base_image_poll_seconds: float = Field(
        default=300.0,
        gt=0,
        description="how often base images in other registries are checked for base-image "
        "triggers (pushes to this registry trigger at once)",
    )

    @model_validator(mode="before")
    @classmethod
    def _old_names(cls, data: Any) -> Any:
        """Settings renamed: the old name still works where the new one is not given."""
        if isinstance(data, dict):
            for old, new in RENAMED.items():
                if old in data:
                    data = dict(data)
                    data.setdefault(new, data.pop(old))
        return data

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

    @model_validator(mode="after")
    def _audience_alias(self) -> Settings:
        """`oidc_audience` alone is the whole list, as it was before the list existed."""
        if self.oidc_audience and self.oidc_audience not in self.oidc_audiences:
            if "oidc_audiences" in self.model_fields_set:
                self.oidc_audiences = [*self.oidc_audiences, self.oidc_audience]
            else:
                self.oidc_audiences = [self.oidc_audience]
        return self

    @field_validator("rate_limits", "rate_limits_per_identity")
    @classmethod
    def _known_rates(cls, value: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(value) - set(RATE_CLASSES))
        if unknown:
            raise ValueError(f"unknown rate classes {unknown}; known: {', '.join(RATE_CLASSES)}")
        if any(limit < 1 for limit in value.values()):
            raise ValueError("request rates are per minute and at least 1")
        return value

    @property
    def token_service(self) -> str:
        """The `service` of challenges and the audience of tokens: fixed by configuration,
        never taken from a request."""
        if self.auth_service:
            return self.auth_service
        if self.public_url:
            return urlsplit(self.public_url).netloc
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def database_url(self) -> str:
        if self.db:
            url = self.db
            if url.startswith("postgresql://") or url.startswith("postgres://"):
                url = "postgresql+psycopg://" + url.split("://", 1)[1]
            return url
        return f"sqlite:///{self.data_dir.resolve() / 'dockyard.db'}"


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings from an optional YAML file, the environment and explicit overrides."""
    path = config_file or (
        Path(os.environ["DOCKYARD_CONFIG"]) if "DOCKYARD_CONFIG" in os.environ else None
    )
    file_values: dict[str, Any] = {}
    if path is not None:
        loaded = yaml.safe_load(path.read_text()) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{path}: the config file must be a mapping of settings")
        file_values = {str(k).replace("-", "_"): v for k, v in loaded.items()}
    env_settings = Settings()
    merged = {**file_values, **env_settings.model_dump(exclude_unset=True)}
    merged.update({k: v for k, v in overrides.items() if v is not None})
    return Settings.model_validate(merged)
