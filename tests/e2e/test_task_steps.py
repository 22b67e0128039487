"""Multi-step runs (ACR task files) done by a worker's Docker daemon: the DAG of steps, a
detached step reached by its id on the run's network, pushes, retries, ignored errors,
secrets masked in the log, failures stopping dependants, validation before anything runs,
and nothing of the run left in the daemon afterwards."""

from __future__ import annotations

import base64
import json
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerProcess
from tests.e2e.helpers import RegistryHTTP, busybox_rootfs_tar, make_image
from tests.e2e.task_server import owner_client, task_step_server
from tests.integration.auth_helpers import AuthServer
from tests.integration.helpers import describe
from tests.integration.task_helpers import (
    context_tar,
    create_run,
    log_text,
    upload_source,
    wait_for_log,
    wait_for_run,
)

pytestmark = pytest.mark.e2e

SECRET = "s3cret-Value-42"

WEB_DOCKERFILE = """\
ARG REGISTRY
FROM ${REGISTRY}/base/busybox:1
COPY index.html /www/index.html
CMD ["busybox", "httpd", "-f", "-v", "-p", "8080", "-h", "/www"]
"""

TASK = """\
version: v1.1.0
secrets:
  - id: token
steps:
  - id: build-web
    build: -t $Registry/steps/web:$ID -f web/Dockerfile --build-arg REGISTRY=$Registry web
  - id: web
    cmd: $Registry/steps/web:$ID
    detach: true
  - id: probe
    cmd: >-
      base/busybox:1 sh -c 'for i in 1 2 3 4 5 6 7 8 9 10;
      do busybox wget -qO- http://web:8080/ && exit 0; sleep 1; done; exit 1'
    when: [web]
  - id: secret
    cmd: base/busybox:1 sh -c 'echo "token is {{.Secrets.token}}"; echo value={{.Values.greeting}}'
    when: ["-"]
  - id: flaky
    cmd: base/busybox:1 sh -c 'if [ -f once ]; then echo second-try; else touch once; exit 1; fi'
    when: ["-"]
    retries: 1
    retryDelay: 1
  - id: doomed
    cmd: base/busybox:1 sh -c 'echo about-to-fail; exit 4'
    when: ["-"]
    ignoreErrors: true
  - id: push
    push: ["$Registry/steps/web:$ID"]
    when: [probe, flaky, doomed]
"""


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    yield from task_step_server(tmp_path_factory.mktemp("task-steps"))


@pytest.fixture
def http(srv: AuthServer) -> Iterator[httpx.Client]:
    yield from owner_client(srv)


def docker_left(run_id: str) -> list[str]:
    """Containers and networks the run left in the daemon (labelled with its id and a random
    part)."""
    found = []
    for args in (["ps", "-a"], ["network", "ls"]):
        out = subprocess.run(
            ["docker", *args, "--filter", "label=dockyard.run", "--format", "{{.ID}} {{.Labels}}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for line in out.splitlines():
            resource, _, labels = line.partition(" ")
            if f"dockyard.run={run_id}-" in labels:
                found.append(resource)
    return found


def task_run(http: httpx.Client, files: dict[str, str], **body: object) -> dict[str, object]:
    source = upload_source(http, context_tar(files))
    run = create_run(http, kind="task", source=source, task_file="acb.yaml", **body)
    assert run["engine"] == "docker", run
    return run


def steps_of(run: dict[str, object]) -> dict[str, dict[str, object]]:
    steps = run["steps"]
    assert isinstance(steps, list)
    return {step["id"]: step for step in steps}


def test_steps_run_as_a_dag_on_the_run_network(http: httpx.Client, srv: AuthServer) -> None:
    run = task_run(
        http,
        {"acb.yaml": TASK, "web/Dockerfile": WEB_DOCKERFILE, "web/index.html": "hello-from-web\n"},
        values={"greeting": "bonjour"},
        secret_values={"token": SECRET},
    )
    run_id = str(run["run_id"])
    run = wait_for_run(http, run_id, timeout=600)
    log = log_text(http, run_id)
    assert run["status"] == "Succeeded", f"{run}\n{log}"
    steps = steps_of(run)
    assert {k: v["status"] for k, v in steps.items()} == {
        "build-web": "Succeeded",
        "web": "Succeeded",
        "probe": "Succeeded",
        "secret": "Succeeded",
        "flaky": "Succeeded",
        "doomed": "Failed",
        "push": "Succeeded",
    }, log
    assert steps["doomed"]["exit_code"] == 4
    assert steps["web"]["detached"] is True
    # The probe reached the detached step by its id, on the run's network.
    assert "[probe] hello-from-web" in log
    # Secrets are masked, values rendered; each line says which step printed it.
    assert SECRET not in log
    assert "[secret] token is ***" in log
    assert "[secret] value=bonjour" in log
    assert "[flaky] second-try" in log
    assert "retrying in 1s" in log
    assert "[doomed] about-to-fail" in log
    # Steps that wait for nothing started before the build had ended.
    assert steps["secret"]["started_at"] < steps["build-web"]["finished_at"]
    # The push step pushed the built image to this registry.
    [output] = run["output_images"]
    assert output["repository"] == "steps/web"
    assert output["tag"] == run_id
    served = RegistryHTTP(http).get_manifest("steps/web", run_id)
    assert served.headers["Docker-Content-Digest"] == output["digest"]
    assert run["base_images"] == [
        {
            "stage": 0,
            "name": None,
            "image": f"{srv.host}/base/busybox:1",
            "runtime": True,
            "digest": RegistryHTTP(http)
            .get_manifest("base/busybox", "1")
            .headers["Docker-Content-Digest"],
        }
    ]
    assert "Steps:" in log
    assert "push: Succeeded" in log
    assert docker_left(run_id) == []


def test_a_failed_step_stops_its_dependants(http: httpx.Client) -> None:
    task = """\
steps:
  - id: first
    cmd: base/busybox:1 sh -c 'echo first-ran; exit 3'
  - id: second
    cmd: base/busybox:1 echo second-ran
  - id: third
    cmd: base/busybox:1 echo third-ran
    when: [second]
  - id: aside
    cmd: base/busybox:1 echo aside-ran
    when: ["-"]
"""
    run = task_run(http, {"acb.yaml": task})
    run = wait_for_run(http, str(run["run_id"]), timeout=300)
    log = log_text(http, str(run["run_id"]))
    assert run["status"] == "Failed", log
    assert run["error"] == "step 'first' failed: the container exited with status 3"
    statuses = {k: v["status"] for k, v in steps_of(run).items()}
    assert statuses == {
        "first": "Failed",
        "second": "Skipped",
        "third": "Skipped",
        "aside": "Succeeded",
    }
    assert "first-ran" in log
    assert "aside-ran" in log
    assert "second-ran" not in log
    assert "third-ran" not in log


def test_an_invalid_task_file_fails_before_any_step(http: httpx.Client) -> None:
    task = """\
steps:
  - id: one
    cmd: base/busybox:1 echo should-not-run
  - id: two
    cmd: base/busybox:1 echo nor-this
    when: [nowhere]
"""
    run = task_run(http, {"acb.yaml": task})
    run = wait_for_run(http, str(run["run_id"]), timeout=120)
    log = log_text(http, str(run["run_id"]))
    assert run["status"] == "Failed", log
    assert "line 6" in run["error"], run
    assert "unknown step 'nowhere'" in run["error"], run
    assert "should-not-run" not in log
    assert run["steps"] == []


def test_cancel_removes_the_detached_containers(http: httpx.Client) -> None:
    task = """\
steps:
  - id: server
    cmd: base/busybox:1 sh -c 'echo serving; sleep 600'
    detach: true
  - id: long
    cmd: base/busybox:1 sh -c 'echo long-$((6*7)); sleep 600'
"""
    run = task_run(http, {"acb.yaml": task})
    run_id = str(run["run_id"])
    try:
        wait_for_log(http, run_id, "long-42", timeout=180)
        assert len(docker_left(run_id)) == 3  # two containers and the network
    finally:
        resp = http.post(f"/api/v1/runs/{run_id}/cancel")
    assert resp.status_code == 200, describe(resp)
    asked = time.monotonic()
    run = wait_for_run(http, run_id, timeout=60)
    assert run["status"] == "Canceled", run
    assert time.monotonic() - asked < 30
    assert docker_left(run_id) == []
    assert steps_of(run)["long"]["status"] == "Canceled"


def test_a_step_timeout_fails_only_that_step(http: httpx.Client) -> None:
    task = """\
stepTimeout: 3
steps:
  - id: slow
    cmd: base/busybox:1 sleep 60
    ignoreErrors: true
  - id: after
    cmd: base/busybox:1 echo after-ran
    # Its own timeout: pulling and starting a container can take 3 s on a loaded machine.
    timeout: 120
"""
    run = task_run(http, {"acb.yaml": task})
    run = wait_for_run(http, str(run["run_id"]), timeout=180)
    log = log_text(http, str(run["run_id"]))
    assert run["status"] == "Succeeded", log
    slow = steps_of(run)["slow"]
    assert slow["status"] == "Failed", slow
    assert slow["error"] == "timed out after 3s", slow
    assert "after-ran" in log
    assert json.dumps(run).count("Canceled") == 0


def test_step_properties_reach_the_containers(http: httpx.Client) -> None:
    encoded = base64.b64encode(b"from-a-secret-volume").decode()
    task = f"""\
version: v1.1.0
alias:
  values:
    img: base/busybox:1
env: ["TASK_LEVEL=task-env"]
networks:
  - name: side
volumes:
  - name: creds
    secret:
      token.txt: {encoded}
steps:
  - id: props
    cmd: $img sh -c 'echo "pwd=$(pwd) user=$(id -u) env=$TASK_LEVEL/$STEP_LEVEL run=$ID"'
    env: ["STEP_LEVEL=step-env"]
    user: "1234"
    workingDirectory: /tmp
  - id: volume
    cmd: $img sh -c 'echo "file=$(cat /run/creds/token.txt)"'
    volumeMounts:
      - name: creds
        mountPath: /run/creds
    when: ["-"]
  - id: entry
    cmd: $img -c 'echo via-entrypoint'
    entryPoint: sh
    when: ["-"]
  - id: repeated
    cmd: $img sh -c 'echo x >> /workspace/count; echo count=$(wc -l < /workspace/count)'
    repeat: 2
    when: ["-"]
  - id: delayed
    cmd: $img echo delayed-ran
    startDelay: 2
    when: ["-"]
  - id: on-side
    cmd: $img sleep 60
    network: side
    detach: true
    when: ["-"]
  - id: reach-side
    cmd: $img sh -c 'busybox nslookup on-side >/dev/null && echo side-resolved'
    network: side
    when: [on-side]
"""
    run = task_run(http, {"acb.yaml": task})
    run_id = str(run["run_id"])
    run = wait_for_run(http, run_id, timeout=300)
    log = log_text(http, run_id)
    assert run["status"] == "Succeeded", log
    assert f"[props] pwd=/tmp user=1234 env=task-env/step-env run={run_id}" in log
    assert "[volume] file=from-a-secret-volume" in log
    assert "[entry] via-entrypoint" in log
    assert "[repeated] count=3" in log
    assert "[reach-side] side-resolved" in log
    delayed = steps_of(run)["delayed"]
    assert "[delayed] delayed-ran" in log
    assert _seconds(delayed["finished_at"]) - _seconds(delayed["started_at"]) >= 2
    assert docker_left(run_id) == []


def _seconds(stamp: object) -> float:
    return datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()


def test_a_worker_killed_mid_run_leaves_no_containers(tmp_path: Path) -> None:
    """kill -9 of the server during a run with a detached and a running container: after the
    restart the run ends Error once its lease ran out, and the next worker removes the
    containers and the network the dead one left in the daemon."""
    server = ServerProcess(
        tmp_path / "steps-crash",
        env={"DOCKYARD_TASK_LEASE_SECONDS": "3", "DOCKER_BUILDKIT": "0"},
    )
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            RegistryHTTP(http).push_image("base/busybox", "1", make_image([busybox_rootfs_tar()]))
            task = """\
steps:
  - id: server
    cmd: base/busybox:1 sleep 600
    detach: true
  - id: long
    cmd: base/busybox:1 sh -c 'echo crash-$((6*7)); sleep 600'
"""
            run_id = str(task_run(http, {"acb.yaml": task})["run_id"])
            wait_for_log(http, run_id, "crash-42", timeout=180)
            assert len(docker_left(run_id)) == 3
            server.kill9()
            server.start()
            run = wait_for_run(http, run_id, timeout=60)
            assert run["status"] == "Error", run
            deadline = time.monotonic() + 60
            while docker_left(run_id) and time.monotonic() < deadline:
                time.sleep(0.5)
            assert docker_left(run_id) == []
    finally:
        server.stop()
