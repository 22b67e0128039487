"""A step's own deadline under the run's: a step that outlasts its timeout stops alone, while
a canceled or timed-out run stops every step."""

from __future__ import annotations

import time

from dockyard.tasks.process import RunControl

STEP_TIMED_OUT = "step-timeout"
POLL_SECONDS = 0.2


class StepControl(RunControl):
    def __init__(self, run: RunControl, timeout_seconds: float) -> None:
        super().__init__(timeout_seconds)
        self._run = run
        self.on_spawn = run.on_spawn

    @property
    def reason(self) -> str | None:
        outer = self._run.reason
        if outer is not None:
            return outer
        if time.monotonic() >= self.deadline:
            return STEP_TIMED_OUT
        return None

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds` in short slices, so that the run's stop is seen at once."""
        end = time.monotonic() + seconds
        while self.reason is None:
            left = end - time.monotonic()
            if left <= 0:
                return False
            self._run.event.wait(min(POLL_SECONDS, left))
        return True
