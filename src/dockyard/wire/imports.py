"""The management API's `/imports` bodies: the request, and the lines of the NDJSON progress
stream that answers it (one event a line, ending in a `result` or an `error` line).

The stream's lines are not in the OpenAPI document (it shows an example of them);
tests/integration/test_cli_api_client_content.py holds these models to a real import."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from dockyard.wire.base import ShapeModel, WireModel
from dockyard.wire.errors import ErrorDetail


class ImportRequest(WireModel):
    source: str = Field(
        description="registry/repository:tag or registry/repository@digest; a loopback host "
        "is spoken to over http, any other over https, unless the URL names its scheme",
        examples=["registry.example.com/team/app:1.0"],
    )
    images: list[str] = Field(
        default_factory=list,
        description="Targets, repository[:tag]; without a tag the source's (none for a source "
        "named by digest: stored untagged); none at all: the source's repository and tag",
    )
    username: str | None = Field(default=None, description="The source registry's username")
    password: str | None = Field(default=None, description="Its password or token")
    force: bool = Field(default=False, description="Move target tags that exist already")


class ImportStarted(ShapeModel):
    event: Literal["started"]
    source: str
    digest: str
    media_type: str
    targets: list[str]


class ImportPlan(ShapeModel):
    event: Literal["plan"]
    manifests: int
    blobs: int
    bytes: int = Field(description="Of the blobs to fetch (foreign layers are not)")


class ImportManifest(ShapeModel):
    """A manifest `found` at the source, `skipped` (a referrer of a kind not stored), or
    `stored` in a target repository."""

    event: Literal["manifest"]
    status: Literal["found", "skipped", "stored"]
    digest: str
    repository: str | None = None
    media_type: str | None = None
    size: int | None = None
    tags: list[str] | None = None
    reason: str | None = None


class ImportBlob(ShapeModel):
    event: Literal["blob"]
    status: Literal["started", "progress", "done", "skipped"]
    digest: str
    size: int
    bytes: int | None = Field(default=None, description="Copied so far")
    reason: Literal["present", "foreign"] | None = None


class BlobCounts(ShapeModel):
    copied: int
    present: int
    foreign: int


class ByteCounts(ShapeModel):
    copied: int
    present: int


class ImportResult(ShapeModel):
    event: Literal["result"]
    status: Literal["succeeded"]
    source: str
    digest: str
    media_type: str
    repositories: list[str]
    tags: list[str]
    manifests: int
    manifests_stored: int
    blobs: BlobCounts
    bytes: ByteCounts


class ImportFailed(ShapeModel):
    event: Literal["error"]
    errors: list[ErrorDetail]


ImportEvent = Annotated[
    ImportStarted | ImportPlan | ImportManifest | ImportBlob | ImportResult | ImportFailed,
    Field(discriminator="event"),
]
