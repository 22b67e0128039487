"""Real Helm (v4, from the helm-python-sdk package, which ships Helm's Go SDK as the native
library libhelm_c) against an auth-enabled Dockyard over plain HTTP: `helm package`,
`helm registry login` with a user's and with a scope-map token's credentials (Helm then
follows the registry's Bearer challenge to /oauth2/token), `helm push` to oci://, the tags
of a chart, `helm pull`, `helm show chart|values`, and the webhooks a push fires. oras reads
what Helm pushed, and Helm pulls what oras pushed with Helm's media types.

Helm's OCI client speaks HTTPS unless told `plain_http` (the CLI's `--plain-http`): the SDK
takes it on the registry client, on `login` and on each `push`/`pull`/`show`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import oras.provider
import pytest

from tests.e2e.helpers import HELM_CHART, HELM_CONFIG, OCI_MANIFEST, sha256_digest, tar_members
from tests.integration.auth_helpers import AuthServer, nonce, start_auth_server
from tests.integration.test_webhooks import FAST, Receiver, create_hook, wait_for

try:
    import helm_python as helm
except ImportError:  # a missing tool fails the suite, it never skips it
    pytest.fail(
        "helm-python-sdk is not installed: pip install -e '.[test]' (it pins it)", pytrace=False
    )

pytestmark = pytest.mark.e2e

CHART_NAME = "dockyard-demo"
VALUES = "message: hello from dockyard\nreplicas: 1\n"


def write_chart(folder: Path, version: str = "0.0.1") -> Path:
    """A chart folder as `helm create` leaves one, trimmed to what the tests look at."""
    chart = folder / CHART_NAME
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(
        "apiVersion: v2\n"
        f"name: {CHART_NAME}\n"
        "description: A tiny chart for the Dockyard e2e suite\n"
        "type: application\n"
        f"version: {version}\n"
        'appVersion: "1.2.3"\n'
    )
    (chart / "values.yaml").write_text(VALUES)
    (chart / "templates" / "configmap.yaml").write_text(
        "apiVersion: v1\n"
        "kind: ConfigMap\n"
        "metadata:\n"
        "  name: {{ .Release.Name }}-demo\n"
        "data:\n"
        "  message: {{ .Values.message | quote }}\n"
    )
    return chart


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    found.start()
    yield found
    found.stop()


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory, receiver: Receiver) -> Iterator[AuthServer]:
    """An auth-enabled server with a webhook on `push` and `chart_push`."""
    server = start_auth_server(tmp_path_factory.mktemp("helm"), **FAST)
    with httpx.Client(base_url=server.url, timeout=30, headers=server.owner()) as http:
        create_hook(http, "helmhook", receiver.url, actions=["push", "chart_push"])
    yield server
    server.close()


@pytest.fixture
def owner(srv: AuthServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=srv.url, timeout=60, headers=srv.owner()) as http:
        yield http


def logged_in(srv: AuthServer, folder: Path, username: str, password: str) -> Any:
    """A Helm registry client logged in to `srv`, its credentials file in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    client = helm.RegistryClient(plain_http=True, credentials_file=folder / "registry.json")
    client.login(srv.host, username, password, plain_http=True)
    return client


def manifest_of(owner: httpx.Client, repository: str, tag: str) -> httpx.Response:
    resp = owner.get(f"/v2/{repository}/manifests/{tag}", headers={"Accept": OCI_MANIFEST})
    assert resp.status_code == 200, resp.text
    return resp


def test_helm_package_push_tags_pull_show_as_a_user(
    srv: AuthServer, owner: httpx.Client, receiver: Receiver, tmp_path: Path
) -> None:
    base = f"helm{nonce()}"
    repository = f"{base}/{CHART_NAME}"
    user, password = srv.user("AcrPush", f"{base}/*")
    chart_dir = write_chart(tmp_path / "src")

    # helm package --version: the archive holds <name>/... with the version set.
    archives: dict[str, Path] = {}
    for version in ("0.1.0", "0.2.0+build.7"):
        packaged = helm.package(chart_dir, destination=tmp_path / "dist", version=version)
        archives[version] = Path(packaged)
        assert archives[version].name == f"{CHART_NAME}-{version}.tgz"
        members = tar_members(archives[version].read_bytes())
        assert f"version: {version}" in (members[f"{CHART_NAME}/Chart.yaml"] or b"").decode()
        assert members[f"{CHART_NAME}/values.yaml"] == VALUES.encode()

    with pytest.raises(helm.HelmRegistryError):
        logged_in(srv, tmp_path, user, "not-the-password")
    with logged_in(srv, tmp_path, user, password) as client:
        stored = json.loads((tmp_path / "registry.json").read_text())
        assert srv.host in stored["auths"]

        for archive in archives.values():
            client.push(archive, f"oci://{srv.host}/{base}", plain_http=True)

        # Helm lists the chart's versions newest first; the registry has them with '+' as '_'
        # (OCI tags allow no '+'), and Helm maps them back.
        assert client.tags(f"oci://{srv.host}/{repository}") == ["0.2.0+build.7", "0.1.0"]
        listed = owner.get(f"/v2/{repository}/tags/list")
        assert listed.json() == {"name": repository, "tags": ["0.1.0", "0.2.0_build.7"]}

        pulled_dir = tmp_path / "pulled"
        pulled_dir.mkdir()
        digests: dict[str, str] = {}
        for version, archive in archives.items():
            tag = version.replace("+", "_")
            resolved = client.resolve(f"oci://{srv.host}/{repository}:{tag}")
            resp = manifest_of(owner, repository, tag)
            digests[tag] = resp.headers["Docker-Content-Digest"]
            assert resolved == {
                "digest": digests[tag],
                "media_type": OCI_MANIFEST,
                "size": len(resp.content),
            }
            manifest = resp.json()
            assert manifest["config"]["mediaType"] == HELM_CONFIG
            [layer] = manifest["layers"]
            assert layer["mediaType"] == HELM_CHART
            assert layer["digest"] == sha256_digest(archive.read_bytes())
            config = owner.get(f"/v2/{repository}/blobs/{manifest['config']['digest']}").json()
            assert (config["name"], config["version"]) == (CHART_NAME, version)

            # helm pull oci://... --version: the very archive that was pushed.
            client.pull(
                f"oci://{srv.host}/{repository}",
                version=version,
                destination=pulled_dir,
                plain_http=True,
            )
            assert (pulled_dir / archive.name).read_bytes() == archive.read_bytes()

        # helm show: the newest version's Chart.yaml and its values. (The SDK's `version=`
        # of show sends an option libhelm_c refuses, so the latest is shown.)
        shown = client.show(
            f"oci://{srv.host}/{repository}", output_format="chart", plain_http=True
        )
        assert f"name: {CHART_NAME}" in shown
        assert "version: 0.2.0+build.7" in shown
        values = client.show(
            f"oci://{srv.host}/{repository}", output_format="values", plain_http=True
        )
        assert values.strip() == VALUES.strip()

    # Each push fired `push` and `chart_push` for its tag, with the stored manifest's digest.
    # (Helm stores the manifest by digest, then tags it: untagged events come first.)
    def heard(action: str) -> dict[str, str]:
        return {
            e["target"]["tag"]: e["target"]["digest"]
            for e in receiver.events()
            if e["action"] == action
            and e["target"]["repository"] == repository
            and "tag" in e["target"]
        }

    wait_for(lambda: len(heard("push")) == 2 and len(heard("chart_push")) == 2, what="events")
    assert heard("push") == digests
    assert heard("chart_push") == digests
    [chart_event] = [
        e
        for e in receiver.events()
        if e["action"] == "chart_push"
        and e["target"].get("tag") == "0.1.0"
        and e["target"]["repository"] == repository
    ]
    assert (chart_event["target"]["name"], chart_event["target"]["version"]) == (
        CHART_NAME,
        "0.1.0",
    )
    assert "helm" in chart_event["request"]["useragent"].lower()


def test_helm_login_with_scope_map_tokens(srv: AuthServer, tmp_path: Path) -> None:
    base = f"helm{nonce()}"
    repository = f"{base}/{CHART_NAME}"
    archive = helm.package(write_chart(tmp_path / "src"), destination=tmp_path, version="1.0.0")
    reader, reader_password = srv.token([f"repositories/{repository}/content/read"])
    writer, writer_password = srv.token(
        [f"repositories/{repository}/content/read", f"repositories/{repository}/content/write"]
    )

    with pytest.raises(helm.HelmRegistryError):
        logged_in(srv, tmp_path / "bad", writer, reader_password)

    reading = logged_in(srv, tmp_path / "reader", reader, reader_password)
    with reading as client, pytest.raises(helm.HelmRegistryError):  # read only
        client.push(archive, f"oci://{srv.host}/{base}", plain_http=True)

    with logged_in(srv, tmp_path / "writer", writer, writer_password) as client:
        client.push(archive, f"oci://{srv.host}/{base}", plain_http=True)
        with pytest.raises(helm.HelmRegistryError):  # another repository than the map's
            client.push(archive, f"oci://{srv.host}/{base}-other", plain_http=True)
        assert client.tags(f"oci://{srv.host}/{repository}") == ["1.0.0"]

    with logged_in(srv, tmp_path / "reader", reader, reader_password) as client:
        out = tmp_path / "out"
        out.mkdir()
        client.pull(
            f"oci://{srv.host}/{repository}", version="1.0.0", destination=out, plain_http=True
        )
        assert (out / f"{CHART_NAME}-1.0.0.tgz").read_bytes() == Path(archive).read_bytes()
        shown = client.show(
            f"oci://{srv.host}/{repository}", output_format="chart", plain_http=True
        )
        assert "version: 1.0.0" in shown


def test_oras_and_helm_read_each_others_charts(
    srv: AuthServer, owner: httpx.Client, tmp_path: Path
) -> None:
    base = f"helm{nonce()}"
    repository = f"{base}/{CHART_NAME}"
    user, password = srv.user("AcrPush", f"{base}/*")
    archive = Path(
        helm.package(write_chart(tmp_path / "src"), destination=tmp_path / "dist", version="0.1.0")
    )
    with logged_in(srv, tmp_path, user, password) as client:
        client.push(archive, f"oci://{srv.host}/{base}", plain_http=True)

    oras_client = oras.provider.Registry(hostname=srv.host, insecure=True)
    oras_client.auth.set_basic_auth(user, password)
    target = f"{srv.host}/{repository}:0.1.0"
    manifest = oras_client.get_manifest(target, allowed_media_type=[OCI_MANIFEST])
    assert manifest == manifest_of(owner, repository, "0.1.0").json()
    out = tmp_path / "chart.tgz"
    oras_client.download_blob(target, manifest["layers"][0]["digest"], str(out))
    assert out.read_bytes() == archive.read_bytes()

    # A chart pushed by oras with Helm's media types (as `oras push` would) is a chart to Helm.
    other = Path(
        helm.package(write_chart(tmp_path / "src2"), destination=tmp_path / "d2", version="0.3.0")
    )
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"apiVersion": "v2", "name": CHART_NAME, "version": "0.3.0"}))
    # (basic auth: oras-py's token backend keeps its first, pull-only, token; see
    # test_auth_clients.py)
    oras_pusher = oras.provider.Registry(hostname=srv.host, insecure=True, auth_backend="basic")
    oras_pusher.auth.set_basic_auth(user, password)
    resp = oras_pusher.push(
        target=f"{srv.host}/{repository}:0.3.0",
        files=[f"{other}:{HELM_CHART}"],
        manifest_config=f"{config}:{HELM_CONFIG}",
        disable_path_validation=True,
        quiet=True,
    )
    assert resp.status_code == 201
    with logged_in(srv, tmp_path, user, password) as client:
        assert client.tags(f"oci://{srv.host}/{repository}") == ["0.3.0", "0.1.0"]
        pulled = tmp_path / "pulled"
        pulled.mkdir()
        client.pull(
            f"oci://{srv.host}/{repository}", version="0.3.0", destination=pulled, plain_http=True
        )
        assert (pulled / other.name).read_bytes() == other.read_bytes()
    with helm.Chart.load(pulled / other.name) as chart:
        rendered = chart.render(name="demo")
    assert 'message: "hello from dockyard"' in rendered[f"{CHART_NAME}/templates/configmap.yaml"]
