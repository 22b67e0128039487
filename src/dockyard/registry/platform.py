"""The platform (architecture, os) of an image, read from its config blob at push time."""

from __future__ import annotations

import json
from dataclasses import dataclass

from dockyard.errors import StorageError
from dockyard.spec import mediatypes
from dockyard.spec.digest import digest_of
from dockyard.spec.manifest import ParsedManifest
from dockyard.storage.driver import BlobDriver, blob_key

# Image configs are small; anything larger is not read during a push.
MAX_CONFIG_BYTES = 1024 * 1024
MAX_FIELD_CHARS = 64  # the width of the columns


@dataclass(frozen=True, slots=True)
class Platform:
    architecture: str | None = None
    os: str | None = None


def image_platform(driver: BlobDriver, parsed: ParsedManifest) -> Platform:
    """From an OCI or Docker image config; empty for indexes and other artifacts, and when
    the config cannot be read (the push itself decides whether the config is there)."""
    if parsed.is_index or parsed.config_media_type not in mediatypes.IMAGE_CONFIGS:
        return Platform()
    config = parsed.blobs[0]
    if config.size > MAX_CONFIG_BYTES:
        return Platform()
    try:
        data = b"".join(driver.read(blob_key(str(config.digest)), 0, config.size))
    except (OSError, StorageError):
        return Platform()
    if digest_of(data, config.digest.algorithm) != config.digest:
        return Platform()
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return Platform()
    if not isinstance(document, dict):
        return Platform()
    return Platform(_text(document.get("architecture")), _text(document.get("os")))


def _text(value: object) -> str | None:
    """A short string the database can hold (no NUL, no lone surrogate), else nothing."""
    if not isinstance(value, str) or not value or "\x00" in value:
        return None
    shown = value[:MAX_FIELD_CHARS]
    try:
        shown.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return shown
