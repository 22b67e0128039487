"""What a package declares of its periodic work: a `Job` (name, interval, lease, run-once
function). The job runtime (`dockyard.jobs.runtime`) runs any set of them; each package
declares its own (`registry/jobs.py`, `webhooks/jobs.py`, `tasks/jobs.py`), and this module
sits below them all so that they can, importing nothing of Dockyard."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Lease:
    """A database lease that keeps a job to one process at a time.

    The lease is taken (or renewed) before each run of the job, and before each batch of a
    draining job or each step of a stepped one; a process that cannot take it skips the run.
    `per_interval`: the lease is taken under a new holder every time, so it is free only once
    it ran out: the job runs at most once per `seconds` among all processes, whichever
    process finds it free."""

    name: str
    seconds: float
    per_interval: bool = False


@dataclass(frozen=True, slots=True)
class Job:
    """One periodic job.

    `run_once` is called every `interval_seconds` (times a random factor within `jitter`, so
    processes spread their attempts), in its own thread. An exception is logged and the job
    runs again at the next interval.

    - `pending`: a read answering whether there is work, asked before the lease is taken so
      that idle polls take no write lock.
    - `drain`: while `run_once` answers a count above 0, it runs again at once (lease renewed
      before each), at most `drain` times in a row.
    - `stepped`: `run_once` answers an iterator that yields before each unit of work; the
      runtime renews the lease at each yield and ends the iteration when the lease is lost or
      the runtime stops. The lease is not taken before the first yield: what precedes it is a
      read that finds the units.
    - `stop`: called when the runtime stops, to end a run in progress early.
    - `enabled`: whether `serve` (and `dockyard worker` without `--jobs`) runs it."""

    name: str
    interval_seconds: float
    run_once: Callable[[], object]
    lease: Lease | None = None
    enabled: bool = True
    description: str = ""
    pending: Callable[[], bool] | None = None
    drain: int = 1
    stepped: bool = False
    jitter: float = 0.1
    run_at_start: bool = False
    stop: Callable[[], None] | None = None
