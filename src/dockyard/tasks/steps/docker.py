"""The Docker daemon commands of one multi-step run. Everything the run creates carries the
label dockyard.run=<scope> (the run id and a random part), so that it can be found and removed
at the end of the run, and by the next worker when the one doing the run died.

Every argv is an explicit list: each option carries its value in the same word
(`--workdir=...`), and `--` comes before the image (or the build context), so nothing of the
task file is ever read as an option. Environment values go in an env file of the run (mode
0600), build argument values through docker's environment: no value is on a command line.
A container gets the run's workspace, its credential and its secret volumes, no host path."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dockyard.tasks.engines.base import EngineMissing, RegistryAccess
from dockyard.tasks.engines.docker import docker_push, quiet
from dockyard.tasks.process import Output, RunControl, Stopped, run_process

RUN_LABEL = "dockyard.run"
CONFIG_IN_CONTAINER = "/root/.docker/config.json"


@dataclass(frozen=True, slots=True)
class Login:
    """A credential for a registry other than this one (a task's credentials)."""

    server: str
    username: str
    password: str


def docker_config(registry: RegistryAccess, logins: Sequence[Login] = ()) -> str:
    """A config.json naming this registry's run credential and the task's other logins."""
    auths: dict[str, dict[str, str]] = {}
    for login in logins:
        token = base64.b64encode(f"{login.username}:{login.password}".encode()).decode()
        auths[login.server] = {"auth": token}
    if registry.username is not None and registry.password is not None:
        token = base64.b64encode(f"{registry.username}:{registry.password}".encode()).decode()
        auths[registry.host] = {"auth": token}
    return json.dumps({"auths": auths})


@dataclass(frozen=True, slots=True)
class Container:
    """What `docker run` is given for one execution of a cmd step."""

    name: str
    image: str
    args: tuple[str, ...]
    network: str
    alias: str | None
    workspace: Path
    working_directory: str | None
    env: tuple[tuple[str, str], ...] = ()
    entry_point: str | None = None
    user: str | None = None
    privileged: bool = False
    ports: tuple[str, ...] = ()
    expose: tuple[str, ...] = ()
    mounts: tuple[tuple[Path, str], ...] = ()  # read-only: host folder, path in container
    remove: bool = True


class DockerSteps:
    def __init__(self, scope: str, work_dir: Path, config_json: str) -> None:
        program = shutil.which("docker")
        if program is None:
            raise EngineMissing("multi-step runs need docker, which this worker does not have")
        self.program = program
        self.scope = scope
        self.label = f"{RUN_LABEL}={scope}"
        config_dir = work_dir / "docker"
        config_dir.mkdir(parents=True, exist_ok=True)
        self.config_file = config_dir / "config.json"
        fd = os.open(self.config_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(config_json)
        self.env = {**os.environ, "DOCKER_CONFIG": str(config_dir)}
        self.env_dir = work_dir / "env"
        self.env_dir.mkdir(parents=True, exist_ok=True)
        self.built: set[str] = set()  # tags that build steps of the run made successfully
        self._built_lock = threading.Lock()

    def has_built(self, image: str) -> bool:
        with self._built_lock:
            return image in self.built

    def _docker(self, args: Sequence[str], out: Output, control: RunControl) -> int:
        return run_process([self.program, *args], out, control, env=self.env)

    def quiet(self, args: Sequence[str]) -> str:
        return quiet([self.program, *args], self.env)

    def create_network(self, name: str) -> bool:
        return bool(self.quiet(["network", "create", "--label", self.label, name]).strip())

    def build(
        self,
        argv: Sequence[str],
        tags: Sequence[str],
        out: Output,
        control: RunControl,
        cwd: Path,
        build_env: dict[str, str] | None = None,
    ) -> int:
        """`docker build`; its tags count as built only when it succeeded (a later step may
        run or push only what really was built)."""
        env = {**self.env, **(build_env or {})}
        status = run_process([self.program, "build", *argv], out, control, env=env, cwd=cwd)
        if status == 0:
            with self._built_lock:
                self.built.update(tags)
        return status

    def pull(self, image: str, out: Output, control: RunControl) -> int:
        return self._docker(["pull", "--", image], out, control)

    def push(self, image: str, out: Output, control: RunControl) -> str | None:
        """The pushed digest, or None when the push failed."""
        return docker_push(self.program, image, out, control, self.env)

    def run(self, container: Container, out: Output, control: RunControl) -> int:
        """Run to the end; the container's exit status. A stopped step removes it."""
        try:
            return self._docker(self._run_args(container, detach=False), out, control)
        except Stopped:
            self.quiet(["rm", "-f", container.name])
            raise
        finally:
            if container.remove:
                self.quiet(["rm", "-f", container.name])

    def start(self, container: Container, out: Output, control: RunControl) -> int:
        """Start a detached container; the status of `docker run -d`."""
        return self._docker(self._run_args(container, detach=True), _Quiet(out), control)

    def follow(self, name: str, out: Output, control: RunControl) -> None:
        """Copy a detached container's output to the step's log until it ends or is removed."""
        with contextlib.suppress(Stopped):
            self._docker(["logs", "--follow", name], out, control)

    def _env_file(self, c: Container) -> Path:
        """The container's environment, one `NAME=value` a line (values were checked to have
        no line break), in a file only the worker reads."""
        path = self.env_dir / f"{c.name}.env"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.writelines(f"{name}={value}\n" for name, value in c.env)
        return path

    def _run_args(self, c: Container, detach: bool) -> list[str]:
        args = ["run", f"--name={c.name}", f"--label={self.label}", f"--network={c.network}"]
        if detach:
            args.append("--detach")
        if c.alias is not None and c.network not in ("host", "none"):
            args.append(f"--network-alias={c.alias}")
        args.append(f"--volume={c.workspace}:/workspace")
        args.append(f"--volume={self.config_file}:{CONFIG_IN_CONTAINER}:ro")
        for source, target in c.mounts:
            args.append(f"--volume={source}:{target}:ro")
        if c.working_directory is not None:
            args.append(f"--workdir={c.working_directory}")
        if c.env:
            args.append(f"--env-file={self._env_file(c)}")
        if c.entry_point is not None:
            args.append(f"--entrypoint={c.entry_point}")
        if c.user is not None:
            args.append(f"--user={c.user}")
        if c.privileged:
            args.append("--privileged")
        args += [f"--publish={port}" for port in c.ports]
        args += [f"--expose={port}" for port in c.expose]
        return [*args, "--", c.image, *c.args]

    def remove_everything(self) -> None:
        """Containers, networks and built tags of the run, whatever state they are in."""
        remove_run_resources(self.program, self.env, self.scope)
        with self._built_lock:
            made = sorted(self.built)
        if made:
            self.quiet(["rmi", "--", *made])


def remove_run_resources(program: str, env: dict[str, str], scope: str) -> None:
    label = f"label={RUN_LABEL}={scope}"
    containers = quiet([program, "ps", "-aq", "--filter", label], env).split()
    if containers:
        quiet([program, "rm", "-f", *containers], env)
    networks = quiet([program, "network", "ls", "-q", "--filter", label], env).split()
    if networks:
        quiet([program, "network", "rm", *networks], env)


def sweep_run(scope: str) -> None:
    """Remove what a run that is over left in the daemon (its worker died mid-run)."""
    program = shutil.which("docker")
    if program is not None:
        remove_run_resources(program, dict(os.environ), scope)


class _Quiet:
    """Drops the container id `docker run -d` prints; keeps errors."""

    def __init__(self, out: Output) -> None:
        self._out = out

    def write(self, text: str) -> None:
        kept = [ln for ln in text.splitlines() if not re.fullmatch(r"[0-9a-f]{64}", ln.strip())]
        if kept:
            self._out.write("\n".join(kept) + "\n")
