"""The task worker: claims queued runs from the database and does them, one at a time (the
`runs` job; the other periodic work of tasks is in tasks/jobs.py).

Any number of workers (each server process, and `dockyard worker` on other machines) share
the queue. While a run goes on, a lease thread renews the run's lease every few seconds and
watches for a cancel; the `run-sweep` job ends the runs of workers that stopped renewing
(Error, "worker lost"). A run reaches this registry with its own identity (`run:<run id>`,
access/run_identity.py): a refresh token that opens only the repositories the run named,
within the requester's rights, no management API, and only while the run is going on; it is
revoked when the run ends.
"""

from __future__ import annotations

import logging
import platform
import socket
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from dockyard.access.principals import REFRESH_TOKEN_USERNAME, Principal
from dockyard.access.rights import Grant
from dockyard.access.run_identity import run_principal
from dockyard.access.service import AccessService
from dockyard.access.signing import TokenSigner
from dockyard.errors import Unauthorized
from dockyard.jobs.remote_digests import remote_digests
from dockyard.storage.db.database import Database
from dockyard.storage.driver import BlobDriver
from dockyard.tasks.base_images import BaseImageDigests
from dockyard.tasks.credentials import RepositoryAccess
from dockyard.tasks.engines import RegistryAccess, make_engine
from dockyard.tasks.executor import ExecutorSettings, RunExecutor
from dockyard.tasks.images import LocalImages
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
_ARCHITECTURES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def worker_id() -> str:
    """A name for one worker process: its host and a random suffix."""
    return f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"


def worker_platform() -> str:
    machine = platform.machine().lower()
    return f"linux/{_ARCHITECTURES.get(machine, machine)}"


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


class TaskWorker:
    def __init__(
        self,
        db: Database,
        driver: BlobDriver,
        settings: TaskWorkerSettings,
        access: AccessService | None = None,
        signer: TokenSigner | None = None,
        name: str | None = None,
        *,
        images: LocalImages,
    ) -> None:
        self.settings = settings
        self.id = name or worker_id()
        self.runs = RunStore(db)
        self.logs = LogStore(db)
        self.saved = SavedTasks(db, settings.policy)
        self.sources = SourceStore(db, driver, settings.executor.max_source_bytes)
        self.digests = BaseImageDigests(
            db, images, remote_digests(settings.executor.allow_private_sources)
        )
        self.executor = RunExecutor(
            self.runs,
            self.logs,
            self.sources,
            {name: make_engine(name) for name in settings.engines},
            settings.executor,
            saved=self.saved,
            base_images=self.digests,
        )
        self._access = access
        self._signer = signer
        self._platform = worker_platform()
        self._stopping = threading.Event()
        self._sweeping = threading.Lock()

    def stop(self) -> None:
        """Stop claiming; a run in progress ends Error (its processes ended)."""
        self._stopping.set()

    def poll_once(self) -> bool:
        """Claim and do one run; True when a run was done."""
        if self._stopping.is_set() or not self.runs.has_queued(self.settings.engines):
            return False
        run = self.runs.claim(
            self.id, self.settings.engines, self.settings.lease_seconds, self._platform
        )
        if run is None:
            return False
        log.info("run %s claimed by %s", run.run_id, self.id)
        self.do(run)
        self.sweep_work_dir()
        return True

    def sweep_work_dir(self) -> int:
        """End and remove what runs that are over left in the work dir (one sweep at a time:
        the run-sweep job sweeps too)."""
        with self._sweeping:
            return self.executor.sweep()

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
