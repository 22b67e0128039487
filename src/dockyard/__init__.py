"""Dockyard: a self-hosted container registry and build service."""

__version__ = "0.1.0"
