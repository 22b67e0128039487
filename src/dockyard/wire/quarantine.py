"""The management API's quarantine bodies: a manifest held by the quarantine policy, and a
scanner's verdict on it."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from dockyard.wire.base import WireModel

State = Literal["quarantined", "passed"]


class QuarantinedManifest(WireModel):
    repository: str
    digest: str
    media_type: str
    state: State
    tags: list[str]
    created_at: datetime


class Verdict(WireModel):
    state: State = Field(description="`passed` releases the manifest; `quarantined` holds it")
