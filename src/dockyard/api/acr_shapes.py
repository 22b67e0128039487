"""ACR's JSON shapes of repository, tag and manifest attributes (`/acr/v1`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dockyard.registry.attributes import TAG_IMMUTABILITY, ManifestInfo, RepositoryInfo, TagInfo


def iso_time(timestamp: float) -> str:
    """ISO 8601 in UTC with a `Z`, as ACR writes its times."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


def repository_json(registry: str, info: RepositoryInfo) -> dict[str, Any]:
    attributes: dict[str, Any] = info.locks.as_acr()
    attributes[TAG_IMMUTABILITY] = info.tag_immutability
    return {
        "registry": registry,
        "imageName": info.name,
        "createdTime": iso_time(info.created_at),
        "lastUpdateTime": iso_time(info.updated_at),
        "manifestCount": info.manifest_count,
        "tagCount": info.tag_count,
        "changeableAttributes": attributes,
    }


def tag_json(info: TagInfo) -> dict[str, Any]:
    return {
        "name": info.name,
        "digest": info.digest,
        "createdTime": iso_time(info.created_at),
        "lastUpdateTime": iso_time(info.updated_at),
        "signed": False,
        "changeableAttributes": info.locks.as_acr(),
    }


def manifest_json(info: ManifestInfo) -> dict[str, Any]:
    shape: dict[str, Any] = {
        "digest": info.digest,
        "imageSize": info.image_size,
        "createdTime": iso_time(info.created_at),
        "lastUpdateTime": iso_time(info.updated_at),
        "architecture": info.architecture,
        "os": info.os,
        "mediaType": info.media_type,
        "configMediaType": info.config_media_type,
        "tags": list(info.tags),
        "changeableAttributes": info.locks.as_acr(),
    }
    if info.references:
        shape["references"] = [
            {"digest": ref.digest, "architecture": ref.architecture, "os": ref.os}
            for ref in info.references
        ]
    return shape
