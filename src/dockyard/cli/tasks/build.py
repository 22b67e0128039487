"""`dockyard build` and `dockyard run`: quick runs on the registry's build workers, in the
spirit of `az acr build` and `az acr run --cmd`. No Docker engine is needed here: the
context goes up to the registry, a worker builds (or runs the command), and the log comes
back live."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from dockyard.cli.client import CliError
from dockyard.cli.conventions import without_registry_host
from dockyard.cli.output import note
from dockyard.cli.remote import Login, remote
from dockyard.cli.tasks.follow import follow_to_end
from dockyard.cli.tasks.sources import (
    RunSource,
    dockerfile_in_context,
    is_remote,
    resolve_source,
    upload_archive,
)
from dockyard.cli.tasks.taskfile import (
    SINGLE_FILE_NAME,
    merged_values,
    parse_pairs,
    single_file_context,
)
from dockyard.spec.names import is_valid_name, is_valid_tag
from dockyard.spec.run_ids import RUN_ID_PREFIX, RUN_ID_TEMPLATE

if TYPE_CHECKING:
    from dockyard.cli.api_client import DockyardApi
    from dockyard.wire.runs import RunModel

DEFAULT_TIMEOUT = 3600
MIN_TIMEOUT = 300
MAX_TIMEOUT = 28800

ContextArgument = Annotated[
    str,
    typer.Argument(
        help="A local folder (packed honouring .dockerignore), a local .tar/.tar.gz, a tarball "
        "URL, or a git URL with an optional #branch:subfolder",
        show_default=False,
    ),
]
PlatformOption = Annotated[
    str | None, typer.Option("--platform", help="os/arch or os/arch/variant, e.g. linux/amd64")
]
NoLogsOption = Annotated[
    bool,
    typer.Option("--no-logs", help="Print the run ID and return at once, without the log"),
]
TimeoutOption = Annotated[
    int,
    typer.Option(
        "--timeout",
        help=f"Seconds before the run is stopped, {MIN_TIMEOUT}-{MAX_TIMEOUT}",
    ),
]


def _image_names(images: list[str], registry: str) -> list[str]:
    """Repository[:tag] names, a leading `<this registry's host>/` dropped, each checked (so
    that a bad one stops the build before its context is packed and uploaded)."""
    names = [without_registry_host(image, registry) for image in images]
    for name in names:
        problem = image_name_problem(name)
        if problem is not None:
            raise CliError(
                f"invalid image name {name!r}: {problem}",
                "-t takes repository[:tag], e.g. team/app:v1 or team/app:{{.Run.ID}}",
            )
    return names


def image_name_problem(image: str) -> str | None:
    """What is wrong with `repository[:tag]` as an image to push, or None. `{{.Run.ID}}`
    stands for a run ID (`ca1`)."""
    resolved = image.replace(RUN_ID_TEMPLATE, f"{RUN_ID_PREFIX}1")
    repository, colon, tag = resolved.rpartition(":")
    if not colon or "/" in tag:
        repository, tag = resolved, "latest"
    if not is_valid_name(repository):
        return (
            f"the repository {repository!r} is not a valid name (lowercase letters, digits "
            "and . _ - between them, / between components)"
        )
    if not is_valid_tag(tag):
        return f"the tag {tag!r} is not valid (letters, digits, _ . -, at most 128)"
    return None


def _build_args(pairs: list[str]) -> dict[str, str]:
    """`K=V`, or `K` alone for the value of the environment variable K (as docker does)."""
    found: dict[str, str] = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not key:
            raise CliError(f"--build-arg takes NAME=value, not {pair!r}")
        if not equals:
            if key not in os.environ:
                raise CliError(f"--build-arg {key}: no value given and ${key} is not set")
            value = os.environ[key]
        found[key] = value
    return found


def follow_queued(api: DockyardApi, run: RunModel, no_logs: bool) -> None:
    """Follow a queued run to its end (exit status by its outcome), or with `no_logs` print
    its ID and return."""
    if no_logs:
        typer.echo(run.run_id)
        return
    note(f"Queued {escape(run.kind)} run {escape(run.run_id)}")
    code = follow_to_end(api, run.run_id)
    if code:
        raise typer.Exit(code)


@remote
def build(
    context: ContextArgument,
    images: Annotated[
        list[str] | None,
        typer.Option(
            "--image",
            "-t",
            help="repository:tag to push, repeatable; {{.Run.ID}} becomes the run ID",
        ),
    ] = None,
    file: Annotated[
        str, typer.Option("--file", "-f", help="The Dockerfile, relative to the context")
    ] = "Dockerfile",
    build_args: Annotated[
        list[str] | None,
        typer.Option("--build-arg", help="NAME=value (or NAME, from the environment); repeatable"),
    ] = None,
    target: Annotated[str | None, typer.Option("--target", help="The stage to build")] = None,
    platform: PlatformOption = None,
    no_push: Annotated[
        bool, typer.Option("--no-push", help="Build only; push nothing to the registry")
    ] = False,
    no_logs: NoLogsOption = False,
    timeout: TimeoutOption = DEFAULT_TIMEOUT,
    *,
    login: Login,
) -> None:
    """Build an image on the registry from a Dockerfile and push it there.

    The log streams live; the exit status is 0 when the run Succeeded, 1 otherwise.

    Ctrl-C asks whether to cancel the run (no: only stop following; the run goes on)."""
    from dockyard.wire.runs import RunCreate

    local = Path(context).is_dir() and not is_remote(context)
    dockerfile = dockerfile_in_context(Path(context), file) if local else file
    with login.api() as api:
        names = _image_names(images or [], api.registry)
        source = resolve_source(api, context, dockerfile)
        request = RunCreate.model_construct(
            kind="build",
            source=source.source,
            context_url=source.context_url,
            dockerfile=dockerfile,
            images=names,
            build_args=_build_args(build_args or []),
            target=target,
            platform=platform,
            push=not no_push,
            timeout=timeout,
        )
        queued = api.create_run(request)
        follow_queued(api, queued, no_logs)


def _task_file_text(file: str, context: str | None) -> str:
    """A task file from stdin (`-`), from the local context folder, or from here."""
    if file == "-":
        return sys.stdin.read()
    candidates = []
    if context is not None and not is_remote(context) and Path(context).is_dir():
        candidates.append(Path(context) / file)
    candidates.append(Path(file))
    for candidate in candidates:
        if candidate.is_file():
            try:
                return candidate.read_text(encoding="utf-8")
            except OSError as exc:
                raise CliError(f"cannot read {candidate}: {exc.strerror or exc}") from exc
    raise CliError(f"no task file {file} in the context or here")


@remote
def run(
    context: Annotated[
        str | None,
        typer.Argument(
            help="Files for the run: a local folder, archive, tarball URL or git URL "
            "(none, or /dev/null, for no files)",
            show_default=False,
        ),
    ] = None,
    cmd: Annotated[
        str | None,
        typer.Option("--cmd", help="'<image> <args>': the container to run", show_default=False),
    ] = None,
    file: Annotated[
        str | None,
        typer.Option(
            "--file",
            "-f",
            help="A multi-step task file (in the context; or here, or - for stdin, "
            "when there is no context)",
        ),
    ] = None,
    set_values: Annotated[
        list[str] | None, typer.Option("--set", help="A value k=v for {{.Values.k}}")
    ] = None,
    secret_set: Annotated[
        list[str] | None,
        typer.Option("--secret-set", help="A secret k=v for {{.Secrets.k}}, masked in logs"),
    ] = None,
    values: Annotated[
        str | None, typer.Option("--values", help="A YAML file of values (--set goes over it)")
    ] = None,
    platform: PlatformOption = None,
    no_logs: NoLogsOption = False,
    timeout: TimeoutOption = DEFAULT_TIMEOUT,
    *,
    login: Login,
) -> None:
    """Run a command, or a multi-step task file, on the registry's workers, with the log
    streamed live.

    The exit status is 0 when the run Succeeded, 1 otherwise.

    Ctrl-C asks whether to cancel the run (no: only stop following; the run goes on)."""
    from dockyard.wire.runs import RunCreate

    if (cmd is None) == (file is None):
        raise CliError("give either --cmd '<image> <args>' or -f task.yaml")
    if cmd is not None and not cmd.strip():
        raise CliError("--cmd is empty", "e.g. --cmd 'hello:v1 echo hi'")
    with login.api() as api:
        if cmd is not None:
            source = resolve_source(api, context, None)
            request = RunCreate.model_construct(
                kind="cmd",
                source=source.source,
                context_url=source.context_url,
                images=[],
                platform=platform,
                push=False,
                cmd=cmd.strip(),
                timeout=timeout,
            )
        else:
            source, task_file = _task_source(api, str(file), context)
            request = RunCreate.model_construct(
                kind="task",
                source=source.source,
                context_url=source.context_url,
                task_file=task_file,
                values=merged_values(values, parse_pairs("--set", set_values)),
                secret_values=parse_pairs("--secret-set", secret_set),
                platform=platform,
                timeout=timeout,
            )
        follow_queued(api, api.create_run(request), no_logs)


def _task_source(api: DockyardApi, file: str, context: str | None) -> tuple[RunSource, str]:
    """Where the task file is, and its path there: in the context sent (or named), or alone."""
    if context is None or context == "/dev/null":
        text = _task_file_text(file, None)
        archive = io.BytesIO(single_file_context(text))
        source = upload_archive(api, archive, len(archive.getvalue()))
        return RunSource(source=source), SINGLE_FILE_NAME
    if not is_remote(context) and Path(context).is_dir():
        inside = (Path(context) / file).resolve()
        if not inside.is_relative_to(Path(context).resolve()) or not inside.is_file():
            raise CliError(f"no task file {file} in {context}", "give its path in the context")
    return resolve_source(api, context, None), file
