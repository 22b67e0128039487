"""Task files (`dockyard run -f task.yaml`), ACR's YAML of steps.

The multi-step engine is not there yet, so a task file runs only when it amounts to a
`--cmd`: exactly one step that holds nothing but `cmd`, and no top-level key besides
`version` and `steps`. Anything else is refused, saying so.
"""

from __future__ import annotations

from typing import Any

import yaml

from dockyard.cli.client import CliError

TOP_LEVEL_KEYS = frozenset({"version", "steps"})
STEP_KEYS = frozenset({"cmd"})
_NOT_YET = "multi-step task files are not supported yet"
_HINT = "a task file may hold one step with only `cmd` for now; or pass --cmd '<image> <args>'"


def single_command(text: str, name: str) -> str:
    """The `cmd` of a task file's one step, or a CliError saying why the file cannot run."""
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CliError(f"{name} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("steps"), list):
        raise CliError(f"{name} is not a task file: it needs a list of `steps`")
    others = sorted(str(key) for key in data if key not in TOP_LEVEL_KEYS)
    if others:
        raise CliError(f"{name}: {', '.join(others)}: {_NOT_YET}", _HINT)
    steps: list[Any] = data["steps"]
    if len(steps) != 1:
        raise CliError(f"{name} has {len(steps)} steps: {_NOT_YET}", _HINT)
    step = steps[0]
    if not isinstance(step, dict) or "cmd" not in step:
        raise CliError(f"{name}: its step is not a `cmd` step: {_NOT_YET}", _HINT)
    extra = sorted(str(key) for key in step if key not in STEP_KEYS)
    if extra:
        raise CliError(f"{name}: step properties {', '.join(extra)}: {_NOT_YET}", _HINT)
    command = step["cmd"]
    if not isinstance(command, str) or not command.strip():
        raise CliError(f"{name}: `cmd` must be a non-empty string ('<image> <args>')")
    return command.strip()
