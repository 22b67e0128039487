"""The commit trigger's poller, for repositories that cannot call the push webhook: every
`task_commit_poll_seconds` it reads the branch head of each enabled task with the commit
trigger on (`git ls-remote`, addresses checked as builds check them) and queues a run when
the head moved past the last commit recorded. One process at a time polls (lease
"task-commits"); the run is queued in the transaction that records the head, so a webhook and
a poll seeing the same commit make one run."""

from __future__ import annotations

import logging
import threading

from dockyard.errors import DockyardError
from dockyard.jobs.leases import take_lease
from dockyard.storage.db.database import Database
from dockyard.tasks.fetch import branch_head, parse_context_url
from dockyard.tasks.git import LS_REMOTE_TIMEOUT_SECONDS
from dockyard.tasks.saved import CommitOutcome, SavedTask, SavedTasks

log = logging.getLogger("dockyard.jobs")
LEASE = "task-commits"


class CommitPoller:
    def __init__(
        self,
        db: Database,
        saved: SavedTasks,
        holder: str,
        interval_seconds: float,
        allow_private_sources: bool,
    ) -> None:
        self._db = db
        self._saved = saved
        self._holder = holder
        self._interval = interval_seconds
        self._allow_private = allow_private_sources
        # Held past one interval plus one slow remote, renewed before each remote is read.
        self._lease_seconds = interval_seconds + 2 * LS_REMOTE_TIMEOUT_SECONDS
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="task-commits", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stopping.wait(self._interval):
            try:
                self.poll_once()
            except Exception:
                log.exception("polling the git remotes of tasks failed; retrying")

    def poll_once(self) -> list[CommitOutcome]:
        """Read every watched remote once (when this process holds the lease); what each new
        head did."""
        watched = [task for task in self._saved.commit_watched() if _is_git(task)]
        outcomes: list[CommitOutcome] = []
        for task in watched:
            if self._stopping.is_set():
                break
            if not take_lease(self._db, LEASE, self._holder, self._lease_seconds):
                break  # another process polls
            outcome = self._poll(task)
            if outcome is not None:
                outcomes.append(outcome)
        return outcomes

    def _poll(self, task: SavedTask) -> CommitOutcome | None:
        spec = task.spec
        try:
            head = branch_head(spec.context, spec.git_access_token, self._allow_private)
        except DockyardError as exc:
            log.warning("task %s: cannot read its git remote: %s", task.name, exc.message)
            return None
        if head.commit == task.last_commit:
            return None
        try:
            outcome = self._saved.commit_seen(
                task.name,
                head.commit,
                head.branch,
                polled_context=spec.context,
                default_branch=head.branch,  # what a context without a branch builds
            )
        except DockyardError as exc:  # the task was deleted meanwhile
            log.info("task %s: commit %s: %s", task.name, head.commit, exc.message)
            return None
        if outcome.run_id is not None:
            log.info(
                "task %s: commit %s on %s: run %s",
                task.name,
                head.commit,
                head.branch,
                outcome.run_id,
            )
        else:
            log.info("task %s: commit %s: no run: %s", task.name, head.commit, outcome.reason)
        return outcome


def _is_git(task: SavedTask) -> bool:
    try:
        return parse_context_url(task.spec.context).kind == "git"
    except DockyardError:
        return False
