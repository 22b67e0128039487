"""Everything checked before the first step starts: each build step's command, the network
and image of each step; and the base images the run builds from."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field, replace
from pathlib import Path

from dockyard.tasks.dockerfile import SCRATCH, DockerfileInvalid, base_images
from dockyard.tasks.model import BaseImage
from dockyard.tasks.steps.build_command import BuildCommand, BuildStepInvalid, parse_build
from dockyard.tasks.taskfile.model import BUILD, CMD, Step, TaskFile
from dockyard.tasks.taskfile.problems import Problem, TaskFileInvalid

SPECIAL_NETWORKS = ("host", "none")


@dataclass(frozen=True, slots=True)
class Prepared:
    builds: dict[str, BuildCommand] = field(default_factory=dict)
    networks: dict[str, str] = field(default_factory=dict)  # step id -> docker network
    created_networks: tuple[str, ...] = ()  # docker networks the run makes
    commands: dict[str, tuple[str, ...]] = field(default_factory=dict)  # step id -> image, args
    build_bases: dict[str, tuple[str, ...]] = field(default_factory=dict)  # step id -> FROMs
    bases: tuple[BaseImage, ...] = ()


def prepare(task: TaskFile, scope: str, workspace: Path, allow_privileged: bool) -> Prepared:
    """Raises TaskFileInvalid naming the line of every step that cannot run."""
    problems: list[Problem] = []
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
            _prepare_step(step, prepared, declared, default, workspace, allow_privileged)
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
    return replace(prepared, bases=tuple(bases))


def _prepare_step(
    step: Step,
    prepared: Prepared,
    declared: dict[str, str],
    default: str,
    workspace: Path,
    allow_privileged: bool,
) -> None:
    if step.kind == BUILD:
        prepared.builds[step.id] = parse_build(step.build or "", workspace, not step.cache)
        return
    if step.kind != CMD:
        return
    if step.network is None:
        prepared.networks[step.id] = default
    elif step.network in SPECIAL_NETWORKS:
        prepared.networks[step.id] = step.network
    elif step.network in declared:
        prepared.networks[step.id] = declared[step.network]
    else:
        raise BuildStepInvalid(f"network '{step.network}' is not declared in `networks`")
    if step.privileged and not allow_privileged:
        raise BuildStepInvalid(
            "privileged containers are not allowed on this worker "
            "(DOCKYARD_TASK_ALLOW_PRIVILEGED_STEPS)"
        )
    try:
        words = tuple(shlex.split(step.cmd or ""))
    except ValueError as exc:
        raise BuildStepInvalid(f"cmd: {exc}") from None
    if not words:
        raise BuildStepInvalid("cmd names no image")
    prepared.commands[step.id] = words
