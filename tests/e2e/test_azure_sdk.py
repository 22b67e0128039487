"""Microsoft's `azure-containerregistry` (the Python SDK for ACR's data plane) against a real
`dockyard serve` over TLS: every operation of `ContainerRegistryClient`, anonymously (anonymous
pull on: reads work, writes are 401) and with a credential exchanged at `/oauth2/exchange`
(an identity token of an OIDC issuer that this test serves over HTTPS, Entra-style: issuer
with a trailing `/`, the SDK's audience, the user named by its `upn`). The SDK sends every
request without a token first and again after the 401, so its chunked upload is the early
401 to a 4 MiB PATCH over TLS (issue #12, points 1, 3 and 4).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from azure.containerregistry import (
    ArtifactManifestProperties,
    ContainerRegistryClient,
)
from azure.core.credentials import AccessToken
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
)

from tests.integration.auth_helpers import AuthServer, start_auth_server
from tests.oidc_issuer import Issuer
from tests.tls import CertificateAuthority

pytestmark = pytest.mark.e2e

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
SDK_AUDIENCE = "https://containerregistry.azure.net"
SDK_CHUNK = 4 * 1024 * 1024  # azure.containerregistry._helpers.DEFAULT_CHUNK_SIZE
DEVELOPER = "dev.one@contoso.example.com"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"


@dataclass
class IssuerCredential:
    """A `TokenCredential` as azure-identity's are: an identity token of the issuer for the
    audience of the scope the SDK asks for, naming the user by `upn` (Entra v1 style)."""

    issuer: Issuer
    upn: str
    scopes_asked: list[tuple[str, ...]] = field(default_factory=list)

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes_asked.append(scopes)
        audience = scopes[0].removesuffix("/.default")
        token = self.issuer.token("object-id-of-dev", audience=audience, upn=self.upn)
        return AccessToken(token, int(time.time()) + 300)


@dataclass
class Registry:
    srv: AuthServer
    issuer: Issuer
    ca_file: Path

    def client(self, credential: IssuerCredential | None, **kwargs: Any) -> ContainerRegistryClient:
        # The SDK's transport takes the CA per request (REQUESTS_CA_BUNDLE would not win
        # over it), so the test CA is trusted without touching the environment.
        return ContainerRegistryClient(
            self.srv.url, credential, connection_verify=str(self.ca_file), **kwargs
        )

    def access_lines(self, method: str, path_part: str) -> list[int]:
        """Statuses of the access log's lines for `method` on paths containing `path_part`."""
        pattern = re.compile(rf'"{method} (\S+)" (\d{{3}}) ')
        return [
            int(m.group(2))
            for m in pattern.finditer(self.srv.proc.log())
            if path_part in m.group(1)
        ]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    folder = tmp_path_factory.mktemp("azure-sdk")
    ca = CertificateAuthority.create(folder / "ca")
    issuer = Issuer(tenant=TENANT, tls=ca.issue(folder / "ca", "issuer"))
    try:
        srv = start_auth_server(
            folder / "data",
            tls=ca.issue(folder / "ca", "registry"),
            ca_file=ca.ca_file,
            DOCKYARD_OIDC_ISSUER=issuer.url,
            DOCKYARD_OIDC_USERNAME_CLAIM="upn",
            # Dockyard fetches the issuer's discovery document and keys over HTTPS.
            SSL_CERT_FILE=str(ca.ca_file),
        )
        try:
            srv.access.anonymous_pull.set(True, "test")
            srv.access.users.create(DEVELOPER, "user", "test")
            srv.access.roles.assign(DEVELOPER, "Contributor", "*", "test")
            yield Registry(srv, issuer, ca.ca_file)
        finally:
            srv.close()
    finally:
        issuer.stop()


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_image(client: ContainerRegistryClient, repo: str, tag: str) -> tuple[str, bytes, str]:
    """Upload a config and a layer larger than two SDK chunks, then set the manifest by tag;
    (manifest digest, layer bytes, layer digest)."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {}}).encode()
    layer = os.urandom(2 * SDK_CHUNK + 123_457)
    config_digest, config_size = client.upload_blob(repo, io.BytesIO(config))
    layer_digest, layer_size = client.upload_blob(repo, io.BytesIO(layer))
    assert (config_digest, config_size) == (digest_of(config), len(config))
    assert (layer_digest, layer_size) == (digest_of(layer), len(layer))
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": OCI_LAYER, "digest": layer_digest, "size": layer_size}],
    }
    digest = client.set_manifest(repo, manifest, tag=tag, media_type=OCI_MANIFEST)
    assert digest == digest_of(json.dumps(manifest).encode())
    return digest, layer, layer_digest


def test_every_operation_with_an_exchanged_identity(registry: Registry) -> None:
    credential = IssuerCredential(registry.issuer, DEVELOPER)
    repo, other = "sdk/app", "sdk/scratch"
    with registry.client(credential) as client:
        digest, layer, layer_digest = push_image(client, repo, "v1")
        # Chunked over TLS: each 4 MiB PATCH went first without a token (401, its body read
        # and discarded by the server) and then with one (202).
        patches = registry.access_lines("PATCH", f"/v2/{repo}/blobs/uploads/")
        assert patches.count(202) >= 3, patches
        assert patches.count(401) >= 3, patches
        assert credential.scopes_asked[0] == (f"{SDK_AUDIENCE}/.default",)

        # The Azure CLI's audience (ARM) is accepted too (a write: anonymous reads need none).
        arm = IssuerCredential(registry.issuer, DEVELOPER)
        with registry.client(arm, audience="https://management.azure.com") as by_arm:
            assert by_arm.update_repository_properties(repo, can_read=True).can_read is True
        assert arm.scopes_asked[0] == ("https://management.azure.com/.default",)

        got = client.get_manifest(repo, "v1")
        assert (got.digest, got.media_type) == (digest, OCI_MANIFEST)
        assert got.manifest["layers"][0]["digest"] == layer_digest
        assert client.get_manifest(repo, digest).digest == digest
        stream = client.download_blob(repo, layer_digest)
        assert b"".join(stream) == layer

        assert repo in list(client.list_repository_names())
        props = client.get_repository_properties(repo)
        assert (props.name, props.manifest_count, props.tag_count) == (repo, 1, 1)
        props = client.update_repository_properties(repo, can_list=False)
        assert props.can_list is False
        assert client.update_repository_properties(repo, can_list=True).can_list is True

        manifests: list[ArtifactManifestProperties] = list(client.list_manifest_properties(repo))
        assert [m.digest for m in manifests] == [digest]
        assert manifests[0].tags == ["v1"]
        manifest = client.get_manifest_properties(repo, "v1")
        assert (manifest.digest, manifest.architecture, manifest.operating_system) == (
            digest,
            "amd64",
            "linux",
        )
        locked = client.update_manifest_properties(repo, digest, can_delete=False)
        assert locked.can_delete is False
        with pytest.raises(HttpResponseError) as refused:
            client.delete_manifest(repo, digest)
        assert refused.value.status_code == 405
        client.update_manifest_properties(repo, digest, can_delete=True)

        client.set_manifest(repo, got.manifest, tag="v2", media_type=OCI_MANIFEST)
        tags = {t.name: t for t in client.list_tag_properties(repo)}
        assert set(tags) == {"v1", "v2"}
        assert tags["v2"].digest == digest
        tag = client.get_tag_properties(repo, "v1")
        # (the SDK 1.2.0 leaves `repository_name` of get_tag_properties empty: it passes
        # `repository=` to a model that reads `repository_name`)
        assert (tag.name, tag.digest) == ("v1", digest)
        assert client.update_tag_properties(repo, "v1", can_write=False).can_write is False
        assert client.update_tag_properties(repo, "v1", can_write=True).can_write is True
        client.delete_tag(repo, "v2")
        assert [t.name for t in client.list_tag_properties(repo)] == ["v1"]

        extra = os.urandom(1000)
        extra_digest, _ = client.upload_blob(repo, io.BytesIO(extra))
        assert b"".join(client.download_blob(repo, extra_digest)) == extra
        client.delete_blob(repo, extra_digest)
        with pytest.raises(ResourceNotFoundError):
            client.download_blob(repo, extra_digest)
        client.delete_blob(repo, extra_digest)  # already gone: the SDK takes the 404 as done

        client.delete_manifest(repo, "v1")
        with pytest.raises(ResourceNotFoundError):
            client.get_manifest_properties(repo, digest)

        push_image(client, other, "latest")
        client.delete_repository(other)
        assert other not in list(client.list_repository_names())
        with pytest.raises(ResourceNotFoundError):
            client.get_repository_properties(other)


def test_anonymous_reads_work_and_writes_are_refused(registry: Registry) -> None:
    repo = "sdk/public"
    with registry.client(IssuerCredential(registry.issuer, DEVELOPER)) as writer:
        digest, layer, layer_digest = push_image(writer, repo, "v1")

    with registry.client(None) as anonymous:
        assert repo in list(anonymous.list_repository_names())
        props = anonymous.get_repository_properties(repo)
        assert (props.name, props.tag_count) == (repo, 1)
        assert [m.digest for m in anonymous.list_manifest_properties(repo)] == [digest]
        assert anonymous.get_manifest_properties(repo, "v1").digest == digest
        assert [t.name for t in anonymous.list_tag_properties(repo)] == ["v1"]
        assert anonymous.get_tag_properties(repo, "v1").digest == digest
        got = anonymous.get_manifest(repo, "v1")
        assert got.digest == digest
        assert b"".join(anonymous.download_blob(repo, layer_digest)) == layer

        writes = {
            "update_repository_properties": lambda: anonymous.update_repository_properties(
                repo, can_delete=False
            ),
            "update_manifest_properties": lambda: anonymous.update_manifest_properties(
                repo, digest, can_write=False
            ),
            "update_tag_properties": lambda: anonymous.update_tag_properties(
                repo, "v1", can_write=False
            ),
            "set_manifest": lambda: anonymous.set_manifest(
                repo, got.manifest, tag="v2", media_type=OCI_MANIFEST
            ),
            "upload_blob": lambda: anonymous.upload_blob(repo, io.BytesIO(os.urandom(SDK_CHUNK))),
            "delete_tag": lambda: anonymous.delete_tag(repo, "v1"),
            "delete_manifest": lambda: anonymous.delete_manifest(repo, digest),
            "delete_blob": lambda: anonymous.delete_blob(repo, layer_digest),
            "delete_repository": lambda: anonymous.delete_repository(repo),
        }
        for operation, write in writes.items():
            with pytest.raises((ClientAuthenticationError, HttpResponseError)) as refused:
                write()
            assert refused.value.status_code == 401, f"{operation}: {refused.value}"

        # Nothing changed.
        props = anonymous.get_repository_properties(repo)
        assert (props.can_delete, props.manifest_count, props.tag_count) == (True, 1, 1)
        assert anonymous.get_tag_properties(repo, "v1").can_write is True
        assert b"".join(anonymous.download_blob(repo, layer_digest)) == layer

    # None of the anonymous requests counted as a failed login from this address.
    failures = [
        e for e in registry.srv.audit() if e.get("event") == "login" and e.get("outcome") != "ok"
    ]
    assert failures == []
