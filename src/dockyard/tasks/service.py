"""The task wing as the composition root builds it once: runs, their logs and sources, and
the saved tasks, all bound to one `TaskPolicy`."""

from __future__ import annotations

from dockyard.errors import Invalid
from dockyard.storage.db.database import Database
from dockyard.storage.driver import BlobDriver
from dockyard.tasks.logs import LogStore
from dockyard.tasks.model import ENGINES, Run, RunKind, RunRequest, Trigger
from dockyard.tasks.policy import MULTI_STEP_ENGINE, TaskPolicy, check_request, image_repository
from dockyard.tasks.runs import RunStore
from dockyard.tasks.saved import SavedTasks
from dockyard.tasks.sources import SourceStore

# TaskPolicy and image_repository live in tasks/policy.py; the jobs and the base-image
# triggers still import them from here.
__all__ = ["TaskPolicy", "TaskService", "image_repository"]


class TaskService:
    def __init__(self, db: Database, driver: BlobDriver, policy: TaskPolicy) -> None:
        self.policy = policy
        self.db = db
        self.runs = RunStore(db)
        self.logs = LogStore(db)
        self.sources = SourceStore(db, driver, policy.max_source_bytes)
        self.saved = SavedTasks(db, policy)

    def schedule(
        self,
        request: RunRequest,
        requester: str,
        timeout: int,
        engine: str | None = None,
        trigger: str = Trigger.MANUAL,
    ) -> Run:
        chosen = self.check(request, timeout, engine, trigger)
        return self.runs.create(request, requester, chosen, timeout, Trigger(trigger))

    def check(
        self, request: RunRequest, timeout: int, engine: str | None, trigger: str = Trigger.MANUAL
    ) -> str:
        """Refuse (Invalid) what cannot be scheduled; answers the engine that will do it."""
        check_request(request)
        self.policy.check_timeout(timeout)
        default = MULTI_STEP_ENGINE if request.kind == RunKind.TASK else self.policy.default_engine
        chosen = engine or default
        if request.kind == RunKind.TASK and chosen != MULTI_STEP_ENGINE:
            raise Invalid(f"a multi-step run runs on the {MULTI_STEP_ENGINE} engine")
        if chosen not in ENGINES:
            raise Invalid(f"unknown engine {chosen!r}; known: {', '.join(ENGINES)}")
        if trigger not in {t.value for t in Trigger}:
            raise Invalid(f"unknown trigger {trigger!r}")
        return chosen
