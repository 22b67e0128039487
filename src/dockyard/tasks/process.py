"""Engine processes: each in its own session, its output batched into the run's log, and
the whole process tree ended (SIGTERM, then SIGKILL) on cancel, timeout or a lost lease."""

from __future__ import annotations

import codecs
import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

# Output reaches the log store at least this often while a process prints.
FLUSH_SECONDS = 0.5
FLUSH_BYTES = 256 * 1024
KILL_GRACE_SECONDS = 5.0

CANCELED, TIMED_OUT, LOST, SHUTDOWN = "canceled", "timeout", "lost", "shutdown"


class Stopped(Exception):
    """The run was stopped from outside: canceled, timed out, its lease lost, or the worker
    shutting down."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RunControl:
    """What stops a run: a deadline, and a reason set from another thread."""

    def __init__(self, timeout_seconds: float) -> None:
        self.deadline = time.monotonic() + timeout_seconds
        self._reason: str | None = None
        self._lock = threading.Lock()
        self.event = threading.Event()
        self.on_spawn: Callable[[int], None] | None = None

    def stop(self, reason: str) -> None:
        with self._lock:
            if self._reason is None:
                self._reason = reason
        self.event.set()

    @property
    def reason(self) -> str | None:
        if self._reason is None and time.monotonic() >= self.deadline:
            self.stop(TIMED_OUT)
        return self._reason

    def check(self) -> None:
        reason = self.reason
        if reason is not None:
            raise Stopped(reason)

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`, or less when stopped; True when stopped."""
        remaining = max(0.0, self.deadline - time.monotonic())
        self.event.wait(min(seconds, remaining))
        return self.reason is not None


class Output(Protocol):
    def write(self, text: str) -> None: ...


class LogSink:
    """Collects output and hands it to `append` in batches, at least every FLUSH_SECONDS."""

    def __init__(self, append: Callable[[str], object]) -> None:
        self._append = append
        self._parts: list[str] = []
        self._size = 0
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="task-log", daemon=True)
        self._thread.start()

    def write(self, text: str) -> None:
        if not text:
            return
        with self._lock:
            self._parts.append(text)
            self._size += len(text)
            full = self._size >= FLUSH_BYTES
        if full:
            self.flush()

    def line(self, text: str) -> None:
        self.write(text.rstrip("\n") + "\n")

    def flush(self) -> None:
        with self._write_lock:
            with self._lock:
                text = "".join(self._parts)
                self._parts, self._size = [], 0
            if text:
                self._append(text)

    def _run(self) -> None:
        while not self._closed.wait(FLUSH_SECONDS):
            with contextlib.suppress(Exception):
                self.flush()

    def close(self) -> None:
        self._closed.set()
        self._thread.join()
        self.flush()


@dataclass(frozen=True, slots=True)
class ProcessTree:
    """A process and when it started (so that a reused pid is never mistaken for it)."""

    pid: int
    start_time: str

    @classmethod
    def of(cls, pid: int) -> ProcessTree | None:
        fields = _stat(pid)
        return None if fields is None else cls(pid, fields[19])

    def alive(self) -> bool:
        fields = _stat(self.pid)
        return fields is not None and fields[19] == self.start_time and fields[0] != "Z"

    def kill(self, grace: float = KILL_GRACE_SECONDS) -> None:
        """End the process, its process group (= its session) and every descendant."""
        if not self.alive():
            return
        kill_tree(self.pid, None, grace)


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name: state, ppid, pgrp, ..."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return text[text.rindex(")") + 2 :].split()


def _processes() -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields is not None:
                found[int(entry)] = fields
    return found


def _members(pgid: int, known: set[int]) -> set[int]:
    """Live (not zombie) processes of the group, descendants of them, and `known` ones."""
    table = _processes()
    live = {pid for pid, f in table.items() if f[0] != "Z"}
    chosen = {pid for pid in live if int(table[pid][2]) == pgid} | (known & live)
    grew = True
    while grew:
        children = {pid for pid in live if int(table[pid][1]) in chosen} - chosen
        grew = bool(children)
        chosen |= children
    return chosen


def _signal_all(pgid: int, pids: set[int], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def kill_tree(pgid: int, proc: subprocess.Popen[bytes] | None, grace: float) -> None:
    """SIGTERM to the session's process group and every descendant; SIGKILL to what is left
    after `grace` seconds."""
    known = _members(pgid, set())
    _signal_all(pgid, known, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if proc is not None:
            proc.poll()
        known = _members(pgid, known)
        if not known:
            break
        time.sleep(0.1)
    else:
        _signal_all(pgid, _members(pgid, known), signal.SIGKILL)
    if proc is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace)


def run_process(
    argv: Sequence[str],
    log: Output,
    control: RunControl,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> int:
    """Run one engine command to its end; its exit status. Raises Stopped (after ending
    the process tree) when the run is stopped meanwhile."""
    control.check()
    command = list(argv)
    setpriv = shutil.which("setpriv")
    if setpriv is not None:
        # A worker killed outright takes its engine with it (buildah's own children die with
        # buildah); the leftovers of a worker without setpriv are ended by the next sweep.
        command = [setpriv, "--pdeathsig", "KILL", "--", *command]
    proc = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env=dict(env) if env is not None else None,
        cwd=cwd,
        # The server runs with umask 077 to keep its data private; what engines and git
        # create (a cloned context, image files) keeps the usual modes, as images expect.
        umask=0o022,
    )
    if control.on_spawn is not None:
        control.on_spawn(proc.pid)
    assert proc.stdout is not None
    reader = threading.Thread(
        target=_pump, args=(proc.stdout.fileno(), log), name="task-output", daemon=True
    )
    reader.start()
    try:
        while proc.poll() is None:
            if control.wait(0.2):
                kill_tree(proc.pid, proc, KILL_GRACE_SECONDS)
                break
    finally:
        if proc.poll() is None:  # an unexpected error in this thread: leave nothing behind
            kill_tree(proc.pid, proc, KILL_GRACE_SECONDS)
        reader.join(timeout=10)
        proc.stdout.close()
    control.check()
    return int(proc.returncode)


def _pump(fd: int, log: Output) -> None:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    while True:
        try:
            data = os.read(fd, 64 * 1024)
        except OSError:
            break
        if not data:
            break
        log.write(decoder.decode(data))
    log.write(decoder.decode(b"", final=True))
