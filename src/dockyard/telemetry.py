"""Prometheus counters that can never fail the work they count.

With several worker processes, prometheus_client keeps each process's values in memory-mapped
files of the multiprocess directory (`serve` sets PROMETHEUS_MULTIPROC_DIR before anything
imports prometheus_client). Writing a value can fail (a full or read-only disk when a file is
created); a request or a GC run must not fail for that, so every update goes through `record`,
which counts and logs the failure instead.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable

log = logging.getLogger("dockyard.metrics")

# The file types prometheus_client creates per process for the metric kinds Dockyard uses.
_VALUE_FILES = ("counter", "histogram")
_PREALLOCATED_BYTES = 1024 * 1024  # prometheus_client's first size of such a file

_lock = threading.Lock()
_write_failures = 0
_last_logged = 0.0


def record(update: Callable[[], object]) -> None:
    """Run one metric update; a failure is counted and logged (once a minute), not raised."""
    global _write_failures, _last_logged
    try:
        update()
    except Exception as exc:  # any failure of the metrics store, never the caller's
        with _lock:
            _write_failures += 1
            now = time.monotonic()
            quiet = now - _last_logged < 60
            if not quiet:
                _last_logged = now
        if not quiet:
            log.warning("a metric could not be written (%s); counted, not raised", exc)


def write_failures() -> int:
    """How many metric updates of this process failed."""
    return _write_failures


def preallocate_process_files() -> bool:
    """Reserve the disk blocks of this process's metric files before the first write.

    prometheus_client creates them sparse and writes through a memory map: on a full disk the
    first write to an unbacked page kills the process (SIGBUS), which no try/except catches.
    Allocating the blocks up front turns that into an error here, at worker start. False when
    the directory has no room: the caller then keeps this process's metrics in memory."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return True
    pid = os.getpid()
    for kind in _VALUE_FILES:
        path = os.path.join(directory, f"{kind}_{pid}.db")
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            log.error(
                "metrics: cannot create %s (%s); this process keeps them in memory", path, exc
            )
            return False
        try:
            # Also when the file exists: prometheus_client may have created it sparse already
            # (metrics made at import); allocating fills the holes and keeps what is written.
            os.posix_fallocate(fd, 0, _PREALLOCATED_BYTES)
        except OSError as exc:
            log.error("metrics: no room for %s (%s); this process keeps them in memory", path, exc)
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            return False
        finally:
            os.close(fd)
    return True


def keep_in_memory() -> None:
    """Make this process's metric values ordinary in-memory ones (they are then missing from
    /metrics, which reads the files): the fallback when the files cannot be written."""
    from prometheus_client import values

    values.ValueClass = values.MutexValue


def multiprocess_ready() -> bool:
    """False when PROMETHEUS_MULTIPROC_DIR is set but prometheus_client was imported before
    it was (it reads the variable once): this process's values would then stay in memory."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return True
    from prometheus_client import values

    return bool(getattr(values.ValueClass, "_multiprocess", False))
