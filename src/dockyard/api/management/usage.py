"""`/usage`: storage used by the registry and each repository, and counts against the tier."""

from __future__ import annotations

from fastapi import APIRouter, Query

from dockyard.api.management.deps import Reader, RegistryDep

# The bodies live in dockyard.wire (shared with the CLI).
from dockyard.wire.usage import Counted, RepositoryUsage, StorageUsage, Usage

router = APIRouter(tags=["usage"])


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
