"""`dockyard import`: have the registry copy an image from another registry, as
`az acr import` does, showing the copy's progress as the server reports it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

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
from dockyard.cli.output import err
from dockyard.cli.remote import Login, Output, OutputOption, RegistryOption, reports_errors
from dockyard.spec.sizes import human_bytes


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

    def show(self, event: dict[str, Any]) -> None:
        kind, status = event.get("event"), event.get("status")
        digest = str(event.get("digest", ""))
        if kind == "started":
            self._say(f"importing {escape(str(event['source']))} ({_short(digest)})")
        elif kind == "plan":
            self._say(
                f"{event['manifests']} manifests, {event['blobs']} blobs, "
                f"{human_bytes(int(event['bytes']))}"
            )
            self._overall = self._progress.add_task("total", total=int(event["bytes"]))
        elif kind == "manifest" and status == "stored":
            tags = ", ".join(event.get("tags") or []) or "untagged"
            self._say(f"stored manifest {_short(digest)} in {event['repository']} ({tags})")
        elif kind == "blob":
            self._blob(event, status, digest)

    def _blob(self, event: dict[str, Any], status: Any, digest: str) -> None:
        size = int(event.get("size", 0))
        if status == "started":
            self._blobs[digest] = self._progress.add_task(_short(digest), total=size)
            self._say(f"copying blob {_short(digest)} ({human_bytes(size)})")
        elif status == "progress" and digest in self._blobs:
            done = int(event["bytes"])
            task = self._progress.tasks[self._blobs[digest]]
            self._advance_overall(done - int(task.completed))
            self._progress.update(self._blobs[digest], completed=done)
        elif status == "done":
            task_id = self._blobs.pop(digest, None)
            if task_id is not None:
                self._advance_overall(size - int(self._progress.tasks[task_id].completed))
                self._progress.update(task_id, completed=size)
            self._say(f"copied blob {_short(digest)} ({human_bytes(size)})")
        elif status == "skipped":
            if event.get("reason") == "present":
                self._advance_overall(size)
            self._say(f"skipped blob {_short(digest)}: {event.get('reason')}")

    def _advance_overall(self, count: int) -> None:
        if self._overall is not None and count > 0:
            self._progress.advance(self._overall, count)


def _summary(result: dict[str, Any]) -> None:
    blobs, copied = result["blobs"], result["bytes"]
    rows = [
        ("source", result["source"]),
        ("digest", result["digest"]),
        ("media type", result["media_type"]),
        ("tags", ", ".join(result["tags"]) or "(untagged)"),
        ("repositories", ", ".join(result["repositories"])),
        ("manifests", result["manifests"]),
        ("blobs copied", f"{blobs['copied']} ({human_bytes(copied['copied'])})"),
        ("blobs already here", f"{blobs['present']} ({human_bytes(copied['present'])})"),
        ("foreign layers (not copied)", blobs["foreign"]),
    ]
    print_table("import", ("", "value"), rows)


def _follow(events: Iterable[dict[str, Any]], display: _Display) -> dict[str, Any]:
    for event in events:
        if event.get("event") == "error":
            first = (event.get("errors") or [{}])[0]
            raise CliError(f"import failed: {first.get('code')}: {first.get('message')}")
        if event.get("event") == "result":
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
    body: dict[str, Any] = {"source": source, "images": images or [], "force": force}
    if username:
        body.update(username=username, password=password)
    login = Login(registry, registry_username, registry_password)
    with login.connect() as api, _Display(quiet=output == Output.json) as display:
        result = _follow(api.stream_lines("/imports", body), display)
    print_answer(result, output, _summary)
