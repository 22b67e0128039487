"""Byte counts written for people."""

from __future__ import annotations


def human_bytes(count: int) -> str:
    """A byte count for people: 512 B, 1.5 KiB, 5.0 TiB."""
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
    value, index = float(count), 0
    while value >= 1024 and index < len(units) - 1:
        value /= 1024
        index += 1
    return f"{count} B" if index == 0 else f"{value:.1f} {units[index]}"
