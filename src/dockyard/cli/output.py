"""Consoles for command output: tables on stdout, progress and errors on stderr.

On a terminal rich fits output to the window. Anywhere else (a pipe, a file, a CI log) there
is no window to fit: lines are never wrapped, whatever their length, so that digests, URLs and
error messages stay whole for `grep` and friends, and tables take the width their cells need.
"""

from __future__ import annotations

from rich.console import Console

# Wide enough that no table is ever squeezed; tables are never stretched to it (they are not
# `expand`ed), so this is an upper bound, not the width they take.
PIPE_WIDTH = 100_000


def console_for(stderr: bool = False) -> Console:
    """A console for stdout or stderr: the terminal's width on a terminal (as rich detects
    one, FORCE_TERMINAL and TTY_COMPATIBLE included), else no wrapping."""
    console = Console(stderr=stderr)
    if not console.is_terminal:
        console.width = PIPE_WIDTH
        console.soft_wrap = True
    return console


err = console_for(stderr=True)
out = console_for()


def note(markup: str) -> None:
    """A status line on stderr, never wrapped, so that digests and paths stay whole."""
    err.print(markup, highlight=False, soft_wrap=True)
