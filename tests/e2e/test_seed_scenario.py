"""The seed scenario: a saved multi-step task (tests/e2e/seed/acr-task.yaml) started by a
commit to a git repository served on loopback. It builds the web app image on a Debian base
made with debootstrap, runs the app detached, builds and runs the test image against it, and
only when the tests pass pushes the app, packages and pushes its Helm chart as an OCI
artifact, and upgrades the release on a deployment target the test runs. A commit that
breaks the app stops the run before the chart step.

The chart steps run Helm itself (v4, the helm-python-sdk package over libhelm_c, copied into
the tools image from an image the test pushes: the steps have no network): `helm package`,
`helm push` to oci://, and `helm install --dry-run=client` with the memory storage driver,
which pulls the chart from oci:// and renders the release without a cluster. `helm upgrade`
against a cluster cannot run here (there is no Kubernetes), so the rendered release is handed
to the test's deployment target instead.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.debian import DebianLayer, debian_layer, push_debian_base
from tests.e2e.helm_sdk import SDK_REPOSITORY, SDK_TAG, helm_sdk_layer, push_helm_sdk
from tests.e2e.helpers import HELM_CHART, HELM_CONFIG, OCI_MANIFEST, RegistryHTTP, tar_members
from tests.integration.auth_helpers import AuthServer, start_auth_server
from tests.integration.helpers import describe
from tests.integration.task_helpers import log_text, wait_for_run

pytestmark = pytest.mark.e2e
__all__ = ["debian_layer", "helm_sdk_layer"]  # fixtures

SEED = Path(__file__).parent / "seed"
TASK_FILE = "acr-task.yaml"
CHART_REPOSITORY, CHART_TAG = "seed/charts/web", "0.1.0"
RELEASE = "seed-web"
STEPS = ("build-app", "app", "build-tests", "tests", "push-app", "tools", "chart", "upgrade")
ZERO = "0" * 40
CLOCK_FILE = Path(tempfile.gettempdir()) / f"dockyard-seed-clock-{os.getpid()}"


# --- the git repository, served over plain HTTP (git's dumb protocol) ---------------------------


def _git(*args: str, cwd: Path) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=seed", "-c", "user.email=seed@example.test", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.stdout.strip()


@dataclass
class SeedRepository:
    """A working copy of seed/ whose commits are pushed to a bare repository that a plain file
    server publishes at `url`."""

    url: str
    bare: Path
    work: Path

    def commit(self, message: str, changes: dict[str, str]) -> str:
        """Write the files, commit, push to `main`; the commit's id."""
        for name, text in changes.items():
            (self.work / name).write_text(text)
        _git("add", "-A", cwd=self.work)
        _git("commit", "-q", "-m", message, cwd=self.work)
        _git("push", "-q", "origin", "main", cwd=self.work)
        _git("update-server-info", cwd=self.bare)
        return _git("rev-parse", "HEAD", cwd=self.work)


@pytest.fixture
def seed_repository(tmp_path: Path) -> Iterator[SeedRepository]:
    """seed/ as the first commit of `main` in `<url>/seed.git`."""
    if shutil.which("git") is None:
        pytest.fail("git is not installed (scripts/test.sh installs it)", pytrace=False)
    served = tmp_path / "served"
    bare = served / "seed.git"
    served.mkdir()
    _git("init", "-q", "--bare", "-b", "main", str(bare), cwd=served)
    work = tmp_path / "seed"
    shutil.copytree(SEED, work, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    _git("init", "-q", "-b", "main", cwd=work)
    _git("remote", "add", "origin", str(bare), cwd=work)
    handler = functools.partial(_QuietFiles, directory=str(served))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    repo = SeedRepository(f"http://127.0.0.1:{server.server_address[1]}/seed.git", bare, work)
    repo.commit("the seed app, its tests, chart and tools", {})
    yield repo
    server.shutdown()
    server.server_close()


class _QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


# --- the deployment target ----------------------------------------------------------------------


@dataclass
class Upgrade:
    release: str
    headers: dict[str, str]
    manifest: str


@dataclass
class DeployTarget:
    """Takes `POST /releases/<release>` with a rendered release (its manifest) as the body and
    remembers it."""

    url: str = ""
    upgrades: list[Upgrade] = field(default_factory=list)


@pytest.fixture
def deploy_target() -> Iterator[DeployTarget]:
    target = DeployTarget()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            prefix = "/releases/"
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if not self.path.startswith(prefix) or not body:
                self._answer(400, {"error": "POST /releases/<release> with a manifest"})
                return
            headers = {k.lower(): v for k, v in self.headers.items()}
            release = self.path[len(prefix) :]
            target.upgrades.append(Upgrade(release, headers, body.decode()))
            self._answer(200, {"release": self.path[len(prefix) :], "revision": 1})

        def _answer(self, status: int, doc: dict[str, Any]) -> None:
            raw = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    target.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield target
    server.shutdown()
    server.server_close()


# --- the server, with the Debian base pushed into it --------------------------------------------


@pytest.fixture(scope="module")
def srv(
    tmp_path_factory: pytest.TempPathFactory,
    debian_layer: DebianLayer,
    helm_sdk_layer: DebianLayer,
) -> Iterator[AuthServer]:
    """An auth-enabled server whose workers run multi-step tasks on the Docker daemon, with
    loopback contexts allowed, the commit poller practically off (the test delivers the push
    webhook), `base/debian:bookworm` and Helm's `base/helm-python-sdk` in it."""
    if shutil.which("docker") is None:
        pytest.fail("docker is not installed (scripts/test.sh installs it)", pytrace=False)
    CLOCK_FILE.write_text("0\n")
    server = start_auth_server(
        tmp_path_factory.mktemp("seed-scenario"),
        # The server's wall clock is the test's: time.time() adds the offset in CLOCK_FILE.
        # (kept in front of the caller's PYTHONPATH, which names the code under test)
        PYTHONPATH=os.pathsep.join(
            p for p in (str(Path(__file__).parent / "clock"), os.environ.get("PYTHONPATH")) if p
        ),
        DOCKYARD_TEST_CLOCK_FILE=str(CLOCK_FILE),
        DOCKYARD_TASK_ALLOW_PRIVATE_SOURCES="true",
        DOCKYARD_TASK_ENGINES='["buildah", "docker"]',
        DOCKYARD_TASK_COMMIT_POLL_SECONDS="3600",
        # The chart steps reach this registry on the worker's loopback: the host network,
        # which a worker allows only when told to.
        DOCKYARD_TASK_ALLOW_HOST_NETWORK="true",
        # The test daemon has no network for BuildKit; the classic builder is enough.
        DOCKER_BUILDKIT="0",
    )
    with httpx.Client(base_url=server.url, timeout=300, headers=server.owner()) as http:
        push_debian_base(http, debian_layer)
        push_helm_sdk(http, helm_sdk_layer)
    yield server
    server.close()
    CLOCK_FILE.unlink(missing_ok=True)
    # The daemon pulled the base under this server's address; each session's rootfs differs.
    subprocess.run(
        [
            "docker",
            "rmi",
            "-f",
            f"{server.host}/base/debian:bookworm",
            f"{server.host}/{SDK_REPOSITORY}:{SDK_TAG}",
        ],
        capture_output=True,
        timeout=120,
    )


def set_clock(at: datetime) -> None:
    """Move the server's clock so that it reads `at` now (and runs on from there)."""
    CLOCK_FILE.write_text(f"{at.timestamp() - time.time():.3f}\n")


@pytest.fixture
def http(srv: AuthServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=srv.url, timeout=120, headers=srv.owner()) as client:
        yield client


def create_seed_task(
    http: httpx.Client, repo: SeedRepository, target: DeployTarget, **extra: Any
) -> str:
    name = f"seed-{uuid.uuid4().hex[:8]}"
    body = {
        "name": name,
        "context": f"{repo.url}#main",
        "file": TASK_FILE,
        "values": {"target": target.url},
        "commit_trigger_enabled": True,
        "timeout": 1800,
        **extra,
    }
    resp = http.post("/api/v1/tasks", json=body)
    assert resp.status_code == 201, describe(resp)
    task = resp.json()
    assert task["engine"] == "docker", task
    return name


def push_commit(http: httpx.Client, name: str, repo: SeedRepository, commit: str) -> str:
    """Deliver GitHub's push webhook for `commit` on main; the id of the run it queued."""
    resp = http.get(f"/api/v1/tasks/{name}/webhook-secret")
    assert resp.status_code == 200, describe(resp)
    secret = resp.json()["secret"]
    payload = {
        "ref": "refs/heads/main",
        "before": ZERO,
        "after": commit,
        "deleted": False,
        "repository": {"clone_url": repo.url, "html_url": repo.url.removesuffix(".git")},
    }
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": signature,
    }
    with httpx.Client(base_url=str(http.base_url), timeout=60) as git_host:  # no credentials
        resp = git_host.post(f"/api/v1/tasks/{name}/hooks/git", content=body, headers=headers)
    assert resp.status_code == 202, describe(resp)
    assert (resp.json()["status"], resp.json()["commit"]) == ("queued", commit)
    run_id = resp.json()["run_id"]
    assert isinstance(run_id, str)
    return run_id


def step_statuses(run: dict[str, Any]) -> dict[str, str]:
    return {step["id"]: step["status"] for step in run["steps"]}


def chart_app_version(registry: RegistryHTTP) -> str | None:
    """appVersion of the chart tagged 0.1.0, or None when there is none."""
    resp = registry.http.get(
        f"/v2/{CHART_REPOSITORY}/manifests/{CHART_TAG}", headers={"Accept": OCI_MANIFEST}
    )
    if resp.status_code == 404:
        return None
    assert resp.status_code == 200, describe(resp)
    config = json.loads(registry.get_blob(CHART_REPOSITORY, resp.json()["config"]["digest"]))
    version = config.get("appVersion")
    assert isinstance(version, str)
    return version


# --- the scenario -------------------------------------------------------------------------------


def test_a_commit_takes_the_app_from_build_to_the_upgraded_release(
    http: httpx.Client,
    srv: AuthServer,
    seed_repository: SeedRepository,
    deploy_target: DeployTarget,
    debian_layer: DebianLayer,
) -> None:
    name = create_seed_task(http, seed_repository, deploy_target)
    commit = seed_repository.commit(
        "notes for the first release", {"CHANGES.md": "0.1.0: the first release\n"}
    )
    run_id = push_commit(http, name, seed_repository, commit)

    run = wait_for_run(http, run_id, timeout=1200)
    log = log_text(http, run_id)
    assert run["status"] == "Succeeded", f"{run}\n{log}"
    assert (run["trigger"], run["trigger_detail"], run["task_name"]) == ("commit", commit, name)
    assert (run["commit"], run["branch"]) == (commit, "main")
    assert step_statuses(run) == dict.fromkeys(STEPS, "Succeeded"), log
    assert [s["id"] for s in run["steps"] if s["detached"]] == ["app"]
    # The tests reached the detached app by its step id and passed.
    assert f"PASS / greets: Hello from the Dockyard seed app (version {run_id})" in log, log
    assert "[tests] all checks passed" in log, log
    assert f"[tests] testing commit {commit} of main" in log, log

    # The app image is in Dockyard under the run's id, built on the Debian base.
    registry = RegistryHTTP(http)
    app_manifest = registry.get_manifest("seed/web", run_id)
    assert {(o["repository"], o["tag"]) for o in run["output_images"]} >= {("seed/web", run_id)}
    app_config = registry.get_blob("seed/web", app_manifest.json()["config"]["digest"])
    assert json.loads(app_config)["rootfs"]["diff_ids"][0] == debian_layer.diff_id
    assert any(b["image"] == f"{srv.host}/base/debian:bookworm" for b in run["base_images"])

    # The chart is a Helm OCI artifact in seed/charts/web, its appVersion the run's id.
    chart = registry.get_manifest(CHART_REPOSITORY, CHART_TAG, accept=OCI_MANIFEST)
    chart_digest = chart.headers["Docker-Content-Digest"]
    manifest = chart.json()
    # (Helm writes no top-level mediaType; the registry serves it as an OCI manifest.)
    assert manifest.get("mediaType", OCI_MANIFEST) == OCI_MANIFEST
    assert chart.headers["Content-Type"].startswith(OCI_MANIFEST)
    assert manifest["config"]["mediaType"] == HELM_CONFIG
    assert [layer["mediaType"] for layer in manifest["layers"]] == [HELM_CHART]
    assert chart_app_version(registry) == run_id
    assert f"[chart] Digest: {chart_digest}" in log, log
    listed = http.get(f"/acr/v1/{CHART_REPOSITORY}/_manifests")
    assert listed.status_code == 200, describe(listed)
    [entry] = [m for m in listed.json()["manifests"] if m["digest"] == chart_digest]
    assert (entry["mediaType"], entry["configMediaType"]) == (OCI_MANIFEST, HELM_CONFIG)
    assert CHART_TAG in entry["tags"]

    # Helm packaged it: the chart layer is an archive of web/ with the chart's files.
    archive = tar_members(registry.get_blob(CHART_REPOSITORY, manifest["layers"][0]["digest"]))
    assert archive["web/values.yaml"] == (SEED / "chart" / "values.yaml").read_bytes()
    assert "version: 0.1.0" in (archive["web/Chart.yaml"] or b"").decode()
    assert set(archive) >= {"web/Chart.yaml", "web/templates/deployment.yaml"}
    assert f"[chart] Pushed: {srv.host}/{CHART_REPOSITORY}:{CHART_TAG}" in log, log

    # The upgrade step: Helm installed the chart from oci:// in client dry-run (memory storage;
    # no cluster here, so no real `helm upgrade`), and the target got the rendered release.
    [upgrade] = deploy_target.upgrades
    assert upgrade.release == RELEASE
    assert upgrade.headers["x-chart-name"] == "web"
    assert upgrade.headers["x-chart-version"] == CHART_TAG
    assert upgrade.headers["x-chart-app-version"] == run_id
    assert upgrade.headers["x-chart-digest"] == chart_digest
    rendered = upgrade.manifest
    assert "# Source: web/templates/deployment.yaml" in rendered, rendered
    assert "kind: Deployment" in rendered, rendered
    assert f"name: {RELEASE}-web" in rendered, rendered
    assert f"app.kubernetes.io/instance: {RELEASE}" in rendered, rendered
    assert f'app.kubernetes.io/version: "{run_id}"' in rendered, rendered
    assert f'image: "{srv.host}/seed/web:{run_id}"' in rendered, rendered  # --set
    assert "containerPort: 8080" in rendered, rendered  # the chart's values
    assert "{{" not in rendered, rendered
    assert "[upgrade] STATUS: pending-install" in log, log  # a dry run stores nothing
    assert f"[upgrade] Digest: {chart_digest}" in log, log
    assert f'[upgrade] Release "{RELEASE}" rendered and handed to the target' in log, log


def test_a_commit_that_breaks_the_app_stops_before_the_chart(
    http: httpx.Client,
    seed_repository: SeedRepository,
    deploy_target: DeployTarget,
) -> None:
    name = create_seed_task(http, seed_repository, deploy_target)
    registry = RegistryHTTP(http)
    chart_before = chart_app_version(registry)  # the other test may have pushed one
    commit = seed_repository.commit(
        "a friendlier greeting", {"app/greeting.txt": "Goodbye from the Dockyard seed app\n"}
    )
    run_id = push_commit(http, name, seed_repository, commit)

    run = wait_for_run(http, run_id, timeout=1200)
    log = log_text(http, run_id)
    assert run["status"] == "Failed", f"{run}\n{log}"
    assert (run["trigger"], run["trigger_detail"]) == ("commit", commit)
    assert run["error"] == "step 'tests' failed: the container exited with status 1", run
    assert step_statuses(run) == {
        "build-app": "Succeeded",
        "app": "Succeeded",
        "build-tests": "Succeeded",
        "tests": "Failed",
        "push-app": "Skipped",
        "tools": "Succeeded",
        "chart": "Skipped",
        "upgrade": "Skipped",
    }, log
    assert "FAIL / answered 200 'Goodbye from the Dockyard seed app" in log, log
    # Nothing was published or deployed.
    assert http.get(f"/v2/seed/web/manifests/{run_id}").status_code == 404
    assert chart_app_version(registry) == chart_before != run_id
    assert deploy_target.upgrades == []
    assert "[chart]" not in log
    assert "[upgrade]" not in log


def runs_of(http: httpx.Client, name: str) -> list[dict[str, Any]]:
    resp = http.get(f"/api/v1/tasks/{name}/runs")
    assert resp.status_code == 200, describe(resp)
    runs: list[dict[str, Any]] = resp.json()
    return runs


def wait_for_new_run(
    http: httpx.Client, name: str, known: set[str], timeout: float
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        fresh = [r for r in runs_of(http, name) if r["run_id"] not in known]
        if fresh:
            assert len(fresh) == 1, fresh
            return fresh[0]
        assert time.monotonic() < deadline, f"no new run of {name} after {timeout}s"
        time.sleep(0.5)


def _time(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


# Last in the file: it moves the module server's clock.
def test_a_base_image_push_rebuilds_and_a_timer_fires_on_schedule(
    http: httpx.Client,
    srv: AuthServer,
    seed_repository: SeedRepository,
    deploy_target: DeployTarget,
    debian_layer: DebianLayer,
) -> None:
    name = create_seed_task(
        http,
        seed_repository,
        deploy_target,
        base_image_trigger_enabled=True,
        timers=[{"name": "noon", "schedule": "0 12 * * *"}],
    )
    first = http.post(f"/api/v1/tasks/{name}/runs", json={})
    assert first.status_code == 201, describe(first)
    first_run = wait_for_run(http, first.json()["run_id"], timeout=1200)
    assert first_run["status"] == "Succeeded", log_text(http, first_run["run_id"])
    [base] = [b for b in first_run["base_images"] if b["runtime"]]
    assert base["image"] == f"{srv.host}/base/debian:bookworm"
    assert base["digest"], base

    # A new image under the base tag starts the task, which builds on it.
    pushed = push_debian_base(http, debian_layer, labels={"seed.base.revision": "2"})
    assert pushed != base["digest"]
    rebuilt = wait_for_new_run(http, name, {first_run["run_id"]}, timeout=60)
    assert (rebuilt["trigger"], rebuilt["trigger_detail"]) == (
        "base_image",
        f"base/debian:bookworm@{pushed}",
    )
    rebuilt = wait_for_run(http, rebuilt["run_id"], timeout=1200)
    assert rebuilt["status"] == "Succeeded", log_text(http, rebuilt["run_id"])
    registry = RegistryHTTP(http)
    app = registry.get_manifest("seed/web", rebuilt["run_id"]).json()
    config = json.loads(registry.get_blob("seed/web", app["config"]["digest"]))
    assert config["config"]["Labels"]["seed.base.revision"] == "2"
    assert [b["digest"] for b in rebuilt["base_images"] if b["runtime"]] == [pushed]

    # The timer fires at its slot of the server's clock, once.
    known = {r["run_id"] for r in runs_of(http, name)}
    (timer,) = http.get(f"/api/v1/tasks/{name}/timers").json()
    slot = _time(timer["next_firing_times"][0])
    assert (slot.hour, slot.minute) == (12, 0)
    set_clock(slot - timedelta(seconds=8))
    time.sleep(4)
    assert runs_of(http, name)[0]["run_id"] in known, "the timer fired before its time"
    fired = wait_for_new_run(http, name, known, timeout=30)
    assert (fired["trigger"], fired["trigger_detail"]) == ("timer", "noon")
    assert slot <= _time(fired["created_at"]) < slot + timedelta(seconds=30)
    resp = http.post(f"/api/v1/runs/{fired['run_id']}/cancel")
    assert resp.status_code == 200, describe(resp)
    time.sleep(2)
    assert len(runs_of(http, name)) == len(known) + 1
    (timer,) = http.get(f"/api/v1/tasks/{name}/timers").json()
    assert _time(timer["next_firing_times"][0]) == slot + timedelta(days=1)
    # Asked to stop at once; the registry's tokens, checked against the real clock, may have
    # failed one of its pulls first.
    ended = wait_for_run(http, fired["run_id"], timeout=120)
    assert ended["status"] in ("Canceled", "Failed"), log_text(http, fired["run_id"])
