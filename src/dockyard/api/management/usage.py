"""`/usage`: storage used by the registry and each repository, and counts against the tier."""

from __future__ import annotations

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from dockyard.api.management.deps import Reader, RegistryDep

router = APIRouter(tags=["usage"])


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StorageUsage(_Model):
    used_bytes: int = Field(description="Stored: every blob once, plus every manifest")
    blob_bytes: int
    manifest_bytes: int
    repositories_bytes: int = Field(
        description="The sum of the repositories' sizes; a blob shared by two counts twice"
    )
    included_bytes: int = Field(description="Included in the tier")
    overage_bytes: int = Field(description="Used beyond what the tier includes")
    limit_bytes: int = Field(description="The hard limit; pushes beyond it are denied")


class RepositoryUsage(_Model):
    name: str
    size_bytes: int = Field(description="Its manifests and the blobs they need, each once")
    manifest_count: int
    tag_count: int
    blob_count: int


class Counted(_Model):
    """ACR's usage item: one limited quantity of the tier."""

    name: str
    current_value: int
    limit: int
    unit: str


class Usage(_Model):
    sku: str
    storage: StorageUsage
    repository_count: int
    manifest_count: int
    tag_count: int
    blob_count: int
    value: list[Counted] = Field(description="As `az acr show-usage`: size, webhooks, ...")
    repositories: list[RepositoryUsage]


@router.get("/usage")
def show_usage(
    _: Reader,
    registry: RegistryDep,
    repository: str | None = Query(default=None, description="Only this repository"),
) -> Usage:
    """Storage used (deduplicated, and as the sum of the repositories), counts of repositories,
    manifests, tags and blobs, and what the tier includes."""
    found = registry.usage.registry()
    policies = registry.policies.get()
    counts = registry.policies.counts()
    limits = policies.limits
    repositories = [
        RepositoryUsage(
            name=r.name,
            size_bytes=r.size_bytes,
            manifest_count=r.manifest_count,
            tag_count=r.tag_count,
            blob_count=r.blob_count,
        )
        for r in found.repositories
        if repository is None or r.name == repository
    ]
    return Usage(
        sku=policies.sku.value,
        storage=StorageUsage(
            used_bytes=found.storage_bytes,
            blob_bytes=found.blob_bytes,
            manifest_bytes=found.manifest_bytes,
            repositories_bytes=found.repositories_bytes,
            included_bytes=limits.included_storage_bytes,
            overage_bytes=max(0, found.storage_bytes - limits.included_storage_bytes),
            limit_bytes=found.storage_limit_bytes,
        ),
        repository_count=found.repository_count,
        manifest_count=found.manifest_count,
        tag_count=found.tag_count,
        blob_count=found.blob_count,
        value=[
            Counted(
                name="Size",
                current_value=found.storage_bytes,
                limit=limits.included_storage_bytes,
                unit="Bytes",
            ),
            Counted(
                name="Webhooks",
                current_value=counts["webhooks"],
                limit=limits.webhooks,
                unit="Count",
            ),
            Counted(
                name="ScopeMaps",
                current_value=counts["scope_maps"],
                limit=limits.scope_maps,
                unit="Count",
            ),
            Counted(
                name="Tokens", current_value=counts["tokens"], limit=limits.tokens, unit="Count"
            ),
            Counted(
                name="IPRules",
                current_value=counts["ip_rules"],
                limit=limits.ip_rules,
                unit="Count",
            ),
        ],
        repositories=repositories,
    )
