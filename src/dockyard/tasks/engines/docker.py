"""docker: builds by a Docker daemon on the worker (BuildKit or the classic builder, as
DOCKER_BUILDKIT says), only on workers configured with it.

The daemon resolves unqualified FROM names against Docker Hub, not this registry: Dockerfiles
built with this engine name their base images in full. The credential is in a docker config
of the run's own (DOCKER_CONFIG), naming only this registry; the daemon must treat a
plain-HTTP registry as insecure (loopback addresses are).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import subprocess
from pathlib import Path

from dockyard.tasks.engines.base import (
    BuildFailed,
    BuildJob,
    CommandJob,
    EngineMissing,
    RegistryAccess,
    build_arg_words,
)
from dockyard.tasks.process import LogSink, Output, RunControl, Stopped, run_process

_PUSHED_DIGEST = re.compile(r"digest: (sha256:[0-9a-f]{64})")


class DockerEngine:
    name = "docker"

    def __init__(self, program: str = "docker") -> None:
        self._program = program

    def _prepare(self, work_dir: Path, registry: RegistryAccess) -> tuple[str, dict[str, str]]:
        path = shutil.which(self._program)
        if path is None:
            raise EngineMissing(f"{self._program} is not installed on this worker")
        config = work_dir / "docker"
        registry.write_auth(config / "config.json")
        return path, {**os.environ, "DOCKER_CONFIG": str(config)}

    def build(
        self, job: BuildJob, registry: RegistryAccess, log: LogSink, control: RunControl
    ) -> dict[str, str]:
        docker, env = self._prepare(job.work_dir, registry)
        # --pull: the daemon would otherwise build on the base it holds, stale or pulled by
        # someone else, without asking the registry.
        build = [docker, "build", "--pull", "-f", str(job.dockerfile)]
        if job.platform:
            build += ["--platform", job.platform]
        if job.target:
            build += ["--target", job.target]
        arg_words, arg_values = build_arg_words(job.build_args)
        build += arg_words
        for image in job.images:
            build += ["-t", image]
        build += ["--", str(job.context)]
        try:
            status = run_process(build, log, control, env={**env, **arg_values}, cwd=job.context)
            if status != 0:
                raise BuildFailed(f"the build failed: docker build exited with status {status}")
            if not job.push:
                return {}
            digests: dict[str, str] = {}
            for image in job.images:
                log.line(f"Pushing {image}")
                digest = docker_push(docker, image, log, control, env)
                if digest is None:
                    raise BuildFailed(f"pushing {image} failed")
                digests[image] = digest
            return digests
        finally:
            # The daemon's store is shared: leave no tag of this run in it.
            if job.images:
                quiet([docker, "rmi", *job.images], env)

    def run_command(
        self, job: CommandJob, registry: RegistryAccess, log: LogSink, control: RunControl
    ) -> int:
        docker, env = self._prepare(job.work_dir, registry)
        # Another registry on the same daemon may have a run of the same id.
        name = f"dockyard-run-{job.run_id}-{secrets.token_hex(4)}"
        run = [docker, "run", "--rm", "--name", name]
        if job.platform:
            run += ["--platform", job.platform]
        if job.context is not None:
            run += ["-v", f"{job.context}:/workspace", "-w", "/workspace"]
        try:
            return run_process([*run, "--", job.image, *job.args], log, control, env=env)
        except Stopped:
            # Ending the client does not end the container.
            quiet([docker, "rm", "-f", name], env)
            raise


def docker_push(
    docker: str, image: str, log: Output, control: RunControl, env: dict[str, str]
) -> str | None:
    """`docker push`; the digest it pushed, or None when it failed."""
    captured = _Capture(log)
    status = run_process([docker, "push", "--", image], captured, control, env=env)
    found = _PUSHED_DIGEST.findall(captured.text)
    return found[-1] if status == 0 and found else None


class _Capture:
    """A log sink that also keeps what passes through it (to read the pushed digest)."""

    def __init__(self, log: Output) -> None:
        self._log = log
        self.text = ""

    def write(self, text: str) -> None:
        self.text += text
        self._log.write(text)


def quiet(argv: list[str], env: dict[str, str], timeout: float = 120) -> str:
    """A housekeeping command; its output, empty when it failed."""
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        done = subprocess.run(
            argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout,
            check=False,
        )  # fmt: skip
        if done.returncode == 0:
            return done.stdout.decode(errors="replace")
    return ""
