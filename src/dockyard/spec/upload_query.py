"""The query of a blob upload POST (`/v2/<name>/blobs/uploads/`): `digest` (a monolithic
upload), or `mount` with an optional `from` (a cross-repository mount).

One parse serves both the authorization check and the upload itself, so they cannot read two
different requests out of one query. A parameter given twice, or given empty, makes the query
invalid: `?mount=d&from=a&from=` must not be a mount from `a` to one reader and a mount
without a source to another.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import parse_qsl

from dockyard.spec.digest import Digest, InvalidDigest
from dockyard.spec.names import is_valid_name

_NAMED = ("digest", "mount", "from")


class InvalidUploadQuery(ValueError):
    """A parameter of the upload POST repeated or empty."""


@dataclass(frozen=True, slots=True)
class UploadStart:
    """What the POST asks for. `mount` is the raw text (a mount that cannot be done, such as
    one of a malformed digest, falls back to an upload session as distribution-spec 1.1
    allows); `source` is None when no `from` was given."""

    digest: str | None = None
    mount: str | None = None
    source: str | None = None

    @property
    def mount_digest(self) -> Digest | None:
        """The digest to mount, when the mount can be attempted at all."""
        if self.mount is None:
            return None
        if self.source is not None and not is_valid_name(self.source):
            return None
        try:
            return Digest.parse(self.mount)
        except InvalidDigest:
            return None

    def without_mount(self) -> UploadStart:
        """The same POST as a plain upload session (a mount the caller may not do)."""
        return replace(self, mount=None, source=None)


def parse_upload_start(query: str) -> UploadStart:
    """Other parameters are ignored; with `mount`, `digest` is (the mount is tried first)."""
    values: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key not in _NAMED:
            continue
        if key in values:
            raise InvalidUploadQuery(f"the {key!r} parameter is given more than once")
        if not value:
            raise InvalidUploadQuery(f"the {key!r} parameter is empty")
        values[key] = value
    return UploadStart(values.get("digest"), values.get("mount"), values.get("from"))
