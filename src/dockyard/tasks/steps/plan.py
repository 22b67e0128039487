"""Everything checked before the first step starts: each build step's command; the image,
network, environment, mounts and other docker options of each cmd step against the worker's
policy; every image reference; and what the run needs: the base images it builds from and
the repositories of this registry its credential must open."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field, replace
from pathlib import Path

from dockyard.spec.reference import InvalidReference, parse_reference
from dockyard.tasks.credentials import RepositoryAccess, mentioned, merged, pulls, pushes
from dockyard.tasks.dockerfile import SCRATCH, DockerfileInvalid, base_images
from dockyard.tasks.model import BaseImage
from dockyard.tasks.steps.build_command import BuildCommand, BuildStepInvalid, parse_build
from dockyard.tasks.taskfile.model import BUILD, CMD, PUSH, Step, TaskFile
from dockyard.tasks.taskfile.problems import Problem, TaskFileInvalid

HOST_NETWORK, NO_NETWORK = "host", "none"
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
# Where a secret volume may be mounted: an absolute path that `-v` reads as one path.
_MOUNT_PATH_RE = re.compile(r"^/[A-Za-z0-9._/@+-]*[A-Za-z0-9._@+-]$")
_DEFAULT_ISOLATION = "default"


@dataclass(frozen=True, slots=True)
class StepPolicy:
    """What the worker lets a task file's steps have beyond their own containers."""

    allow_privileged: bool = False
    # `network: host`, a network with `skipCreation` (one of the daemon's own), and
    # `--network host` of build steps.
    allow_host_network: bool = False


@dataclass(frozen=True, slots=True)
class Prepared:
    builds: dict[str, BuildCommand] = field(default_factory=dict)
    networks: dict[str, str] = field(default_factory=dict)  # step id -> docker network
    created_networks: tuple[str, ...] = ()  # docker networks the run makes
    commands: dict[str, tuple[str, ...]] = field(default_factory=dict)  # step id -> image, args
    build_bases: dict[str, tuple[str, ...]] = field(default_factory=dict)  # step id -> FROMs
    env: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)  # step id -> env
    bases: tuple[BaseImage, ...] = ()
    repositories: tuple[RepositoryAccess, ...] = ()  # what the run's credential opens here


def prepare(
    task: TaskFile,
    scope: str,
    workspace: Path,
    policy: StepPolicy,
    registry_host: str,
) -> Prepared:
    """Raises TaskFileInvalid naming the line of every step that cannot run."""
    problems: list[Problem] = []
    task_env: tuple[tuple[str, str], ...] = ()
    try:
        task_env = _environment(task.env)
    except BuildStepInvalid as exc:
        problems.append(Problem(0, 0, f"env: {exc.message}"))
    for network in task.networks:
        if network.skip_creation and not policy.allow_host_network:
            problems.append(
                Problem(
                    0,
                    0,
                    f"network '{network.name}': joining a network of the worker's daemon "
                    "(skipCreation) is not allowed on this worker "
                    "(DOCKYARD_TASK_ALLOW_HOST_NETWORK)",
                )
            )
    run_network = f"dockyard-{scope}"
    declared = {
        n.name: n.name if n.skip_creation else f"dockyard-{scope}-{n.name}" for n in task.networks
    }
    created = [run_network] + [declared[n.name] for n in task.networks if not n.skip_creation]
    default = next((declared[n.name] for n in task.networks if n.is_default), run_network)
    prepared = Prepared(created_networks=tuple(created))
    bases: list[BaseImage] = []
    for step in task.steps:
        try:
            _prepare_step(step, prepared, declared, default, workspace, policy, task_env)
        except BuildStepInvalid as exc:
            problems.append(Problem(step.line, 0, f"step '{step.id}': {exc.message}"))
            continue
        if step.kind == BUILD:
            command = prepared.builds[step.id]
            try:
                found = base_images(
                    command.dockerfile.read_bytes(), command.build_args, command.target
                )
            except DockerfileInvalid as exc:
                problems.append(Problem(step.line, 0, f"step '{step.id}': {exc.message}"))
                continue
            prepared.build_bases[step.id] = tuple(
                dict.fromkeys(b.image for b in found if b.image != SCRATCH)
            )
            known = {(b.image, b.runtime) for b in bases}
            for base in found:
                # Several build steps on one base record it once (a builder stage of one
                # and the runtime of another are two records).
                if (base.image, base.runtime) not in known:
                    known.add((base.image, base.runtime))
                    bases.append(BaseImage(len(bases), base.name, base.image, base.runtime))
    if problems:
        raise TaskFileInvalid(problems)
    return replace(
        prepared, bases=tuple(bases), repositories=_repositories(task, prepared, registry_host)
    )


def _repositories(
    task: TaskFile, prepared: Prepared, registry_host: str
) -> tuple[RepositoryAccess, ...]:
    """Pull on every image the run reads here, push (and pull) on every one it pushes."""
    wanted: list[RepositoryAccess] = []
    for step in task.steps:
        if step.kind == BUILD:
            command = prepared.builds[step.id]
            wanted += pulls(prepared.build_bases.get(step.id, ()), registry_host)
            wanted += pulls(command.tags, registry_host)
        elif step.kind == PUSH:
            wanted += pushes(step.push, registry_host)
        elif step.kind == CMD:
            image, *args = prepared.commands[step.id]
            wanted += pulls([image], registry_host)
            wanted += mentioned(" ".join(args), registry_host)
    return merged(wanted)


def _prepare_step(
    step: Step,
    prepared: Prepared,
    declared: dict[str, str],
    default: str,
    workspace: Path,
    policy: StepPolicy,
    task_env: tuple[tuple[str, str], ...],
) -> None:
    if step.kind == BUILD:
        prepared.builds[step.id] = parse_build(
            step.build or "", workspace, not step.cache, policy.allow_host_network
        )
        return
    if step.kind == PUSH:
        for image in step.push:
            _image(image, "push")
        return
    if step.kind != CMD:
        return
    if step.network is None:
        prepared.networks[step.id] = default
    elif step.network == HOST_NETWORK:
        if not policy.allow_host_network:
            raise BuildStepInvalid(
                "the host network is not allowed on this worker (DOCKYARD_TASK_ALLOW_HOST_NETWORK)"
            )
        prepared.networks[step.id] = HOST_NETWORK
    elif step.network == NO_NETWORK:
        prepared.networks[step.id] = NO_NETWORK
    elif step.network in declared:
        prepared.networks[step.id] = declared[step.network]
    else:
        raise BuildStepInvalid(f"network '{step.network}' is not declared in `networks`")
    if step.privileged and not policy.allow_privileged:
        raise BuildStepInvalid(
            "privileged containers are not allowed on this worker "
            "(DOCKYARD_TASK_ALLOW_PRIVILEGED_STEPS)"
        )
    if step.isolation not in (None, _DEFAULT_ISOLATION):
        raise BuildStepInvalid(f"isolation '{step.isolation}' is not available on this worker")
    for mount in step.volume_mounts:
        if not _MOUNT_PATH_RE.fullmatch(mount.mount_path) or "/../" in f"{mount.mount_path}/":
            raise BuildStepInvalid(
                f"volume '{mount.name}': mountPath {mount.mount_path!r} must be an absolute path "
                "of letters, digits and . _ - @ +"
            )
    for value, what in (
        (step.user, "user"),
        (step.working_directory, "workingDirectory"),
        (step.entry_point, "entryPoint"),
    ):
        if value is not None and ("\n" in value or "\0" in value):
            raise BuildStepInvalid(f"{what} has a line break")
    prepared.env[step.id] = (*task_env, *_environment(step.env))
    try:
        words = tuple(shlex.split(step.cmd or ""))
    except ValueError as exc:
        raise BuildStepInvalid(f"cmd: {exc}") from None
    if not words:
        raise BuildStepInvalid("cmd names no image")
    # The first word is the image, never an option: what follows it is the container's
    # command only.
    prepared.commands[step.id] = (_image(words[0], "cmd"), *words[1:])


def _image(text: str, what: str) -> str:
    try:
        return str(parse_reference(text))
    except InvalidReference as exc:
        raise BuildStepInvalid(f"{what}: {exc}") from None


def _environment(entries: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """`NAME=value` entries as pairs. Each needs its `=` (docker would fill a bare name from
    the worker's own environment) and a value without line breaks (the values go to docker in
    an env file, one per line)."""
    pairs = []
    for entry in entries:
        name, equals, value = entry.partition("=")
        if not equals or not _ENV_NAME_RE.fullmatch(name):
            raise BuildStepInvalid(f"env {name!r}: an entry is NAME=value")
        if "\n" in value or "\r" in value or "\0" in value:
            raise BuildStepInvalid(f"env {name}: the value has a line break")
        pairs.append((name, value))
    return tuple(pairs)
