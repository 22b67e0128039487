"""Doing one claimed run: its context, its Dockerfile's base images, then the engine.

Everything of a run lives in `<work dir>/<run id>/` (the unpacked context, the engine's own
image store, the auth file) and is removed when the run ends. The pids of its engine
processes are noted there too, so that the leftovers of a worker that died mid-run (its run
since ended by the reaper) can be ended and removed by the next worker on the machine.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import secrets as random_token
import shlex
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from dockyard.errors import DockyardError
from dockyard.tasks import archive, fetch
from dockyard.tasks.base_images import BaseImageDigests, local_source
from dockyard.tasks.credentials import RepositoryAccess, RunCredential, merged, pulls, pushes
from dockyard.tasks.dockerfile import DockerfileInvalid, base_images
from dockyard.tasks.engines.base import (
    BuildFailed,
    BuildJob,
    CommandJob,
    Engine,
    EngineMissing,
    RegistryAccess,
)
from dockyard.tasks.logs import LogStore
from dockyard.tasks.model import (
    CANCELED,
    ERROR,
    FAILED,
    SUCCEEDED,
    TIMEOUT,
    OutputImage,
    Run,
)
from dockyard.tasks.outcome import Outcome
from dockyard.tasks.policy import image_repository
from dockyard.tasks.process import (
    CANCELED as STOP_CANCELED,
)
from dockyard.tasks.process import (
    LOST,
    TIMED_OUT,
    LogSink,
    ProcessTree,
    RunControl,
    Stopped,
)
from dockyard.tasks.runs import RunStore
from dockyard.tasks.saved import SavedTasks
from dockyard.tasks.sources import SourceStore
from dockyard.tasks.steps.docker import Login, sweep_run
from dockyard.tasks.steps.plan import StepPolicy
from dockyard.tasks.steps.runner import MultiStepRun, StepsInput

log = logging.getLogger("dockyard.tasks")
PROCESSES_FILE = "processes"
# The run made containers; the file holds the scope naming them, for the sweep to remove
# what is left.
DOCKER_MARKER = "uses-docker"


@dataclass(frozen=True, slots=True)
class ExecutorSettings:
    work_dir: Path
    max_source_bytes: int
    allow_private_sources: bool = False
    allow_privileged_steps: bool = False
    allow_host_network_steps: bool = False


class RunExecutor:
    def __init__(
        self,
        runs: RunStore,
        logs: LogStore,
        sources: SourceStore,
        engines: dict[str, Engine],
        settings: ExecutorSettings,
        saved: SavedTasks | None = None,
        base_images: BaseImageDigests | None = None,
    ) -> None:
        self._base_images = base_images
        self._saved = saved  # a saved task's secret values and credentials, for its runs
        self._runs = runs
        self._logs = logs
        self._sources = sources
        self._engines = engines
        self._settings = settings

    def execute(
        self,
        run: Run,
        worker: str,
        registry: RegistryAccess,
        control: RunControl,
        credential: RunCredential | None = None,
    ) -> Outcome:
        """Do the run; its outcome, with the log complete before it is returned. `registry`
        names this registry without a credential; `credential` makes the run's own for the
        repositories the run turns out to need (none: the registry takes no credentials)."""
        issue = credential or (lambda _needs: registry)
        run_dir = self._settings.work_dir / run.run_id
        run_dir.mkdir(parents=True, exist_ok=True)
        control.on_spawn = lambda pid: _note_process(run_dir, pid)
        sink = LogSink(lambda text: self._logs.append(run.run_id, text))
        started = time.monotonic()
        try:
            sink.line(f"Run {run.run_id} ({run.kind}) started on {worker} with {run.engine}")
            outcome = self._execute(run, worker, registry, issue, control, sink, run_dir)
        except Stopped as stop:
            outcome = _stopped(stop.reason, run)
        except BuildFailed as exc:
            outcome = Outcome(FAILED, str(exc))
        except DockerfileInvalid as exc:
            outcome = Outcome(FAILED, exc.message)
        except DockyardError as exc:
            outcome = Outcome(ERROR, exc.message)
        except EngineMissing as exc:
            outcome = Outcome(ERROR, str(exc))
        except Exception as exc:
            log.exception("run %s failed", run.run_id)
            outcome = Outcome(ERROR, f"internal error: {type(exc).__name__}: {exc}")
        finally:
            control.on_spawn = None
        took = round(time.monotonic() - started)
        if outcome.status == SUCCEEDED:
            sink.line(f"Run {run.run_id} succeeded after {took}s")
        elif outcome.status is not None:
            sink.line(f"Run {run.run_id} ended {outcome.status} after {took}s: {outcome.error}")
        with contextlib.suppress(Exception):
            sink.close()
        shutil.rmtree(run_dir, ignore_errors=True)
        return outcome

    def _execute(
        self,
        run: Run,
        worker: str,
        registry: RegistryAccess,
        credential: RunCredential,
        control: RunControl,
        sink: LogSink,
        run_dir: Path,
    ) -> Outcome:
        engine = self._engines.get(run.engine)
        if engine is None:
            raise EngineMissing(f"this worker has no {run.engine} engine")
        context = self._context(run, run_dir, sink, control)
        if run.kind == "task":
            if context is None:
                raise BuildFailed("a multi-step run needs a context holding its task file")
            return self._steps(run, worker, registry, credential, control, sink, run_dir, context)
        if run.kind == "cmd":
            return self._command(
                run, worker, engine, registry, credential, control, sink, run_dir, context
            )
        assert context is not None, "a build has a context"
        return self._build(
            run, worker, engine, registry, credential, control, sink, run_dir, context
        )

    def _context(self, run: Run, run_dir: Path, sink: LogSink, control: RunControl) -> Path | None:
        request = run.request
        limit = self._settings.max_source_bytes
        archive_path = run_dir / "source.tar"
        if request.source is not None:
            sink.line(f"Unpacking source {request.source}")
            self._sources.copy_to(request.source, archive_path)
        elif request.context_url is not None:
            where = fetch.parse_context_url(request.context_url)
            allow = self._settings.allow_private_sources
            if where.kind == "git":
                sink.line(f"Cloning {where.url}" + (f" ({where.branch})" if where.branch else ""))
                return fetch.clone(
                    where,
                    run_dir / "repository",
                    allow,
                    sink,
                    control,
                    commit=request.commit,
                    token=self._git_token(run),
                )
            sink.line(f"Downloading {where.url}")
            fetch.download(where.url, archive_path, limit, allow, sink, control)
        else:
            return None
        summary = archive.extract(archive_path, run_dir / "context", limit)
        archive_path.unlink()
        sink.line(f"Context: {summary.members} entries, {summary.unpacked_bytes} bytes")
        return run_dir / "context"

    def _build(
        self,
        run: Run,
        worker: str,
        engine: Engine,
        registry: RegistryAccess,
        credential: RunCredential,
        control: RunControl,
        sink: LogSink,
        run_dir: Path,
        context: Path,
    ) -> Outcome:
        request = run.request
        dockerfile = (context / request.dockerfile).resolve()
        if not dockerfile.is_relative_to(context.resolve()) or not dockerfile.is_file():
            raise DockerfileInvalid(f"{request.dockerfile} is not a file of the build context")
        bases = base_images(dockerfile.read_bytes(), request.build_args, request.target)
        if self._base_images is not None:  # the digests, for the base-image triggers
            bases = self._base_images.resolve(run, registry, bases)
        for base in bases:
            role = "runtime" if base.runtime else "build"
            name = f" ({base.name})" if base.name else ""
            at = f"@{base.digest}" if base.digest and "@" not in base.image else ""
            sink.line(f"Stage {base.stage}{name}: FROM {base.image}{at} [{role}]")
        if not self._runs.mark_running(run.run_id, worker, bases):
            raise Stopped(LOST)
        qualified = {_qualified(registry, image): image for image in request.images}
        # The run's credential: pull on the base images it reads here, push on its images.
        needs: list[RepositoryAccess] = pushes(qualified, registry.host)
        for base in bases:
            local = local_source(base.image, registry.host, registry.upstream)
            if local is not None:
                needs += pulls([local.reference], registry.host)
        registry = credential(merged(needs))
        job = BuildJob(
            run_id=run.run_id,
            context=context,
            dockerfile=dockerfile,
            images=tuple(qualified),
            work_dir=run_dir / "engine",
            build_args=dict(request.build_args),
            target=request.target,
            platform=request.platform,
            push=request.push,
        )
        digests = engine.build(job, registry, sink, control)
        outputs = []
        for full, digest in digests.items():
            repository, tag = image_repository(qualified[full])
            outputs.append(OutputImage(repository, tag, digest))
            sink.line(f"Pushed {qualified[full]}@{digest}")
        return Outcome(SUCCEEDED, None, tuple(outputs))

    def _command(
        self,
        run: Run,
        worker: str,
        engine: Engine,
        registry: RegistryAccess,
        credential: RunCredential,
        control: RunControl,
        sink: LogSink,
        run_dir: Path,
        context: Path | None,
    ) -> Outcome:
        words = shlex.split(run.request.cmd or "")
        if not words:
            raise BuildFailed("the run has no command")
        if not self._runs.mark_running(run.run_id, worker, []):
            raise Stopped(LOST)
        registry = credential(merged(pulls([words[0]], registry.host)))
        job = CommandJob(
            run_id=run.run_id,
            image=words[0],
            args=tuple(words[1:]),
            work_dir=run_dir / "engine",
            context=context,
            platform=run.request.platform,
        )
        status = engine.run_command(job, registry, sink, control)
        if status != 0:
            return Outcome(FAILED, f"the command exited with status {status}")
        return Outcome(SUCCEEDED)

    def _steps(
        self,
        run: Run,
        worker: str,
        registry: RegistryAccess,
        credential: RunCredential,
        control: RunControl,
        sink: LogSink,
        run_dir: Path,
        context: Path,
    ) -> Outcome:
        secrets: dict[str, str] = {}
        logins: list[Login] = []
        if run.task_name is not None and self._saved is not None:
            stored = self._saved.secrets.run_secrets(run.task_name)
            secrets.update(stored.secret_values)
            logins = [
                Login(login.login_server, login.username, login.password) for login in stored.logins
            ]
        secrets.update(run.request.secret_values)
        scope = f"{run.run_id}-{random_token.token_hex(4)}"
        (run_dir / DOCKER_MARKER).write_text(scope)
        given = StepsInput(
            docker_scope=scope,
            secrets=secrets,
            credential=credential,
            logins=tuple(logins),
            policy=StepPolicy(
                allow_privileged=self._settings.allow_privileged_steps,
                allow_host_network=self._settings.allow_host_network_steps,
            ),
            resolve_bases=None
            if self._base_images is None
            else functools.partial(self._base_images.resolve, run, registry),
        )
        steps = MultiStepRun(
            run, worker, self._runs, registry.host, control, sink, run_dir, context, given
        )
        return steps.execute()

    def _git_token(self, run: Run) -> str | None:
        """The access token of the run's git context: its saved task's, looked up as the run
        is done, so that it is never part of the run's request."""
        context_url = run.request.context_url
        if run.task_name is None or self._saved is None or context_url is None:
            return None
        return self._saved.secrets.git_access_token(run.task_name, context_url)

    def sweep(self) -> int:
        """End and remove what runs that are over left in the work dir (a worker that died
        mid-run leaves its engine processes and files); answers how many runs' leftovers."""
        root = self._settings.work_dir
        if not root.is_dir():
            return 0
        names = [p.name for p in root.iterdir() if p.is_dir()]
        over = self._runs.finished_ids(names)
        for name in over:
            for tree in _noted_processes(root / name):
                tree.kill()
            marker = root / name / DOCKER_MARKER
            if marker.exists():
                sweep_run(marker.read_text().strip() or name)
            shutil.rmtree(root / name, ignore_errors=True)
        return len(over)


def _stopped(reason: str, run: Run) -> Outcome:
    if reason == STOP_CANCELED:
        return Outcome(CANCELED, "canceled")
    if reason == TIMED_OUT:
        return Outcome(TIMEOUT, f"the run exceeded its timeout of {run.timeout} s")
    if reason == LOST:
        return Outcome(None, "the run is no longer this worker's")
    return Outcome(ERROR, "the worker stopped before the run ended")


def _qualified(registry: RegistryAccess, image: str) -> str:
    repository, tag = image_repository(image)
    return f"{registry.host}/{repository}:{tag}"


def _note_process(run_dir: Path, pid: int) -> None:
    tree = ProcessTree.of(pid)
    if tree is not None:
        with (run_dir / PROCESSES_FILE).open("a") as out:
            out.write(f"{tree.pid} {tree.start_time}\n")


def _noted_processes(run_dir: Path) -> list[ProcessTree]:
    try:
        lines = (run_dir / PROCESSES_FILE).read_text().splitlines()
    except FileNotFoundError:
        return []
    trees = []
    for line in lines:
        pid, _, start = line.partition(" ")
        if pid.isdigit() and start:
            trees.append(ProcessTree(int(pid), start))
    return trees
