"""Task files for `dockyard run -f` (cli/tasks/taskfile.py): one `cmd` step runs, anything
else is refused with a message saying why."""

from __future__ import annotations

import pytest

from dockyard.cli.client import CliError
from dockyard.cli.tasks.taskfile import single_command


def test_one_cmd_step_is_its_command() -> None:
    text = "version: v1.1.0\nsteps:\n  - cmd: base/busybox:1 echo hi there\n"
    assert single_command(text, "task.yaml") == "base/busybox:1 echo hi there"


def test_version_is_optional() -> None:
    assert single_command("steps:\n- cmd: '  img:1 true  '\n", "t.yaml") == "img:1 true"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "steps:\n  - cmd: a:1 true\n  - cmd: b:1 true\n",
            "t.yaml has 2 steps: multi-step task files are not supported yet",
        ),
        ("steps: []\n", "t.yaml has 0 steps: multi-step task files are not supported yet"),
        (
            "steps:\n  - build: -t x:1 .\n",
            "t.yaml: its step is not a `cmd` step: multi-step task files are not supported yet",
        ),
        (
            "steps:\n  - cmd: a:1 true\n    timeout: 30\n",
            "t.yaml: step properties timeout: multi-step task files are not supported yet",
        ),
        (
            "version: v1.1.0\nsecrets: []\nsteps:\n  - cmd: a:1 true\n",
            "t.yaml: secrets: multi-step task files are not supported yet",
        ),
    ],
)
def test_anything_more_is_refused_as_not_supported_yet(text: str, message: str) -> None:
    with pytest.raises(CliError) as caught:
        single_command(text, "t.yaml")
    assert caught.value.message == message
    assert caught.value.hint is not None
    assert "--cmd" in caught.value.hint


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("steps: [unclosed\n", "t.yaml is not valid YAML"),
        ("just a string\n", "t.yaml is not a task file"),
        ("version: v1\n", "t.yaml is not a task file"),
        ("steps:\n  - cmd: ''\n", "`cmd` must be a non-empty string"),
        ("steps:\n  - cmd: [a, b]\n", "`cmd` must be a non-empty string"),
    ],
)
def test_broken_files_are_refused(text: str, message: str) -> None:
    with pytest.raises(CliError, match=message.replace("`", ".")):
        single_command(text, "t.yaml")
