"""The port through which tasks see this registry's images. Tasks never read the registry's
tables: the composition root hands them an adapter of the registry package
(registry/local_images.py) that answers these questions."""

from __future__ import annotations

from typing import Protocol


class LocalImages(Protocol):
    def tag_digest(self, repository: str, tag: str) -> str | None:
        """The manifest digest `repository:tag` names in this registry; None when there is no
        such tag."""
        ...
