"""The commit trigger of saved tasks, against real git repositories served over HTTP on
loopback (git's dumb protocol): push webhooks in GitHub's and GitLab's formats (checked
against the task's secret), polling of the remote, the commit each run builds, and the git
access token of a private repository (used, and never shown). The workers do the runs with
buildah, as command runs that print a file of the commit they checked out."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerProcess
from tests.e2e.helpers import RegistryHTTP, busybox_rootfs_tar, make_image
from tests.integration.auth_helpers import AuthServer, start_auth_server
from tests.integration.cleanup_helpers import sql
from tests.integration.helpers import assert_error, describe
from tests.integration.task_helpers import log_text, wait_for_run

TOKEN = "git-token-" + uuid.uuid4().hex  # the private repository's password
TOKEN_USERNAME = "x-access-token"
BASE = "base/busybox:1"
ZERO = "0" * 40


# --- a git host: a bare repository per name, served over plain HTTP -----------------------------


class GitHost:
    """Bare repositories under `root`, served by a file server; those under `private/` ask
    for Basic credentials with TOKEN as the password (and note who gave it)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.authorized: list[str] = []  # paths served with the token
        self.refused = 0  # requests under private/ without it
        host = self

        class Handler(SimpleHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.startswith("/private/"):
                    expected = base64.b64encode(f"{TOKEN_USERNAME}:{TOKEN}".encode()).decode()
                    if self.headers.get("Authorization") != f"Basic {expected}":
                        host.refused += 1
                        self.send_response(401)
                        self.send_header("WWW-Authenticate", 'Basic realm="git"')
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    host.authorized.append(self.path)
                super().do_GET()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        handler = functools.partial(Handler, directory=str(root))
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _git(*args: str, cwd: Path) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.stdout.strip()


class Repo:
    """A working copy whose commits are pushed to a bare repository of the git host."""

    def __init__(self, host: GitHost, path: str, work: Path) -> None:
        if shutil.which("git") is None:
            pytest.fail("git is not installed (scripts/test.sh installs it)", pytrace=False)
        self.url = f"{host.url}/{path}"
        self.bare = host.root / path
        self.bare.parent.mkdir(parents=True, exist_ok=True)
        _git("init", "-q", "--bare", "-b", "main", str(self.bare), cwd=host.root)
        self.work = work
        work.mkdir(parents=True)
        _git("init", "-q", "-b", "main", cwd=work)
        _git("remote", "add", "origin", str(self.bare), cwd=work)

    def commit(self, note: str, branch: str = "main") -> str:
        """Commit `note.txt` with this text on `branch` and push it; the commit's id."""
        current = _git("symbolic-ref", "--short", "HEAD", cwd=self.work)
        if current != branch:
            _git("checkout", "-q", "-B", branch, cwd=self.work)
        (self.work / "note.txt").write_text(note + "\n")
        _git("add", ".", cwd=self.work)
        _git("commit", "-q", "-m", note, cwd=self.work)
        _git("push", "-q", "origin", branch, cwd=self.work)
        _git("update-server-info", cwd=self.bare)
        if branch != "main":
            _git("checkout", "-q", "main", cwd=self.work)
        return _git("rev-parse", branch, cwd=self.work)


# --- payloads -----------------------------------------------------------------------------------


def github_push(repo: Repo, after: str, branch: str = "main", **extra: Any) -> dict[str, Any]:
    return {
        "ref": f"refs/heads/{branch}",
        "before": ZERO,
        "after": after,
        "deleted": after == ZERO,
        "repository": {
            "clone_url": repo.url,
            "html_url": repo.url.removesuffix(".git"),
            "default_branch": "main",
        },
        **extra,
    }


def gitlab_push(repo: Repo, after: str, branch: str = "main") -> dict[str, Any]:
    return {
        "object_kind": "push",
        "ref": f"refs/heads/{branch}",
        "before": ZERO,
        "after": after,
        "checkout_sha": None if after == ZERO else after,
        "project": {"git_http_url": repo.url, "default_branch": "main"},
    }


def send_github(
    http: httpx.Client, task: str, secret: str, payload: dict[str, Any], event: str = "push"
) -> httpx.Response:
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": signature,
    }
    return http.post(f"/api/v1/tasks/{task}/hooks/git", content=body, headers=headers)


def send_gitlab(
    http: httpx.Client, task: str, token: str, payload: dict[str, Any]
) -> httpx.Response:
    headers = {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": token}
    return http.post(f"/api/v1/tasks/{task}/hooks/git", json=payload, headers=headers)


# --- fixtures -----------------------------------------------------------------------------------


def _require_buildah() -> None:
    if shutil.which("buildah") is None:
        pytest.fail("buildah is not installed (scripts/test.sh installs it)", pytrace=False)


@pytest.fixture(scope="module")
def git_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitHost]:
    host = GitHost(tmp_path_factory.mktemp("git-host"))
    yield host
    host.close()


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    """An auth-enabled server whose workers do runs, with loopback contexts allowed and the
    poller practically off (the webhook tests push first, then deliver)."""
    _require_buildah()
    server = start_auth_server(
        tmp_path_factory.mktemp("commit-hooks"),
        DOCKYARD_TASK_ALLOW_PRIVATE_SOURCES="true",
        DOCKYARD_TASK_COMMIT_POLL_SECONDS="3600",
    )
    with httpx.Client(base_url=server.url, timeout=60, headers=server.owner()) as http:
        RegistryHTTP(http).push_image("base/busybox", "1", make_image([busybox_rootfs_tar()]))
    yield server
    server.close()


@pytest.fixture
def http(srv: AuthServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=srv.url, timeout=60, headers=srv.owner()) as client:
        yield client


@pytest.fixture
def anonymous(srv: AuthServer) -> Iterator[httpx.Client]:
    """What a git host is: no Dockyard credentials."""
    with httpx.Client(base_url=srv.url, timeout=60) as client:
        yield client


def cmd_task(http: httpx.Client, name: str, context: str, **extra: Any) -> dict[str, Any]:
    body = {
        "name": name,
        "cmd": f"{BASE} cat /workspace/note.txt",
        "context": context,
        "commit_trigger_enabled": True,
        **extra,
    }
    resp = http.post("/api/v1/tasks", json=body)
    assert resp.status_code == 201, describe(resp)
    task: dict[str, Any] = resp.json()
    return task


def webhook_secret(http: httpx.Client, name: str) -> str:
    resp = http.get(f"/api/v1/tasks/{name}/webhook-secret")
    assert resp.status_code == 200, describe(resp)
    assert resp.json()["url"].endswith(f"/api/v1/tasks/{name}/hooks/git")
    secret = resp.json()["secret"]
    assert isinstance(secret, str)
    assert len(secret) >= 32
    return secret


def runs_of(http: httpx.Client, name: str) -> list[dict[str, Any]]:
    resp = http.get(f"/api/v1/tasks/{name}/runs")
    assert resp.status_code == 200, describe(resp)
    runs: list[dict[str, Any]] = resp.json()
    return runs


def assert_built(http: httpx.Client, run_id: str, commit: str, note: str) -> str:
    """The run succeeded, checked out exactly `commit` and printed its note."""
    run = wait_for_run(http, run_id, timeout=240)
    log = log_text(http, run_id)
    assert run["status"] == "Succeeded", log
    assert (run["trigger"], run["trigger_detail"]) == ("commit", commit), run
    assert f"Checked out commit {commit}" in log, log
    assert note in log, log
    return log


def stored_request(server: ServerProcess, run_id: str) -> dict[str, Any]:
    rows = sql(server, "SELECT request FROM task_runs WHERE run_id = :id", id=run_id)
    request: dict[str, Any] = json.loads(rows[0][0])
    return request


# --- the push webhook ---------------------------------------------------------------------------


def test_github_push_builds_exactly_the_pushed_commit(
    http: httpx.Client,
    anonymous: httpx.Client,
    srv: AuthServer,
    git_host: GitHost,
    tmp_path: Path,
) -> None:
    repo = Repo(git_host, "hub.git", tmp_path / "hub")
    first = repo.commit("first-note")
    task = cmd_task(http, "hub-task", f"{repo.url}#main")
    assert task["last_commit"] == first  # the baseline: creating the task builds nothing
    assert task["webhook_secret_set"] is True
    secret = webhook_secret(http, "hub-task")
    assert secret not in json.dumps(http.get("/api/v1/tasks").json())

    pushed = repo.commit("second-note")
    later = repo.commit("third-note")  # the branch moved on: the run still builds `pushed`
    resp = send_github(anonymous, "hub-task", secret, github_push(repo, pushed))
    assert resp.status_code == 202, describe(resp)
    answer = resp.json()
    assert (answer["status"], answer["commit"], answer["branch"]) == ("queued", pushed, "main")
    log = assert_built(http, answer["run_id"], pushed, "second-note")
    assert "third-note" not in log
    request = stored_request(srv.proc, answer["run_id"])
    assert (request["commit"], request["branch"]) == (pushed, "main")
    assert http.get("/api/v1/tasks/hub-task").json()["last_commit"] == pushed

    # The same delivery again (a redelivery) starts nothing.
    again = send_github(anonymous, "hub-task", secret, github_push(repo, pushed))
    assert again.status_code == 200, describe(again)
    assert again.json()["status"] == "ignored"
    assert "already built or queued" in again.json()["reason"]
    assert [r["run_id"] for r in runs_of(http, "hub-task")] == [answer["run_id"]]

    # The latest commit is built too, once, however often it is delivered.
    resp = send_github(anonymous, "hub-task", secret, github_push(repo, later))
    assert resp.status_code == 202, describe(resp)
    assert send_github(anonymous, "hub-task", secret, github_push(repo, later)).status_code == 200
    assert_built(http, resp.json()["run_id"], later, "third-note")
    assert len(runs_of(http, "hub-task")) == 2


def test_deliveries_that_start_nothing(
    http: httpx.Client,
    anonymous: httpx.Client,
    srv: AuthServer,
    git_host: GitHost,
    tmp_path: Path,
) -> None:
    repo = Repo(git_host, "quiet.git", tmp_path / "quiet")
    repo.commit("base-note")
    cmd_task(http, "quiet-task", f"{repo.url}#main")
    secret = webhook_secret(http, "quiet-task")
    feature = repo.commit("feature-note", branch="feature")
    head = repo.commit("main-note")
    hook = "/api/v1/tasks/quiet-task/hooks/git"

    # Wrong, missing or foreign signatures: 401 in the management API's error format.
    wrong = send_github(anonymous, "quiet-task", "not-the-secret", github_push(repo, head))
    assert "signed" in assert_error(wrong, 401, "UNAUTHORIZED")[0]["message"]
    unsigned = anonymous.post(
        hook, json=github_push(repo, head), headers={"X-GitHub-Event": "push"}
    )
    assert_error(unsigned, 401, "UNAUTHORIZED")
    body = json.dumps(github_push(repo, head)).encode()
    tampered = anonymous.post(
        hook,
        content=body.replace(b"main", b"mainx"),
        headers={
            "X-GitHub-Event": "push",
            "X-Hub-Signature-256": "sha256="
            + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
        },
    )
    assert_error(tampered, 401, "UNAUTHORIZED")
    assert_error(send_gitlab(anonymous, "quiet-task", secret + "x", gitlab_push(repo, head)), 401)
    # An unknown task answers as a wrong signature does (task names are not revealed).
    assert_error(send_github(anonymous, "no-such-task", secret, github_push(repo, head)), 401)

    def ignored(resp: httpx.Response, reason: str) -> None:
        assert resp.status_code == 200, describe(resp)
        assert resp.json()["status"] == "ignored", describe(resp)
        assert reason in resp.json()["reason"], describe(resp)
        assert resp.json()["run_id"] is None

    ignored(send_github(anonymous, "quiet-task", secret, {"zen": "hi"}, event="ping"), "ping")
    ignored(
        send_github(anonymous, "quiet-task", secret, {"ref": "x"}, event="issues"), "not a push"
    )
    ignored(
        send_github(anonymous, "quiet-task", secret, github_push(repo, feature, "feature")),
        "branch feature",
    )
    ignored(send_github(anonymous, "quiet-task", secret, github_push(repo, ZERO)), "deleted")
    ignored(send_gitlab(anonymous, "quiet-task", secret, gitlab_push(repo, ZERO)), "deleted")
    elsewhere = github_push(repo, head)
    elsewhere["repository"] = {"clone_url": f"{git_host.url}/other.git"}
    ignored(send_github(anonymous, "quiet-task", secret, elsewhere), "not to")
    tag = {**github_push(repo, head), "ref": "refs/tags/v1"}
    ignored(send_github(anonymous, "quiet-task", secret, tag), "not to a branch")

    resp = http.patch("/api/v1/tasks/quiet-task", json={"commit_trigger_enabled": False})
    assert resp.status_code == 200, describe(resp)
    ignored(send_github(anonymous, "quiet-task", secret, github_push(repo, head)), "disabled")
    resp = http.patch(
        "/api/v1/tasks/quiet-task", json={"commit_trigger_enabled": True, "status": "Disabled"}
    )
    assert resp.status_code == 200, describe(resp)
    assert resp.json()["last_commit"] == head  # switched on again: the head is the baseline
    ignored(send_github(anonymous, "quiet-task", secret, github_push(repo, head)), "disabled")

    # Bodies past 1 MiB are refused before anything is read from them.
    huge = anonymous.post(
        hook, content=b"{" + b" " * (1024 * 1024 + 10) + b"}", headers={"X-GitHub-Event": "push"}
    )
    assert_error(huge, 413)
    # The unread rest is drained (it is under unread_body_drain_bytes), so the connection
    # stays open for the next delivery, which the same client sends on it.
    assert "connection" not in huge.headers, describe(huge)
    # A verified delivery that is not a push payload: 400.
    bad = send_github(anonymous, "quiet-task", secret, {"ref": "refs/heads/main", "after": "x"})
    assert_error(bad, 400)

    assert runs_of(http, "quiet-task") == []
    # Reading or renewing the secret needs the right to change tasks.
    assert_error(anonymous.get("/api/v1/tasks/quiet-task/webhook-secret"), 401)
    reader, password = srv.user("Reader")
    with httpx.Client(base_url=srv.url, timeout=60, auth=(reader, password)) as as_reader:
        assert_error(as_reader.get("/api/v1/tasks/quiet-task/webhook-secret"), 403)
    renewed = http.post("/api/v1/tasks/quiet-task/webhook-secret")
    assert renewed.status_code == 200, describe(renewed)
    assert renewed.json()["secret"] != secret
    assert webhook_secret(http, "quiet-task") == renewed.json()["secret"]


def test_gitlab_push_with_its_token(
    http: httpx.Client, anonymous: httpx.Client, git_host: GitHost, tmp_path: Path
) -> None:
    repo = Repo(git_host, "lab.git", tmp_path / "lab")
    repo.commit("lab-first")
    chosen = "gitlab-secret-" + uuid.uuid4().hex
    task = cmd_task(http, "lab-task", f"{repo.url}#main", webhook_secret=chosen)
    assert task["webhook_secret_set"] is True
    assert webhook_secret(http, "lab-task") == chosen
    pushed = repo.commit("lab-second")
    resp = send_gitlab(anonymous, "lab-task", chosen, gitlab_push(repo, pushed))
    assert resp.status_code == 202, describe(resp)
    assert resp.json()["commit"] == pushed
    assert_built(http, resp.json()["run_id"], pushed, "lab-second")
    again = send_gitlab(anonymous, "lab-task", chosen, gitlab_push(repo, pushed))
    assert again.status_code == 200, describe(again)
    assert len(runs_of(http, "lab-task")) == 1


def test_manual_runs_name_the_branch_and_the_trigger_needs_git(
    http: httpx.Client, srv: AuthServer, git_host: GitHost, tmp_path: Path
) -> None:
    repo = Repo(git_host, "manual.git", tmp_path / "manual")
    repo.commit("manual-note")
    cmd_task(http, "manual-task", f"{repo.url}#main", commit_trigger_enabled=False)
    resp = http.post("/api/v1/tasks/manual-task/runs", json={})
    assert resp.status_code == 201, describe(resp)
    request = stored_request(srv.proc, resp.json()["run_id"])
    assert (request["branch"], request["commit"]) == ("main", None)
    run = wait_for_run(http, resp.json()["run_id"], timeout=240)
    assert run["status"] == "Succeeded", log_text(http, run["run_id"])

    # The commit trigger needs a git context.
    for context in ("/", f"{git_host.url}/context.tar.gz"):
        body = {"name": "no-git-task", "cmd": f"{BASE} true", "context": context}
        resp = http.post("/api/v1/tasks", json={**body, "commit_trigger_enabled": True})
        assert "needs a git context" in assert_error(resp, 400)[0]["message"]
    resp = http.patch("/api/v1/tasks/manual-task", json={"context": f"{git_host.url}/c.tar.gz"})
    assert resp.status_code == 200, describe(resp)
    resp = http.patch("/api/v1/tasks/manual-task", json={"commit_trigger_enabled": True})
    assert_error(resp, 400)


def test_a_commit_the_remote_does_not_have_ends_the_run_in_error(
    http: httpx.Client, anonymous: httpx.Client, git_host: GitHost, tmp_path: Path
) -> None:
    repo = Repo(git_host, "missing.git", tmp_path / "missing")
    repo.commit("missing-note")
    cmd_task(http, "missing-task", f"{repo.url}#main")
    secret = webhook_secret(http, "missing-task")
    absent = hashlib.sha1(b"never pushed").hexdigest()
    resp = send_github(anonymous, "missing-task", secret, github_push(repo, absent))
    assert resp.status_code == 202, describe(resp)
    run = wait_for_run(http, resp.json()["run_id"], timeout=120)
    assert run["status"] == "Error", run
    assert f"commit {absent} is not on branch main of {repo.url}" in run["error"], run


# --- a private repository and the CLI -----------------------------------------------------------


def dockyard(srv: AuthServer, *args: str) -> subprocess.CompletedProcess[str]:
    return srv.proc.dockyard(*args, "-r", srv.url, "-u", "owner", "-p", srv.owner_password)


def test_private_repository_with_a_git_access_token_through_the_cli(
    http: httpx.Client,
    anonymous: httpx.Client,
    srv: AuthServer,
    git_host: GitHost,
    tmp_path: Path,
) -> None:
    repo = Repo(git_host, "private/secret.git", tmp_path / "private")
    first = repo.commit("private-first")
    context = f"{repo.url}#main"

    # Without the token the remote cannot be read: no baseline yet.
    created = dockyard(
        srv, "task", "create", "-n", "private-task", "--cmd", f"{BASE} cat /workspace/note.txt",
        "-c", context, "--commit-trigger-enabled", "-o", "json",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["last_commit"] is None
    assert git_host.refused > 0

    updated = dockyard(
        srv, "task", "update", "-n", "private-task", "--git-access-token", TOKEN, "-o", "json"
    )
    assert updated.returncode == 0, updated.stderr
    task = json.loads(updated.stdout)
    assert task["git_access_token_set"] is True
    assert task["last_commit"] == first  # ls-remote with the token
    assert git_host.authorized, "the token was not sent"

    shown = dockyard(srv, "task", "show", "-n", "private-task")
    assert shown.returncode == 0, shown.stderr
    assert f"{srv.url}/api/v1/tasks/private-task/hooks/git" in shown.stdout
    assert first in shown.stdout
    hook = dockyard(srv, "task", "webhook-secret", "-n", "private-task", "-o", "json")
    assert hook.returncode == 0, hook.stderr
    secret = json.loads(hook.stdout)["secret"]

    pushed = repo.commit("private-second")
    served_before = len(git_host.authorized)
    resp = send_github(anonymous, "private-task", secret, github_push(repo, pushed))
    assert resp.status_code == 202, describe(resp)
    run_id = resp.json()["run_id"]
    log = assert_built(http, run_id, pushed, "private-second")
    assert len(git_host.authorized) > served_before  # the clone sent it too

    # The token is in no answer, no log and no stored run request.
    exposed = {
        "run log": log,
        "run": http.get(f"/api/v1/runs/{run_id}").text,
        "task": http.get("/api/v1/tasks/private-task").text,
        "stored request": json.dumps(stored_request(srv.proc, run_id)),
        "server log": srv.proc.log(),
        "audit log": srv.audit_path.read_text(),
        "cli": created.stdout + updated.stdout + shown.stdout + hook.stdout,
    }
    for where, text in exposed.items():
        assert TOKEN not in text, f"the git access token is in the {where}"

    # Switched off through the CLI: deliveries start nothing.
    off = dockyard(srv, "task", "update", "-n", "private-task", "--commit-trigger-disabled")
    assert off.returncode == 0, off.stderr
    later = repo.commit("private-third")
    resp = send_github(anonymous, "private-task", secret, github_push(repo, later))
    assert resp.status_code == 200, describe(resp)
    assert len(runs_of(http, "private-task")) == 1


# --- polling ------------------------------------------------------------------------------------


def test_polling_starts_one_run_per_new_commit(
    tmp_path_factory: pytest.TempPathFactory, git_host: GitHost, tmp_path: Path
) -> None:
    """A repository that cannot call back: the poller reads the remote every second."""
    _require_buildah()
    server = ServerProcess(
        tmp_path_factory.mktemp("commit-poll"),
        env={
            "DOCKYARD_TASK_ALLOW_PRIVATE_SOURCES": "true",
            "DOCKYARD_TASK_COMMIT_POLL_SECONDS": "1",
        },
    )
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            RegistryHTTP(http).push_image("base/busybox", "1", make_image([busybox_rootfs_tar()]))
            repo = Repo(git_host, "polled.git", tmp_path / "polled")
            first = repo.commit("polled-first")
            task = cmd_task(http, "polled-task", repo.url)  # no branch: the default one
            assert task["last_commit"] == first
            time.sleep(3)  # several polls: the baseline builds nothing
            assert runs_of(http, "polled-task") == []

            pushed = repo.commit("polled-second")
            deadline = time.monotonic() + 30
            while not runs_of(http, "polled-task"):
                assert time.monotonic() < deadline, "the poller did not see the commit"
                time.sleep(0.3)
            (run,) = runs_of(http, "polled-task")
            assert_built(http, run["run_id"], pushed, "polled-second")
            request = stored_request(server, run["run_id"])
            assert (request["commit"], request["branch"]) == (pushed, "main")
            time.sleep(3)
            assert len(runs_of(http, "polled-task")) == 1, "a commit was built twice"
            assert "polled-task: commit" in server.log()

            # Webhook deliveries racing each other and the poller for one commit: one run.
            secret = webhook_secret(http, "polled-task")
            late = send_github(http, "polled-task", secret, github_push(repo, pushed))
            assert late.status_code == 200, describe(late)
            raced = repo.commit("polled-third")
            with ThreadPoolExecutor(4) as pool:
                answers = list(
                    pool.map(
                        lambda _: send_github(
                            http, "polled-task", secret, github_push(repo, raced)
                        ),
                        range(4),
                    )
                )
            assert all(a.status_code in (200, 202) for a in answers), [a.text for a in answers]
            assert sum(a.status_code == 202 for a in answers) <= 1
            time.sleep(3)  # and a few polls
            runs = runs_of(http, "polled-task")
            assert [r["trigger_detail"] for r in runs] == [raced, pushed]
            http.post(f"/api/v1/runs/{runs[0]['run_id']}/cancel")
            wait_for_run(http, runs[0]["run_id"], timeout=120)
    finally:
        server.stop()


# --- the configured task policy, and triggers that cannot start a run --------------------------


def _wait_for(what: str, check: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, what
        time.sleep(0.3)
    return found


def test_triggers_follow_the_configured_policy_and_show_what_stopped_them(
    tmp_path_factory: pytest.TempPathFactory, git_host: GitHost, tmp_path: Path
) -> None:
    """A short timeout the server allows (task_min_timeout_seconds) is run by the timer and
    the poller too; a trigger that cannot start a run says why on the task (API and CLI), and
    the commit it could not build is built once the task is fixed."""
    server = ServerProcess(
        tmp_path_factory.mktemp("commit-policy"),
        env={
            "DOCKYARD_TASK_ALLOW_PRIVATE_SOURCES": "true",
            "DOCKYARD_TASK_COMMIT_POLL_SECONDS": "1",
            "DOCKYARD_TASK_MIN_TIMEOUT_SECONDS": "30",
            "DOCKYARD_TASKS_ENABLED": "false",  # the runs stay queued: what is checked here
        },
    )
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            repo = Repo(git_host, "policy.git", tmp_path / "policy")
            first = repo.commit("policy-first")
            task = cmd_task(http, "policy-task", f"{repo.url}#main", timeout=60)
            assert (task["timeout"], task["last_commit"]) == (60, first)
            assert task["last_trigger_error"] is None

            # The timer (made due at once) queues a run of the 60 s task.
            added = http.post(
                "/api/v1/tasks/policy-task/timers", json={"name": "often", "schedule": "* * * * *"}
            )
            assert added.status_code == 201, describe(added)
            sql(server, "UPDATE task_timers SET next_due = 0 WHERE task = 'policy-task'")
            timed = _wait_for(
                f"the timer queued no run; log:\n{server.log()[-2000:]}",
                lambda: [r for r in runs_of(http, "policy-task") if r["trigger"] == "timer"],
            )
            assert timed[0]["timeout"] == 60

            # So does the poller for a new commit.
            pushed = repo.commit("policy-second")
            polled = _wait_for(
                f"the poller queued no run; log:\n{server.log()[-2000:]}",
                lambda: [r for r in runs_of(http, "policy-task") if r["trigger"] == "commit"],
            )
            assert polled[0]["trigger_detail"] == pushed
            shown = http.get("/api/v1/tasks/policy-task").json()
            assert (shown["last_commit"], shown["last_trigger_error"]) == (pushed, None)

            # The server now wants longer runs: the next commit cannot make one. The task says
            # so, and the commit is not taken as seen.
            server.extra_env["DOCKYARD_TASK_MIN_TIMEOUT_SECONDS"] = "120"
            server.restart()
            refused = repo.commit("policy-third")

            # The timer is refused too and may say so first: wait for the commit's own error.
            def commit_error() -> str | None:
                error = http.get("/api/v1/tasks/policy-task").json()["last_trigger_error"]
                return error if error and refused in error else None

            failing = _wait_for(
                "no trigger error on the task for the refused commit",
                commit_error,
                timeout=120,  # the stopped server's poll lease (interval + 60 s) runs out first
            )
            assert "timeout must be between 120" in failing, failing
            shown = http.get("/api/v1/tasks/policy-task").json()
            assert shown["last_commit"] == pushed
            assert shown["last_trigger_error_at"] is not None
            assert len(runs_of(http, "policy-task")) == 2
            cli = server.dockyard("task", "show", "-n", "policy-task", "-r", server.url)
            assert cli.returncode == 0, cli.stderr
            assert "timeout must be between 120" in " ".join(cli.stdout.split()), cli.stdout

            # Fixed: the next poll builds the commit that was refused, and the error goes.
            fixed = http.patch("/api/v1/tasks/policy-task", json={"timeout": 120})
            assert fixed.status_code == 200, describe(fixed)
            retried = _wait_for(
                "the refused commit was not retried",
                lambda: [r for r in runs_of(http, "policy-task") if r["trigger_detail"] == refused],
                timeout=60,
            )
            assert retried[0]["timeout"] == 120
            shown = http.get("/api/v1/tasks/policy-task").json()
            assert (shown["last_commit"], shown["last_trigger_error"]) == (refused, None)
    finally:
        server.stop()
