"""Build engines behind one interface (base.py): buildah (the default) and docker."""

from __future__ import annotations

from dockyard.tasks.engines.base import BuildFailed, BuildJob, CommandJob, Engine, RegistryAccess
from dockyard.tasks.engines.buildah import BuildahEngine
from dockyard.tasks.engines.docker import DockerEngine


def make_engine(name: str) -> Engine:
    if name == "buildah":
        return BuildahEngine()
    if name == "docker":
        return DockerEngine()
    raise ValueError(f"unknown build engine {name!r}")


__all__ = [
    "BuildFailed",
    "BuildJob",
    "BuildahEngine",
    "CommandJob",
    "DockerEngine",
    "Engine",
    "RegistryAccess",
    "make_engine",
]
