"""Media types of manifests, configs and layers (OCI image-spec 1.1, Docker image manifest v2)."""

from __future__ import annotations

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_CHART = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"

IMAGE_MANIFESTS = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEXES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
MANIFESTS = IMAGE_MANIFESTS | INDEXES
SCHEMA1 = frozenset({DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED})
IMAGE_CONFIGS = frozenset({OCI_CONFIG, DOCKER_CONFIG})

_OCI_NONDISTRIBUTABLE_PREFIX = "application/vnd.oci.image.layer.nondistributable.v1.tar"


def is_foreign_layer(media_type: str) -> bool:
    """Non-distributable layers (Windows base layers) may be referenced without their blob."""
    return media_type == DOCKER_FOREIGN_LAYER or media_type.startswith(_OCI_NONDISTRIBUTABLE_PREFIX)


def accepts(accept_header: str | None, media_type: str) -> bool:
    """Whether a GET's `Accept` header admits a manifest of `media_type`.

    No header means the client takes anything, as do wildcards; Docker clients list every type.
    """
    if not accept_header:
        return True
    for item in accept_header.split(","):
        wanted, *params = (part.strip().lower() for part in item.split(";"))
        if any(p.replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000") for p in params):
            continue  # RFC 9110: q=0 means "not acceptable"
        if wanted in ("*/*", "application/*", "") or wanted == media_type:
            return True
    return False
