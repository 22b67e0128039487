"""Talking to git remotes: the options every git command of a run takes, the access token of
a private repository, and the head of a branch (`git ls-remote`).

The token reaches git through a GIT_ASKPASS script that reads it from the environment of the
git process, so it is on no command line, in no URL and in no log.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from dockyard.netguard import IPAddress
from dockyard.tasks.archive import SourceInvalid

# The username sent with a token: GitHub and GitLab accept any with a personal access token.
TOKEN_USERNAME = "x-access-token"
TOKEN_ENV = "DOCKYARD_GIT_ACCESS_TOKEN"
LS_REMOTE_TIMEOUT_SECONDS = 30.0
COMMIT_PATTERN = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")  # SHA-1 or SHA-256
NO_COMMIT = "0" * 40  # the `after` of a push that deleted the branch
DEFAULT_PORTS = {"https": 443, "http": 80, "git": 9418}
_ASKPASS = f"""#!/bin/sh
case "$1" in
  Username*) echo {TOKEN_USERNAME} ;;
  *) printf '%s\\n' "${TOKEN_ENV}" ;;
esac
"""


@dataclass(frozen=True, slots=True)
class Head:
    branch: str
    commit: str


def is_commit(text: str) -> bool:
    return bool(COMMIT_PATTERN.match(text))


def transport_options(url: str, address: IPAddress | None = None) -> list[str]:
    """No redirects (they would skip the address check), only the URL's own transport, and
    no credential helper of the machine. With `address` (the one the check passed), git
    connects there and does not resolve the host itself: curl is handed the address (TLS
    still verifies the host name), a git:// URL is rewritten to it; and no proxy is used,
    since a proxy would resolve the name."""
    parts = urlsplit(url)
    options = [
        "-c", "http.followRedirects=false",
        "-c", "protocol.allow=never",
        "-c", f"protocol.{parts.scheme}.allow=always",
        "-c", "credential.helper=",
    ]  # fmt: skip
    host = parts.hostname or ""
    if address is None or _is_literal(host):
        return options
    port = parts.port or DEFAULT_PORTS[parts.scheme]
    literal = f"[{address}]" if address.version == 6 else str(address)
    if parts.scheme == "git":
        pinned = f"url.git://{literal}:{port}/.insteadOf=git://{parts.netloc}/"
        return [*options, "-c", pinned]
    return [*options, "-c", f"http.curloptResolve={host}:{port}:{literal}", "-c", "http.proxy="]


def _is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@contextmanager
def git_environment(token: str | None) -> Iterator[dict[str, str]]:
    """The environment of git commands: never a prompt; with `token`, an askpass script that
    answers it as the password (removed afterwards)."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true"}
    env.pop(TOKEN_ENV, None)
    if not token:
        yield env
        return
    folder = Path(tempfile.mkdtemp(prefix="dockyard-git-"))
    try:
        script = folder / "askpass"
        script.write_text(_ASKPASS)
        script.chmod(0o700)
        yield {**env, "GIT_ASKPASS": str(script), TOKEN_ENV: token}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def remote_head(
    url: str, branch: str | None, token: str | None, address: IPAddress | None = None
) -> Head:
    """The commit at the tip of `branch` (the remote's default branch when None), read from
    `address` when given (the caller checked it: fetch.checked_address)."""
    patterns = [f"refs/heads/{branch}"] if branch else ["--symref", "HEAD"]
    argv = ["git", *transport_options(url, address), "ls-remote", "--exit-code"]
    if branch:
        argv += [url, *patterns]
    else:
        argv += [patterns[0], url, patterns[1]]
    with git_environment(token) as env:
        try:
            done = subprocess.run(
                argv,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=LS_REMOTE_TIMEOUT_SECONDS,
            )
        except subprocess.TimeoutExpired:
            raise SourceInvalid(f"git ls-remote of {url} timed out") from None
    if done.returncode == 2:
        raise SourceInvalid(f"{url} has no branch {branch or 'HEAD'}")
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or [f"status {done.returncode}"])[-1]
        raise SourceInvalid(f"git ls-remote of {url} failed: {reason}")
    return _parse_head(done.stdout, branch, url)


def _parse_head(output: str, branch: str | None, url: str) -> Head:
    default: str | None = None
    refs: dict[str, str] = {}
    for line in output.splitlines():
        left, _, ref = line.partition("\t")
        if left.startswith("ref: "):
            default = left.removeprefix("ref: ").removeprefix("refs/heads/")
        elif is_commit(left):
            refs[ref] = left
    name = branch or default
    commit = refs.get(f"refs/heads/{branch}") if branch else refs.get("HEAD")
    if name is None or commit is None:
        raise SourceInvalid(f"{url}: no commit found for branch {branch or 'HEAD'}")
    return Head(name, commit)
