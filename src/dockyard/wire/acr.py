"""ACR's data-plane answers (`/acr/v1`), as the CLI reads them: repository, tag and manifest
attributes and their changeable attributes (locks), with ACR's JSON names (those of the
azure-containerregistry SDK's REST models; the Python names are this project's).

The server writes these answers itself (api/acr_shapes.py, on the hot path without pydantic);
they are not in the management API's OpenAPI document, so
tests/integration/test_cli_api_client_content.py holds these models to real answers.
Times stay the strings ACR writes (ISO 8601 with a `Z`), so an answer printed again is the
answer received."""

from __future__ import annotations

from pydantic import Field

from dockyard.wire.base import ShapeModel


class Repositories(ShapeModel):
    """A page of the catalog (`/acr/v1/_catalog`)."""

    repositories: list[str]


class WriteableProperties(ShapeModel):
    """The locks of a tag or manifest (its changeable attributes): what may be done to it.
    A change sends only the ones it changes."""

    delete_enabled: bool | None = Field(default=None, alias="deleteEnabled")
    write_enabled: bool | None = Field(default=None, alias="writeEnabled")
    read_enabled: bool | None = Field(default=None, alias="readEnabled")
    list_enabled: bool | None = Field(default=None, alias="listEnabled")


class RepositoryWriteableProperties(WriteableProperties):
    tag_immutability: bool | None = Field(
        default=None, alias="tagImmutability", description="The repository's tags are write-once"
    )


class ContainerRepositoryProperties(ShapeModel):
    registry: str = Field(description="The login server")
    name: str = Field(alias="imageName")
    created_on: str = Field(alias="createdTime")
    last_updated_on: str = Field(alias="lastUpdateTime")
    manifest_count: int = Field(alias="manifestCount")
    tag_count: int = Field(alias="tagCount")
    changeable_attributes: RepositoryWriteableProperties = Field(alias="changeableAttributes")


class TagAttributes(ShapeModel):
    name: str
    digest: str
    created_on: str = Field(alias="createdTime")
    last_updated_on: str = Field(alias="lastUpdateTime")
    signed: bool
    changeable_attributes: WriteableProperties = Field(alias="changeableAttributes")


class TagList(ShapeModel):
    """A page of a repository's tags."""

    registry: str
    repository: str = Field(alias="imageName")
    tags: list[TagAttributes]


class ArtifactTagProperties(ShapeModel):
    registry: str
    repository: str = Field(alias="imageName")
    tag: TagAttributes


class ManifestPlatform(ShapeModel):
    """A manifest an index lists, with the platform the index gives for it."""

    digest: str
    architecture: str | None
    operating_system: str | None = Field(alias="os")


class ManifestAttributes(ShapeModel):
    digest: str
    image_size: int = Field(alias="imageSize", description="With every blob it references")
    created_on: str = Field(alias="createdTime")
    last_updated_on: str = Field(alias="lastUpdateTime")
    architecture: str | None
    operating_system: str | None = Field(alias="os")
    media_type: str = Field(alias="mediaType")
    config_media_type: str | None = Field(alias="configMediaType")
    tags: list[str]
    changeable_attributes: WriteableProperties = Field(alias="changeableAttributes")
    references: list[ManifestPlatform] | None = Field(
        default=None, description="An index's manifests; absent for an image"
    )


class AcrManifests(ShapeModel):
    """A page of a repository's manifests."""

    registry: str
    repository: str = Field(alias="imageName")
    manifests: list[ManifestAttributes]


class ArtifactManifestProperties(ShapeModel):
    registry: str
    repository: str = Field(alias="imageName")
    manifest: ManifestAttributes


class DeleteRepositoryResult(ShapeModel):
    deleted_manifests: list[str] = Field(alias="manifestsDeleted")
    deleted_tags: list[str] = Field(alias="tagsDeleted")
