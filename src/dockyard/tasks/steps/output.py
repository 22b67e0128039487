"""What a step prints, as whole lines: secret values masked (a secret split across two reads
of the pipe is still whole in the line), each line prefixed with the step's id."""

from __future__ import annotations

import threading

from dockyard.tasks.process import Output
from dockyard.tasks.taskfile.secrets import SecretMasker

# A line longer than this (a progress bar redrawn with \r) is written out unfinished.
MAX_PENDING = 64 * 1024


class StepOutput:
    def __init__(self, log: Output, step_id: str, masker: SecretMasker) -> None:
        self._log = log
        self._prefix = f"[{step_id}] "
        self._masker = masker
        self._pending = ""
        self._lock = threading.Lock()

    def write(self, text: str) -> None:
        with self._lock:
            self._pending += text.replace("\r\n", "\n")
            *lines, self._pending = self._pending.split("\n")
            if len(self._pending) > MAX_PENDING:
                lines.append(self._pending)
                self._pending = ""
        if lines:
            self._emit(lines)

    def line(self, text: str) -> None:
        self.write(text.rstrip("\n") + "\n")

    def close(self) -> None:
        with self._lock:
            rest, self._pending = self._pending, ""
        if rest:
            self._emit([rest])

    def _emit(self, lines: list[str]) -> None:
        masked = (self._prefix + self._masker.mask(line) for line in lines)
        self._log.write("\n".join(masked) + "\n")
