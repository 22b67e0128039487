"""Build contexts from a URL: a tarball over HTTP(S), or a git repository
(`https://host/repo.git#branch:subfolder`) cloned shallowly, at the commit a trigger saw and
with the task's access token when there is one.

Unless `allow_private` (task_allow_private_sources), every host must resolve to public
addresses only, redirects included, so that nobody can make a worker fetch from the network
it runs in.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx

from dockyard.errors import SizeInvalid
from dockyard.netguard import non_public_address
from dockyard.tasks.archive import SourceInvalid
from dockyard.tasks.git import Head, git_environment, is_commit, remote_head, transport_options
from dockyard.tasks.process import LogSink, RunControl, run_process

MAX_REDIRECTS = 5
GIT_SCHEMES = ("http", "https", "git")


@dataclass(frozen=True, slots=True)
class ContextUrl:
    kind: str  # "git" or "tarball"
    url: str  # without the fragment
    branch: str | None = None
    subfolder: str | None = None


def parse_context_url(text: str) -> ContextUrl:
    url, _, fragment = text.partition("#")
    parts = urlsplit(url)
    if parts.scheme not in GIT_SCHEMES or not parts.hostname:
        raise SourceInvalid(f"context URL {text!r}: only http, https and git URLs are supported")
    is_git = bool(fragment) or parts.path.endswith(".git") or parts.scheme == "git"
    if not is_git:
        return ContextUrl("tarball", url)
    branch, _, subfolder = fragment.partition(":")
    subfolder = subfolder.strip("/")
    if subfolder and (subfolder.startswith("/") or ".." in subfolder.split("/")):
        raise SourceInvalid(f"context URL {text!r}: the subfolder must stay inside the repository")
    return ContextUrl("git", url, branch or None, subfolder or None)


def check_address(url: str, allow_private: bool) -> None:
    if allow_private:
        return
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or {"https": 443, "http": 80, "git": 9418}.get(parts.scheme, 443)
    try:
        address = non_public_address(host, port)
    except OSError as exc:
        raise SourceInvalid(f"cannot resolve {host}: {exc}") from None
    if address is not None:
        raise SourceInvalid(
            f"{host} resolves to {address}, a non-public address; builds fetch contexts from "
            "public addresses only (task_allow_private_sources)"
        )


def download(
    url: str,
    destination: Path,
    max_bytes: int,
    allow_private: bool,
    log: LogSink,
    control: RunControl,
) -> int:
    """Save the tarball at `url` (following redirects, each checked); its size."""
    current = url
    with httpx.Client(timeout=httpx.Timeout(30.0), follow_redirects=False) as http:
        for _ in range(MAX_REDIRECTS + 1):
            check_address(current, allow_private)
            with http.stream("GET", current) as response:
                if response.is_redirect and "location" in response.headers:
                    current = urljoin(current, response.headers["location"])
                    continue
                if response.status_code != 200:
                    raise SourceInvalid(f"GET {current} answered {response.status_code}")
                size = 0
                with destination.open("wb") as out:
                    for chunk in response.iter_bytes(1024 * 1024):
                        control.check()
                        size += len(chunk)
                        if size > max_bytes:
                            raise SizeInvalid(f"{url} is larger than {max_bytes} bytes")
                        out.write(chunk)
                log.line(f"Downloaded {size} bytes from {current}")
                return size
    raise SourceInvalid(f"{url}: more than {MAX_REDIRECTS} redirects")


def clone(
    source: ContextUrl,
    destination: Path,
    allow_private: bool,
    log: LogSink,
    control: RunControl,
    commit: str | None = None,
    token: str | None = None,
) -> Path:
    """Clone the repository's branch (depth 1), at `commit` when given (the commit a trigger
    saw); the context folder inside it. `token`: the access token of a private repository."""
    check_address(source.url, allow_private)
    argv = ["git", *transport_options(source.url), "clone", "--no-tags"]
    if source.branch:
        argv += ["--branch", source.branch]
    tail = ["--", source.url, str(destination)]
    with git_environment(token) as env:
        status = run_process([*argv, "--depth", "1", *tail], log, control, env=env)
        if status != 0:
            # Servers of git's "dumb" HTTP protocol (plain file hosting) cannot clone shallowly.
            log.line("Retrying with the whole history")
            shutil.rmtree(destination, ignore_errors=True)
            status = run_process([*argv, *tail], log, control, env=env)
        if status != 0:
            raise SourceInvalid(f"git clone of {source.url} failed with status {status}")
        if commit is not None:
            _check_out(source, destination, commit, log, control, env)
    folder = destination / source.subfolder if source.subfolder else destination
    resolved = folder.resolve()
    if not resolved.is_relative_to(destination.resolve()) or not resolved.is_dir():
        raise SourceInvalid(f"{source.subfolder!r} is not a folder of the repository")
    return resolved


def _check_out(
    source: ContextUrl,
    repository: Path,
    commit: str,
    log: LogSink,
    control: RunControl,
    env: dict[str, str],
) -> None:
    """Check out `commit`: the branch's tip when it still is, else fetched by its id (servers
    that allow it) or with the branch's whole history."""
    if not is_commit(commit):
        raise SourceInvalid(f"{commit!r} is not a commit id")
    git = ["git", "-C", str(repository), *transport_options(source.url)]

    def present() -> bool:
        check = [*git, "cat-file", "-e", f"{commit}^{{commit}}"]
        return subprocess.run(check, capture_output=True, timeout=60, env=env).returncode == 0

    if not present():
        log.line(f"Fetching commit {commit}")
        fetched = run_process(
            [*git, "fetch", "-q", "--depth", "1", "origin", commit], log, control, env=env
        )
        if fetched != 0 and (repository / ".git" / "shallow").exists():
            run_process([*git, "fetch", "-q", "--unshallow", "origin"], log, control, env=env)
    if (
        not present()
        or run_process([*git, "checkout", "-q", "--detach", commit], log, control, env=env) != 0
    ):
        where = f"branch {source.branch} of " if source.branch else ""
        raise SourceInvalid(f"commit {commit} is not on {where}{source.url}")
    log.line(f"Checked out commit {commit}")


def branch_head(context: str, token: str | None, allow_private: bool) -> Head:
    """The commit at the head of a git context's branch (the remote's default branch when the
    context names none), read with `git ls-remote`."""
    source = parse_context_url(context)
    if source.kind != "git":
        raise SourceInvalid(f"context {context!r} is not a git repository")
    check_address(source.url, allow_private)
    return remote_head(source.url, source.branch, token)
