"""How a run ended, as the executor answers it to the worker."""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.tasks.model import OutputImage, RunStatus


@dataclass(frozen=True, slots=True)
class Outcome:
    status: RunStatus | None  # None: the run is no longer this worker's (lease lost)
    error: str | None = None
    output_images: tuple[OutputImage, ...] = ()
