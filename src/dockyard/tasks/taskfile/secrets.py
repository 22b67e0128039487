"""Masking of secret values in text a run writes to its log."""

from __future__ import annotations

from collections.abc import Iterable

MASK = "***"


class SecretMasker:
    """Replaces every known secret value with ***; the longest first, so that a secret
    containing another is hidden whole."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._values = sorted({v for v in values if v}, key=len, reverse=True)

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(self._values)

    def mask(self, text: str) -> str:
        for value in self._values:
            text = text.replace(value, MASK)
        return text
