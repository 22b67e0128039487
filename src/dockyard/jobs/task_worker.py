"""The task worker: claims queued runs from the database and does them, one at a time.

Any number of workers (each server process, and `dockyard worker` on other machines) share
the queue. While a run goes on, a lease thread renews the run's lease every few seconds and
watches for a cancel; every poll also ends the runs of workers that stopped renewing (Error,
"worker lost"). A run reaches this registry with its own identity (`run:<run id>`,
access/run_identity.py): a refresh token that opens only the repositories the run named,
within the requester's rights, no management API, and only while the run is going on; it is
revoked when the run ends.
"""

from __future__ import annotations

import logging
import platform
import random
import socket
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from dockyard.access.principals import REFRESH_TOKEN_USERNAME, Principal
from dockyard.access.rights import Grant
from dockyard.access.run_identity import run_principal
from dockyard.access.service import AccessService
from dockyard.access.signing import TokenSigner
from dockyard.config import Settings
from dockyard.errors import Unauthorized
from dockyard.jobs.base_image_triggers import BaseImageJob, remote_digests
from dockyard.jobs.commit_poller import CommitPoller
from dockyard.jobs.leases import take_lease
from dockyard.storage.db.database import Database
from dockyard.storage.driver import BlobDriver
from dockyard.tasks.base_images import BaseImageDigests
from dockyard.tasks.credentials import RepositoryAccess
from dockyard.tasks.engines import RegistryAccess, make_engine
from dockyard.tasks.executor import ExecutorSettings, RunExecutor
from dockyard.tasks.logs import LogStore
from dockyard.tasks.model import ERROR, Run
from dockyard.tasks.process import CANCELED, LOST, SHUTDOWN, RunControl
from dockyard.tasks.runs import RunStore
from dockyard.tasks.saved import SavedTasks
from dockyard.tasks.service import TaskPolicy
from dockyard.tasks.sources import SourceStore

log = logging.getLogger("dockyard.jobs")

# The run-scoped credential outlives the run's timeout by this much (pushes after the build).
CREDENTIAL_MARGIN_SECONDS = 600
CONTROL_TICK_SECONDS = 1.0
SWEEP_SECONDS = 30.0
TIMER_LEASE_SECONDS = 30.0
_ARCHITECTURES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def worker_platform() -> str:
    machine = platform.machine().lower()
    return f"linux/{_ARCHITECTURES.get(machine, machine)}"


def registry_url(settings: Settings) -> str:
    """How builds reach this registry: task_registry_url, else the serve address."""
    if settings.task_registry_url:
        return settings.task_registry_url.rstrip("/")
    host = settings.host
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    scheme = "https" if settings.tls_cert else "http"
    return f"{scheme}://{host}:{settings.port}"


@dataclass(frozen=True, slots=True)
class TaskWorkerSettings:
    engines: tuple[str, ...]
    registry_url: str
    auth_enabled: bool
    auth_service: str
    lease_seconds: float
    poll_seconds: float
    upstream_registries: tuple[str, ...]
    source_ttl_seconds: float
    executor: ExecutorSettings
    policy: TaskPolicy  # what the triggers' runs must meet, as the API checks it
    commit_poll_seconds: float = 60.0
    base_image_poll_seconds: float = 300.0

    @classmethod
    def from_settings(cls, settings: Settings, claim: bool = True) -> TaskWorkerSettings:
        """`claim` off: a worker that only ends runs whose worker was lost."""
        work_dir = settings.task_work_dir or settings.data_dir / "tasks"
        return cls(
            engines=tuple(settings.task_engines) if claim else (),
            registry_url=registry_url(settings),
            auth_enabled=settings.auth_enabled,
            auth_service=settings.token_service,
            lease_seconds=settings.task_lease_seconds,
            poll_seconds=settings.task_poll_seconds,
            upstream_registries=tuple(settings.task_upstream_registries),
            source_ttl_seconds=settings.task_source_ttl_seconds,
            base_image_poll_seconds=settings.task_base_image_poll_seconds,
            executor=ExecutorSettings(
                work_dir=Path(work_dir).resolve(),
                max_source_bytes=settings.task_max_source_bytes,
                allow_private_sources=settings.task_allow_private_sources,
                allow_privileged_steps=settings.task_allow_privileged_steps,
                allow_host_network_steps=settings.task_allow_host_network,
            ),
            commit_poll_seconds=settings.task_commit_poll_seconds,
            policy=TaskPolicy.from_settings(settings),
        )


class TaskWorker:
    def __init__(
        self,
        db: Database,
        driver: BlobDriver,
        settings: TaskWorkerSettings,
        access: AccessService | None = None,
        signer: TokenSigner | None = None,
    ) -> None:
        self.settings = settings
        self.id = f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
        self.runs = RunStore(db)
        self.logs = LogStore(db)
        self.saved = SavedTasks(db, settings.policy)
        self._db = db
        self.sources = SourceStore(db, driver, settings.executor.max_source_bytes)
        digests = BaseImageDigests(db, remote_digests(settings.executor.allow_private_sources))
        self.base_images = BaseImageJob(
            db,
            self.saved,
            digests,
            RegistryAccess(settings.registry_url).host,
            settings.upstream_registries,
            settings.base_image_poll_seconds,
            self.id,
        )
        self.executor = RunExecutor(
            self.runs,
            self.logs,
            self.sources,
            {name: make_engine(name) for name in settings.engines},
            settings.executor,
            saved=self.saved,
            base_images=digests,
        )
        self._access = access
        self._signer = signer
        self._platform = worker_platform()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_sweep = 0.0
        # Its own thread, so that slow remotes never hold up runs (nor runs the polling).
        self.commits = CommitPoller(
            db,
            self.saved,
            self.id,
            settings.commit_poll_seconds,
            settings.executor.allow_private_sources,
        )

    # --- the loop --------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run_forever, name="task-worker", daemon=True)
        self._thread.start()
        self.commits.start()

    def stop(self, timeout: float = 20.0) -> None:
        """Stop claiming; a run in progress ends Error (its processes ended)."""
        self._stopping.set()
        self.commits.stop()
        if self._thread is not None:
            self._thread.join(timeout)

    def run_forever(self) -> None:
        while not self._stopping.is_set():
            try:
                worked = self.poll_once()
            except Exception:
                log.exception("task worker poll failed; retrying")
                worked = False
            if not worked:
                self._stopping.wait(self.settings.poll_seconds * random.uniform(0.8, 1.2))

    def poll_once(self) -> bool:
        """Reap lost runs, then claim and do one run; True when a run was done."""
        reaped = self.runs.reap()
        for run_id in reaped:
            log.warning("run %s ended: its worker stopped renewing the lease", run_id)
            self.logs.append(run_id, "\nThe worker doing this run was lost; the run ended.\n")
        # What a lost worker on this machine left (processes, files) goes once its run ended.
        if reaped or time.monotonic() - self._last_sweep > SWEEP_SECONDS or not self._last_sweep:
            self._last_sweep = time.monotonic()
            self.executor.sweep()
            if self.settings.engines:
                self.sources.sweep(self.settings.source_ttl_seconds)
        try:
            self.fire_timers()
        except Exception:  # a timer that cannot fire must not stop the runs
            log.exception("firing task timers failed; retrying")
        try:
            self.base_images.run_once()
        except Exception:  # nor may a base image trigger
            log.exception("base image triggers failed; retrying")
        if self._stopping.is_set() or not self.runs.has_queued(self.settings.engines):
            return False
        run = self.runs.claim(
            self.id, self.settings.engines, self.settings.lease_seconds, self._platform
        )
        if run is None:
            return False
        log.info("run %s claimed by %s", run.run_id, self.id)
        self.do(run)
        self.executor.sweep()
        return True

    def fire_timers(self) -> None:
        """Queue a run for each due timer of a saved task (one process at a time)."""
        now = time.time()
        if not self.saved.due_timers(now):  # a read, so that idle polls take no write lock
            return
        if not take_lease(self._db, "task-timers", self.id, TIMER_LEASE_SECONDS):
            return
        for timer, run_id in self.saved.fire_due(now):
            log.info("timer %s of task %s fired: run %s", timer.name, timer.task, run_id)

    # --- one run ---------------------------------------------------------------------------

    def do(self, run: Run) -> None:
        control = RunControl(run.timeout)
        done = threading.Event()
        keeper = threading.Thread(
            target=self._keep_lease, args=(run.run_id, control, done), daemon=True
        )
        keeper.start()
        registry = RegistryAccess(
            self.settings.registry_url, upstream=self.settings.upstream_registries
        )
        try:
            try:
                self._requester_generation(run)
            except Unauthorized as exc:
                self.logs.append(run.run_id, f"{exc.message}\n")
                self.runs.finish(run.run_id, self.id, ERROR, exc.message)
                return
            outcome = self.executor.execute(
                run,
                self.id,
                registry,
                control,
                lambda needs: self._run_credential(run, registry, needs),
            )
        finally:
            done.set()
            keeper.join()
            if self.settings.auth_enabled and self._access is not None:
                try:
                    self._access.run_identities.revoke(run.run_id)
                except Exception:  # the run's end makes it invalid all the same
                    log.exception("revoking the identity of run %s failed", run.run_id)
        if outcome.status is None:
            log.warning("run %s was taken from %s before it ended", run.run_id, self.id)
            return
        if not self.runs.finish(
            run.run_id, self.id, outcome.status, outcome.error, outcome.output_images
        ):
            log.warning("run %s was no longer %s's when it ended", run.run_id, self.id)

    def _keep_lease(self, run_id: str, control: RunControl, done: threading.Event) -> None:
        """Renew the lease every third of it; stop the run on cancel, shutdown or loss."""
        interval = max(CONTROL_TICK_SECONDS, self.settings.lease_seconds / 3)
        renewed = time.monotonic()
        while not done.wait(CONTROL_TICK_SECONDS):
            if self._stopping.is_set():
                control.stop(SHUTDOWN)
            due = time.monotonic() - renewed >= interval
            try:
                if due:
                    state = self.runs.renew(run_id, self.id, self.settings.lease_seconds)
                    renewed = time.monotonic()
                else:
                    state = self.runs.cancel_requested(run_id, self.id)
            except Exception:
                log.exception("renewing the lease of run %s failed", run_id)
                continue
            if state is None:
                control.stop(LOST)
            elif state:
                control.stop(CANCELED)

    def _requester_generation(self, run: Run) -> str | None:
        """The requester's generation; None when the registry takes no credentials. Raises
        Unauthorized when the requester is disabled or removed."""
        if not self.settings.auth_enabled or self._access is None or self._signer is None:
            return None
        principal = Principal.from_id(run.requester)
        if principal.kind == "anonymous":
            return None
        generation = self._access.status.generation(principal)
        if generation is None:
            raise Unauthorized(f"{principal.id}, who asked for the run, is disabled or removed")
        return generation

    def _run_credential(
        self, run: Run, registry: RegistryAccess, needs: Sequence[RepositoryAccess]
    ) -> RegistryAccess:
        """The run's own credential: the repositories it needs, within what the requester may
        do now, valid while the run is going on (and at most its timeout and a margin)."""
        if self._requester_generation(run) is None:
            return registry
        assert self._access is not None
        assert self._signer is not None
        requester = Principal.from_id(run.requester)
        generation = self._access.run_identities.create(
            run.run_id,
            requester,
            self._access.permissions.rights(requester),
            [Grant(need.pattern, need.actions) for need in needs],
        )
        service = self.settings.auth_service or urlsplit(self.settings.registry_url).netloc
        token = self._signer.issue_refresh(
            run_principal(run.run_id).id,
            service,
            generation,
            seconds=run.timeout + CREDENTIAL_MARGIN_SECONDS,
        )
        return replace(registry, username=REFRESH_TOKEN_USERNAME, password=token)


def build_task_worker(
    settings: Settings,
    db: Database,
    driver: BlobDriver,
    access: AccessService | None,
    signer: TokenSigner | None,
) -> TaskWorker:
    return TaskWorker(
        db,
        driver,
        TaskWorkerSettings.from_settings(settings, claim=settings.tasks_enabled),
        access,
        signer,
    )
