"""Consoles for command output: tables on stdout, progress and errors on stderr.

On a terminal rich fits output to the window. Anywhere else (a pipe, a file, a CI log) there
is no window to fit: lines are never wrapped, whatever their length, so that digests, URLs and
error messages stay whole for `grep` and friends, and tables take the width their cells need.
"""

from __future__ import annotations

import sys
from typing import TextIO

from rich.console import Console

# Wide enough that no table is ever squeezed; tables are never stretched to it (they are not
# `expand`ed), so this is an upper bound, not the width they take.
PIPE_WIDTH = 100_000


def console_for(stream: TextIO, stderr: bool = False) -> Console:
    """A console for `stream`: the terminal's width on a terminal, else no wrapping."""
    if stream.isatty():
        return Console(stderr=stderr)
    return Console(stderr=stderr, width=PIPE_WIDTH, soft_wrap=True)


err = console_for(sys.stderr, stderr=True)
out = console_for(sys.stdout)


def note(markup: str) -> None:
    """A status line on stderr, never wrapped, so that digests and paths stay whole."""
    err.print(markup, highlight=False, soft_wrap=True)
