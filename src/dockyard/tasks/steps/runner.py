"""One multi-step run: the task file read and checked, then its steps as a DAG.

Steps whose dependencies are done start at once, each in a thread of its own; a failed step
blocks its dependants unless it has ignoreErrors. Every step's output goes to the run's log
line by line, prefixed with its id and with secret values masked; how each step stands is
recorded on the run as it changes. Whatever the outcome, the run's containers, networks and
built tags are removed at the end.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import platform
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from dockyard.tasks.credentials import RunCredential
from dockyard.tasks.model import FAILED, SUCCEEDED, BaseImage, OutputImage, Run, StepResult
from dockyard.tasks.outcome import Outcome
from dockyard.tasks.policy import image_repository
from dockyard.tasks.process import LOST, LogSink, RunControl, Stopped
from dockyard.tasks.runs import RunStore
from dockyard.tasks.steps.build_command import BuildStepInvalid, path_inside
from dockyard.tasks.steps.control import STEP_TIMED_OUT, StepControl
from dockyard.tasks.steps.docker import Container, DockerSteps, Login, docker_config
from dockyard.tasks.steps.output import StepOutput
from dockyard.tasks.steps.plan import Prepared, StepPolicy, prepare
from dockyard.tasks.taskfile.load import RenderedTaskFile, load_task_file
from dockyard.tasks.taskfile.model import BUILD, PUSH, Step
from dockyard.tasks.taskfile.problems import TaskFileInvalid
from dockyard.tasks.taskfile.templates import RunContext

STEP_QUEUED, STEP_RUNNING, STEP_SKIPPED, STEP_CANCELED = "Queued", "Running", "Skipped", "Canceled"
MAX_PARALLEL_STEPS = 8
_ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm"}


@dataclass(frozen=True, slots=True)
class StepsInput:
    """What a multi-step run is given besides its request."""

    # Names the run's containers, networks and label in the daemon: the run id and a random
    # part, as another registry on the same daemon may have a run of the same id.
    docker_scope: str
    secrets: Mapping[str, str]  # the task's secret values, with the run's own over them
    # The run's credential for this registry, limited to the repositories the task file
    # names; asked for once the file is checked.
    credential: RunCredential
    logins: tuple[Login, ...] = ()  # the task's credentials for other registries
    policy: StepPolicy = field(default_factory=StepPolicy)
    # Fills in the digests base image references name now, for the base-image triggers.
    resolve_bases: Callable[[list[BaseImage]], list[BaseImage]] | None = None


@dataclass(frozen=True, slots=True)
class _Setup:
    """What every step of the run works with, once the run is set up."""

    rendered: RenderedTaskFile
    prepared: Prepared
    docker: DockerSteps
    mounts: dict[str, Path]


class StepFailed(Exception):
    """One execution of a step failed; the message says how."""


class MultiStepRun:
    def __init__(
        self,
        run: Run,
        worker: str,
        runs: RunStore,
        registry_host: str,
        control: RunControl,
        sink: LogSink,
        run_dir: Path,
        workspace: Path,
        given: StepsInput,
    ) -> None:
        self._run = run
        self._worker = worker
        self._runs = runs
        self._registry_host = registry_host
        self._control = control
        self._sink = sink
        self._run_dir = run_dir
        self._workspace = workspace
        self._given = given
        self._lock = threading.Lock()
        self._results: dict[str, StepResult] = {}
        self._outputs: list[OutputImage] = []
        self._followers: list[threading.Thread] = []

    # --- the run ---------------------------------------------------------------------------

    def execute(self) -> Outcome:
        try:
            rendered = self._load()
        except (TaskFileInvalid, BuildStepInvalid) as exc:  # the loader masks its problems
            return self._invalid(exc.message)
        try:
            prepared = prepare(
                rendered.task,
                self._given.docker_scope,
                self._workspace,
                self._given.policy,
                self._registry_host,
            )
        except (TaskFileInvalid, BuildStepInvalid) as exc:
            return self._invalid(rendered.mask(exc.message))
        bases = list(prepared.bases)
        if self._given.resolve_bases is not None:
            bases = self._given.resolve_bases(bases)
        for base in bases:
            pinned = f"{base.image}@{base.digest}" if base.digest else base.image
            self._sink.line(f"Base image: {pinned}" + (" [runtime]" if base.runtime else ""))
        if not self._runs.mark_running(self._run.run_id, self._worker, bases):
            raise Stopped(LOST)
        self._results = {
            s.id: StepResult(s.id, s.kind, STEP_QUEUED, detached=s.detach)
            for s in rendered.task.steps
        }
        self._record()
        registry = self._given.credential(prepared.repositories)
        config = docker_config(registry, self._given.logins)
        docker = DockerSteps(self._given.docker_scope, self._run_dir, config)
        try:
            for network in prepared.created_networks:
                if not docker.create_network(network):
                    return Outcome(FAILED, f"could not create the network {network}")
            try:
                mounts = self._volumes(rendered)
            except StepFailed as exc:
                return Outcome(FAILED, str(exc))
            failed = self._schedule(_Setup(rendered, prepared, docker, mounts))
        finally:
            docker.remove_everything()
            for follower in self._followers:
                follower.join(timeout=10)
            self._summary()
        if failed:
            first = failed[0]
            error = self._results[first].error or "failed"
            return Outcome(FAILED, f"step '{first}' failed: {error}", tuple(self._outputs))
        return Outcome(SUCCEEDED, None, tuple(self._outputs))

    def _invalid(self, message: str) -> Outcome:
        for line in message.split("; "):
            self._sink.line(line)
        return Outcome(FAILED, message)

    def _load(self) -> RenderedTaskFile:
        request = self._run.request
        name = request.task_file or "acb.yaml"
        path = path_inside(self._workspace, name)
        if path is None or not path.is_file():
            raise BuildStepInvalid(f"the task file {name!r} is not a file of the context")
        text = path.read_text(errors="replace")
        sources = {}
        for source in _alias_sources(text):
            found = path_inside(self._workspace, source)
            if found is not None and found.is_file():
                sources[source] = found.read_text(errors="replace")
        machine = platform.machine().lower()
        context = RunContext(
            id=self._run.run_id,
            registry=self._registry_host,
            date=datetime.fromtimestamp(self._run.created_at, UTC),
            architecture=_ARCHITECTURES.get(machine, machine),
            commit=request.commit or "",
            branch=request.branch or "",
            task_name=self._run.task_name or "",
            shared_volume=str(self._workspace),
        )
        self._sink.line(f"Task file: {name}")
        return load_task_file(
            text,
            context,
            values=request.values,
            secrets=self._given.secrets,
            alias_sources=sources,
        )

    def _schedule(
        self,
        setup: _Setup,
    ) -> list[str]:
        """Run the steps as the plan allows; the ids of steps that failed the run."""
        plan = setup.rendered.plan
        succeeded: set[str] = set()
        failed: set[str] = set()
        started: set[str] = set()
        ended: queue.Queue[tuple[str, bool]] = queue.Queue()
        threads: list[threading.Thread] = []
        while self._control.reason is None:
            for step_id in plan.ready(succeeded, failed, started):
                if len(started - succeeded - failed) >= MAX_PARALLEL_STEPS:
                    break
                started.add(step_id)
                step = setup.rendered.task.step(step_id)
                thread = threading.Thread(
                    target=self._step_thread,
                    args=(step, setup, ended),
                    name=f"task-step-{step_id}",
                    daemon=True,
                )
                threads.append(thread)
                thread.start()
            if plan.finished(succeeded, failed, started):
                break
            with contextlib.suppress(queue.Empty):
                step_id, ok = ended.get(timeout=0.2)
                (succeeded if ok else failed).add(step_id)
                for blocked in plan.blocked(failed) - started:
                    self._update(blocked, status=STEP_SKIPPED, error="a step it waits for failed")
        for thread in threads:
            thread.join()
        reason = self._control.reason
        if reason is not None:
            for step_id, result in self._results.items():
                if result.status in (STEP_QUEUED, STEP_RUNNING):
                    self._update(step_id, status=STEP_CANCELED)
            raise Stopped(reason)
        return [s.id for s in plan.steps if s.id in failed and not s.ignore_errors]

    # --- one step --------------------------------------------------------------------------

    def _step_thread(
        self,
        step: Step,
        setup: _Setup,
        ended: queue.Queue[tuple[str, bool]],
    ) -> None:
        out = StepOutput(self._sink, step.id, setup.rendered.masker)
        began = time.monotonic()
        self._update(step.id, status=STEP_RUNNING, started_at=time.time())
        out.line(_describe(step, setup.prepared))
        ok = False
        try:
            if step.start_delay and self._control.wait(step.start_delay):
                raise Stopped(self._control.reason or LOST)
            self._repeat(step, setup, out)
            ok = True
            took = time.monotonic() - began
            word = "started" if step.detach else "succeeded"
            out.line(f"Step {step.id} {word} after {took:.1f}s")
            self._update(step.id, status=SUCCEEDED, finished_at=time.time())
        except StepFailed as exc:
            message = setup.rendered.mask(str(exc))
            took = time.monotonic() - began
            note = " (errors ignored)" if step.ignore_errors else ""
            out.line(f"Step {step.id} failed after {took:.1f}s{note}: {message}")
            self._update(step.id, status=FAILED, finished_at=time.time(), error=message)
        except Stopped:
            self._update(step.id, status=STEP_CANCELED, finished_at=time.time())
        except Exception as exc:  # a bug must not leave the run waiting on this step
            out.line(f"Step {step.id} failed: internal error: {type(exc).__name__}")
            self._update(step.id, status=FAILED, finished_at=time.time(), error="internal error")
        finally:
            out.close()
            ended.put((step.id, ok))

    def _repeat(
        self,
        step: Step,
        setup: _Setup,
        out: StepOutput,
    ) -> None:
        """The step once, then `repeat` times more; each execution retried on failure."""
        for execution in range(step.repeat + 1):
            if execution:
                out.line(f"Repeating ({execution} of {step.repeat})")
            for attempt in range(step.retries + 1):
                try:
                    self._once(step, setup, out, execution)
                    break
                except StepFailed as exc:
                    if attempt == step.retries:
                        raise
                    out.line(
                        f"Attempt {attempt + 1} failed: {setup.rendered.mask(str(exc))}; "
                        f"retrying in {step.retry_delay}s"
                    )
                    if self._control.wait(step.retry_delay):
                        raise Stopped(self._control.reason or LOST) from None

    def _once(
        self,
        step: Step,
        setup: _Setup,
        out: StepOutput,
        execution: int,
    ) -> None:
        control = StepControl(self._control, step.timeout)
        try:
            if step.kind == BUILD:
                self._build(step, setup, out, control)
            elif step.kind == PUSH:
                self._push(step, setup.docker, out, control)
            else:
                self._command(step, setup, out, control, execution)
        except Stopped as stop:
            if stop.reason == STEP_TIMED_OUT:
                raise StepFailed(f"timed out after {step.timeout}s") from None
            raise

    def _build(
        self,
        step: Step,
        setup: _Setup,
        out: StepOutput,
        control: RunControl,
    ) -> None:
        docker = setup.docker
        command = setup.prepared.builds[step.id]
        for base in setup.prepared.build_bases[step.id]:
            # The daemon builds on what it holds; a pull first makes the build use what the
            # reference names now, and only what the run's credential may read.
            if not docker.has_built(base):
                out.line(f"Pulling {base}")
                if docker.pull(base, _Kept(), control) != 0:
                    raise StepFailed(f"could not pull the base image {base}")
        status = docker.build(
            command.argv(), command.tags, out, control, self._workspace, command.environment()
        )
        if status != 0:
            raise StepFailed(f"docker build exited with status {status}")
        self._update(step.id, images=list(command.tags))

    def _push(self, step: Step, docker: DockerSteps, out: StepOutput, control: RunControl) -> None:
        pushed = []
        for image in step.push:
            if not docker.has_built(image):
                raise StepFailed(f"{image} was not built by a step of this run")
            digest = docker.push(image, out, control)
            if digest is None:
                raise StepFailed(f"pushing {image} failed")
            out.line(f"Pushed {image}@{digest}")
            pushed.append(image)
            host, _, rest = image.partition("/")
            if host == self._registry_host and rest:
                repository, tag = image_repository(rest)
                with self._lock:
                    self._outputs.append(OutputImage(repository, tag, digest))
        self._update(step.id, images=pushed)

    def _command(
        self,
        step: Step,
        setup: _Setup,
        out: StepOutput,
        control: RunControl,
        execution: int,
    ) -> None:
        docker = setup.docker
        image, *args = setup.prepared.commands[step.id]
        image = self._pulled(image, step, docker, out, control)
        suffix = f"-{execution}" if execution else ""
        task = setup.rendered.task
        container = Container(
            name=f"dockyard-{docker.scope}-{step.id}{suffix}",
            image=image,
            args=tuple(args),
            network=setup.prepared.networks[step.id],
            alias=step.id,
            workspace=self._workspace,
            working_directory=None
            if step.disable_working_directory_override
            else (step.working_directory or task.working_directory),
            env=setup.prepared.env[step.id],
            entry_point=step.entry_point,
            user=step.user,
            privileged=step.privileged,
            ports=step.ports,
            expose=step.expose,
            mounts=tuple((setup.mounts[m.name], m.mount_path) for m in step.volume_mounts),
            remove=not step.keep,
        )
        if step.detach:
            status = docker.start(container, out, control)
            if status != 0:
                raise StepFailed(f"the container did not start: docker run exited with {status}")
            follower = threading.Thread(
                target=docker.follow,
                args=(container.name, out, self._control),
                name=f"task-step-{step.id}-log",
                daemon=True,
            )
            self._followers.append(follower)
            follower.start()
            return
        status = docker.run(container, out, control)
        self._update(step.id, exit_code=status)
        if status != 0:
            raise StepFailed(f"the container exited with status {status}")

    def _pulled(
        self, image: str, step: Step, docker: DockerSteps, out: StepOutput, control: RunControl
    ) -> str:
        """The image to run: one a build step made, or pulled (this registry first for an
        unqualified name), so that the daemon's cache never stands in for a pull the run's
        credential would be refused."""
        if docker.has_built(image) and not step.pull:
            return image
        candidates = [image]
        if not _names_registry(image):
            candidates.insert(0, f"{self._registry_host}/{image}")
        said = _Kept()
        for candidate in candidates:
            out.line(f"Pulling {candidate}")
            if docker.pull(candidate, said, control) == 0:
                return candidate
        out.write(said.text)
        raise StepFailed(f"could not pull {image}")

    # --- helpers ---------------------------------------------------------------------------

    def _volumes(self, rendered: RenderedTaskFile) -> dict[str, Path]:
        """Each volume's secret files, written for the run and mounted read-only."""
        folders: dict[str, Path] = {}
        for volume in rendered.task.volumes:
            folder = self._run_dir / "volumes" / volume.name
            folder.mkdir(parents=True, exist_ok=True)
            for file_name, encoded in volume.secret.items():
                try:
                    content = base64.b64decode(encoded, validate=True)
                except (binascii.Error, ValueError):
                    raise StepFailed(
                        f"volume '{volume.name}': the value of '{file_name}' is not base64"
                    ) from None
                target = path_inside(folder, file_name)
                if target is None:
                    raise StepFailed(f"volume '{volume.name}': bad file name {file_name!r}")
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o400)
                with os.fdopen(fd, "wb") as written:
                    written.write(content)
            folders[volume.name] = folder
        return folders

    def _update(self, step_id: str, **changes: Any) -> None:
        with self._lock:
            self._results[step_id] = replace(self._results[step_id], **changes)
        self._record()

    def _record(self) -> None:
        with self._lock:
            steps = list(self._results.values())
        if not self._runs.set_steps(self._run.run_id, self._worker, steps):
            self._control.stop(LOST)

    def _summary(self) -> None:
        self._sink.line("Steps:")
        for result in self._results.values():
            took = ""
            if result.started_at is not None and result.finished_at is not None:
                took = f" {result.finished_at - result.started_at:.1f}s"
            self._sink.line(f"  {result.id}: {result.status}{took}")


def _describe(step: Step, prepared: Prepared) -> str:
    parts = [f"Step {step.id} ({step.kind}) started", f"timeout {step.timeout}s"]
    if step.kind == "cmd":
        parts.append(f"network {prepared.networks[step.id]}")
        if step.detach:
            parts.append("detached")
    return ", ".join(parts)


def _alias_sources(text: str) -> list[str]:
    """The files `alias.src` names (read before templates; a file that does not parse as YAML
    yet names none, and its problems are reported by the loader)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return []
    alias = data.get("alias") if isinstance(data, dict) else None
    sources = alias.get("src") if isinstance(alias, dict) else None
    return [s for s in sources if isinstance(s, str)] if isinstance(sources, list) else []


def _names_registry(image: str) -> bool:
    first, slash, _ = image.partition("/")
    return bool(slash) and ("." in first or ":" in first or first == "localhost")


class _Kept:
    """Keeps what the pulls said, shown only when no pull worked."""

    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> None:
        self.text += text
