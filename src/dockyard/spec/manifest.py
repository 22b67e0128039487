"""Manifest parsing: bytes in, a validated summary of what the manifest references out.

The registry stores the exact bytes it received; this module only reads them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from dockyard.spec import mediatypes as mt
from dockyard.spec.digest import Digest, InvalidDigest

MAX_MANIFEST_BYTES = 4 * 1024 * 1024
# RFC 6838: a type and a subtype of at most 127 characters each. Also the database's column.
MAX_MEDIA_TYPE_CHARS = 255
# In strict UTF-8 JSON the only ways to carry NUL or a lone surrogate are the escapes \u0000
# and \ud800-\udfff (raw ones are refused by the decoders); manifests without them skip the
# walk.
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


class ManifestError(ValueError):
    """The manifest is not valid JSON, or not a manifest this registry understands."""


class UnsupportedManifest(ManifestError):
    """A manifest format the registry refuses on purpose (Docker schema 1)."""


@dataclass(frozen=True, slots=True)
class Descriptor:
    media_type: str
    digest: Digest
    size: int
    artifact_type: str | None = None
    annotations: dict[str, str] | None = None
    urls: tuple[str, ...] = ()
    platform: dict[str, Any] | None = None

    @property
    def is_foreign(self) -> bool:
        return mt.is_foreign_layer(self.media_type)


@dataclass(frozen=True, slots=True)
class ParsedManifest:
    media_type: str
    blobs: tuple[Descriptor, ...] = ()  # config and layers
    children: tuple[Descriptor, ...] = ()  # manifests of an index
    subject: Descriptor | None = None
    artifact_type: str | None = None
    config_media_type: str | None = None
    annotations: dict[str, str] | None = None
    layers: tuple[Descriptor, ...] = field(default=())

    @property
    def is_index(self) -> bool:
        return self.media_type in mt.INDEXES

    @property
    def referrer_artifact_type(self) -> str | None:
        """artifactType as the referrers API lists it (distribution-spec 1.1, Listing Referrers)."""
        if self.artifact_type:
            return self.artifact_type
        if not self.is_index and self.config_media_type:
            return self.config_media_type
        return None


def _descriptor(raw: Any, where: str) -> Descriptor:
    if not isinstance(raw, dict):
        raise ManifestError(f"{where}: a descriptor must be an object")
    media_type = raw.get("mediaType")
    digest = raw.get("digest")
    size = raw.get("size")
    if not isinstance(media_type, str) or not media_type:
        raise ManifestError(f"{where}: mediaType is required")
    _check_media_type(media_type, f"{where}: mediaType")
    if not isinstance(digest, str):
        raise ManifestError(f"{where}: digest is required")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ManifestError(f"{where}: size must be a non-negative integer")
    try:
        parsed_digest = Digest.parse(digest)
    except InvalidDigest as exc:
        raise ManifestError(f"{where}: {exc}") from exc
    artifact_type = raw.get("artifactType")
    annotations = raw.get("annotations")
    urls = raw.get("urls", [])
    platform = raw.get("platform")
    if artifact_type is not None and not isinstance(artifact_type, str):
        raise ManifestError(f"{where}: artifactType must be a string")
    if artifact_type is not None:
        _check_media_type(artifact_type, f"{where}: artifactType")
    if annotations is not None and not _is_string_map(annotations):
        raise ManifestError(f"{where}: annotations must map strings to strings")
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        raise ManifestError(f"{where}: urls must be a list of strings")
    if platform is not None and not isinstance(platform, dict):
        raise ManifestError(f"{where}: platform must be an object")
    return Descriptor(
        media_type, parsed_digest, size, artifact_type, annotations, tuple(urls), platform
    )


def _check_media_type(value: str, where: str) -> None:
    if len(value) > MAX_MEDIA_TYPE_CHARS:
        raise ManifestError(f"{where} is longer than {MAX_MEDIA_TYPE_CHARS} characters")


def _is_string_map(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )


def _descriptor_list(document: dict[str, Any], key: str, required: bool) -> tuple[Descriptor, ...]:
    raw = document.get(key)
    if raw is None:
        if required:
            raise ManifestError(f"{key} is required")
        return ()
    if not isinstance(raw, list):
        raise ManifestError(f"{key} must be a list")
    return tuple(_descriptor(item, f"{key}[{i}]") for i, item in enumerate(raw))


def parse_manifest(body: bytes, content_type: str | None) -> ParsedManifest:
    """Validate a manifest PUT body; `content_type` is the request's Content-Type."""
    try:
        # Strict UTF-8 first: json.loads would take UTF-16 and raw surrogate bytes as well.
        document = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # not UTF-8 or JSON, a number too long, too deep
        raise ManifestError(f"manifest is not valid JSON: {str(exc)[:200]}") from exc
    if not isinstance(document, dict):
        raise ManifestError("manifest must be a JSON object")
    if _SUSPECT_ESCAPE.search(body):
        _check_text(document)
    header_type = (content_type or "").split(";", 1)[0].strip().lower() or None
    body_type = document.get("mediaType")
    if body_type is not None and not isinstance(body_type, str):
        raise ManifestError("mediaType must be a string")
    schema_version = document.get("schemaVersion")
    if isinstance(schema_version, bool) or not isinstance(schema_version, int):
        raise ManifestError("schemaVersion must be the integer 2")
    if schema_version == 1 or header_type in mt.SCHEMA1 or body_type in mt.SCHEMA1:
        raise UnsupportedManifest(
            "Docker image manifest schema 1 is not supported; push schema 2 or OCI manifests"
        )
    if schema_version != 2:
        raise ManifestError("schemaVersion must be 2")
    if body_type and header_type and body_type != header_type:
        raise ManifestError(f"mediaType {body_type!r} does not match Content-Type {header_type!r}")
    media_type = body_type or header_type or _guess_media_type(document)
    if media_type not in mt.MANIFESTS:
        raise ManifestError(f"unsupported manifest media type {media_type!r}")
    artifact_type = document.get("artifactType")
    if artifact_type is not None and not isinstance(artifact_type, str):
        raise ManifestError("artifactType must be a string")
    if artifact_type is not None:
        _check_media_type(artifact_type, "artifactType")
    annotations = document.get("annotations")
    if annotations is not None and not _is_string_map(annotations):
        raise ManifestError("annotations must map strings to strings")
    subject = document.get("subject")
    parsed_subject = _descriptor(subject, "subject") if subject is not None else None
    if media_type in mt.INDEXES:
        children = _descriptor_list(document, "manifests", required=True)
        return ParsedManifest(
            media_type, (), children, parsed_subject, artifact_type, None, annotations
        )
    config = _descriptor(document.get("config"), "config")
    layers = _descriptor_list(document, "layers", required=media_type == mt.DOCKER_MANIFEST)
    if media_type == mt.DOCKER_MANIFEST and artifact_type is not None:
        raise ManifestError("artifactType is not part of a Docker manifest")
    return ParsedManifest(
        media_type,
        (config, *layers),
        (),
        parsed_subject,
        artifact_type,
        config.media_type,
        annotations,
        layers,
    )


def _check_text(document: Any) -> None:
    """Every string (keys too) must be text that UTF-8 and the database can hold: no lone
    surrogate (the escape of half a UTF-16 pair) and no NUL. Iterative: the document may be
    nested as deep as the decoder allowed."""
    pending = [document]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, str):
            if "\x00" in value:
                raise ManifestError("manifest strings must not contain NUL (\\u0000)")
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ManifestError(
                    "manifest strings must be valid Unicode: a lone surrogate escape"
                    " (\\ud800-\\udfff) is not"
                ) from None


def _guess_media_type(document: dict[str, Any]) -> str:
    if "manifests" in document:
        return mt.OCI_INDEX
    if "config" in document:
        return mt.OCI_MANIFEST
    raise ManifestError("manifest has no mediaType and no Content-Type")
