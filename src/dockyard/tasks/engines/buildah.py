"""buildah: daemonless builds with chroot isolation and vfs storage, in a store of the run's
own, so that nothing of one run (images pulled with its requester's rights) serves another.

Unqualified names (`FROM base/busybox:1`) resolve against this registry first, through a
registries.conf written for the run; the credential is in an auth file naming only this
registry, so it never travels to an upstream registry nor shows in the process list.
"""

from __future__ import annotations

import json
import os
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
from dockyard.tasks.process import LogSink, RunControl, run_process

COMMAND_CONTAINER = "dockyard-run"


def registries_conf(registry: RegistryAccess) -> str:
    """Unqualified names: this registry first, then the configured upstream ones (an
    upstream entry `http://host[:port]` is spoken to over plain HTTP)."""
    upstream = [entry.split("://", 1)[-1].rstrip("/") for entry in registry.upstream]
    search = [registry.host, *upstream]
    lines = [
        "unqualified-search-registries = [" + ", ".join(_toml(s) for s in search) + "]",
        'short-name-mode = "permissive"',
        "",
        "[[registry]]",
        f"location = {_toml(registry.host)}",
        f"insecure = {'true' if registry.insecure else 'false'}",
    ]
    for entry, host in zip(registry.upstream, upstream, strict=True):
        if entry.startswith("http://") and host != registry.host:
            lines += ["", "[[registry]]", f"location = {_toml(host)}", "insecure = true"]
    return "\n".join(lines) + "\n"


def _toml(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class BuildahEngine:
    name = "buildah"

    def __init__(self, program: str = "buildah") -> None:
        self._program = program

    def _prepare(
        self, work_dir: Path, registry: RegistryAccess
    ) -> tuple[list[str], Path, dict[str, str]]:
        """Global options, the auth file and the environment of every buildah command."""
        path = shutil.which(self._program)
        if path is None:
            raise EngineMissing(f"{self._program} is not installed on this worker")
        for sub in ("root", "runroot", "tmp", "registries.conf.d"):
            (work_dir / sub).mkdir(parents=True, exist_ok=True)
        conf = work_dir / "registries.conf"
        conf.write_text(registries_conf(registry))
        auth = registry.write_auth(work_dir / "auth.json")
        options = [
            path,
            "--root", str(work_dir / "root"),
            "--runroot", str(work_dir / "runroot"),
            "--storage-driver", "vfs",
            "--registries-conf", str(conf),
            "--registries-conf-dir", str(work_dir / "registries.conf.d"),
        ]  # fmt: skip
        env = {
            **os.environ,
            "BUILDAH_ISOLATION": "chroot",
            "REGISTRY_AUTH_FILE": str(auth),
            "TMPDIR": str(work_dir / "tmp"),
        }
        return options, auth, env

    def build(
        self, job: BuildJob, registry: RegistryAccess, log: LogSink, control: RunControl
    ) -> dict[str, str]:
        options, auth, env = self._prepare(job.work_dir, registry)
        bud = [*options, "bud", "--isolation", "chroot", "--authfile", str(auth)]
        bud += ["-f", str(job.dockerfile)]
        if job.platform:
            bud += ["--platform", job.platform]
        if job.target:
            bud += ["--target", job.target]
        arg_words, arg_values = build_arg_words(job.build_args)
        bud += arg_words
        for image in job.images:
            bud += ["-t", image]
        bud += ["--", str(job.context)]
        status = run_process(bud, log, control, env={**env, **arg_values}, cwd=job.context)
        if status != 0:
            raise BuildFailed(f"the build failed: buildah bud exited with status {status}")
        if not job.push:
            return {}
        digests: dict[str, str] = {}
        for number, image in enumerate(job.images):
            digest_file = job.work_dir / f"digest-{number}"
            push = [
                *options, "push",
                "--authfile", str(auth),
                f"--tls-verify={'false' if registry.insecure else 'true'}",
                "--digestfile", str(digest_file),
                image, f"docker://{image}",
            ]  # fmt: skip
            log.line(f"Pushing {image}")
            status = run_process(push, log, control, env=env)
            if status != 0:
                raise BuildFailed(f"pushing {image} failed: buildah push exited with {status}")
            digests[image] = digest_file.read_text().strip()
        return digests

    def run_command(
        self, job: CommandJob, registry: RegistryAccess, log: LogSink, control: RunControl
    ) -> int:
        options, auth, env = self._prepare(job.work_dir, registry)
        container = f"{COMMAND_CONTAINER}-{job.run_id}"
        create = [*options, "from", "--quiet", "--name", container, "--authfile", str(auth)]
        if job.platform:
            create += ["--platform", job.platform]
        create += ["--", job.image]
        status = run_process(create, log, control, env=env)
        if status != 0:
            raise BuildFailed(f"could not start {job.image}: buildah from exited with {status}")
        command = _command_line(options, container, env, job.args)
        run = [*options, "run", "--isolation", "chroot"]
        if job.context is not None:
            copy = [*options, "copy", container, str(job.context), "/workspace"]
            if run_process(copy, log, control, env=env) != 0:
                raise BuildFailed("could not copy the context into the container")
            run += ["--workingdir", "/workspace"]
        # The container goes with the run's store, which is removed after the run.
        return run_process([*run, container, "--", *command], log, control, env=env)


def _command_line(
    options: list[str], container: str, env: dict[str, str], args: tuple[str, ...]
) -> list[str]:
    """What `docker run image args` would run: the entrypoint, then the args (or the image's
    Cmd when there are none); `buildah run` itself runs only what it is given."""
    inspect = subprocess.run(
        [*options, "inspect", "--type", "container", container],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=120,
        check=False,
    )
    config: dict[str, object] = {}
    if inspect.returncode == 0:
        config = json.loads(inspect.stdout).get("OCIv1", {}).get("config", {}) or {}
    entrypoint = [str(w) for w in config.get("Entrypoint") or []]  # type: ignore[attr-defined]
    default = [str(w) for w in config.get("Cmd") or []]  # type: ignore[attr-defined]
    command = entrypoint + (list(args) or default)
    if not command:
        raise BuildFailed("the image has no command, and the run names none")
    return command
