"""The management API's usage body: storage used by the registry and each repository, and the
counts of the tier's limited quantities."""

from __future__ import annotations

from pydantic import Field

from dockyard.wire.base import WireModel


class StorageUsage(WireModel):
    used_bytes: int = Field(description="Stored: every blob once, plus every manifest")
    blob_bytes: int
    manifest_bytes: int
    repositories_bytes: int = Field(
        description="The sum of the repositories' sizes; a blob shared by two counts twice"
    )
    included_bytes: int = Field(description="Included in the tier")
    overage_bytes: int = Field(description="Used beyond what the tier includes")
    limit_bytes: int = Field(description="The hard limit; pushes beyond it are denied")


class RepositoryUsage(WireModel):
    name: str
    size_bytes: int = Field(description="Its manifests and the blobs they need, each once")
    manifest_count: int
    tag_count: int
    blob_count: int


class Counted(WireModel):
    """ACR's usage item: one limited quantity of the tier."""

    name: str
    current_value: int
    limit: int
    unit: str


class Usage(WireModel):
    sku: str
    storage: StorageUsage
    repository_count: int
    manifest_count: int
    tag_count: int
    blob_count: int
    value: list[Counted] = Field(description="As `az acr show-usage`: size, webhooks, ...")
    repositories: list[RepositoryUsage]
