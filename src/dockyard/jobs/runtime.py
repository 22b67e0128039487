"""The job runtime: runs any set of periodic jobs (`dockyard.periodic.Job`), each in its own
thread, so that `serve` and `dockyard worker --jobs ...` run the same jobs the same way.

Each job waits its interval (with jitter), then takes its database lease, if it has one, and
runs once; an exception is logged and the job runs again at the next interval. A job whose
lease another process holds skips the run. `stop` ends the waits at once, asks running jobs
to end early (their `stop`), and joins the threads."""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Iterator, Sequence

from dockyard.jobs.leases import lease_expired, take_lease
from dockyard.periodic import Job
from dockyard.storage.db.database import Database

log = logging.getLogger("dockyard.jobs")

STOP_TIMEOUT_SECONDS = 20.0


class Scheduler:
    def __init__(self, db: Database, jobs: Sequence[Job], holder: str | None = None) -> None:
        names = [job.name for job in jobs]
        if len(set(names)) != len(names):
            raise ValueError(f"job names must be unique: {', '.join(names)}")
        self.jobs = tuple(jobs)
        # One holder for the leases of every job of this runtime.
        self.holder = holder or uuid.uuid4().hex
        self._db = db
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for job in self.jobs:
            thread = threading.Thread(
                target=self._loop, args=(job,), name=f"job-{job.name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> bool:
        """Stop every job: True when all ended within `timeout` (the threads of those that
        did not are daemons, which end with the process)."""
        self._stopping.set()
        for job in self.jobs:
            if job.stop is not None:
                try:
                    job.stop()
                except Exception:
                    log.exception("stopping job %s failed", job.name)
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        running = [thread.name for thread in self._threads if thread.is_alive()]
        if running:
            log.warning("jobs still running at stop: %s", ", ".join(running))
        return not running

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def _loop(self, job: Job) -> None:
        delay = 0.0 if job.run_at_start else self._delay(job)
        while not self._stopping.wait(delay):
            try:
                self.run_once(job)
            except Exception:
                log.exception("job %s failed; retrying at the next interval", job.name)
            delay = self._delay(job)

    @staticmethod
    def _delay(job: Job) -> float:
        return job.interval_seconds * random.uniform(1 - job.jitter, 1 + job.jitter)

    def run_once(self, job: Job) -> int:
        """One turn of `job` (as its thread does it each interval): how many times its body
        ran, 0 when there was no work or another process holds the lease."""
        if job.pending is not None and not job.pending():
            return 0
        if job.stepped:
            return self._run_steps(job)
        runs = 0
        for _ in range(max(1, job.drain)):
            if self._stopping.is_set() or not self._take_lease(job):
                break
            done = job.run_once()
            runs += 1
            if not (isinstance(done, int) and done > 0):
                break
        return runs

    def _run_steps(self, job: Job) -> int:
        steps = job.run_once()
        if not isinstance(steps, Iterator):
            raise TypeError(f"stepped job {job.name} must answer an iterator")
        done = 0
        try:
            for _ in steps:
                # Before each unit of work: renewed, or the rest is another process's.
                if self._stopping.is_set() or not self._take_lease(job):
                    break
                done += 1
        finally:
            close = getattr(steps, "close", None)
            if close is not None:
                close()
        return done

    def _take_lease(self, job: Job) -> bool:
        lease = job.lease
        if lease is None:
            return True
        if lease.per_interval:
            # A read first, so that the processes finding it held take no write lock.
            if not lease_expired(self._db, lease.name):
                return False
            return take_lease(self._db, lease.name, uuid.uuid4().hex, lease.seconds)
        return take_lease(self._db, lease.name, self.holder, lease.seconds)
