"""What every build engine does: build (and push) an image, or run a command in one."""

from __future__ import annotations

import base64
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from dockyard.tasks.process import LogSink, RunControl

# A build argument whose name can be an environment variable's, and is none the build
# clients read themselves, goes to the client in its environment (`--build-arg=NAME` reads it
# from there), so that its value (a saved task's secret value) is on no command line.
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CLIENT_PREFIXES = (
    "DOCKER_", "BUILDKIT_", "BUILDX_", "BUILDAH_", "CONTAINERS_", "REGISTRY_", "STORAGE_", "XDG_",
)  # fmt: skip
_CLIENT_NAMES = frozenset({"PATH", "HOME", "TMPDIR", "SHELL", "USER", "LANG", "LC_ALL"})


def build_arg_words(build_args: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """The `--build-arg` words of a build, and the environment values they read."""
    words: list[str] = []
    values: dict[str, str] = {}
    for key, value in build_args.items():
        if (
            _ENV_NAME_RE.fullmatch(key)
            and key not in _CLIENT_NAMES
            and not key.startswith(_CLIENT_PREFIXES)
        ):
            words.append(f"--build-arg={key}")
            values[key] = value
        else:
            words.append(f"--build-arg={key}={value}")
    return words, values


class BuildFailed(Exception):
    """The build or the command itself failed (the run ends Failed)."""


class EngineMissing(Exception):
    """The engine's program is not installed on this worker (the run ends Error)."""


@dataclass(frozen=True, slots=True)
class RegistryAccess:
    """How an engine reaches this registry, and with which credential."""

    url: str  # http(s)://host[:port]
    username: str | None = None
    password: str | None = None
    upstream: tuple[str, ...] = ()  # searched after this registry for unqualified names

    @property
    def host(self) -> str:
        return self.url.split("://", 1)[1].rstrip("/")

    @property
    def insecure(self) -> bool:
        return self.url.startswith("http://")

    def auth_json(self) -> str:
        """A containers-auth.json / docker config.json naming only this registry."""
        if self.username is None or self.password is None:
            return json.dumps({"auths": {}})
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return json.dumps({"auths": {self.host: {"auth": token}}})

    def write_auth(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(self.auth_json())
        return path


@dataclass(frozen=True, slots=True)
class BuildJob:
    run_id: str
    context: Path
    dockerfile: Path
    images: tuple[str, ...]  # fully qualified: <registry host>/<repository>:<tag>
    work_dir: Path  # the engine's own, removed after the run
    build_args: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    platform: str | None = None
    push: bool = True


@dataclass(frozen=True, slots=True)
class CommandJob:
    run_id: str
    image: str
    args: tuple[str, ...]
    work_dir: Path
    context: Path | None = None  # copied to /workspace, the working directory
    platform: str | None = None


class Engine(Protocol):
    name: str

    def build(
        self, job: BuildJob, registry: RegistryAccess, log: LogSink, control: RunControl
    ) -> dict[str, str]:
        """Build, then push every image when asked; image -> pushed digest. Raises
        BuildFailed, EngineMissing, or process.Stopped."""
        ...

    def run_command(
        self, job: CommandJob, registry: RegistryAccess, log: LogSink, control: RunControl
    ) -> int:
        """Run the command in a container of the image; its exit status."""
        ...
