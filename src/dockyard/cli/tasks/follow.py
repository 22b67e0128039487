"""Following a run: its log copied to stdout as the registry streams it, then its outcome.

The log arrives from `GET /runs/{id}/logs?follow=true&offset=N` (`DockyardApi.run_log`), which
ends when the run does. A stream that breaks off early (a restarted server, a proxy's idle
timeout) is opened again from the byte where it stopped, so nothing is printed twice or lost.
Once the run is over, its status decides the exit status: 0 for Succeeded, 1 for anything
else. The worker's last log line says how the run ended; the outcome is said again (on stderr)
only when the log did not say it (a run canceled before it started has no log).

Ctrl-C while following asks, on a terminal, whether to cancel the run; the answer defaults
to no, which only stops following (the run goes on). Without a terminal to ask on, Ctrl-C
just stops following. Either way the command exits 130.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, BinaryIO

import typer
from rich.markup import escape

from dockyard.cli.client import CliError, ConnectionLost
from dockyard.cli.output import note

if TYPE_CHECKING:
    from dockyard.cli.api_client import DockyardApi
    from dockyard.wire.runs import RunModel

INTERRUPTED_EXIT = 130
# Reconnections in a row without a byte of log before giving up.
MAX_RECONNECTS = 8
RECONNECT_PAUSE_SECONDS = 1.0
# How much of the log's end is kept to read its last line.
TAIL_BYTES = 4096


class TailingSink:
    """Passes the log on to `sink`, keeping its last bytes."""

    def __init__(self, sink: BinaryIO) -> None:
        self._sink = sink
        self.tail = b""

    def write(self, chunk: bytes) -> None:
        self._sink.write(chunk)
        self.tail = (self.tail + chunk)[-TAIL_BYTES:]

    def flush(self) -> None:
        self._sink.flush()


def log_told_outcome(run: RunModel | Mapping[str, Any], tail: bytes) -> bool:
    """Whether the log's last line is the worker's word on how this run ended. `run` is the
    run, or its JSON (what `-o json` shows)."""
    from dockyard.wire.runs import RunModel, RunStatus

    if isinstance(run, Mapping):
        run = RunModel.model_construct(**run)
    lines = tail.decode("utf-8", "replace").strip().splitlines()
    if not lines:
        return False
    if run.status == RunStatus.SUCCEEDED:
        said = f"Run {run.run_id} succeeded"
    else:
        said = f"Run {run.run_id} ended {run.status}"
    return lines[-1].startswith(said)


def copy_log(api: DockyardApi, run_id: str, sink: BinaryIO | TailingSink, offset: int = 0) -> int:
    """Copy the log so far (from byte `offset`) to `sink`; the new offset."""
    for chunk in api.run_log(run_id, offset):
        sink.write(chunk)
        offset += len(chunk)
    sink.flush()
    return offset


def follow_log(api: DockyardApi, run_id: str, sink: BinaryIO | TailingSink) -> RunModel:
    """Copy the run's log to `sink` as it is written until the run is over; the final run."""
    offset = 0
    fruitless = 0
    while True:
        received = offset
        lost: ConnectionLost | None = None
        try:
            for chunk in api.run_log(run_id, offset, follow=True):
                sink.write(chunk)
                sink.flush()
                offset += len(chunk)
        except ConnectionLost as exc:
            lost = exc
        fruitless = 0 if offset > received else fruitless + 1
        if lost is not None:
            if fruitless > MAX_RECONNECTS:
                raise lost
            time.sleep(RECONNECT_PAUSE_SECONDS * min(fruitless, 5))
            continue
        run = api.get_run(run_id)
        if run.finished:
            # Whatever was written between the stream's end and the status read.
            copy_log(api, run_id, sink, offset)
            return run
        # The stream ended early although the run goes on: open it again.
        time.sleep(RECONNECT_PAUSE_SECONDS * min(fruitless, 5))


def duration(seconds: float | None) -> str:
    """A run's (or a step's) duration as people read it; nothing when it has none."""
    if seconds is None:
        return ""
    whole = round(float(seconds))
    minutes, secs = divmod(whole, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def report_outcome(run: RunModel, log_tail: bytes = b"") -> int:
    """Say on stderr how the run ended (and why, when it failed) unless the log's last line,
    `log_tail`'s, said it already; the exit status for it."""
    from dockyard.wire.runs import RunStatus

    succeeded = run.status == RunStatus.SUCCEEDED
    if log_told_outcome(run, log_tail):
        return 0 if succeeded else 1
    run_id = escape(run.run_id)
    took = duration(run.duration_seconds)
    after = f" after {took}" if took else ""
    if succeeded:
        note(f"Run {run_id}: [green]Succeeded[/green]{after}")
        return 0
    note(f"Run {run_id}: [red]{escape(run.status)}[/red]{after}")
    if run.error:
        note(f"[red]error:[/red] {escape(run.error)}")
    return 1


def _ask_to_cancel(run_id: str) -> bool:
    if not sys.stdin.isatty():
        return False
    try:
        return typer.confirm(f"\nCancel run {run_id}?", default=False, err=True)
    except (KeyboardInterrupt, EOFError, typer.Abort):
        return False


def _interrupted(api: DockyardApi, run_id: str) -> int:
    if _ask_to_cancel(run_id):
        try:
            run = api.cancel_run(run_id)
        except CliError as exc:
            note(f"[red]error:[/red] {escape(exc.message)}")
            return 1
        note(f"Run {escape(run_id)}: cancel requested ({escape(run.status)})")
    else:
        note(
            f"\nStopped following run {escape(run_id)}; it goes on. Follow it again with "
            f"`dockyard task logs {escape(run_id)} --follow`"
        )
    return INTERRUPTED_EXIT


def follow_to_end(api: DockyardApi, run_id: str) -> int:
    """Stream the run's log to stdout until it ends, report the outcome; the exit status."""
    sink = TailingSink(sys.stdout.buffer)
    try:
        run = follow_log(api, run_id, sink)
    except KeyboardInterrupt:
        return _interrupted(api, run_id)
    return report_outcome(run, sink.tail)
