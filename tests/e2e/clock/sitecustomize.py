"""A wall clock a test controls, for a server started with this folder on PYTHONPATH:
`time.time()` reads seconds to add from the file DOCKYARD_TEST_CLOCK_FILE (rechecked every
0.2 s). Monotonic time and sleeps are left alone, so only wall-clock logic (timers, leases,
timestamps) sees the offset."""

from __future__ import annotations

import os
import time

_FILE = os.environ.get("DOCKYARD_TEST_CLOCK_FILE")
_real_time = time.time
_real_monotonic = time.monotonic
_state = {"offset": 0.0, "checked": -1.0}


def _offset() -> float:
    now = _real_monotonic()
    if now - _state["checked"] >= 0.2:
        _state["checked"] = now
        try:
            with open(_FILE or "") as clock:
                _state["offset"] = float(clock.read().strip() or 0)
        except (OSError, ValueError):
            _state["offset"] = 0.0
    return _state["offset"]


def _time() -> float:
    return _real_time() + _offset()


if _FILE:
    time.time = _time
