"""`dockyard import`: have the registry copy an image from another registry, as
`az acr import` does, showing the copy's progress as the server reports it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from dockyard.cli.access.common import (
    print_answer,
    print_table,
)
from dockyard.cli.client import CliError
from dockyard.cli.content_api import content_api
from dockyard.cli.output import err
from dockyard.cli.remote import Login, Output, OutputOption, RegistryOption, reports_errors
from dockyard.spec.sizes import human_bytes

if TYPE_CHECKING:
    from dockyard.wire.imports import ImportBlob, ImportEvent, ImportResult


def _short(digest: str) -> str:
    algorithm, _, hex_part = digest.partition(":")
    return f"{algorithm}:{hex_part[:12]}"


class _Display:
    """Shows the server's progress events on stderr: bars on a terminal, else one line per
    step (none with `quiet`)."""

    def __init__(self, quiet: bool) -> None:
        self._live = err.is_interactive
        self._quiet = quiet
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=err,
            disable=not self._live,
        )
        self._overall: TaskID | None = None
        self._blobs: dict[str, TaskID] = {}

    def __enter__(self) -> _Display:
        self._progress.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._progress.stop()

    def _say(self, text: str) -> None:
        if self._live:
            self._progress.console.print(text, highlight=False)
        elif not self._quiet:
            err.print(text, highlight=False, soft_wrap=True)

    def show(self, event: ImportEvent) -> None:
        from dockyard.wire.imports import ImportBlob, ImportManifest, ImportPlan, ImportStarted

        if isinstance(event, ImportStarted):
            self._say(f"importing {escape(event.source)} ({_short(event.digest)})")
        elif isinstance(event, ImportPlan):
            self._say(
                f"{event.manifests} manifests, {event.blobs} blobs, {human_bytes(event.bytes)}"
            )
            self._overall = self._progress.add_task("total", total=event.bytes)
        elif isinstance(event, ImportManifest) and event.status == "stored":
            tags = ", ".join(event.tags or []) or "untagged"
            self._say(f"stored manifest {_short(event.digest)} in {event.repository} ({tags})")
        elif isinstance(event, ImportBlob):
            self._blob(event)

    def _blob(self, event: ImportBlob) -> None:
        digest, size = event.digest, event.size
        if event.status == "started":
            self._blobs[digest] = self._progress.add_task(_short(digest), total=size)
            self._say(f"copying blob {_short(digest)} ({human_bytes(size)})")
        elif event.status == "progress" and digest in self._blobs:
            done = event.bytes or 0
            task = self._progress.tasks[self._blobs[digest]]
            self._advance_overall(done - int(task.completed))
            self._progress.update(self._blobs[digest], completed=done)
        elif event.status == "done":
            task_id = self._blobs.pop(digest, None)
            if task_id is not None:
                self._advance_overall(size - int(self._progress.tasks[task_id].completed))
                self._progress.update(task_id, completed=size)
            self._say(f"copied blob {_short(digest)} ({human_bytes(size)})")
        elif event.status == "skipped":
            if event.reason == "present":
                self._advance_overall(size)
            self._say(f"skipped blob {_short(digest)}: {event.reason}")

    def _advance_overall(self, count: int) -> None:
        if self._overall is not None and count > 0:
            self._progress.advance(self._overall, count)


def _summary(result: ImportResult) -> None:
    blobs, copied = result.blobs, result.bytes
    rows = [
        ("source", result.source),
        ("digest", result.digest),
        ("media type", result.media_type),
        ("tags", ", ".join(result.tags) or "(untagged)"),
        ("repositories", ", ".join(result.repositories)),
        ("manifests", result.manifests),
        ("blobs copied", f"{blobs.copied} ({human_bytes(copied.copied)})"),
        ("blobs already here", f"{blobs.present} ({human_bytes(copied.present)})"),
        ("foreign layers (not copied)", blobs.foreign),
    ]
    print_table("import", ("", "value"), rows)


def _follow(events: Iterable[ImportEvent], display: _Display) -> ImportResult:
    from dockyard.wire.imports import ImportFailed, ImportResult

    for event in events:
        if isinstance(event, ImportFailed):
            first = event.errors[0] if event.errors else None
            code, message = (first.code, first.message) if first else (None, None)
            raise CliError(f"import failed: {code}: {message}")
        if isinstance(event, ImportResult):
            return event
        display.show(event)
    raise CliError("the registry stopped answering before the import finished")


@reports_errors
def import_image(
    source: Annotated[
        str,
        typer.Option(
            "--source",
            help="registry/repository:tag or registry/repository@sha256:... (http:// or "
            "https:// may lead; loopback hosts default to http)",
            show_default=False,
        ),
    ],
    images: Annotated[
        list[str] | None,
        typer.Option(
            "--image",
            "-t",
            help="Target repository[:tag], repeatable (default: the source's repository and tag)",
        ),
    ] = None,
    username: Annotated[
        str | None, typer.Option("--username", "-u", help="Username at the source registry")
    ] = None,
    password: Annotated[
        str | None, typer.Option("--password", "-p", help="Its password or token")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Move target tags that exist already")
    ] = False,
    registry: RegistryOption = None,
    registry_username: Annotated[
        str | None,
        typer.Option("--registry-username", help="Sign in to this registry as this user"),
    ] = None,
    registry_password: Annotated[
        str | None, typer.Option("--registry-password", help="Its password")
    ] = None,
    output: OutputOption = Output.table,
) -> None:
    """Copy an image into this registry from another one.

    Every platform of an index and every referrer (signatures, SBOMs) come along, and tags
    are set only once all is in."""
    if username and password is None:
        raise CliError("--username needs --password")
    login = Login(registry, registry_username, registry_password)
    with content_api(login) as api, _Display(quiet=output == Output.json) as display:
        events = api.import_image(
            source,
            images or [],
            force=force,
            username=username or None,
            password=password if username else None,
        )
        result = _follow(events, display)
    print_answer(result, output, _summary)
