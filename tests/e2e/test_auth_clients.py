"""Real clients against an auth-enabled Dockyard: docker login/push/pull/logout, skopeo with
--src-creds/--dest-creds, podman login, buildah push --creds, the oras Python client with a
username and password, a pull-only repository-scoped token, and anonymous pull."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import oras.provider
import pytest

from tests.e2e.helpers import (
    Tool,
    make_image,
    make_tar,
    read_oci_layout,
    sha256_digest,
    write_oci_layout,
)
from tests.integration.auth_helpers import AuthServer, auth_server, nonce, start_auth_server

pytestmark = pytest.mark.e2e

TLS_OFF = ("--src-tls-verify=false", "--dest-tls-verify=false")
PUSH_DIGEST = re.compile(r"digest: (sha256:[0-9a-f]{64}) size: (\d+)")
REFUSED_WORDS = ("unauthorized", "denied", "authentication required", "401", "403")


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    server = start_auth_server(tmp_path_factory.mktemp("dockyard-auth-e2e"))
    yield server
    server.close()


@pytest.fixture
def owner_http(srv: AuthServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=srv.url, timeout=60, headers=srv.owner()) as http:
        yield http


def owner_creds(srv: AuthServer) -> str:
    return f"owner:{srv.owner_password}"


def assert_refused(result: subprocess.CompletedProcess[str], what: str) -> None:
    """A client command that must have failed because the registry said no."""
    output = f"{result.stdout}\n{result.stderr}"
    assert result.returncode != 0, f"{what} succeeded:\n{output}"
    assert any(word in output.lower() for word in REFUSED_WORDS), (
        f"{what} failed, but not with an authorization error:\n{output}"
    )


def oci_source(busybox_rootfs: Path, tmp_path: Path, note: str) -> tuple[Path, str]:
    """An OCI layout holding one small busybox image; returns (layout dir, manifest digest)."""
    image = make_image([busybox_rootfs.read_bytes(), make_tar({"srv/note.txt": note.encode()})])
    src = tmp_path / f"src-{nonce()}"
    write_oci_layout(src, "v1", image.body, image.blobs)
    return src, image.digest


def manifest_status(http: httpx.Client, repo: str, reference: str) -> int:
    return http.get(
        f"/v2/{repo}/manifests/{reference}",
        headers={
            "Accept": "application/vnd.oci.image.manifest.v1+json, "
            "application/vnd.docker.distribution.manifest.v2+json"
        },
    ).status_code


def test_docker_login_push_pull_logout(
    srv: AuthServer,
    docker_cli: Tool,
    unique_base_image: str,
    owner_http: httpx.Client,
    tmp_path: Path,
) -> None:
    config_dir = tmp_path / "docker-config"
    config_dir.mkdir()
    env = {"DOCKER_CONFIG": str(config_dir)}
    repo = f"e2e-auth/docker-{nonce()}"
    image = f"{srv.host}/{repo}:v1"
    docker_cli("tag", unique_base_image, image)
    try:
        built_id = docker_cli("image", "inspect", "--format", "{{.Id}}", image).strip()
        assert_refused(docker_cli.run("push", image, check=False, env=env), "push before login")
        assert manifest_status(owner_http, repo, "v1") == 404

        wrong = docker_cli.run(
            "login", srv.host, "-u", "owner", "--password-stdin",
            input="not-the-password\n", check=False, env=env,
        )  # fmt: skip
        assert_refused(wrong, "docker login with a wrong password")

        login = docker_cli(
            "login", srv.host, "-u", "owner", "--password-stdin",
            input=srv.owner_password + "\n", env=env,
        )  # fmt: skip
        assert "Login Succeeded" in login
        auths = json.loads((config_dir / "config.json").read_text()).get("auths", {})
        assert srv.host in auths, auths

        out = docker_cli("push", image, env=env)
        match = PUSH_DIGEST.search(out)
        assert match, f"no digest in docker push output:\n{out}"
        pushed_digest = match.group(1)
        resp = owner_http.get(
            f"/v2/{repo}/manifests/v1",
            headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
        )
        assert resp.status_code == 200, resp.text
        assert sha256_digest(resp.content) == pushed_digest

        docker_cli("rmi", image)
        docker_cli("rmi", unique_base_image)
        pulled = docker_cli("pull", image, env=env)
        assert pushed_digest in pulled
        assert docker_cli("image", "inspect", "--format", "{{.Id}}", image).strip() == built_id

        docker_cli("logout", srv.host, env=env)
        auths = json.loads((config_dir / "config.json").read_text()).get("auths", {})
        assert srv.host not in auths, auths
        docker_cli("rmi", image)
        assert_refused(docker_cli.run("pull", image, check=False, env=env), "pull after logout")
        gone = docker_cli.run("image", "inspect", image, check=False)
        assert gone.returncode != 0, "the refused pull still produced the image"
    finally:
        docker_cli.run("rmi", "-f", image, check=False)


def test_skopeo_copy_with_credentials(
    srv: AuthServer,
    skopeo: Tool,
    busybox_rootfs: Path,
    owner_http: httpx.Client,
    tmp_path: Path,
) -> None:
    src, digest = oci_source(busybox_rootfs, tmp_path, "skopeo with creds\n")
    repo = f"e2e-auth/skopeo-{nonce()}"
    ref = f"docker://{srv.host}/{repo}:v1"
    pusher, pusher_password = srv.user("AcrPush", repo)

    anonymous = skopeo.run(
        "copy", *TLS_OFF, "--dest-no-creds", "--preserve-digests", f"oci:{src}:v1", ref,
        check=False,
    )  # fmt: skip
    assert_refused(anonymous, "skopeo copy without credentials")
    wrong = skopeo.run(
        "copy", *TLS_OFF, "--dest-creds", f"{pusher}:wrong", "--preserve-digests",
        f"oci:{src}:v1", ref, check=False,
    )  # fmt: skip
    assert_refused(wrong, "skopeo copy with a wrong password")
    assert manifest_status(owner_http, repo, "v1") == 404

    skopeo(
        "copy", *TLS_OFF, "--dest-creds", f"{pusher}:{pusher_password}", "--preserve-digests",
        f"oci:{src}:v1", ref,
    )  # fmt: skip
    resp = owner_http.get(
        f"/v2/{repo}/manifests/v1",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    )
    assert resp.status_code == 200, resp.text
    assert sha256_digest(resp.content) == digest

    out = tmp_path / "out"
    skopeo(
        "copy", *TLS_OFF, "--src-creds", owner_creds(srv), "--preserve-digests",
        ref, f"oci:{out}:v1",
    )  # fmt: skip
    assert read_oci_layout(out, "v1")[0] == digest

    raw = skopeo("inspect", "--tls-verify=false", "--raw", "--creds", owner_creds(srv), ref)
    assert sha256_digest(raw.encode()) == digest
    assert_refused(
        skopeo.run("inspect", "--tls-verify=false", "--no-creds", ref, check=False),
        "skopeo inspect without credentials",
    )


def test_podman_login_push_pull(
    srv: AuthServer,
    podman: Tool,
    busybox_rootfs: Path,
    owner_http: httpx.Client,
    tmp_path: Path,
) -> None:
    auth_file = tmp_path / "auth.json"
    auth_file.write_text('{"auths": {}}')
    env = {"REGISTRY_AUTH_FILE": str(auth_file)}
    repo = f"e2e-auth/podman-{nonce()}"
    ref = f"{srv.host}/{repo}:v1"
    podman("import", str(busybox_rootfs), ref)
    try:
        assert_refused(
            podman.run("push", "--tls-verify=false", ref, check=False, env=env),
            "podman push before login",
        )
        podman(
            "login", "--tls-verify=false", "-u", "owner", "--password-stdin", srv.host,
            input=srv.owner_password + "\n", env=env,
        )  # fmt: skip
        digest_file = tmp_path / "digest"
        podman("push", "--tls-verify=false", "--digestfile", str(digest_file), ref, env=env)
        digest = digest_file.read_text().strip()
        resp = owner_http.get(
            f"/v2/{repo}/manifests/v1",
            headers={
                "Accept": "application/vnd.oci.image.manifest.v1+json, "
                "application/vnd.docker.distribution.manifest.v2+json"
            },
        )
        assert resp.status_code == 200, resp.text
        assert sha256_digest(resp.content) == digest

        podman("rmi", "-f", ref)
        podman("pull", "--tls-verify=false", ref, env=env)
        repo_digests = json.loads(
            podman("image", "inspect", "--format", "{{json .RepoDigests}}", ref)
        )
        assert f"{srv.host}/{repo}@{digest}" in repo_digests, repo_digests

        podman("logout", srv.host, env=env)
        podman("rmi", "-f", ref)
        assert_refused(
            podman.run("pull", "--tls-verify=false", ref, check=False, env=env),
            "podman pull after logout",
        )
    finally:
        podman.run("rmi", "-f", ref, check=False)


def test_buildah_push_with_creds(
    srv: AuthServer,
    buildah: Tool,
    skopeo: Tool,
    owner_http: httpx.Client,
    tmp_path: Path,
) -> None:
    repo = f"e2e-auth/buildah-{nonce()}"
    ref = f"{srv.host}/{repo}:v1"
    empty_auth = tmp_path / "empty-auth.json"
    empty_auth.write_text('{"auths": {}}')
    container = f"dy-auth-{nonce()}"
    buildah("from", "--name", container, "scratch")
    try:
        payload = tmp_path / "hello.txt"
        payload.write_text("pushed by buildah with --creds\n")
        buildah("copy", container, str(payload), "/hello.txt")
        buildah("commit", "--format", "oci", container, ref)

        assert_refused(
            buildah.run(
                "push", "--tls-verify=false", "--authfile", str(empty_auth), ref, check=False
            ),
            "buildah push without credentials",
        )
        assert manifest_status(owner_http, repo, "v1") == 404

        digest_file = tmp_path / "digest"
        buildah(
            "push", "--tls-verify=false", "--creds", owner_creds(srv),
            "--digestfile", str(digest_file), ref,
        )  # fmt: skip
        digest = digest_file.read_text().strip()
        raw = skopeo(
            "inspect", "--tls-verify=false", "--raw", "--creds", owner_creds(srv), f"docker://{ref}"
        )
        assert sha256_digest(raw.encode()) == digest
    finally:
        buildah.run("rm", container, check=False)
        buildah.run("rmi", "-f", ref, check=False)


def test_oras_push_with_username_and_password(
    srv: AuthServer, owner_http: httpx.Client, tmp_path: Path
) -> None:
    repo = f"e2e-auth/oras-{nonce()}"
    target = f"{srv.host}/{repo}:v1"
    artifact = tmp_path / "artifact.txt"
    artifact.write_text("an artifact pushed with credentials\n")
    files = [f"{artifact}:application/vnd.dockyard.e2e.text"]

    # (Without any credentials oras-py retries its refused requests with back-off for two
    # minutes, so the refusal is checked with a wrong password instead.)
    intruder, _ = srv.user("AcrPush", repo)
    wrong = oras.provider.Registry(hostname=srv.host, insecure=True, auth_backend="basic")
    wrong.auth.set_basic_auth(intruder, "not-the-password")
    try:
        response = wrong.push(target=target, files=files, disable_path_validation=True, quiet=True)
        wrong_status = response.status_code
    except Exception as exc:  # oras raises on some refusals, returns them on others
        wrong_status = getattr(getattr(exc, "response", None), "status_code", -1)
    assert wrong_status != 201, "oras pushed with a wrong password"
    assert manifest_status(owner_http, repo, "v1") == 404

    # oras-py's default "token" backend keeps the first (pull-only) token it got from the
    # blob-exists check and fetches a new one only on 403, never on the spec's 401
    # insufficient_scope; its "basic" backend sends the credentials with every request.
    pusher, password = srv.user("AcrPush", repo)
    client = oras.provider.Registry(hostname=srv.host, insecure=True, auth_backend="basic")
    client.auth.set_basic_auth(pusher, password)
    response = client.push(target=target, files=files, disable_path_validation=True, quiet=True)
    assert response.status_code == 201, f"{response.status_code} {response.text}"
    digest = response.headers.get("Docker-Content-Digest", "")
    resp = owner_http.get(
        f"/v2/{repo}/manifests/v1",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    )
    assert resp.status_code == 200, resp.text
    assert sha256_digest(resp.content) == digest

    out = tmp_path / "pulled"
    pulled = client.pull(target=target, outdir=str(out))
    assert [Path(f).read_bytes() for f in pulled] == [artifact.read_bytes()]


def test_repository_token_pulls_but_cannot_push(
    srv: AuthServer,
    skopeo: Tool,
    busybox_rootfs: Path,
    owner_http: httpx.Client,
    tmp_path: Path,
) -> None:
    src, digest = oci_source(busybox_rootfs, tmp_path, "repository token\n")
    repo = f"e2e-auth/token-{nonce()}"
    other = f"e2e-auth/token-other-{nonce()}"
    ref = f"docker://{srv.host}/{repo}:v1"
    skopeo(
        "copy", *TLS_OFF, "--dest-creds", owner_creds(srv), "--preserve-digests",
        f"oci:{src}:v1", ref,
    )  # fmt: skip
    skopeo(
        "copy", *TLS_OFF, "--dest-creds", owner_creds(srv), "--preserve-digests",
        f"oci:{src}:v1", f"docker://{srv.host}/{other}:v1",
    )  # fmt: skip
    name, password = srv.token([f"repositories/{repo}/content/read"])
    creds = f"{name}:{password}"

    raw = skopeo("inspect", "--tls-verify=false", "--raw", "--creds", creds, ref)
    assert sha256_digest(raw.encode()) == digest
    out = tmp_path / "out"
    skopeo("copy", *TLS_OFF, "--src-creds", creds, ref, f"oci:{out}:v1")
    assert read_oci_layout(out, "v1")[0] == digest

    assert_refused(
        skopeo.run(
            "copy", *TLS_OFF, "--dest-creds", creds, "--preserve-digests",
            f"oci:{src}:v1", f"docker://{srv.host}/{repo}:pushed-by-token", check=False,
        ),
        "push with a pull-only token",
    )  # fmt: skip
    assert manifest_status(owner_http, repo, "pushed-by-token") == 404
    assert_refused(
        skopeo.run(
            "inspect", "--tls-verify=false", "--creds", creds,
            f"docker://{srv.host}/{other}:v1", check=False,
        ),
        "pull of another repository with a repository-scoped token",
    )  # fmt: skip
    assert_refused(
        skopeo.run(
            "delete", "--tls-verify=false", "--creds", creds, f"docker://{srv.host}/{repo}@{digest}",
            check=False,
        ),
        "delete with a pull-only token",
    )  # fmt: skip
    assert manifest_status(owner_http, repo, "v1") == 200


def test_anonymous_pull_lets_skopeo_inspect_without_credentials(
    skopeo: Tool, busybox_rootfs: Path, tmp_path: Path
) -> None:
    with auth_server(tmp_path / "data") as srv:
        src, digest = oci_source(busybox_rootfs, tmp_path, "anonymous pull\n")
        ref = f"docker://{srv.host}/public/app:v1"
        skopeo(
            "copy", *TLS_OFF, "--dest-creds", owner_creds(srv), "--preserve-digests",
            f"oci:{src}:v1", ref,
        )  # fmt: skip
        assert_refused(
            skopeo.run("inspect", "--tls-verify=false", "--no-creds", ref, check=False),
            "anonymous inspect while anonymous pull is off",
        )

        srv.access.anonymous_pull.set(True, "test")
        raw = skopeo("inspect", "--tls-verify=false", "--no-creds", "--raw", ref)
        assert sha256_digest(raw.encode()) == digest
        info = json.loads(skopeo("inspect", "--tls-verify=false", "--no-creds", ref))
        assert info["Digest"] == digest
        out = tmp_path / "out"
        skopeo("copy", *TLS_OFF, "--src-no-creds", ref, f"oci:{out}:v1")
        assert read_oci_layout(out, "v1")[0] == digest

        # Anonymous pull is pull only.
        assert_refused(
            skopeo.run(
                "copy", *TLS_OFF, "--dest-no-creds", "--preserve-digests", f"oci:{src}:v1",
                f"docker://{srv.host}/public/app:anonymous", check=False,
            ),
            "anonymous push",
        )  # fmt: skip
