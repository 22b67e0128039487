"""The command line's task-file helpers (cli/tasks/taskfile.py): --values files, --set pairs,
and the context made of a task file alone."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from dockyard.cli.client import CliError
from dockyard.cli.tasks.taskfile import (
    SINGLE_FILE_NAME,
    merged_values,
    parse_pairs,
    read_values,
    single_file_context,
)


def test_values_file_flattens_nested_mappings(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text("image: web\nreplicas: 3\ndebug: false\nchart:\n  name: web\n  v: 0.1\n")
    assert read_values(str(values)) == {
        "image": "web",
        "replicas": "3",
        "debug": "false",
        "chart.name": "web",
        "chart.v": "0.1",
    }


def test_set_goes_over_the_values_file(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text("a: from-file\nb: kept\n")
    assert merged_values(str(values), {"a": "from-set"}) == {"a": "from-set", "b": "kept"}
    assert merged_values(None, {"x": "1"}) == {"x": "1"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a\n- b\n", "must hold a mapping"),
        ("a: [1, 2]\n", "a is a list"),
        ("a: b: c\n", "is not valid YAML"),
    ],
)
def test_bad_values_files_are_refused(tmp_path: Path, text: str, message: str) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(text)
    with pytest.raises(CliError, match=message):
        read_values(str(values))


def test_missing_values_file() -> None:
    with pytest.raises(CliError, match="cannot read the values file"):
        read_values("/nonexistent/values.yaml")


def test_pairs() -> None:
    assert parse_pairs("--set", ["a=1", "b=x=y", "a=2"]) == {"a": "2", "b": "x=y"}
    with pytest.raises(CliError, match="expected key=value"):
        parse_pairs("--set", ["novalue"])


def test_single_file_context_holds_only_the_task_file() -> None:
    data = io.BytesIO(single_file_context("steps: []\n"))
    with tarfile.open(fileobj=data, mode="r:gz") as archive:
        [member] = archive.getmembers()
        assert member.name == SINGLE_FILE_NAME
        extracted = archive.extractfile(member)
        assert extracted is not None
        assert extracted.read() == b"steps: []\n"
