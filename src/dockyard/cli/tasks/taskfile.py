"""Task files and values on the command line: `--values` files, `--set` pairs, and the
context of `dockyard run -f` when the task file is all there is to send."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import yaml

from dockyard.cli.client import CliError

SINGLE_FILE_NAME = "acb.yaml"


def read_values(path: str | None) -> dict[str, str]:
    """A `--values` file: a YAML mapping of names to scalar values (nested mappings become
    dotted names, as `{{.Values.a.b}}` reads them)."""
    if path is None:
        return {}
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot read the values file {path}: {exc.strerror or exc}") from exc
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CliError(f"{path} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CliError(f"{path} must hold a mapping of names to values")
    found: dict[str, str] = {}
    _flatten(data, "", found, path)
    return found


def _flatten(data: dict[Any, Any], prefix: str, found: dict[str, str], path: str) -> None:
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            _flatten(value, f"{name}.", found, path)
        elif isinstance(value, list):
            raise CliError(f"{path}: {name} is a list; values are single strings")
        elif isinstance(value, bool):
            found[name] = "true" if value else "false"
        else:
            found[name] = "" if value is None else str(value)


def parse_pairs(option: str, pairs: list[str] | None) -> dict[str, str]:
    """`--set k=v` options as a mapping; the last of a name wins."""
    found: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CliError(f"{option} {pair!r}: expected key=value")
        found[key] = value
    return found


def merged_values(values_file: str | None, pairs: dict[str, str]) -> dict[str, str]:
    """The values file's, with --set pairs over them."""
    return {**read_values(values_file), **pairs}


def single_file_context(text: str) -> bytes:
    """A context (tar.gz) that holds only the task file, as SINGLE_FILE_NAME."""
    data = text.encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo(SINGLE_FILE_NAME)
        info.size = len(data)
        info.mode = 0o644
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
