"""The management API's recycle-bin bodies: a repository's soft-deleted manifests and tags,
and the restore of one."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from dockyard.wire.base import WireModel


class DeletedManifest(WireModel):
    digest: str
    media_type: str
    size: int
    tags: list[str] = Field(description="The tags that pointed at it when it was deleted")
    deleted_at: datetime
    expires_at: datetime = Field(description="When it goes for good (with its blobs)")


class DeletedManifests(WireModel):
    repository: str
    manifests: list[DeletedManifest]


class DeletedTag(WireModel):
    tag: str
    digest: str
    deleted_at: datetime
    expires_at: datetime


class DeletedTags(WireModel):
    repository: str
    tags: list[DeletedTag]


class RestoreRequest(WireModel):
    digest: str | None = Field(
        default=None,
        description="The manifest; without it, the one most recently deleted with `tag`",
    )
    tag: str | None = Field(
        default=None, description="Restore only this tag (of the manifest's deleted tags)"
    )
    force: bool = Field(default=False, description="Move a tag that now points at another manifest")


class Restored(WireModel):
    repository: str
    digest: str
    manifest_restored: bool = Field(description="False when only tags came back")
    tags: list[str] = Field(description="The tags that point at the manifest again")
    moved: list[str] = Field(description="Of those, the ones moved from another manifest")
    skipped: list[str] = Field(
        description="Deleted tags left alone because they point elsewhere now (use force)"
    )
