"""The management API's `/purge` bodies (ACR's `acr purge`): the filters, and what went or
would go."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from dockyard.wire.base import WireModel


class PurgeRequest(WireModel):
    filters: list[str] = Field(
        min_length=1,
        description="<repository-regex>:<tag-regex>; the repository expression matches whole "
        "names, the tag expression anywhere in a tag (use ^...$ for whole tags)",
    )
    ago: str = Field(description="Go-style duration with days, e.g. 2d3h6m, 7d, 30m")
    keep: int = Field(default=0, ge=0, description="Keep the newest N matching tags per repository")
    untagged: bool = Field(default=False, description="Also delete manifests left without tags")
    dry_run: bool = Field(default=False, description="Only report what would be deleted")
    include_locked: bool = Field(
        default=False, description="Unlock locked tags and manifests, then delete them"
    )


class PurgedTag(WireModel):
    repository: str
    tag: str
    digest: str
    last_update: datetime


class PurgedManifest(WireModel):
    repository: str
    digest: str
    media_type: str
    created: datetime


class PurgeSkip(WireModel):
    repository: str
    reference: str = Field(description="A tag or digest; empty for the whole repository")
    reason: str


class PurgeResult(WireModel):
    dry_run: bool
    repositories: list[str] = Field(description="The repositories the filters matched")
    tags: list[PurgedTag] = Field(description="Deleted (or, dry, to delete)")
    manifests: list[PurgedManifest] = Field(description="Deleted (or, dry, to delete)")
    skipped: list[PurgeSkip] = Field(description="What matched but stays, and why")
