"""The job runtime with real threads and a real SQLite database for its leases: a leased job
runs in one scheduler at a time, a job that raises runs again, stop is prompt."""

from __future__ import annotations

import itertools
import logging
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from dockyard.jobs.runtime import Scheduler
from dockyard.periodic import Job, Lease
from dockyard.storage.db.database import Database
from dockyard.storage.db.migrate import upgrade
from dockyard.storage.db.schema import leases


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated database file, copied for each test (migrating takes seconds)."""
    path = tmp_path_factory.mktemp("jobs") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def database(migrated: Path, tmp_path: Path) -> Iterator[Database]:
    path = tmp_path / "dockyard.db"
    shutil.copyfile(migrated, path)
    db = Database(f"sqlite:///{path}")
    yield db
    db.dispose()


class Overlap:
    """Records who ran a body, and how many ran at once."""

    def __init__(self, seconds: float = 0.02) -> None:
        self._lock = threading.Lock()
        self._seconds = seconds
        self.running = 0
        self.most_at_once = 0
        self.runs: list[str] = []

    def body(self, who: str) -> Callable[[], None]:
        def run() -> None:
            with self._lock:
                self.running += 1
                self.most_at_once = max(self.most_at_once, self.running)
                self.runs.append(who)
            time.sleep(self._seconds)
            with self._lock:
                self.running -= 1

        return run


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_leased_job_runs_in_one_scheduler_at_a_time_and_moves_when_it_stops(
    database: Database,
) -> None:
    seen = Overlap()
    lease = Lease("shared", 0.5)
    first = Scheduler(database, [Job("shared", 0.01, seen.body("first"), lease)], "first")
    second = Scheduler(database, [Job("shared", 0.01, seen.body("second"), lease)], "second")
    first.start()
    wait_until(lambda: len(seen.runs) >= 3)  # "first" holds the lease
    second.start()
    time.sleep(0.4)
    assert seen.most_at_once == 1
    assert set(seen.runs) == {"first"}, "the holder keeps its lease while it runs the job"

    assert first.stop(timeout=2)
    wait_until(lambda: "second" in seen.runs)  # once the lease ran out
    assert second.stop(timeout=2)
    assert seen.most_at_once == 1
    held_by = seen.runs.index("second")
    assert set(seen.runs[:held_by]) == {"first"}
    assert set(seen.runs[held_by:]) == {"second"}


def test_without_a_lease_every_scheduler_runs_the_job(database: Database) -> None:
    """The control for the test above: its overlap count can see two runs at once."""
    seen = Overlap(seconds=0.05)
    schedulers = [
        Scheduler(database, [Job("free", 0.01, seen.body(name))], name) for name in ("a", "b")
    ]
    for scheduler in schedulers:
        scheduler.start()
    wait_until(lambda: seen.most_at_once == 2 and {"a", "b"} <= set(seen.runs))
    for scheduler in schedulers:
        assert scheduler.stop(timeout=2)


def test_a_job_that_raises_is_logged_and_run_again(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    calls = itertools.count(1)
    succeeded = threading.Event()

    def flaky() -> None:
        if next(calls) <= 2:
            raise RuntimeError("the disk hiccuped")
        succeeded.set()

    scheduler = Scheduler(database, [Job("flaky", 0.01, flaky, Lease("flaky", 5))])
    with caplog.at_level(logging.ERROR, logger="dockyard.jobs"):
        scheduler.start()
        assert succeeded.wait(5), "the job was not run again after failing"
        assert scheduler.stop(timeout=2)
    failures = [r for r in caplog.records if "job flaky failed" in r.getMessage()]
    assert len(failures) == 2
    assert failures[0].exc_info is not None


def test_stop_is_prompt_while_jobs_wait_and_between_steps(database: Database) -> None:
    steps_done: list[int] = []
    stepping = threading.Event()

    def many_steps() -> Iterator[int]:
        for step in range(1000):
            yield step
            stepping.set()
            time.sleep(0.01)
            steps_done.append(step)

    stopped_hook = threading.Event()
    scheduler = Scheduler(
        database,
        [
            Job("hourly", 3600, lambda: None, Lease("hourly", 60)),
            Job("steps", 0.01, many_steps, Lease("steps", 60), stepped=True),
            Job("hooked", 3600, lambda: None, stop=stopped_hook.set),
        ],
    )
    scheduler.start()
    assert stepping.wait(5)
    began = time.monotonic()
    assert scheduler.stop(timeout=5)
    assert time.monotonic() - began < 1.0
    assert stopped_hook.is_set()
    assert 0 < len(steps_done) < 1000, "the stepped job ended between steps"


def test_a_stepped_job_stops_when_its_lease_is_taken(database: Database) -> None:
    """The lease is renewed before each step: another holder that took it meanwhile (the
    lease ran out during a slow step) keeps it, and the rest of the steps are not done."""
    done: list[int] = []
    scheduler = Scheduler(database, [], "me")
    stolen = threading.Event()

    def steps() -> Iterator[int]:
        for step in range(5):
            yield step
            done.append(step)
            if step == 1:
                with database.write() as conn:
                    conn.execute(
                        leases.update()
                        .where(leases.c.name == "polls")
                        .values(holder="other", expires_at=time.time() + 60)
                    )
                stolen.set()

    job = Job("polls", 60, steps, Lease("polls", 60), stepped=True)
    assert scheduler.run_once(job) == 2
    assert stolen.is_set()
    assert done == [0, 1]


def test_drain_runs_again_at_once_while_there_is_work_bounded(database: Database) -> None:
    batches = iter([5, 3, 0, 7])
    calls: list[int] = []

    def deliver() -> int:
        calls.append(1)
        return next(batches)

    scheduler = Scheduler(database, [])
    job = Job("deliver", 60, deliver, Lease("deliver", 10), drain=10)
    assert scheduler.run_once(job) == 3  # 5, 3, then 0: nothing more due
    assert scheduler.run_once(Job("deliver", 60, lambda: 1, Lease("deliver", 10), drain=4)) == 4


def test_pending_work_is_read_before_the_lease_is_written(database: Database) -> None:
    scheduler = Scheduler(database, [])
    ran: list[str] = []
    idle = Job("idle", 60, lambda: ran.append("idle"), Lease("idle", 10), pending=lambda: False)
    assert scheduler.run_once(idle) == 0
    with database.read() as conn:
        assert conn.execute(select(leases.c.name)).all() == []
    busy = Job("busy", 60, lambda: ran.append("busy"), Lease("busy", 10), pending=lambda: True)
    assert scheduler.run_once(busy) == 1
    assert ran == ["busy"]


def test_a_per_interval_lease_runs_the_job_once_per_interval_among_all_schedulers(
    database: Database,
) -> None:
    seen = Overlap(seconds=0.0)
    lease = Lease("poll", 0.5, per_interval=True)
    schedulers = [
        Scheduler(database, [Job("poll", 0.01, seen.body(name), lease)], name)
        for name in ("a", "b")
    ]
    began = time.monotonic()
    for scheduler in schedulers:
        scheduler.start()
    time.sleep(1.2)
    for scheduler in schedulers:
        assert scheduler.stop(timeout=2)
    elapsed = time.monotonic() - began
    # Polled every 10 ms by each scheduler; run once per 0.5 s by one of them.
    assert 2 <= len(seen.runs) <= elapsed / 0.5 + 1, seen.runs


def test_job_names_are_unique(database: Database) -> None:
    with pytest.raises(ValueError, match="unique"):
        Scheduler(database, [Job("gc", 1, lambda: None), Job("gc", 2, lambda: None)])
