"""Every kind of mistake in a task file is reported with its line, all of them at once,
before anything runs."""

from __future__ import annotations

import pytest

from dockyard.tasks.taskfile import TaskFileInvalid, parse_task_file


def problems(text: str) -> list[str]:
    with pytest.raises(TaskFileInvalid) as caught:
        parse_task_file(text)
    assert caught.value.status == 400
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "version: v1.1.0\nsteps:\n  - cmd: a\n    bogus: 1\n",
            "line 4: step 'acb_step_0' has an unknown field 'bogus'",
        ),
        (
            "stepTimout: 10\nsteps:\n  - cmd: a\n",
            "line 1: the task file has an unknown field 'stepTimout'",
        ),
        (
            "version: v2.0.0\nsteps:\n  - cmd: a\n",
            "line 1: version 'v2.0.0' is not supported (use v1.0.0 or v1.1.0)",
        ),
        (
            "version: v1.0.0\nalias:\n  values: {a: b}\nsteps:\n  - cmd: a\n",
            "line 2: alias needs version v1.1.0, the file is v1.0.0",
        ),
        (
            "steps:\n  - cmd: a\n    detach: maybe\n",
            "line 3: step 'acb_step_0': detach must be true or false, not 'maybe'",
        ),
        (
            "steps:\n  - cmd: a\n    retries: -1\n",
            "line 3: step 'acb_step_0': retries must be at least 0, not -1",
        ),
        (
            "steps:\n  - cmd: a\n    repeat: 1.5\n",
            "line 3: step 'acb_step_0': repeat must be a whole number, not '1.5'",
        ),
        (
            "steps:\n  - cmd: a\n    timeout: soon\n",
            "line 3: step 'acb_step_0': timeout must be "
            "seconds or a duration like 90s, 5m, 1h30m, not 'soon'",
        ),
        (
            "steps:\n  - cmd: a\n    timeout: 0\n",
            "line 3: step 'acb_step_0': timeout must be at least 1, not 0",
        ),
        (
            "stepTimeout: 5x\nsteps:\n  - cmd: a\n",
            "line 1: stepTimeout must be seconds or a duration like 90s, 5m, 1h30m, not '5x'",
        ),
        (
            "steps:\n  - cmd: a\n    env: A=1\n",
            "line 3: step 'acb_step_0': env must be a list, not 'A=1'",
        ),
        (
            "steps:\n  - cmd: a\n    env: [JUSTNAME]\n",
            "line 3: step 'acb_step_0': env: 'JUSTNAME' is not NAME=value",
        ),
        (
            "steps:\n  - cmd: [a, b]\n",
            "line 2: step 'acb_step_0': cmd must be a string, not a list",
        ),
        ("steps:\n  - cmd: ''\n", "line 2: step 'acb_step_0': cmd is empty"),
        ("steps:\n  - push: []\n", "line 2: step 'acb_step_0': push names no image"),
        (
            "steps:\n  - id: x\n    detach: true\n",
            "line 2: step 'x': a step needs exactly one of build, push or cmd, found none",
        ),
        (
            "steps:\n  - build: .\n    cmd: a\n",
            "line 2: step 'acb_step_0': a step needs exactly "
            "one of build, push or cmd, found build and cmd",
        ),
        (
            "steps:\n  - push: [a]\n    detach: true\n",
            "line 3: step 'acb_step_0': 'detach' does not apply to a push step",
        ),
        (
            "steps:\n  - build: .\n    privileged: true\n",
            "line 3: step 'acb_step_0': 'privileged' does not apply to a build step",
        ),
        (
            "steps:\n  - cmd: a\n    cache: enabled\n",
            "line 3: step 'acb_step_0': 'cache' does not apply to a cmd step",
        ),
        (
            "steps:\n  - build: .\n    cache: sometimes\n",
            "line 3: step 'acb_step_0': cache must be enabled or disabled, not 'sometimes'",
        ),
        (
            "steps:\n  - id: a b\n    cmd: a\n",
            "line 2: step 1: id 'a b' is not a valid name (letters, digits, '.', '_', '-')",
        ),
        (
            "steps:\n  - id: a\n    cmd: a\n  - id: a\n    cmd: b\n",
            "line 4: step 'a': the id is already used by the step on line 2",
        ),
        (
            "steps:\n  - id: build\n    build: .\n  - id: test\n    cmd: t\n    when: [biuld]\n",
            "line 6: step 'test': when refers to unknown step 'biuld'",
        ),
        (
            "steps:\n  - cmd: a\n    when: []\n",
            "line 3: step 'acb_step_0': when is empty (use [\"-\"] to start at once)",
        ),
        (
            "steps:\n  - id: a\n    cmd: a\n  - cmd: b\n    when: ['-', a]\n",
            "line 5: step 'acb_step_1': when cannot mix \"-\" with step ids",
        ),
        (
            "steps:\n  - id: a\n    cmd: a\n    when: [a]\n",
            "line 4: step 'a': when makes a cycle 'a' -> 'a'",
        ),
        (
            "steps:\n  - id: a\n    cmd: a\n    when: [c]\n  - id: b\n    cmd: b\n"
            "  - id: c\n    cmd: c\n",
            "line 4: step 'a': when makes a cycle 'a' -> 'c' -> 'b' -> 'a'",
        ),
        (
            "secrets:\n  - id: s\nsteps:\n  - cmd: a\n    secret: t\n",
            "line 5: step 'acb_step_0': secret refers to unknown secret 't'",
        ),
        (
            "steps:\n  - cmd: a\n    volumeMounts:\n      - name: v\n        mountPath: /v\n",
            "line 4: step 'acb_step_0': volumeMounts refers to unknown volume 'v'",
        ),
        (
            "steps:\n  - cmd: a\n    volumeMounts:\n      - name: v\n",
            "line 4: step 'acb_step_0': a volume mount needs name and mountPath",
        ),
        (
            "secrets:\n  - keyvault: x\nsteps:\n  - cmd: a\n",
            "line 2: an entry of secrets has no id",
        ),
        (
            "secrets:\n  - id: s\n  - id: s\nsteps:\n  - cmd: a\n",
            "line 2: secrets: secret 's' is declared twice",
        ),
        (
            "networks:\n  - name: n\n    ipv6: 1\nsteps:\n  - cmd: a\n",
            "line 3: networks: ipv6 must be true or false, not '1'",
        ),
        (
            "volumes:\n  - name: v\n    secret: [a]\nsteps:\n  - cmd: a\n",
            "line 3: volumes: secret must be a mapping, not a list",
        ),
        ("steps:\n  - cmd: a\n  - cmd: b\n    cmd: c\n", "line 4: step 2 has 'cmd' twice"),
        ("version: v1.1.0\n", "line 1: the task file has no steps"),
        ("steps: []\n", "line 1: the task file has no steps"),
        (
            "stepTimeout: 9h\nsteps:\n  - cmd: a\n",
            "line 1: stepTimeout must be at most 28800 seconds, not 32400",
        ),
        (
            "steps:\n  - cmd: a\n    timeout: 28801\n",
            "line 3: step 'acb_step_0': timeout must be at most 28800 seconds, not 28801",
        ),
        ("steps: echo\n", "line 1: steps must be a list, not 'echo'"),
        ("- cmd: a\n", "line 1: the task file must be a mapping, not a list"),
        (
            "steps:\n  - cmd: a\n    when: [b\n",
            "line 4: not valid YAML: expected ',' or ']', but got '<stream end>'",
        ),
        ("", "the task file is empty"),
    ],
)
def test_each_problem_is_reported_with_its_line(text: str, expected: str) -> None:
    assert expected in problems(text)


def test_all_problems_are_reported_together_in_text_order() -> None:
    text = """\
version: v1.1.0
steps:
  - id: build
    build: -t app .
    bogus: 1
  - id: test
    cmd: tests
    when: [biuld]
    timeout: ten
  - cmd: y
    push: [z]
  - id: test
    cmd: again
"""
    assert problems(text) == [
        "line 5: step 'build' has an unknown field 'bogus'",
        "line 8: step 'test': when refers to unknown step 'biuld'",
        "line 9: step 'test': timeout must be seconds or a duration like 90s, 5m, 1h30m, not 'ten'",
        "line 10: step 'acb_step_2': a step needs exactly one of build, push or cmd, "
        "found push and cmd",
        "line 12: step 'test': the id is already used by the step on line 6",
    ]


def test_a_step_with_problems_still_counts_as_an_id_for_when() -> None:
    text = "steps:\n  - id: a\n    cmd: x\n    push: [y]\n  - cmd: z\n    when: [a]\n"
    assert problems(text) == [
        "line 2: step 'a': a step needs exactly one of build, push or cmd, found push and cmd"
    ]


def test_the_error_carries_lines_and_columns_for_clients() -> None:
    with pytest.raises(TaskFileInvalid) as caught:
        parse_task_file("steps:\n  - cmd: a\n    detach: maybe\n")
    assert caught.value.detail == [
        {
            "line": 3,
            "column": 13,
            "message": "step 'acb_step_0': detach must be true or false, not 'maybe'",
        }
    ]
    assert caught.value.message.startswith("invalid task file: line 3: ")
