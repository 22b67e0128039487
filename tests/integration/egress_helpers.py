"""Servers behind the egress fence (egress_fence/sitecustomize.py): every connection they
try to a non-loopback address is refused before it is made, and recorded."""

from __future__ import annotations

import json
import os
from pathlib import Path

FENCE = Path(__file__).parent / "egress_fence"


class Fence:
    def __init__(
        self,
        folder: Path,
        names: dict[str, list[list[str]]] | None = None,
        routes: dict[str, str] | None = None,
    ) -> None:
        """`routes`: addresses whose connections go to a loopback address instead."""
        self.log_path = folder / "fence.log"
        self.names = names or {}
        self.routes = routes or {}

    def env(self) -> dict[str, str]:
        """What a server needs in its environment to run behind the fence."""
        path = os.pathsep.join(p for p in (str(FENCE), os.environ.get("PYTHONPATH", "")) if p)
        return {
            "PYTHONPATH": path,
            "DOCKYARD_TEST_FENCE_LOG": str(self.log_path),
            "DOCKYARD_TEST_FENCE_DNS": json.dumps(self.names),
            "DOCKYARD_TEST_FENCE_ROUTES": json.dumps(self.routes),
        }

    def lines(self, kind: str) -> list[str]:
        if not self.log_path.exists():
            return []
        prefix = kind + " "
        return [
            line.removeprefix(prefix)
            for line in self.log_path.read_text().splitlines()
            if line.startswith(prefix)
        ]

    def connects(self) -> list[str]:
        """`address port` of each connection the fence refused."""
        return self.lines("connect")

    def routed(self) -> list[str]:
        """`address port` of each connection the fence sent to its loopback stand-in."""
        return self.lines("route")

    def lookups(self) -> list[str]:
        return self.lines("lookup")
