"""`dockyard build`, `dockyard run` and `dockyard task` as a user runs them: the CLI as a
subprocess against a real server whose worker builds with buildah, the result pulled and run
with a real Docker daemon. There is no Docker Hub: every FROM names a busybox image made
offline and pushed into the server first."""

from __future__ import annotations

import fcntl
import functools
import io
import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import tarfile
import termios
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerProcess
from tests.e2e.helpers import RegistryHTTP, Tool, make_image
from tests.integration.auth_helpers import AUTH_ENV, attach

pytestmark = pytest.mark.e2e

BASE_REPOSITORY, BASE_TAG = "base/busybox", "1"
BASE = f"{BASE_REPOSITORY}:{BASE_TAG}"
FINAL = {"Succeeded", "Failed", "Canceled", "Error", "Timeout"}
CLI_TIMEOUT = 420.0


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def push_base(url: str, rootfs: Path, headers: dict[str, str] | None = None) -> None:
    with httpx.Client(base_url=url, timeout=60, headers=headers or {}) as http:
        RegistryHTTP(http).push_image(BASE_REPOSITORY, BASE_TAG, make_image([rootfs.read_bytes()]))


@dataclass
class Cli:
    """The dockyard CLI with a credentials file and docker config of its own."""

    server: ServerProcess
    home: Path
    extra_env: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
        env.update(
            HOME=str(self.home),
            DOCKYARD_CLI_CONFIG=str(self.home / "credentials.json"),
            DOCKER_CONFIG=str(self.home / "docker"),
            COLUMNS="250",
        )
        env.update(self.extra_env)
        return env

    def argv(self, args: tuple[str, ...]) -> list[str]:
        return [sys.executable, "-m", "dockyard", *args, "-r", self.server.url]

    def __call__(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(args),
            env=self.env(),
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
            stdin=subprocess.DEVNULL,
        )

    def ok(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        done = self(*args, cwd=cwd)
        assert done.returncode == 0, shown(done)
        return done

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "-o", "json").stdout)

    def start(self, *args: str, cwd: Path | None = None) -> Streamed:
        proc = subprocess.Popen(
            self.argv(args),
            env=self.env(),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
            preexec_fn=_default_sigint,
        )
        return Streamed(proc)


def _default_sigint() -> None:
    """In the child: Ctrl-C raises KeyboardInterrupt even when the tests were started with
    SIGINT ignored (a background job of a shell ignores it, and passes that on), as it does
    for a user at a shell."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def shown(done: subprocess.CompletedProcess[str]) -> str:
    return (
        f"exit {done.returncode}: {' '.join(map(str, done.args))}\n"
        f"--- stdout ---\n{done.stdout}\n--- stderr ---\n{done.stderr}"
    )


class Streamed:
    """A CLI process whose output is collected as it comes."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(proc.stdout, self.stdout), daemon=True),
            threading.Thread(target=self._read, args=(proc.stderr, self.stderr), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: Any, into: list[str]) -> None:
        for line in stream:
            into.append(line)

    def text(self) -> str:
        return "".join(self.stdout)

    def describe(self) -> str:
        return f"--- stdout ---\n{self.text()}\n--- stderr ---\n{''.join(self.stderr)}"

    def wait_for_output(self, needle: str, timeout: float = CLI_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.text():
            if self.proc.poll() is not None:
                for reader in self._readers:
                    reader.join(5)
                if needle in self.text():
                    return
                pytest.fail(
                    f"exited {self.proc.returncode} before printing {needle!r}\n" + self.describe()
                )
            if time.monotonic() > deadline:
                pytest.fail(f"no {needle!r} within {timeout} s\n" + self.describe())
            time.sleep(0.1)

    def finish(self, timeout: float = CLI_TIMEOUT) -> int:
        code = self.proc.wait(timeout)
        for reader in self._readers:
            reader.join(10)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def registry_server(server_factory: type[ServerProcess], busybox_rootfs: Path) -> ServerProcess:
    server = server_factory(
        env={"DOCKYARD_TASK_ENGINES": '["buildah", "docker"]', "DOCKER_BUILDKIT": "0"}
    )
    push_base(server.url, busybox_rootfs)
    return server


@pytest.fixture
def cli(registry_server: ServerProcess, tmp_path: Path) -> Cli:
    return Cli(registry_server, tmp_path / "cli-home")


def api_get(server: ServerProcess, path: str, **params: Any) -> Any:
    resp = httpx.get(f"{server.url}/api/v1{path}", params=params, timeout=30)
    assert resp.status_code == 200, f"GET {path}: {resp.status_code} {resp.text}"
    return resp.json()


def manifest_digest(server: ServerProcess, repository: str, reference: str) -> str:
    resp = httpx.head(
        f"{server.url}/v2/{repository}/manifests/{reference}",
        headers={
            "Accept": "application/vnd.oci.image.manifest.v1+json, "
            "application/vnd.docker.distribution.manifest.v2+json"
        },
        timeout=30,
    )
    assert resp.status_code == 200, f"{repository}:{reference}: {resp.status_code}"
    return resp.headers["Docker-Content-Digest"]


def wait_for_status(cli: Cli, run_id: str, wanted: set[str], timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        run = cli.json("task", "show-run", "--run-id", run_id)
        if run["status"] in wanted:
            return run
        assert time.monotonic() < deadline, f"run {run_id} still {run['status']}: {run}"
        time.sleep(0.5)


MULTI_STAGE = """\
ARG BASE_IMAGE=base/busybox:1
FROM ${BASE_IMAGE} AS builder
ARG GREETING=hello
RUN mkdir -p /out && echo "$GREETING from the builder" > /out/greeting.txt \\
    && echo "builder-says-$GREETING"
FROM ${BASE_IMAGE}
COPY --from=builder /out/greeting.txt /greeting.txt
COPY . /ctx/
RUN echo "marker-live: $(cat /greeting.txt)" && sleep 4 && echo "after-the-$(echo pause)"
CMD ["cat", "/greeting.txt"]
"""


@pytest.fixture
def pulled(docker_cli: Tool) -> Iterator[list[str]]:
    """Images the test pulls into the Docker daemon, removed afterwards."""
    images: list[str] = []
    yield images
    for image in images:
        docker_cli.run("rmi", "-f", image, check=False)


def test_build_streams_the_log_pushes_and_the_image_runs(
    cli: Cli, registry_server: ServerProcess, docker_cli: Tool, pulled: list[str], tmp_path: Path
) -> None:
    ctx = write(
        tmp_path / "ctx",
        {
            "Dockerfile": MULTI_STAGE,
            ".dockerignore": "# local leftovers\n*.log\napp/secret.txt\nnotes/\n!notes/keep.md\n",
            "app/hello.txt": "hello\n",
            "app/secret.txt": "do not ship\n",
            "build.log": "noise\n",
            "notes/draft.md": "draft\n",
            "notes/keep.md": "keep\n",
        },
    )
    build = cli.start(
        "build", "-t", "hello:{{.Run.ID}}", "-t", "hello:latest",
        "--build-arg", "GREETING=ahoy", ".", cwd=ctx,
    )  # fmt: skip
    try:
        build.wait_for_output("marker-live: ahoy from the builder")
        # The line arrived while the build was still going: streamed, not replayed at the end.
        runs = api_get(registry_server, "/runs", top=1)
        assert runs[0]["status"] not in FINAL, runs[0]
        assert "after-the-pause" not in build.text()
        code = build.finish()
    finally:
        build.kill()
    assert code == 0, build.describe()
    out, err = build.text(), "".join(build.stderr)
    assert "builder-says-ahoy" in out
    assert out.index("marker-live") < out.index("after-the-pause")
    assert "left out by .dockerignore" in err

    run_id = runs[0]["run_id"]
    run = cli.json("task", "show-run", "--run-id", run_id)
    assert run["status"] == "Succeeded"
    assert run["kind"] == "build"
    assert run["images"] == [f"hello:{run_id}", "hello:latest"]
    digest = manifest_digest(registry_server, "hello", run_id)
    assert manifest_digest(registry_server, "hello", "latest") == digest
    assert {(i["repository"], i["tag"], i["digest"]) for i in run["output_images"]} == {
        ("hello", run_id, digest),
        ("hello", "latest", digest),
    }
    assert [b["image"] for b in run["base_images"]] == [BASE, BASE]
    assert [b["runtime"] for b in run["base_images"]] == [False, True]
    # The log's last line says how the run ended, once: the CLI does not repeat it.
    assert out.rstrip().splitlines()[-1].startswith(f"Run {run_id} succeeded after ")
    assert "Succeeded" not in err

    image = f"{registry_server.host}/hello:latest"
    pulled.append(image)
    docker_cli("pull", image)
    assert docker_cli("run", "--rm", "--network", "none", image) == "ahoy from the builder\n"
    found = docker_cli("run", "--rm", "--network", "none", image, "find", "/ctx", "-type", "f")
    assert sorted(found.split()) == [
        "/ctx/.dockerignore",
        "/ctx/Dockerfile",
        "/ctx/app/hello.txt",
        "/ctx/notes/keep.md",
    ]

    table = cli.ok("task", "list-runs").stdout
    assert run_id in table
    assert "Succeeded" in table
    assert f"hello:{run_id}" in table
    # The newest run's log, without naming it; the same bytes the build printed.
    assert cli.ok("task", "logs").stdout == out
    assert cli.ok("task", "logs", run_id, "--follow").stdout == out


def test_a_failing_run_step_exits_1_with_the_log(cli: Cli, tmp_path: Path) -> None:
    ctx = write(
        tmp_path / "ctx",
        {"Dockerfile": f"FROM {BASE}\nRUN echo about-to-fail && exit 3\n"},
    )
    done = cli("build", "-t", "broken:v1", str(ctx))
    assert done.returncode == 1, shown(done)
    assert "about-to-fail" in done.stdout
    assert " ended Failed after " in done.stdout.rstrip().splitlines()[-1]
    assert "Failed" not in done.stderr
    run = cli.json("task", "list-runs", "--status", "Failed")
    assert len(run) == 1
    assert run[0]["error"], run[0]
    assert run[0]["output_images"] == []


def test_run_cmd_and_task_files(cli: Cli, tmp_path: Path) -> None:
    done = cli("run", "--cmd", f"{BASE} echo hello-from-a-command")
    assert done.returncode == 0, shown(done)
    assert "hello-from-a-command" in done.stdout

    ctx = write(
        tmp_path / "ctx",
        {
            "task.yaml": f"version: v1.1.0\nsteps:\n  - cmd: {BASE} cat data.txt\n",
            "data.txt": "data-from-the-context\n",
        },
    )
    scheduled = cli.ok("run", "-f", "task.yaml", "--no-logs", str(ctx))
    run_id = scheduled.stdout.strip()
    assert re.fullmatch(r"[a-z]{2}\d+", run_id), shown(scheduled)
    followed = cli("task", "logs", "--run-id", run_id, "--follow")
    assert followed.returncode == 0, shown(followed)
    assert "data-from-the-context" in followed.stdout
    assert cli.json("task", "show-run", "--run-id", run_id)["kind"] == "task"

    failing = cli("run", "--cmd", f"{BASE} sh -c 'echo cmd-output; exit 3'")
    assert failing.returncode == 1, shown(failing)
    assert "cmd-output" in failing.stdout
    assert " ended Failed after " in failing.stdout.rstrip().splitlines()[-1]

    # A multi-step file on its own (no context), values from a file and --set, a secret.
    here = write(
        tmp_path / "here",
        {
            "steps.yaml": (
                "steps:\n"
                f"  - cmd: {BASE} echo greeting={{{{.Values.greeting}}}} "
                "who={{.Values.who.name}} secret={{.Secrets.pw}}\n"
                f"  - cmd: {BASE} sh -c 'echo second-step; exit 5'\n"
                f"  - cmd: {BASE} echo never-runs\n"
            ),
            "values.yaml": "greeting: hello\nwho:\n  name: file\n",
        },
    )
    steps = cli(
        "run", "-f", "steps.yaml", "--values", "values.yaml", "--set", "who.name=cli",
        "--secret-set", "pw=hunter2-secret", cwd=here,
    )  # fmt: skip
    assert steps.returncode == 1, shown(steps)
    assert "greeting=hello who=cli secret=***" in steps.stdout
    assert "hunter2-secret" not in steps.stdout + steps.stderr
    assert "second-step" in steps.stdout
    assert "never-runs" not in steps.stdout
    last = cli.json("task", "list-runs")[0]
    assert last["kind"] == "task"
    assert [s["status"] for s in last["steps"]] == ["Succeeded", "Failed", "Skipped"]
    assert last["error"] == "step 'acb_step_1' failed: the container exited with status 5"
    shown_run = cli.ok("task", "show-run", "--run-id", last["run_id"]).stdout
    assert "steps" in shown_run
    assert re.search(r"acb_step_2\s+│?\s*cmd\s+│?\s*Skipped", shown_run), shown_run


def test_ctrl_c_stops_following_and_cancel_run_stops_the_build(cli: Cli, tmp_path: Path) -> None:
    ctx = write(
        tmp_path / "ctx",
        # Computed by the shell: buildah prints the RUN line itself before the step starts.
        {"Dockerfile": f"FROM {BASE}\nRUN echo going-to-sleep-$((6*7)) && sleep 300\n"},
    )
    build = cli.start("build", "--no-push", str(ctx))
    follower: Streamed | None = None
    try:
        build.wait_for_output("going-to-sleep-42")
        build.proc.send_signal(signal.SIGINT)
        assert build.finish(60) == 130, build.describe()
        assert "Stopped following" in "".join(build.stderr)

        (run,) = cli.json("task", "list-runs")
        run_id = run["run_id"]
        assert run["status"] == "Running", "Ctrl-C without a terminal leaves the run going"

        follower = cli.start("task", "logs", "--run-id", run_id, "--follow")
        follower.wait_for_output("going-to-sleep-42")
        canceled = cli.ok("task", "cancel-run", "--run-id", run_id)
        assert run_id in canceled.stdout
        run = wait_for_status(cli, run_id, FINAL, timeout=60)
        assert run["status"] == "Canceled", run
        assert follower.finish(60) == 1, follower.describe()
        # The log's last line says the run was canceled (the CLI does not say it again).
        assert " ended Canceled after " in follower.text().rstrip().splitlines()[-1]
    finally:
        build.kill()
        if follower is not None:
            follower.kill()
    assert run["duration_seconds"] < 120, "cancel stopped the 300 s sleep"
    assert [r["run_id"] for r in cli.json("task", "list-runs", "--status", "Canceled")] == [run_id]
    again = cli("task", "cancel-run", "--run-id", run_id)
    assert again.returncode == 1, shown(again)
    assert "409" in again.stderr


def test_build_with_auth_uses_the_stored_login(
    server_factory: type[ServerProcess], busybox_rootfs: Path, tmp_path: Path
) -> None:
    server = server_factory(env=AUTH_ENV)
    srv = attach(server)
    try:
        push_base(server.url, busybox_rootfs, srv.owner())
        reader, reader_password = srv.user("Reader")
    finally:
        srv.db.dispose()
    ctx = write(tmp_path / "ctx", {"Dockerfile": f"FROM {BASE}\nRUN echo built-with-auth\n"})
    cli = Cli(server, tmp_path / "cli-home")

    anonymous = cli("build", "-t", "secured:v1", str(ctx))
    assert anonymous.returncode == 1, shown(anonymous)
    assert "401" in anonymous.stderr
    assert "dockyard login" in anonymous.stderr

    cli.ok("login", "-u", "owner", "-p", srv.owner_password)
    done = cli("build", "-t", "secured:{{.Run.ID}}", str(ctx))
    assert done.returncode == 0, shown(done)
    assert "built-with-auth" in done.stdout
    (run,) = cli.json("task", "list-runs")
    pushed = httpx.head(
        f"{server.url}/v2/secured/manifests/{run['run_id']}",
        headers={**srv.owner(), "Accept": "application/vnd.oci.image.manifest.v1+json"},
        timeout=30,
    )
    assert pushed.status_code == 200
    assert run["output_images"][0]["digest"] == pushed.headers["Docker-Content-Digest"]

    # A Reader may look at runs but not start one.
    as_reader = ("-u", reader, "-p", reader_password)
    refused = cli("build", "-t", "secured:v2", str(ctx), *as_reader)
    assert refused.returncode == 1, shown(refused)
    assert "403" in refused.stderr
    listed = cli.ok("task", "list-runs", "-o", "json", *as_reader)
    assert [r["run_id"] for r in json.loads(listed.stdout)] == [run["run_id"]]


def test_ctrl_c_on_a_terminal_offers_to_cancel_the_run(cli: Cli, tmp_path: Path) -> None:
    ctx = write(
        tmp_path / "ctx",
        # Computed by the shell: buildah prints the RUN line itself before the step starts.
        {"Dockerfile": f"FROM {BASE}\nRUN echo going-to-sleep-$((6*7)) && sleep 300\n"},
    )
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        cli.argv(("build", "--no-push", str(ctx))),
        env=cli.env(),
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        start_new_session=True,
        preexec_fn=_take_terminal,
    )
    os.close(secondary)
    screen = Terminal(primary)
    try:
        screen.wait_for("going-to-sleep-42")
        os.write(primary, b"\x03")  # Ctrl-C, as the terminal delivers it
        screen.wait_for("Cancel run ca1? [y/N]")
        os.write(primary, b"y\r")
        screen.wait_for("cancel requested")
        assert proc.wait(60) == 130, screen.text
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        os.close(primary)
    run = wait_for_status(cli, "ca1", FINAL, timeout=60)
    assert run["status"] == "Canceled", run


def _take_terminal() -> None:
    """In the child: make its stdin, the pseudo-terminal, its controlling terminal, so that
    Ctrl-C typed there reaches it as SIGINT."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    _default_sigint()


class Terminal:
    """What a process wrote to its pseudo-terminal, read as it comes."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.text = ""

    def wait_for(self, needle: str, timeout: float = CLI_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.text:
            assert time.monotonic() < deadline, f"no {needle!r} on the terminal:\n{self.text}"
            ready, _, _ = select.select([self.fd], [], [], 0.5)
            if ready:
                try:
                    self.text += os.read(self.fd, 65536).decode(errors="replace")
                except OSError:  # the process closed the terminal
                    assert needle in self.text, f"no {needle!r} on the terminal:\n{self.text}"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A plain HTTP file server over a folder (git's dumb HTTP protocol works over it)."""
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(root))
    http_server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=http_server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{http_server.server_address[1]}", root
    http_server.shutdown()
    http_server.server_close()


def test_git_url_and_local_archive_contexts(
    server_factory: type[ServerProcess],
    busybox_rootfs: Path,
    served: tuple[str, Path],
    tmp_path: Path,
) -> None:
    server = server_factory(env={"DOCKYARD_TASK_ALLOW_PRIVATE_SOURCES": "true"})
    push_base(server.url, busybox_rootfs)
    cli = Cli(server, tmp_path / "cli-home")
    base_url, root = served
    work = write(
        tmp_path / "work",
        {
            "app/build/Dockerfile": f"FROM {BASE}\nCOPY note /note\nRUN cat /note\n",
            "app/note": "note-from-git\n",
        },
    )
    for args in (
        ("init", "-q", "-b", "release"),
        ("add", "."),
        ("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "c"),
        ("clone", "-q", "--bare", str(work), str(root / "repo.git")),
    ):
        subprocess.run(["git", *args], cwd=work, check=True, capture_output=True, timeout=60)
    subprocess.run(
        ["git", "update-server-info"], cwd=root / "repo.git", check=True, capture_output=True
    )
    built = cli(
        "build", "-t", "from-git:v1", "-f", "build/Dockerfile", f"{base_url}/repo.git#release:app"
    )
    assert built.returncode == 0, shown(built)
    assert "note-from-git" in built.stdout
    assert "Packed" not in built.stderr, "a URL context is fetched by the registry, not packed"
    manifest_digest(server, "from-git", "v1")

    archive = tmp_path / "files.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        data = b"from-an-archive\n"
        member = tarfile.TarInfo("greeting.txt")
        member.size = len(data)
        tar.addfile(member, io.BytesIO(data))
    ran = cli("run", "--cmd", f"{BASE} cat greeting.txt", str(archive))
    assert ran.returncode == 0, shown(ran)
    assert "from-an-archive" in ran.stdout
