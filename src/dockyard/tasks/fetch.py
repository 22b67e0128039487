"""Build contexts from a URL: a tarball over HTTP(S), or a git repository
(`https://host/repo.git#branch:subfolder`) cloned shallowly, at the commit a trigger saw and
with the task's access token when there is one.

Unless `allow_private` (task_allow_private_sources), every host must resolve to public
addresses only, redirects included, so that nobody can make a worker fetch from the network
it runs in; and the connection goes to the address that was checked (a second lookup could
answer another): downloads through netguard's transport, git with the address pinned.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx

from dockyard.errors import SizeInvalid
from dockyard.netguard import MAX_REDIRECTS, Guard, IPAddress, guard_for, outbound_client
from dockyard.tasks.archive import SourceInvalid
from dockyard.tasks.git import (
    DEFAULT_PORTS,
    Head,
    git_environment,
    is_commit,
    remote_head,
    transport_options,
)
from dockyard.tasks.process import LogSink, RunControl, run_process

GIT_SCHEMES = ("http", "https", "git")
SETTING = "task_allow_private_sources"
GUARD = Guard(SETTING)
DOWNLOAD_TIMEOUT_SECONDS = 30.0


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


def checked_address(url: str, allow_private: bool) -> IPAddress | None:
    """The address git is to connect to for `url`, once all of its host's are public; None
    when private sources are allowed (git resolves the name itself then). Raises
    AddressRefused for a host with a non-public address."""
    if allow_private:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        return GUARD.addresses(host, parts.port or DEFAULT_PORTS[parts.scheme])[0]
    except OSError as exc:
        raise SourceInvalid(f"cannot resolve {host}: {exc}") from None


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
    guard = guard_for(SETTING, allow_private)
    with outbound_client(guard, timeout=DOWNLOAD_TIMEOUT_SECONDS) as http:
        for _ in range(MAX_REDIRECTS + 1):
            with _refusals(current), http.stream("GET", current) as response:
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


@contextmanager
def _refusals(url: str) -> Iterator[None]:
    """A failed connection (or a URL, a redirect's too, that is none) as the run's error;
    a refused address is AddressRefused, as everywhere."""
    try:
        yield
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:  # urljoin's ValueError
        raise SourceInvalid(f"GET {url} failed: {exc}") from None


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
    address = checked_address(source.url, allow_private)
    argv = ["git", *transport_options(source.url, address), "clone", "--no-tags"]
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
            _check_out(source, address, destination, commit, log, control, env)
    folder = destination / source.subfolder if source.subfolder else destination
    resolved = folder.resolve()
    if not resolved.is_relative_to(destination.resolve()) or not resolved.is_dir():
        raise SourceInvalid(f"{source.subfolder!r} is not a folder of the repository")
    return resolved


def _check_out(
    source: ContextUrl,
    address: IPAddress | None,
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
    git = ["git", "-C", str(repository), *transport_options(source.url, address)]

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
    address = checked_address(source.url, allow_private)
    return remote_head(source.url, source.branch, token, address)
