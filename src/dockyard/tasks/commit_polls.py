"""The commit trigger's polls, for repositories that cannot call the push webhook: the branch
head of each enabled task with the commit trigger on is read (`git ls-remote`, addresses
checked as builds check them), and a run is queued when the head moved past the last commit
recorded. The run is queued in the transaction that records the head, so a webhook and a
poll seeing the same commit make one run."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from dockyard.errors import DockyardError
from dockyard.tasks.fetch import branch_head, parse_context_url
from dockyard.tasks.saved import CommitOutcome, SavedTask, SavedTasks

log = logging.getLogger("dockyard.jobs")


class CommitPolls:
    def __init__(self, saved: SavedTasks, allow_private_sources: bool) -> None:
        self._saved = saved
        self._allow_private = allow_private_sources

    def poll(self) -> Iterator[str]:
        """Read every watched remote once. Yields each task's name before its remote is read,
        so that the job runtime renews the lease of the poll first (or ends the poll)."""
        watched = [task for task in self._saved.commit_watched() if _is_git(task)]
        for task in watched:
            yield task.name
            self._poll(task)

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
