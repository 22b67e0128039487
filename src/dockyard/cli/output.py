"""Consoles for command output: tables on stdout, progress and errors on stderr."""

from __future__ import annotations

import sys

from rich.console import Console

# Piped output keeps whole digests on one line rather than wrapping them at 80 columns.
PIPE_WIDTH = 240

err = Console(stderr=True)
out = Console(width=None if sys.stdout.isatty() else PIPE_WIDTH)


def note(markup: str) -> None:
    """A status line on stderr, never wrapped, so that digests and paths stay whole."""
    err.print(markup, highlight=False, soft_wrap=True)
