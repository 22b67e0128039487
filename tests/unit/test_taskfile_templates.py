"""Templates, aliases (v1.1.0 only) and secret masking, as a run renders its task file."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dockyard.tasks.taskfile import RunContext, SecretMasker, TaskFileInvalid, load_task_file
from dockyard.tasks.taskfile.templates import render_templates

RUN = RunContext(
    id="ca7",
    registry="registry.example:5000",
    date=datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC),
    os="linux",
    architecture="arm64",
    commit="0123abc",
    branch="main",
    task_name="nightly",
    shared_volume="ca7-workspace",
)


def cmd_of(text: str, **kwargs: dict[str, str]) -> str:
    task = load_task_file(text, RUN, **kwargs).task
    assert task.steps[0].cmd is not None
    return task.steps[0].cmd


def problems(text: str, **kwargs: dict[str, str]) -> list[str]:
    with pytest.raises(TaskFileInvalid) as caught:
        load_task_file(text, RUN, **kwargs)
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize(
    ("template", "value"),
    [
        ("{{.Run.ID}}", "ca7"),
        ("{{.Run.Registry}}", "registry.example:5000"),
        ("{{.Run.RegistryName}}", "registry"),
        ("{{.Run.Date}}", "20260304-050607z"),
        ("{{.Run.OS}}", "linux"),
        ("{{.Run.Architecture}}", "arm64"),
        ("{{.Run.Commit}}", "0123abc"),
        ("{{.Run.Branch}}", "main"),
        ("{{.Run.TaskName}}", "nightly"),
        ("{{.Run.SharedVolume}}", "ca7-workspace"),
        ("{{ .Run.ID }}", "ca7"),
        ("{{- .Run.ID -}}", "ca7"),
        ('{{"{{.Run.ID}}"}}', "{{.Run.ID}}"),
    ],
)
def test_run_templates(template: str, value: str) -> None:
    assert cmd_of(f"steps:\n  - cmd: img x{template}y\n") == f"img x{value}y"


def test_values_and_secrets() -> None:
    text = "steps:\n  - cmd: img {{.Values.tag}} {{ .Secrets.token }}\n"
    got = cmd_of(text, values={"tag": "v2"}, secrets={"token": "hunter2"})
    assert got == "img v2 hunter2"


def test_trim_markers_eat_the_spaces_around() -> None:
    rendered, found = render_templates("a   {{- .Run.ID -}}   b", RUN)
    assert (rendered, found) == ("aca7b", [])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "steps:\n  - cmd: img {{.Values.tag}}\n",
            "line 2: template value '.Values.tag' is unknown",
        ),
        (
            "steps:\n  - cmd: img {{.Secrets.pw}}\n",
            "line 2: template value '.Secrets.pw' is unknown",
        ),
        ("steps:\n  - cmd: img {{.Run.Nope}}\n", "line 2: template value '.Run.Nope' is unknown"),
        ("steps:\n  - cmd: img {{.Other.x}}\n", "line 2: template value '.Other.x' is unknown"),
        ("\nsteps:\n  - cmd: img {{.Run}}\n", "line 3: template value '.Run' is unknown"),
        (
            "steps:\n  - cmd: img {{ if .Run.ID }}\n",
            "line 2: template '{{if .Run.ID}}' is not supported "
            '(only {{.Run.x}}, {{.Values.x}}, {{.Secrets.x}} and "strings")',
        ),
    ],
)
def test_unknown_template_values_name_themselves(text: str, expected: str) -> None:
    assert problems(text) == [expected]


def test_every_unknown_template_value_is_reported() -> None:
    text = "steps:\n  - cmd: '{{.Values.a}}'\n  - cmd: '{{.Values.b}}'\n"
    assert problems(text) == [
        "line 2: template value '.Values.a' is unknown",
        "line 3: template value '.Values.b' is unknown",
    ]


def test_templates_are_rendered_before_yaml_so_they_can_shape_it() -> None:
    text = "steps:\n  - cmd: img\n    detach: {{.Values.background}}\n"
    task = load_task_file(text, RUN, values={"background": "true"}).task
    assert task.steps[0].detach is True


@pytest.mark.parametrize(
    ("alias", "value"),
    [
        ("$ID", "ca7"),
        ("$Registry", "registry.example:5000"),
        ("$RegistryName", "registry"),
        ("$Date", "20260304-050607z"),
        ("$OS", "linux"),
        ("$Architecture", "arm64"),
        ("$Commit", "0123abc"),
        ("$Branch", "main"),
        ("$SharedVolume", "ca7-workspace"),
    ],
)
def test_predefined_aliases_in_v1_1_0(alias: str, value: str) -> None:
    assert cmd_of(f"version: v1.1.0\nsteps:\n  - cmd: img {alias}/x\n") == f"img {value}/x"


def test_aliases_are_not_applied_in_v1_0_0() -> None:
    text = "version: v1.0.0\nsteps:\n  - cmd: img $Registry/x:$ID {{.Run.ID}}\n"
    assert cmd_of(text) == "img $Registry/x:$ID ca7"


def test_other_dollar_names_stay_and_double_dollar_is_a_dollar() -> None:
    text = "steps:\n  - cmd: sh -c 'echo $HOME $IDX $$ID $$$ID'\n"
    assert cmd_of(text) == "sh -c 'echo $HOME $IDX $ID $ca7'"


def test_user_defined_aliases_from_values() -> None:
    text = (
        "version: v1.1.0\nalias:\n  values:\n    repo: $Registry/team/app\n    ID: custom\n"
        "steps:\n  - cmd: img $repo:$ID\n"
    )
    assert cmd_of(text) == "img registry.example:5000/team/app:custom"


def test_user_defined_aliases_from_src_files_values_win() -> None:
    text = (
        "version: v1.1.0\nalias:\n  src:\n    - aliases/common.yaml\n  values:\n    b: fromvalues\n"
        "steps:\n  - cmd: img $a $b\n"
    )
    sources = {"aliases/common.yaml": "a: fromfile\nb: overridden\n"}
    assert cmd_of(text, alias_sources=sources) == "img fromfile fromvalues"


def test_alias_problems_are_reported_with_their_line() -> None:
    text = (
        "version: v1.1.0\nalias:\n  src:\n    - missing.yaml\n    - bad.yaml\n"
        "  values:\n    bad-name: x\n  other: 1\nsteps:\n  - cmd: img\n"
    )
    assert problems(text, alias_sources={"bad.yaml": "[1, 2]"}) == [
        "line 4: alias: src 'bad.yaml': line 1: alias file 'bad.yaml' must be a mapping, "
        "not a list",
        "line 4: alias: src 'missing.yaml' was not found",
        "line 7: alias 'bad-name' is not a valid name (letters, digits, '_')",
        "line 8: alias has an unknown field 'other'",
    ]


def test_declared_secrets_need_a_value() -> None:
    text = "secrets:\n  - id: token\n    keyvault: https://vault/x\nsteps:\n  - cmd: img\n"
    assert problems(text) == ["secret 'token' has no value (give it with --secret-set)"]
    assert load_task_file(text, RUN, secrets={"token": "v"}).task.secrets[0].id == "token"


def test_secret_values_are_masked() -> None:
    text = "secrets:\n  - id: token\nsteps:\n  - cmd: img login -p {{.Secrets.token}}\n"
    rendered = load_task_file(text, RUN, secrets={"token": "s3cret", "other": "pa55"})
    assert "s3cret" in rendered.text
    assert rendered.mask("login -p s3cret then pa55, s3cret") == "login -p *** then ***, ***"
    assert rendered.mask("nothing secret here") == "nothing secret here"


def test_problems_never_show_a_secret_value() -> None:
    text = "steps:\n  - cmd: img\n    detach: {{.Secrets.token}}\n"
    assert problems(text, secrets={"token": "s3cret"}) == [
        "line 3: step 'acb_step_0': detach must be true or false, not '***'"
    ]


@pytest.mark.parametrize(
    ("registry", "given", "name"),
    [
        ("myregistry.example.com", "", "myregistry"),
        ("localhost:5000", "", "localhost"),
        ("127.0.0.1:5000", "", "127.0.0.1"),
        ("[::1]:5000", "", "[::1]"),
        ("10.0.0.5:5000", "dockyard", "dockyard"),
    ],
)
def test_registry_name(registry: str, given: str, name: str) -> None:
    run = RunContext(id="ca1", registry=registry, registry_name=given)
    assert run.variables()["RegistryName"] == name


def test_the_masker_hides_a_longer_secret_whole() -> None:
    masker = SecretMasker(["abc", "abcdef", ""])
    assert masker.mask("xabcdefx abc") == "x***x ***"
    assert masker.values == ("abcdef", "abc")


def test_a_yaml_syntax_error_is_reported_once() -> None:
    assert problems("version: v1.1.0\nsteps:\n  - cmd: [a\n") == [
        "line 4: not valid YAML: expected ',' or ']', but got '<stream end>'"
    ]
